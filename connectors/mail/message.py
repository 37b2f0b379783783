"""The e-mail an applicant receives for one notification: rendered, headed, and named for bounces.

The wording lives in Jinja2 templates shipped with this package (``templates/<language>.txt.j2``,
one per language, laid out twice: plain text and HTML); the same text in both, so a mail client
that shows either shows the same facts. Headers:

* ``Message-ID`` is derived from the outbox message, not drawn at random: every retry of one
  notification carries the same id, and a bounce that quotes it names the delivery it is about
  (``gateway.domain.mail_ids``).
* ``Auto-Submitted: auto-generated`` (RFC 3834) and ``X-Auto-Response-Suppress`` keep vacation
  responders and out-of-office replies from answering a robot.
* No ``List-Unsubscribe``: these are transactional notices the applicant asked for per appeal, not a
  list, and the hub has no endpoint that could honour an unsubscribe (RFC 8058 one-click needs one;
  a header promising what does not happen is worse than none).
* ``Content-Language`` says ru or be, as the agency's jurisdiction chose.
* A reply to the sender of an e-mailed appeal (``mail-registered``, ``mail-rejected``) carries
  ``In-Reply-To`` and ``References`` naming the sender's message, so it threads under it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from connectors.mail.answer import attach, readable
from gateway.domain.delivery import DeliveryError, OutgoingMessage
from gateway.domain.mail_ids import message_id
from gateway.domain.model import AnswerDocument

LANGUAGES = ("ru", "be")


@cache
def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("connectors.mail", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["day"] = _day
    env.filters["paragraphs"] = _paragraphs
    return env


def _day(value: str | date | None) -> str:
    """A date (or an ISO date) as the applicant reads it: 02.12.2026."""
    return date.fromisoformat(str(value)[:10]).strftime("%d.%m.%Y") if value else ""


def _paragraphs(text: str) -> list[list[str]]:
    """Plain text's paragraphs (blank-line separated), each as its lines, for the HTML layout."""
    return [block.splitlines() for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


def rendered(payload: Mapping[str, Any], answer: AnswerDocument | None = None) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the notification in ``payload``'s language; ``answer`` is
    the agency's answer to show in full (ReplyPreference=email)."""
    language = payload.get("language") if payload.get("language") in LANGUAGES else "ru"
    appeal = payload.get("appeal") or {}
    registrations = appeal.get("registrations") or [{}]
    number = (appeal.get("registration") or {}).get("registration_number") or registrations[-1].get(
        "registration_number", ""
    )
    agency = (appeal.get("agency") or {}).get("name") or payload.get("agency_name") or ""
    context = {"n": payload, "language": language, "number": number, "agency": agency, "answer": answer}
    env = _templates()
    module = env.get_template(f"{language}.txt.j2").make_module()
    subject = str(module.subject(payload, number)).strip()
    text = env.get_template("notification.txt.j2").render(context)
    html = env.get_template("notification.html.j2").render(context)
    return subject, text, html


def build(message: OutgoingMessage, sender: Address) -> EmailMessage:
    """The e-mail of one notification, from ``sender`` to the address in the payload."""
    payload = message.payload
    answer = readable(message.documents["answer"]) if _carries_answer(message) else None
    subject, text, html = rendered(payload, answer)
    mail = EmailMessage()
    mail["From"] = (
        sender
        if sender.display_name.isascii()  # quoted by the policy where needed
        else _Encoded("From", sender.display_name, f"<{sender.addr_spec}>")
    )
    mail["To"] = _recipient(payload.get("to"))
    mail["Subject"] = _Encoded("Subject", subject)
    mail["Date"] = format_datetime(message.created_at)
    mail["Message-ID"] = message_id(message.id, message.idempotency_key, sender.domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    replied = str(payload.get("in_reply_to") or "")
    if replied and replied.isascii() and replied.isprintable():  # a reply to an e-mailed appeal's sender
        mail["In-Reply-To"] = mail["References"] = f"<{replied}>"  # (a mangled id: no thread, still sent)
    mail.set_content(text, subtype="plain", charset="utf-8")
    mail.add_alternative(html, subtype="html", charset="utf-8")
    if answer is not None:
        attach(mail, payload["answer"], message.documents)
    mail["Content-Language"] = payload.get("language") or "ru"  # after set_content, which drops Content-*
    return mail


def _recipient(address: object) -> Address:
    """The applicant's address as one Address, or a permanent failure (retrying cannot fix it);
    the reason does not repeat the address."""
    probe = EmailMessage()
    try:
        probe["To"] = str(address or "")
        (parsed,) = probe["To"].addresses
    except (IndexError, ValueError):
        parsed = None
    if parsed is None or probe["To"].defects or not parsed.username or "." not in parsed.domain:
        raise DeliveryError("the applicant's e-mail address is not usable", permanent=True)
    return parsed


def _carries_answer(message: OutgoingMessage) -> bool:
    return bool(message.payload.get("reply_by_email")) and "answer" in message.documents


class _Encoded(str):
    """A header of non-ASCII text, encoded by ``email.header.Header``.

    The modern folder (``email.policy``, CPython 3.11) puts a space that falls at a fold between
    two encoded words, where RFC 2047 tells readers to drop it: "Зварот зарэгістраваны, № 17"
    arrived as "…зарэгістраваны,№ 17". ``Header`` encodes the spaces inside the words. The
    value reads as the decoded text; ``tail`` (an address in angle brackets) follows unencoded.
    """

    name: str
    tail: str

    def __new__(cls, name: str, text: str, tail: str = "") -> _Encoded:
        value = super().__new__(cls, f"{text} {tail}".strip())
        value.name, value._text, value.tail = name, text, tail
        return value

    def fold(self, *, policy: Any) -> str:
        encoded = Header(self._text, "utf-8", header_name=self.name).encode(linesep=policy.linesep)
        tail = f" {self.tail}" if self.tail else ""
        return f"{self.name}: {encoded}{tail}{policy.linesep}"
