"""The agency registry: loaded from a YAML file (``appeals-gateway agencies load``), kept in the database.

The file names agencies, their routing prefixes, delivery mode, credentials (only hashes: the
hub never stores a bearer token it could leak) and the portal senders whose signatures it
accepts, with the credentials they fetch answers' attachments with. Loading is one transaction:
a bad file changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml
from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.adapters.db import agencies as agencies_db
from gateway.adapters.db.audit import append_audit
from gateway.domain.model import Agency, DeliveryMode, Jurisdiction, JurisdictionProfile, PortalSender
from gateway.service.hub import Hub

_HEX64 = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CredentialsEntry(_Strict):
    token_sha256: list[str] = Field(default_factory=list, description="SHA-256 hex of each bearer token")
    cert_sha256: list[str] = Field(default_factory=list, description="SHA-256 hex of each client cert (DER)")

    @field_validator("token_sha256", "cert_sha256")
    @classmethod
    def _hex(cls, values: list[str]) -> list[str]:
        for v in values:
            if not re.match(_HEX64, v):
                raise ValueError("must be 64 lower-case hex digits")
        return values


class AgencyEntry(_Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    name: str
    jurisdiction_profile: JurisdictionProfile
    timezone: str = "Europe/Moscow"
    delivery_mode: DeliveryMode = DeliveryMode.PULL
    push_url: str | None = None
    topic_prefixes: list[str] = Field(default_factory=list)
    territory_prefixes: list[str] = Field(default_factory=list)
    answer_certificate: str | None = Field(default=None, description="PEM, or a path to a PEM file")
    credentials: CredentialsEntry = Field(default_factory=CredentialsEntry)


class SenderEntry(_Strict):
    id: str
    jurisdiction: Jurisdiction
    certificate_cn: str
    credentials: CredentialsEntry = Field(
        default_factory=CredentialsEntry,
        description="for the portal's requests to the hub (answers' attachments); pushes are signed instead",
    )


class RegistryFile(_Strict):
    portal_senders: list[SenderEntry] = Field(default_factory=list)
    agencies: list[AgencyEntry] = Field(default_factory=list)


def hash_secret(secret: str) -> str:
    """How bearer tokens are stored and looked up."""
    return hashlib.sha256(secret.encode()).hexdigest()


def read_registry(path: Path) -> RegistryFile:
    """Parse and validate a registry file; raises ``pydantic.ValidationError`` naming the bad field."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return RegistryFile.model_validate(data)


class RegistryError(Exception):
    """A registry entry that passed the schema but cannot be used (a certificate file missing or
    not a certificate): named, so the file can be fixed, and nothing is loaded."""


def _answer_certificate(value: str | None, base: Path, where: str) -> str | None:
    """The certificate as PEM (inline, or read from a path relative to the registry file), checked
    now: a broken one would otherwise surface as refused answers, days later."""
    if value is None:
        return None
    pem = value
    if not value.lstrip().startswith("-----BEGIN"):
        file = base / value
        try:
            pem = file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise RegistryError(
                f"{where}: cannot read {file} ({reason}); a path is relative to the file"
            ) from None
    try:
        x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise RegistryError(f"{where}: not a PEM certificate") from None
    return pem


def load_registry(hub: Hub, path: Path, *, actor: str = "cli") -> tuple[int, int]:
    """Write the file's senders and agencies to the database; returns (senders, agencies)."""
    registry = read_registry(path)
    with hub.pool.connection() as conn, conn.transaction():
        for s in registry.portal_senders:
            agencies_db.upsert_sender(
                conn,
                PortalSender(s.id, s.jurisdiction, s.certificate_cn),
                s.credentials.token_sha256,
                s.credentials.cert_sha256,
            )
        for i, a in enumerate(registry.agencies):
            agency = Agency(
                code=a.code,
                name=a.name,
                jurisdiction_profile=a.jurisdiction_profile,
                timezone=a.timezone,
                delivery_mode=a.delivery_mode,
                push_url=a.push_url,
                answer_certificate=_answer_certificate(
                    a.answer_certificate, path.parent, f"agencies[{i}] ({a.code}) answer_certificate"
                ),
                topic_prefixes=tuple(a.topic_prefixes),
                territory_prefixes=tuple(a.territory_prefixes),
            )
            agencies_db.upsert_agency(conn, agency, a.credentials.token_sha256, a.credentials.cert_sha256)
        append_audit(
            conn,
            None,
            actor,
            "registry-loaded",
            {"file": path.name, "senders": len(registry.portal_senders), "agencies": len(registry.agencies)},
        )
    return len(registry.portal_senders), len(registry.agencies)
