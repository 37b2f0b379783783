"""An e-mail as the moderation queue sees it: parsed, labelled, or quarantined with a reason.

Pure (the standard ``email`` package only, no I/O): the poller hands raw bytes in and files what
comes out. Since 30.03.2025 (Russia) and 02.01.2023 (Belarus) e-mail is no longer a legal channel
for an appeal, so nothing here routes anything: an operator reads what this module extracted and
registers or rejects it.

Bad mail never raises anything but :class:`Quarantined`, whose ``reason`` is a stable code and
whose ``detail`` names sizes and counts, never the content (it goes to logs and to operators).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.errors import (
    CloseBoundaryNotFoundDefect,
    HeaderParseError,
    InvalidMultipartContentTransferEncodingDefect,
    MessageError,
    MissingHeaderBodySeparatorDefect,
    MultipartInvariantViolationDefect,
    NoBoundaryInMultipartDefect,
    StartBoundaryNotFoundDefect,
)
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from enum import StrEnum
from html.parser import HTMLParser

# The sender id of an appeal registered from an e-mail: no portal pushed it, so it has no cabinet.
EMAIL_SENDER = "E-MAIL"


class QuarantineReason(StrEnum):
    OVERSIZE = "oversize"
    MALFORMED_MIME = "malformed-mime"
    UNDECODABLE_CHARSET = "undecodable-charset"
    TOO_MANY_PARTS = "too-many-parts"
    TOO_DEEP = "too-deep"
    ZIP_BOMB = "zip-bomb"
    INFECTED = "infected"  # clamd found a signature (named in the detail) in the message


class Label(StrEnum):
    """What a message looks like besides an appeal; labelled for the operator, never dropped."""

    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    SPAM = "spam"


class Quarantined(Exception):
    """The message cannot be shown as an appeal; ``detail`` carries no content."""

    def __init__(self, reason: QuarantineReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class MailLimits:
    max_message_bytes: int = 25 * 1024 * 1024
    max_parts: int = 200
    max_depth: int = 10
    # A zip whose entries expand past either bound is a zip bomb (42.zip: 42 KB → 4.5 PB).
    max_unzipped_bytes: int = 100 * 1024 * 1024
    max_zip_ratio: int = 100
    max_zip_entries: int = 1000


@dataclass(frozen=True, slots=True)
class MailAttachment:
    file_name: str
    media_type: str
    content: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.content).digest()


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str | None
    sender: str | None  # the address to answer: Reply-To, else From
    sender_name: str | None
    subject: str
    sent_at: datetime | None
    text: str
    headers: tuple[tuple[str, str], ...]
    attachments: tuple[MailAttachment, ...]
    labels: tuple[Label, ...]


# Defects after which the structure the parser guessed is not what the sender meant.
_FATAL_DEFECTS = (
    StartBoundaryNotFoundDefect,
    CloseBoundaryNotFoundDefect,
    MultipartInvariantViolationDefect,
    NoBoundaryInMultipartDefect,
    InvalidMultipartContentTransferEncodingDefect,
    MissingHeaderBodySeparatorDefect,
)
# Headers an operator needs to judge a message; the rest (Received, DKIM…) stay in the raw bytes.
SHOWN_HEADERS = (
    "From", "Reply-To", "To", "Cc", "Date", "Subject", "Message-ID", "In-Reply-To", "Auto-Submitted",
    "Precedence", "X-Autoreply", "X-Spam-Flag", "X-Spam-Status", "Content-Type",
)  # fmt: skip
MAX_TEXT_CHARS = 100_000
_FORWARD_RULE = "-------- Пересылаемое сообщение / Forwarded message --------"


# What XML 1.0 cannot carry (see gateway/domain/text.py): a mail's text goes out to agencies as XML
# (SOAP pulls, pushes), so such characters become U+FFFD here; the raw bytes keep the original.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(value: str, max_chars: int) -> str:
    return _NOT_XML.sub("\ufffd", value)[:max_chars]


def normalise_message_id(value: str | None) -> str | None:
    """``<Id@Host>`` as the key of idempotency: angle brackets and whitespace off, at most 500."""
    if not value:
        return None
    text = re.sub(r"\s+", "", str(value)).strip("<>")
    return text[:500] or None


def parse(raw: bytes, limits: MailLimits = MailLimits()) -> ParsedMail:
    """Parse one message, or raise :class:`Quarantined` with the first reason it cannot be shown."""
    if len(raw) > limits.max_message_bytes:
        raise Quarantined(QuarantineReason.OVERSIZE, f"{len(raw)} bytes, over {limits.max_message_bytes}")
    try:
        msg = message_from_bytes(raw, policy=policy.default)
        return _Reader(limits).read(msg)
    except Quarantined:
        raise
    except (MessageError, HeaderParseError, LookupError, UnicodeError, ValueError, TypeError) as exc:
        # The parser gave up on a header or a part it could not make sense of.
        raise Quarantined(QuarantineReason.MALFORMED_MIME, type(exc).__name__) from None


class _Reader:
    """One walk over the MIME tree: text parts, attachments, forwarded messages, counts."""

    def __init__(self, limits: MailLimits) -> None:
        self.limits = limits
        self.parts = 0
        self.texts: list[str] = []
        self.attachments: list[MailAttachment] = []

    def read(self, msg: EmailMessage) -> ParsedMail:
        self._walk(msg, depth=0)
        sender_name, sender = _sender(msg)
        return ParsedMail(
            message_id=normalise_message_id(msg.get("Message-ID")),
            sender=sender,
            sender_name=sender_name,
            subject=clean(str(msg.get("Subject", "") or "").strip(), 1000),
            sent_at=_date(msg.get("Date")),
            text=clean("\n\n".join(t for t in self.texts if t.strip()).strip(), MAX_TEXT_CHARS),
            headers=tuple(
                (name, clean(str(msg[name]), 2000)) for name in SHOWN_HEADERS if msg.get(name) is not None
            ),
            attachments=tuple(self.attachments),
            labels=labels_of(msg),
        )

    def _count(self, depth: int) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise Quarantined(QuarantineReason.TOO_MANY_PARTS, f"more than {self.limits.max_parts} parts")
        if depth > self.limits.max_depth:
            raise Quarantined(QuarantineReason.TOO_DEEP, f"nested deeper than {self.limits.max_depth}")

    def _walk(self, part: EmailMessage, depth: int) -> None:
        self._count(depth)
        if any(isinstance(d, _FATAL_DEFECTS) for d in part.defects):
            names = sorted({type(d).__name__ for d in part.defects})
            raise Quarantined(QuarantineReason.MALFORMED_MIME, ", ".join(names))
        content_type = part.get_content_type()
        if content_type == "message/rfc822" and part.get_content_disposition() != "attachment":
            self._forwarded(part, depth)
        elif part.is_multipart():
            if content_type == "multipart/alternative":
                self._alternative(part, depth)
            else:
                for child in part.iter_parts():
                    self._walk(child, depth + 1)
        elif part.get_content_disposition() == "attachment" or part.get_filename():
            self._attachment(part)
        elif content_type == "text/plain":
            self.texts.append(_text(part))
        elif content_type == "text/html":
            self.texts.append(html_to_text(_text(part)))
        elif part.get_content_maintype() != "text" and content_type != "message/delivery-status":
            self._attachment(part)
        else:
            self.texts.append(_text(part))

    def _alternative(self, part: EmailMessage, depth: int) -> None:
        """The plain variant if there is one (counting every variant), else the richest."""
        children = list(part.iter_parts())
        plain = [c for c in children if c.get_content_type() == "text/plain"]
        chosen = plain[0] if plain else children[-1] if children else None
        for child in children:
            if child is not chosen:
                self._count(depth + 1)
        if chosen is not None:
            self._walk(chosen, depth + 1)

    def _forwarded(self, part: EmailMessage, depth: int) -> None:
        inner = part.get_payload(0) if part.is_multipart() else None
        if not isinstance(inner, EmailMessage):
            raise Quarantined(QuarantineReason.MALFORMED_MIME, "message/rfc822 without a message")
        shown = [f"{h}: {inner[h]}" for h in ("From", "Date", "Subject") if inner.get(h) is not None]
        self.texts.append("\n".join([_FORWARD_RULE, *shown]))
        self._walk(inner, depth + 1)

    def _attachment(self, part: EmailMessage) -> None:
        content = part.get_payload(decode=True) or b""
        name = _file_name(part, len(self.attachments) + 1)
        if part.get_content_type() in ZIP_TYPES or name.lower().endswith(".zip"):
            check_zip(content, self.limits)
        self.attachments.append(MailAttachment(name, part.get_content_type(), content))


ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed", "application/x-zip"})


def check_zip(content: bytes, limits: MailLimits) -> None:
    """Refuse a zip that would expand past the limits, judged by its directory (never unpacked)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not a zip after all: an attachment like any other, for the operator to judge
    if len(entries) > limits.max_zip_entries:
        raise Quarantined(QuarantineReason.ZIP_BOMB, f"a zip of {len(entries)} entries")
    unpacked = sum(e.file_size for e in entries)
    packed = max(sum(e.compress_size for e in entries), 1)
    nested = sum(1 for e in entries if e.filename.lower().endswith(".zip"))
    if unpacked > limits.max_unzipped_bytes or unpacked / packed > limits.max_zip_ratio or nested > 10:
        raise Quarantined(
            QuarantineReason.ZIP_BOMB, f"a zip of {len(content)} bytes expanding to {unpacked} bytes"
        )


def _text(part: EmailMessage) -> str:
    """The part's text in its declared charset; an unknown or wrong charset quarantines the mail.

    The ``email`` package itself would replace bad bytes silently; an operator must not register
    an appeal from a text with holes in it.
    """
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset).replace("\r\n", "\n")
    except LookupError:
        raise Quarantined(QuarantineReason.UNDECODABLE_CHARSET, "an unknown charset") from None
    except UnicodeDecodeError:
        if charset in ("us-ascii", "ascii"):
            # Undeclared 8-bit text: UTF-8 is what senders mean nowadays, if it decodes.
            try:
                return payload.decode("utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError:
                pass
        raise Quarantined(
            QuarantineReason.UNDECODABLE_CHARSET, f"{len(payload)} bytes not valid in the declared charset"
        ) from None


def _file_name(part: EmailMessage, n: int) -> str:
    name = part.get_filename()
    if name:
        name = clean(re.sub(r"[\x00-\x1f/\\]", "_", str(name)).strip(), 255)
    return name or f"part-{n}.{_EXTENSIONS.get(part.get_content_type(), 'bin')}"


_EXTENSIONS = {"message/rfc822": "eml", "application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def _sender(msg: EmailMessage) -> tuple[str | None, str | None]:
    for header in ("Reply-To", "From"):
        value = msg.get(header)
        if value is None:
            continue
        for name, address in getaddresses([str(value)]):
            if "@" in address:
                return (clean(name, 200) or None), clean(address.lower(), 320)
    return None, None


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def labels_of(msg: EmailMessage) -> tuple[Label, ...]:
    """Auto-replies (RFC 3834 and the common vendor headers), bounces (RFC 3464 reports) and spam
    flagged by the mail system's filter (SpamAssassin's headers)."""
    found: list[Label] = []
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if (
        (auto and not auto.startswith("no"))
        or any(msg.get(h) is not None for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"))
        or precedence in ("bulk", "junk", "list", "auto_reply")
    ):
        found.append(Label.AUTO_REPLY)
    if (
        msg.get_content_type() == "multipart/report"
        and str(msg.get_param("report-type", "")).lower() == "delivery-status"
    ) or str(msg.get("From", "")).lower().startswith(("mailer-daemon", "<mailer-daemon")):
        found.append(Label.BOUNCE)
    if str(msg.get("X-Spam-Flag", "")).strip().upper() == "YES" or str(
        msg.get("X-Spam-Status", "")
    ).strip().lower().startswith("yes"):
        found.append(Label.SPAM)
    return tuple(found)


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li"):
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML-only message (no markup reaches an operator or an agency)."""
    reader = _HtmlText()
    reader.feed(html)
    reader.close()
    return re.sub(r"\n\s*\n+", "\n\n", "".join(reader.chunks)).strip()
