"""Settings, read once from the environment (and ``.env``), with embedded defaults.

The same code runs on a developer's laptop and in production: with no ``DATABASE_URL``
the hub starts an embedded PostgreSQL (``pgserver``) under ``var/``; with one, it uses it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.domain.screening import DEFAULT_MEDIA_TYPES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# An installed wheel carries the top-level schemas/ and the example registry here (setup.py); a
# source checkout has no such folder and reads them from PROJECT_ROOT.
BUNDLED_DIR = Path(__file__).resolve().parent / "_bundled"
INSTALLED = BUNDLED_DIR.is_dir()


def bundled(name: str) -> Path:
    """A file or folder of the repository's top level (``schemas``, ``deploy/…``), wherever the
    hub runs from: the wheel's copy once installed, the source tree's otherwise."""
    return (BUNDLED_DIR if INSTALLED else PROJECT_ROOT) / name


SCHEMAS_DIR = bundled("schemas")


def default_data_dir() -> Path:
    """``var/`` of the source checkout (``make run``, tests); once installed, never under
    site-packages: ``$XDG_DATA_HOME/appeals-gateway`` (``~/.local/share/appeals-gateway``).
    Services set ``GATEWAY_DATA_DIR`` (systemd's StateDirectory, the image's volume)."""
    if not INSTALLED:
        return PROJECT_ROOT / "var"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "appeals-gateway"


class MailboxSettings(BaseModel):
    """One mailbox the hub reads e-mailed appeals from (IMAP over TLS), in ``GATEWAY_MAIL_MAILBOXES``."""

    name: str = Field(description="how operators and the queue name it, e.g. `obrashcheniya`")
    host: str
    port: int = 993
    username: str
    password: SecretStr | None = None
    password_file: Path | None = Field(default=None, description="read the password from here instead")
    tls: Literal["implicit", "starttls"] = Field(
        default="implicit", description="TLS from the first byte (993), or STARTTLS on 143; never plain"
    )
    ca_file: Path | None = Field(default=None, description="CA bundle for the server's certificate")
    folder: str = "INBOX"
    filed_folder: str = Field(default="Filed", description="where a filed message is moved")
    quarantine_folder: str = Field(default="Quarantine", description="where a quarantined one is moved")
    language: Literal["ru", "be"] = Field(
        default="ru", description="the language of a rejection's reply to this mailbox's senders"
    )

    def secret(self) -> str:
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return self.password.get_secret_value() if self.password else ""


class Settings(BaseSettings):
    """Every knob of the hub. Names are the environment variables, prefixed ``GATEWAY_``."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GATEWAY_DATABASE_URL")
    )
    broker_url: str | None = Field(
        default=None, validation_alias=AliasChoices("BROKER_URL", "GATEWAY_BROKER_URL")
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="embedded database, dev PKI and registry, embedded broker (never under site-packages)",
    )
    schemas_dir: Path = SCHEMAS_DIR

    trust_anchors: Path | None = Field(
        default=None, description="PEM bundle of the CAs whose certificates may sign portal envelopes"
    )
    registry_file: Path | None = Field(default=None, description="agency registry (YAML) loaded on start")

    trust_client_cert_header: bool = Field(
        default=False, description="honour X-Client-Cert-Sha256 set by a TLS terminator in front of the hub"
    )
    client_cert_header: str = "X-Client-Cert-Sha256"
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="addresses or networks (CIDR) of the proxies in front of the hub: only from them "
        "are X-Forwarded-For and the client-certificate header believed",
    )
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
    worker_threads: int | None = Field(
        default=None,
        ge=1,
        description="threads per hub process that run requests' service calls (default: the cores + 4, "
        "at most db_pool_size; see thread_tokens)",
    )
    status_lookups_per_minute: int = Field(
        default=30, description="public status lookups per client address and minute, all nodes together"
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
    delivery_claim_seconds: float = Field(
        default=120.0,
        gt=0,
        description="how long a worker's claim on a delivery attempt lasts: longer than any attempt "
        "(the task's time limit is held within it); a worker killed mid-call holds it up this long",
    )
    worker_concurrency: int = Field(default=2, description="delivery worker processes per `worker`")

    # --- incoming e-mail: the moderation queue (gateway/service/incoming_mail.py) ---
    mail_mailboxes: list[MailboxSettings] = Field(
        default_factory=list, description="mailboxes to poll, as a JSON list of objects (MailboxSettings)"
    )
    mail_poll_seconds: float = Field(
        default=60.0, description="how often the relay process polls the mailboxes (0: never)"
    )
    mail_max_message_bytes: int = Field(default=25 * 1024 * 1024, description="larger ones are quarantined")
    mail_max_parts: int = Field(default=200, description="MIME parts per message, forwarded ones included")
    mail_timeout_seconds: float = Field(default=30.0, description="per IMAP command")
    mail_file_instead: str = Field(
        default="https://www.gosuslugi.ru/ (Russia), https://обращения.бел (Belarus)",
        description="where the sender of an e-mail rejected as `channel-not-allowed` is told to file",
    )
    # --- SMS notifications to applicants (connectors/mail/sms), over SMPP 3.4 ---
    smpp_host: str | None = Field(default=None, description="the operator's SMSC (or an SMPP gateway)")
    smpp_port: int = 2775
    smpp_system_id: str = Field(default="", description="the account the operator gave the hub")
    smpp_password: str = ""
    smpp_system_type: str = ""
    smpp_source_addr: str = Field(
        default="", description="the sender applicants see (alphanumeric or a number)"
    )
    smpp_source_addr_ton: int = Field(default=5, description="5: alphanumeric; 1: international number")
    smpp_source_addr_npi: int = Field(default=0, description="0: unknown (alphanumeric); 1: E.164")
    smpp_tls: bool = Field(default=False, description="SMPP over TLS, the server checked against smpp_ca")
    smpp_ca: Path | None = Field(
        default=None, description="PEM bundle of the SMSC's CA (TLS); else the system's"
    )
    smpp_timeout_seconds: float = Field(default=10.0, description="per read or write on the SMPP connection")
    smpp_validity_hours: int = Field(default=48, description="how long the SMSC keeps trying the handset")
    smpp_receipts_bind: Literal["receiver", "transceiver"] = Field(
        default="receiver",
        description="how `sms-receipts` binds (transceiver where receivers are not allowed)",
    )
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

    # --- attachments screened at intake (gateway/service/screening.py) ---
    clamd_address: str | None = Field(
        default=None,
        description="clamd's socket: a Unix socket path, or host:port (TCP); unset: attachments are not "
        "scanned (development only: a hub facing agencies' networks sets it)",
    )
    clamd_timeout_seconds: float = Field(
        default=30.0, description="per socket step with clamd; past it the scanner counts as unavailable"
    )
    antivirus_outage: Literal["refuse", "hold"] = Field(
        default="refuse",
        description="clamd gives no verdict: refuse the push (503, Retry-After, nothing stored: "
        "fail-closed), or accept it and hold the appeal back from its agency until a later scan passes "
        "(fail-open)",
    )
    antivirus_release_seconds: float = Field(
        default=60.0, description="how often the relay scans held appeals again (hold policy; 0: never)"
    )
    attachment_media_types: dict[str, list[str]] = Field(
        default_factory=lambda: {j: list(DEFAULT_MEDIA_TYPES) for j in ("RU", "BY")},
        description="media types accepted per sender jurisdiction (JSON object); checked against the bytes",
    )
    archive_max_depth: int = Field(default=3, ge=1, description="archives inside archives, levels at most")
    archive_max_members: int = Field(default=1000, ge=1, description="members of an attachment's archives")
    archive_max_expanded_bytes: int = Field(
        default=500 * 1024 * 1024, description="bytes an attachment's archives unpack to, all levels together"
    )

    # --- repeated appeals (59-FZ art. 11 p.5): linked at intake ---
    repeated_appeal_window_days: int = Field(
        default=365,
        ge=0,
        description="an appeal is linked to the same applicant's earlier ones on the same topic code to "
        "the same agency received within this many days (0: no linking)",
    )

    # --- metrics (/metrics) ---
    at_risk_days: int = Field(
        default=2, ge=0, description="an appeal due today or within this many days counts as at risk"
    )

    # --- the audit chain (docs/audit.md) ---
    audit_seal_interval_seconds: float = Field(
        default=0.2, ge=0, description="the relay chains newly committed audit records this often (0: never)"
    )
    audit_seal_max_age_seconds: float = Field(
        default=60.0,
        gt=0,
        description="an audit record not chained this long after its insert is a fault (audit verify)",
    )

    # --- analytics (docs/analytics.md) ---
    analyst_tokens_sha256: list[str] = Field(
        default_factory=list, description="SHA-256 hex of analysts' tokens (/analytics/v1)"
    )
    analytics_fold_seconds: float = Field(
        default=10.0, description="the relay folds the analytics deltas into the cube this often (0: never)"
    )
    open_data_threshold: int = Field(
        default=5,
        ge=2,
        description="open data hides a count below this (and enough others to keep it hidden)",
    )

    # --- logs (gateway/adapters/logs.py) ---
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(str.upper)
    ] = Field(default="INFO", description="the least severe level written, for the hub and libraries")
    log_format: Literal["json", "console"] = Field(
        default="json", description="one JSON object per line, or console lines for a developer's terminal"
    )
    portal_signature_suites: list[Literal["rsa-ecdsa", "gost-2012"]] = Field(
        default=["rsa-ecdsa", "gost-2012"],
        description="signature suites a portal may sign envelopes with (JSON list in the environment)",
    )
    applicant_signature_suites: list[Literal["rsa-ecdsa", "gost-2012"]] = Field(
        default=["rsa-ecdsa", "gost-2012"],
        description="signature suites a legal entity's representative may sign the Appeal with",
    )
    agency_signature_suites: list[Literal["rsa-ecdsa", "gost-2012"]] = Field(
        default=["rsa-ecdsa", "gost-2012"],
        description="signature suites an agency may sign its answers with",
    )
    dev_portal_suite: Literal["rsa-ecdsa", "gost-2012"] = Field(
        default="rsa-ecdsa",
        description="what the dev portal EPGU signs with in the demo (gost-2012 needs the GOST engine)",
    )

    @property
    def thread_tokens(self) -> int:
        """How many threads of one hub process run the service calls of requests at once: anyio's
        default limiter (the handlers' ``anyio.to_thread.run_sync``; 40 unless set) and the event
        loop's default executor (Litestar's sync dependencies; cores + 4 unless set).

        ``worker_threads`` when set; else the cores + 4 (the standard library's own default for
        threads that wait on I/O), and never more than ``db_pool_size``. A service call spends
        its time parsing, verifying signatures and rendering (Python: one thread at a time per
        process, under the GIL) and waiting for PostgreSQL: a few threads overlap the waits with
        the work. Past the pool's size, threads only queue for a connection while holding their
        request's memory, and switching among 40 threads for the GIL costs the CPU the requests
        need.
        """
        if self.worker_threads is not None:
            return self.worker_threads
        return max(2, min(self.db_pool_size, (os.cpu_count() or 1) + 4))

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
