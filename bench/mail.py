"""Mail: notifications per second through SMTP, as one delivery worker process sends them; and
e-mailed appeals per second through the IMAP poller.

The applicant-mail connector renders each notification (Jinja2, text and HTML), builds the
message and sends it in an SMTP transaction of its own (connect, EHLO, [STARTTLS, EHLO, AUTH],
MAIL, RCPT, DATA, QUIT) to an aiosmtpd server on loopback in this process's other thread, which
accepts everything. Runs: plain SMTP; STARTTLS with AUTH (a server certificate from a throwaway CA);
and rendering alone, the floor of what the connector adds. No database: the worker's share of a
delivery (the row lock, the outcome) is the cabinet's, measured elsewhere.

The poller: a Dovecot of its own (Debian's, configured in a temporary directory by
tests/dovecot.py, implicit TLS on loopback) holds POLL_N messages (two in three plain text, one in
three with a PDF attached), put there by IMAP APPEND before the clock starts; one
``incoming_mail.poll`` then lists, fetches, parses, files (blob store, queue row, one transaction
each, on a fresh database) and moves every one of them, as `appeals-gateway mail poll` does.

Last line: {"bench":"mail","plain_per_s":…,"starttls_auth_per_s":…,"render_per_s":…,"n":…,
"poll_per_s":…,"poll_n":…}
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.headerregistry import Address
from pathlib import Path
from uuid import UUID

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.mail.message import build
from connectors.mail.smtp import SmtpConnector
from gateway.adapters.pki import make_ca
from gateway.domain.delivery import OutgoingMessage
from tests.smtp import SMTP_PASSWORD, SMTP_USER, server_certificate, smtp_server

N = 300
POLL_N = 300
SENDER = "Узел обращений <noreply@appeals.example.ru>"


def _message(i: int) -> OutgoingMessage:
    number = f"ОГ-2026/{i}"
    payload = {
        "type": "registered", "state": "registered", "seq": 1, "language": "ru",
        "details": {"registration_number": number, "registered_on": "2026-12-02"},
        "appeal": {
            "state": "registered", "agency": {"code": "ADM-CHEBOKSARY", "name": "Администрация г. Чебоксары"},
            "registration": {"registration_number": number, "registered_on": "2026-12-02"},
            "answer_by": "2027-01-09", "registrations": [{"registration_number": number}], "history": [],
        },
        "access_code": "EK4CB25DEN", "to": "applicant@example.org",
        "lookup_url": "https://appeals.example.ru/public/v1/status?number=x&code=EK4CB25DEN",
    }  # fmt: skip
    return OutgoingMessage(
        i, "applicant-mail", UUID(int=i), 1, f"applicant-mail:{i}:1", payload, datetime.now(UTC), 1
    )


def _rate(send, n: int = N) -> float:
    started = time.perf_counter()
    for i in range(n):
        send(_message(i))
    return n / (time.perf_counter() - started)


def _poll_rate() -> float:
    """Messages per second filed by one poll of a Dovecot mailbox holding POLL_N messages."""
    from bench._harness import fresh_database
    from connectors.mail.imap import open_mailbox
    from gateway.config import Settings
    from gateway.service import incoming_mail
    from gateway.service.hub import open_hub
    from tests import mail_samples
    from tests.dovecot import start_dovecot

    # the poller logs a line per message: not the bench's output
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    dovecot = start_dovecot()
    try:
        messages = [
            mail_samples.with_attachment() if i % 3 == 2 else mail_samples.plain() for i in range(POLL_N)
        ]
        dovecot.deliver(*messages)
        with fresh_database() as url:
            hub = open_hub(
                Settings(database_url=url, mail_mailboxes=[dovecot.mailbox()], log_level="WARNING")
            )
            try:
                started = time.perf_counter()
                (result,) = incoming_mail.poll_all(hub, open_mailbox)
                elapsed = time.perf_counter() - started
            finally:
                hub.close()
        assert result.filed == POLL_N and result.failed == result.not_moved == 0, result
        assert dovecot.count("Filed") == POLL_N and dovecot.count("INBOX") == 0
    finally:
        dovecot.stop()
    return POLL_N / elapsed


def main() -> None:
    sender = Address("Узел обращений", "noreply", "appeals.example.ru")
    render = _rate(lambda m: build(m, sender), N * 3)
    with smtp_server() as server:
        plain = _rate(SmtpConnector(server.host, port=server.port, security="none", sender=SENDER).deliver)
        assert len(server.received) == N
    key, cert = make_ca("bench CA")
    folder = Path(tempfile.mkdtemp(prefix="bench-mail-"))
    (folder / "ca.pem").write_bytes(cert)
    trusting = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    with smtp_server("starttls", certificate=server_certificate(key, cert, folder), auth=True) as server:
        connector = SmtpConnector(
            server.host, port=server.port, security="starttls", user=SMTP_USER, password=SMTP_PASSWORD,
            sender=SENDER, ssl_context=trusting,
        )  # fmt: skip
        secure = _rate(connector.deliver)
        assert len(server.received) == N and server.received[0].tls
    polled = _poll_rate()
    print(f"rendered {render:.0f}/s; sent plain {plain:.0f}/s, STARTTLS+AUTH {secure:.0f}/s; "
          f"polled {polled:.0f}/s", file=sys.stderr)  # fmt: skip
    figures = {"plain_per_s": plain, "starttls_auth_per_s": secure, "render_per_s": render}
    print(json.dumps({"bench": "mail", **{k: round(v, 1) for k, v in figures.items()}, "n": N,
                      "poll_per_s": round(polled, 1), "poll_n": POLL_N}))  # fmt: skip


if __name__ == "__main__":
    main()
