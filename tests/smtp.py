"""A real SMTP server on loopback (aiosmtpd) that records what it accepts and refuses on demand.

One place for every test that sends mail: plain SMTP, STARTTLS and implicit TLS with a server
certificate the dev PKI's root issued for 127.0.0.1, and AUTH PLAIN/LOGIN against one account.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import _free_port

SMTP_USER = "hub"
SMTP_PASSWORD = "smtp-password-for-tests"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Received:
    """One message the server accepted, with how it came."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    user: str | None

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)  # type: ignore[return-value]


@dataclass
class RecordingHandler:
    """aiosmtpd's handler: records accepted messages; ``replies`` (``"RCPT"`` or ``"DATA"`` → the
    reply line) makes the server refuse at that stage, as a full queue or an unknown mailbox does."""

    received: list[Received] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sit on each message's DATA before answering it
    in_data: int = 0  # messages that reached DATA, answered or not

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if "RCPT" in self.replies:
            return self.replies["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if "DATA" in self.replies:
            return self.replies["DATA"]
        self.in_data += 1
        await asyncio.sleep(self.delay)
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                tls=session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
                user=session.auth_data,
            )
        )
        return "250 OK queued"

    def reset(self) -> None:
        self.received.clear()
        self.replies.clear()
        self.delay = 0.0
        self.in_data = 0


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=SMTP_USER if ok else None)  # not handled: 535


def server_certificate(root_key_pem: bytes, root_cert_pem: bytes, directory: Path) -> tuple[Path, Path]:
    """A TLS server certificate for 127.0.0.1 issued by the dev root CA: (cert path, key path)."""
    ca_key = serialization.load_pem_private_key(root_key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(root_cert_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class SmtpServer:
    host: str
    port: int
    security: str  # none | starttls | tls, as GATEWAY_SMTP_SECURITY names it
    handler: RecordingHandler

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@contextmanager
def smtp_server(
    security: str = "none", *, certificate: tuple[Path, Path] | None = None, auth: bool = False
) -> Iterator[SmtpServer]:
    """Serve on a free loopback port until the block ends. ``auth`` requires AUTH (over TLS only,
    as aiosmtpd insists by default, unless ``security`` is none)."""
    handler = RecordingHandler()
    tls = None
    if certificate is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*certificate)
    kwargs: dict[str, Any] = {}
    if security == "starttls":
        kwargs.update(tls_context=tls, require_starttls=True)
    if auth:
        # over implicit TLS aiosmtpd does not know the session is encrypted: it must not insist
        kwargs.update(
            authenticator=_authenticate, auth_required=True, auth_require_tls=security == "starttls"
        )
    controller = Controller(
        handler, hostname="127.0.0.1", port=_free_port(), ssl_context=tls if security == "tls" else None,
        server_hostname="127.0.0.1", **kwargs,
    )  # fmt: skip
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, security, handler)
    finally:
        controller.stop()
