"""Parsing e-mail for the moderation queue: charsets and structures citizens' mail programs send,
labels for robots' mail, and a stable quarantine reason (naming no content) for bad mail."""

from __future__ import annotations

import pytest

from gateway.domain.incoming_mail import Label, MailLimits, Quarantined, QuarantineReason, parse
from tests import mail_samples as samples


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        (samples.plain(), "Ремонт крыши"),
        (samples.windows_1251_qp(), "Жалоба"),
        (samples.koi8r_base64(), "Обращение"),
        (samples.html_only(), "HTML"),
    ],
    ids=["utf-8", "windows-1251 quoted-printable", "koi8-r base64", "html only"],
)
def test_the_text_and_subject_read_right_in_every_charset(raw, subject):
    parsed = parse(raw)
    assert parsed.subject == subject
    assert parsed.text == samples.TEXT_RU
    assert parsed.sender == "ivanov@example.ru" or parsed.sender.endswith("@example.ru")
    assert parsed.labels == ()
    assert parsed.message_id and "<" not in parsed.message_id


def test_attachments_keep_their_names_and_bytes_and_the_plain_variant_is_the_text():
    parsed = parse(samples.with_attachment())
    assert parsed.sender_name == "Петрова Анна Сергеевна"
    assert parsed.text == samples.TEXT_RU  # not twice: the HTML alternative is the same text
    (attachment,) = parsed.attachments
    assert (attachment.file_name, attachment.media_type, attachment.content) == (
        "акт осмотра.pdf", "application/pdf", samples.PDF,
    )  # fmt: skip


def test_a_forwarded_message_shows_its_headers_text_and_attachments():
    parsed = parse(samples.forwarded())
    assert parsed.text.startswith("Пересылаю ещё раз.")
    assert "Subject: Первое письмо" in parsed.text
    assert "Первое письмо о крыше, без ответа." in parsed.text
    assert [a.file_name for a in parsed.attachments] == ["фото.pdf"]


@pytest.mark.parametrize(
    ("raw", "labels"),
    [
        (samples.auto_reply(), {Label.AUTO_REPLY}),
        (samples.bounce(), {Label.AUTO_REPLY, Label.BOUNCE}),
        (samples.spam(), {Label.SPAM}),
        (samples.plain(extra={"Precedence": "bulk"}), {Label.AUTO_REPLY}),
        (samples.plain(extra={"Auto-Submitted": "no"}), set()),
    ],
    ids=["auto-reply", "bounce", "spam", "precedence bulk", "auto-submitted no"],
)
def test_robots_mail_is_labelled_not_dropped(raw, labels):
    assert set(parse(raw).labels) == labels


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (samples.malformed_mime(), QuarantineReason.MALFORMED_MIME),
        (samples.undecodable_charset(), QuarantineReason.UNDECODABLE_CHARSET),
        (samples.wrong_charset_bytes(), QuarantineReason.UNDECODABLE_CHARSET),
        (samples.thousands_of_parts(), QuarantineReason.TOO_MANY_PARTS),
        (samples.zip_bomb(), QuarantineReason.ZIP_BOMB),
        (samples.oversize(2000), QuarantineReason.OVERSIZE),
    ],
    ids=["malformed", "unknown charset", "bytes not in charset", "3000 parts", "zip bomb", "oversize"],
)
def test_bad_mail_is_quarantined_with_a_reason_that_names_no_content(raw, reason):
    with pytest.raises(Quarantined) as caught:
        parse(
            raw, MailLimits(max_message_bytes=1500) if reason is QuarantineReason.OVERSIZE else MailLimits()
        )
    assert caught.value.reason is reason
    for secret in ("Секретный", "Большой", "part 1", "zeros", "boundary"):
        assert secret not in caught.value.detail


def test_characters_xml_cannot_carry_are_replaced_in_the_text():
    parsed = parse(samples.plain("до\x00после\x0cконец"))
    assert parsed.text == "до\ufffdпосле\ufffdконец"


def test_a_message_nested_past_the_limit_is_quarantined():
    raw = samples.plain()
    for _ in range(12):
        raw = (
            b"From: x@example.ru\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
            + raw
        )
    with pytest.raises(Quarantined) as caught:
        parse(raw)
    assert caught.value.reason is QuarantineReason.TOO_DEEP
