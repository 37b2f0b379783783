"""E-mails as citizens' mail programs and mail servers send them, built byte by byte where the
encoding matters (windows-1251 in quoted-printable, KOI8-R in base64), for the parser and poller."""

from __future__ import annotations

import base64
import io
import quopri
import uuid
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

TEXT_RU = "Прошу отремонтировать крышу дома 5 по улице Ленина. Течёт уже месяц, ёлки!"


def _id() -> str:
    return make_msgid(idstring=uuid.uuid4().hex[:8], domain="mail.example.ru")


SENDER = "Иванов Иван <ivanov@example.ru>"


def plain(text: str = TEXT_RU, *, subject: str = "Ремонт крыши", sender: str = SENDER,
          message_id: str | None = None, extra: dict[str, str] | None = None) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "obrashcheniya@adm.example.ru"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = message_id or _id()
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(text)
    return msg.as_bytes()


def _headers(subject_encoded: str, content_type: str, cte: str, sender: str = "ivanov@example.ru") -> bytes:
    return (
        f"From: {sender}\r\nTo: obrashcheniya@adm.example.ru\r\nSubject: {subject_encoded}\r\n"
        f"Date: Tue, 01 Dec 2026 09:30:00 +0300\r\nMessage-ID: {_id()}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode("ascii")


def windows_1251_qp(text: str = TEXT_RU) -> bytes:
    subject = (
        "=?windows-1251?Q?" + quopri.encodestring("Жалоба".encode("cp1251"), header=True).decode() + "?="
    )
    body = quopri.encodestring(text.encode("cp1251"))
    return _headers(subject, 'text/plain; charset="windows-1251"', "quoted-printable") + body


def koi8r_base64(text: str = TEXT_RU) -> bytes:
    subject = "=?koi8-r?B?" + base64.b64encode("Обращение".encode("koi8-r")).decode() + "?="
    body = base64.encodebytes(text.encode("koi8-r"))
    return _headers(subject, "text/plain; charset=koi8-r", "base64") + body


PDF = b"%PDF-1.4\n% a scan\n" + bytes(range(256)) * 4


def with_attachment(text: str = TEXT_RU) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Петрова Анна Сергеевна <petrova@example.ru>"
    msg["Subject"] = "Обращение с фото"
    msg["Message-ID"] = _id()
    msg.set_content(text)
    msg.add_alternative(f"<p>{text}</p>", subtype="html")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="акт осмотра.pdf")
    return msg.as_bytes()


def with_attachments(*files: tuple[str, bytes]) -> bytes:
    """A short appeal with ``(file name, bytes)`` attached as application/octet-stream."""
    msg = EmailMessage()
    msg["From"] = "Петрова Анна Сергеевна <petrova@example.ru>"
    msg["Subject"] = "Обращение с вложениями"
    msg["Message-ID"] = _id()
    msg.set_content(TEXT_RU)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def html_only(text: str = TEXT_RU) -> bytes:
    msg = EmailMessage()
    msg["From"] = "sidorov@example.ru"
    msg["Subject"] = "HTML"
    msg["Message-ID"] = _id()
    msg.set_content(f"<html><style>p {{color: red}}</style><body><p>{text}</p></body></html>", subtype="html")
    return msg.as_bytes()


def forwarded() -> bytes:
    """A citizen forwards, as an attachment-less message/rfc822 part, the letter they wrote before."""
    inner = EmailMessage()
    inner["From"] = "ivanov@example.ru"
    inner["Subject"] = "Первое письмо"
    inner["Date"] = "Mon, 30 Nov 2026 10:00:00 +0300"
    inner.set_content("Первое письмо о крыше, без ответа.")
    inner.add_attachment(PDF, maintype="application", subtype="pdf", filename="фото.pdf")
    outer = EmailMessage()
    outer["From"] = "ivanov@example.ru"
    outer["Subject"] = "Fwd: Первое письмо"
    outer["Message-ID"] = _id()
    outer.set_content("Пересылаю ещё раз.")
    outer.add_attachment(inner, disposition="inline")
    return outer.as_bytes()


def auto_reply() -> bytes:
    return plain("Я в отпуске до 10 декабря.", subject="Автоответ: Ремонт крыши",
                 extra={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"})  # fmt: skip


def spam() -> bytes:
    return plain("Купите наши окна со скидкой!", subject="Скидки", sender="promo@spam.example",
                 extra={"X-Spam-Flag": "YES", "X-Spam-Status": "Yes, score=12.3"})  # fmt: skip


def bounce() -> bytes:
    """An RFC 3464 delivery status notification (multipart/report), as Postfix writes one."""
    boundary = "DSN-boundary-1"
    return (
        "From: MAILER-DAEMON@mail.example.ru (Mail Delivery System)\r\n"
        "To: obrashcheniya@adm.example.ru\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {_id()}\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-replied\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system. Your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.example.ru\r\n\r\n"
        "Final-Recipient: rfc822; nobody@example.ru\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: obrashcheniya@adm.example.ru\r\nSubject: Ваше обращение\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


# --- bad mail ---


def malformed_mime() -> bytes:
    """A multipart whose boundary never appears: nobody can say where its parts are."""
    return (
        f"From: x@example.ru\r\nSubject: broken\r\nMessage-ID: {_id()}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="never-used"\r\n\r\n'
        "text without any boundary line\r\n"
    ).encode()


def undecodable_charset() -> bytes:
    return _headers("bad", "text/plain; charset=x-unknown-charset-42", "8bit") + "Секретный текст".encode(
        "cp1251"
    )


def wrong_charset_bytes() -> bytes:
    """Declared UTF-8, written in windows-1251: the bytes are not UTF-8."""
    return _headers("bad", "text/plain; charset=utf-8", "8bit") + "Секретный текст".encode("cp1251")


def thousands_of_parts(n: int = 3000) -> bytes:
    boundary = "many"
    parts = "".join(f"--{boundary}\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(n))
    return (
        f"From: x@example.ru\r\nSubject: parts\r\nMessage-ID: {_id()}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n{parts}--{boundary}--\r\n'
    ).encode()


def zip_bomb_bytes(unpacked: int = 20 * 1024 * 1024) -> bytes:
    """One entry of zeros: ~20 KB packed, 20 MiB unpacked (a ratio of 1000; written in chunks)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("zeros.bin", "w") as entry:
        chunk = bytes(1024 * 1024)
        for _ in range(unpacked // len(chunk)):
            entry.write(chunk)
    return out.getvalue()


def zip_bomb() -> bytes:
    msg = EmailMessage()
    msg["From"] = "x@example.ru"
    msg["Subject"] = "документы"
    msg["Message-ID"] = _id()
    msg.set_content("см. архив")
    msg.add_attachment(zip_bomb_bytes(), maintype="application", subtype="zip", filename="docs.zip")
    return msg.as_bytes()


def oversize(size: int) -> bytes:
    return plain("Большой текст. " * (size // 15 + 1))
