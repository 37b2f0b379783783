"""Reading a bounce: a delivery status notification (RFC 3464) that came back to the hub's address.

A DSN is ``multipart/report; report-type=delivery-status``: a human part, a
``message/delivery-status`` part (one block for the reporting server, then one per recipient with
``Action`` and ``Status``), and the original message or its headers, which carry the Message-ID
the hub gave it. Only those three facts are read; the human part (which repeats the address and
the server's words) is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_ORIGINAL = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")


@dataclass(frozen=True, slots=True)
class Bounce:
    message_id: str  # the original's, as quoted
    action: str  # failed, delayed, delivered, relayed, expanded (RFC 3464 2.3.3)
    status: str  # the enhanced status code, e.g. 5.1.1; "unknown" if it is not one


def read_dsn(raw: bytes) -> Bounce | None:
    """The bounce in ``raw``, or None when it is no DSN or quotes no Message-ID."""
    report = BytesParser(policy=policy.default).parsebytes(raw)
    if (
        report.get_content_type() != "multipart/report"
        or report.get_param("report-type") != "delivery-status"
    ):
        return None
    parts = list(report.iter_parts()) if isinstance(report, EmailMessage) else []
    status_part = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
    original = next((p for p in parts if p.get_content_type() in _ORIGINAL), None)
    if status_part is None or original is None:
        return None
    message_id = _original_headers(original).get("Message-ID")
    recipients = [b for b in status_part.get_payload()[1:] if isinstance(b, Message)]
    if not message_id or not recipients:
        return None
    block = next((r for r in recipients if str(r.get("Action", "")).lower() == "failed"), recipients[0])
    status = str(block.get("Status", "")).split()[0] if block.get("Status") else ""
    return Bounce(
        message_id=str(message_id).strip(),
        action=str(block.get("Action", "")).strip().lower(),
        status=status if _STATUS.match(status) else "unknown",
    )


def _original_headers(part: Message) -> Message:
    if part.get_content_type() == "message/rfc822":
        return part.get_payload(0)
    content = part.get_payload(decode=True) or b""
    return BytesParser(policy=policy.default).parsebytes(content, headersonly=True)
