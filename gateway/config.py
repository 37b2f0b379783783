"""Settings, read once from the environment (and ``.env``), with embedded defaults.

The same code runs on a developer's laptop and in production: with no ``DATABASE_URL``
the hub starts an embedded PostgreSQL (``pgserver``) under ``var/``; with one, it uses it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of the hub. Names are the environment variables, prefixed ``GATEWAY_``."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GATEWAY_DATABASE_URL")
    )
    broker_url: str | None = Field(
        default=None, validation_alias=AliasChoices("BROKER_URL", "GATEWAY_BROKER_URL")
    )
    data_dir: Path = PROJECT_ROOT / "var"
    schemas_dir: Path = PROJECT_ROOT / "schemas"

    trust_anchors: Path | None = Field(
        default=None, description="PEM bundle of the CAs whose certificates may sign portal envelopes"
    )
    registry_file: Path | None = Field(default=None, description="agency registry (YAML) loaded on start")

    trust_client_cert_header: bool = Field(
        default=False, description="honour X-Client-Cert-Sha256 set by a TLS terminator in front of the hub"
    )
    client_cert_header: str = "X-Client-Cert-Sha256"
    operator_tokens_sha256: list[str] = Field(
        default_factory=list, description="SHA-256 hex of operator tokens"
    )

    replay_window_seconds: int = 600
    max_envelope_bytes: int = 2 * 1024 * 1024
    max_attachment_bytes: int = 200 * 1024 * 1024
    max_attachments: int = 20
    max_xml_depth: int = 48
    lease_seconds: int = Field(default=300, description="lease length when the EDMS does not ask for one")
    max_lease_seconds: int = 3600
    max_pull_batch: int = 500
    max_status_batch: int = Field(
        default=1000, description="records per status upload (one transaction: the batch is atomic)"
    )
    db_pool_size: int = 10
    status_lookups_per_minute: int = Field(
        default=30, description="public status lookups allowed per client address and hub process"
    )
    registry_refresh_seconds: float = Field(
        default=5.0, description="how long a process may use its cached copy of senders and routing rules"
    )

    # --- the return path: outbox relay, delivery workers, connectors ---
    cabinet_url: str | None = Field(
        default=None, description="base URL of the portal's cabinet callback API (REST) or SOAP endpoint"
    )
    delivery_queue: str = Field(default="deliveries", description="broker queue of delivery tasks")
    cabinet_protocol: Literal["rest", "soap"] = "rest"
    cabinet_contract: Literal[1, 2] = Field(
        default=2,
        description="version of the cabinet callback contract: 2 (self-contained updates), or 1 while "
        "a cabinet migrates",
    )
    hub_key: Path | None = Field(default=None, description="PEM key the hub signs deliveries with")
    hub_certificate: Path | None = Field(default=None, description="PEM certificate of that key")
    delivery_timeout_seconds: float = Field(default=30.0, description="per HTTP call to a receiver")
    delivery_retry_base_seconds: float = 2.0
    delivery_retry_cap_seconds: float = Field(default=1800.0, description="longest wait between attempts")
    delivery_max_age_hours: float = Field(
        default=48.0, description="after this, a delivery still failing is dead (an operator replays it)"
    )
    delivery_lost_after_seconds: float = Field(
        default=900.0,
        description="a published delivery no worker finished in this time is counted failed and retried",
    )
    relay_poll_seconds: float = Field(default=1.0, description="relay's poll when no notification wakes it")
    worker_concurrency: int = Field(default=2, description="delivery worker processes per `worker`")

    # --- notifications to applicants (connectors/mail) ---
    public_url: str | None = Field(
        default=None,
        description="the hub's public base URL (e.g. https://appeals.example.ru): notifications link the "
        "status lookup under it",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mail to applicants; unset: no e-mail is queued"
    )
    smtp_port: int | None = Field(default=None, description="default 25, 587 with starttls, 465 with tls")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="starttls", description="STARTTLS on a plain connection, implicit TLS (SMTPS), or none"
    )
    smtp_user: str | None = Field(default=None, description="AUTH user; unset: no authentication")
    smtp_password: str | None = None
    smtp_ca_file: Path | None = Field(
        default=None, description="PEM bundle to verify the SMTP server's certificate (default: the system's)"
    )
    mail_max_attachment_bytes: int = Field(
        default=10 * 1024 * 1024,
        description="attachments of an answer sent by e-mail, together; larger ones stay in the cabinet",
    )
    mail_from: str = Field(
        default="noreply@appeals-gateway.invalid",
        description="From of e-mail to applicants; its domain names the Message-IDs",
    )

    # --- metrics (/metrics) ---
    at_risk_days: int = Field(
        default=2, ge=0, description="an appeal due today or within this many days counts as at risk"
    )

    # --- logs (gateway/adapters/logs.py) ---
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(str.upper)
    ] = Field(default="INFO", description="the least severe level written, for the hub and libraries")
    log_format: Literal["json", "console"] = Field(
        default="json", description="one JSON object per line, or console lines for a developer's terminal"
    )

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def hub_key_file(self) -> Path:
        return self.hub_key or self.pki_dir / "hub.key"

    @property
    def hub_certificate_file(self) -> Path:
        return self.hub_certificate or self.pki_dir / "hub.pem"

    @property
    def broker(self) -> str:
        """The broker's URL: RabbitMQ in production, kombu's filesystem transport under var/ by default."""
        return self.broker_url or "filesystem://"

    @property
    def trust_anchor_file(self) -> Path:
        return self.trust_anchors or self.pki_dir / "trust-anchors.pem"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
