"""The ``applicant-mail`` connector: one SMTP transaction per notification, judged by its reply.

``smtplib`` from the standard library, not aiosmtplib: delivery workers are Celery's prefork
processes, each running one synchronous attempt at a time, so an asyncio client would only add an
event loop per task and a dependency. A connection per attempt (no pool): a notification is a
rare event per appeal, and a pooled SMTP session would need its own keep-alive and reconnect logic
for servers that drop idle clients after a minute or so.

What the server says decides the outcome (the :class:`DeliveryError` contract):

* 2xx: delivered (the server took responsibility for the message);
* 4xx at any stage (greylisting, a full queue, 421 closing): try again later;
* 5xx (unknown mailbox, message refused, authentication refused): dead at once, for an operator;
* no connection, a timeout, a dropped session: try again later;
* a certificate that does not verify, or no STARTTLS where it is required: dead (only an
  operator's change can fix it).

The reason stored is ``SMTP <code> [<enhanced code>] at <stage>``: the server's text is never kept,
since it usually repeats the recipient's address.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Literal

from connectors.mail.message import build
from gateway.domain.delivery import DeliveryError, OutgoingMessage

Security = Literal["none", "starttls", "tls"]
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_ENHANCED = re.compile(rb"^([245]\.\d{1,3}\.\d{1,3})\b")


class SmtpConnector:
    """Sends each notification to the applicant's address through one submission server."""

    def __init__(
        self,
        host: str,
        *,
        port: int | None = None,
        security: Security = "starttls",
        user: str | None = None,
        password: str | None = None,
        sender: str,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port or DEFAULT_PORTS[security]
        self._security = security
        self._credentials = (user, password or "") if user else None
        self._sender = _address(sender)
        self._timeout = timeout
        self._ssl = ssl_context or ssl.create_default_context()

    def deliver(self, message: OutgoingMessage) -> None:
        mail = build(message, self._sender)
        stage = "connect"
        try:
            with self._connect() as smtp:
                stage = "ehlo"
                smtp.ehlo()
                if self._security == "starttls":
                    stage = "starttls"
                    smtp.starttls(context=self._ssl)
                    smtp.ehlo()
                if self._credentials is not None:
                    stage = "auth"
                    smtp.login(*self._credentials)
                stage = "send"
                refused = self._send(smtp, mail)
        except smtplib.SMTPRecipientsRefused as exc:
            ((code, text),) = exc.recipients.values()
            raise _judged(code, text, "rcpt") from None
        except smtplib.SMTPSenderRefused as exc:
            raise _judged(exc.smtp_code, exc.smtp_error, "mail-from") from None
        except smtplib.SMTPDataError as exc:
            raise _judged(exc.smtp_code, exc.smtp_error, "data") from None
        except smtplib.SMTPResponseException as exc:
            raise _judged(exc.smtp_code, exc.smtp_error, stage) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(f"SMTP server does not support what {stage} needs", permanent=True) from None
        except ssl.SSLCertVerificationError:
            raise DeliveryError("SMTP server certificate does not verify", permanent=True) from None
        except (OSError, smtplib.SMTPException) as exc:  # no connection, timeout, dropped session
            raise DeliveryError(f"SMTP {type(exc).__name__} at {stage}") from None
        if refused:  # one recipient only: a refusal of it raised above; kept for a future Cc
            raise DeliveryError("SMTP recipient refused at rcpt", permanent=True)

    def _connect(self) -> smtplib.SMTP:
        if self._security == "tls":
            return smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=self._ssl)
        return smtplib.SMTP(self._host, self._port, timeout=self._timeout)

    def _send(self, smtp: smtplib.SMTP, mail: EmailMessage) -> dict[str, tuple[int, bytes]]:
        """MAIL, RCPT, DATA. No DSN parameters (ENVID, RET): bounces quote the original headers,
        Message-ID included, without them, and a server that announces DSN but refuses the
        parameters would turn every notification into a dead delivery."""
        return smtp.send_message(
            mail, from_addr=self._sender.addr_spec, to_addrs=[mail["To"].addresses[0].addr_spec]
        )


def _judged(code: int, text: bytes | str, stage: str) -> DeliveryError:
    """4xx: transient; anything else that is not success (5xx, or a code outside SMTP's): permanent."""
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else (text or b"")
    enhanced = _ENHANCED.match(raw)
    reason = f"SMTP {code}{' ' + enhanced[1].decode() if enhanced else ''} at {stage}"
    return DeliveryError(reason, permanent=not 400 <= code < 500)


def _address(sender: str) -> Address:
    name, addr = parseaddr(sender)
    local, _, domain = addr.rpartition("@")
    if not local or not domain:
        raise ValueError(f"GATEWAY_MAIL_FROM is not an address: {sender!r}")
    return Address(display_name=name, username=local, domain=domain)
