"""The SMS text and its encoding: GSM 7-bit or UCS-2, cut into at most three parts; receipts read;
SMSC statuses judged. Pure functions, no socket."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.mail.sms.encoding import GSM, MAX_PARTS, UCS2, UDHI, TooLong, encode, parts_needed
from connectors.mail.sms.receipts import parse_receipt
from connectors.mail.sms.smpp import bind_failure, submit_failure
from connectors.mail.sms.text import EVENTS, TEXTS, UnknownEvent, compose
from tests.integration.connectors.mail.sms_messages import payload


def _text_of(parts: tuple[bytes, ...], coding: int) -> str:
    data = b"".join(p[6:] if len(parts) > 1 else p for p in parts)
    if coding == UCS2:
        return data.decode("utf-16-be")
    return data.decode("latin-1")  # the tests' GSM texts are ASCII letters


def test_ascii_text_goes_in_the_gsm_alphabet_160_to_a_part() -> None:
    assert encode("A" * 160, 1).parts == (b"A" * 160,)
    two = encode("A" * 161, 1)
    assert (two.data_coding, two.esm_class) == (GSM, UDHI)
    assert [len(p) - 6 for p in two.parts] == [153, 8]


def test_a_gsm_extension_character_is_never_cut_from_its_escape() -> None:
    text = "A" * 152 + "€" + "B" * 10  # the euro sign takes septets 153 and 154
    parts = encode(text, 1).parts
    assert parts[0][6:] == b"A" * 152 and parts[1][6:8] == b"\x1b\x65"


def test_cyrillic_needs_ucs2_70_to_a_part_and_67_when_concatenated() -> None:
    assert encode("ж" * 70, 1).parts == (("ж" * 70).encode("utf-16-be"),)
    one = encode("ж" * 70, 1)
    assert (one.data_coding, one.esm_class, len(one.parts)) == (UCS2, 0, 1)
    two = encode("ж" * 71, 260)
    assert [p[:6] for p in two.parts] == [bytes((5, 0, 3, 4, 2, 1)), bytes((5, 0, 3, 4, 2, 2))]
    assert [len(p) - 6 for p in two.parts] == [134, 8]
    with pytest.raises(TooLong):
        encode("ж" * (67 * MAX_PARTS + 1), 1)
    assert len(encode("ж" * 67 * MAX_PARTS, 1).parts) == MAX_PARTS


def test_a_character_outside_the_bmp_is_not_cut_between_its_surrogates() -> None:
    parts = encode("ж" * 66 + "😀" + "ж" * 5, 1).parts
    assert len(parts[0]) - 6 == 132 and parts[1][6:10] == "😀".encode("utf-16-be")


@given(st.text(alphabet="абвгдеёжзAZ09 .,:/-€{😀", max_size=250))
def test_parts_join_back_to_the_text(text: str) -> None:
    try:
        encoded = encode(text, 9)
    except TooLong:
        assert parts_needed(text) > MAX_PARTS
        return
    assert len(encoded.parts) == parts_needed(text) <= MAX_PARTS
    if encoded.data_coding == UCS2:
        assert _text_of(encoded.parts, UCS2) == text
    assert all(len(p) <= 140 for p in encoded.parts)


@pytest.mark.parametrize("language", ["ru", "be"])
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_has_a_text_with_the_number_and_link_in_three_parts(event: str, language: str) -> None:
    body = payload(event, language=language)
    text = compose(body)
    assert "01-23/4567" in text and text.endswith(body["lookup_url"])
    assert parts_needed(text) <= MAX_PARTS
    assert ("AB3K7M2QXP" in text) == (event == "registered")


def test_an_appeal_without_a_number_says_so() -> None:
    body = payload("withdrawn", appeal={"state": "withdrawn", "agency": None, "registrations": []})
    assert compose(body).startswith("Обращение № без номера отозвано.")


def test_unknown_event_and_texts_without_a_link() -> None:
    with pytest.raises(UnknownEvent):
        compose(payload("assigned"))
    assert compose(payload("closed", lookup_url=None)) == "Рассмотрение обращения № 01-23/4567 завершено."
    assert set(TEXTS["ru"]) == set(TEXTS["be"])


def test_a_receipt_is_read_from_its_tlvs_and_else_from_its_text() -> None:
    text = b"id:0A1B sub:001 dlvrd:001 submit date:2612011200 done date:2612011201 stat:DELIVRD err:000 text:"
    assert parse_receipt(0x04, text, "FF", 5) is not None
    tlv = parse_receipt(0x04, text, "FF", 5)
    assert (tlv.message_id, tlv.state, tlv.error_code) == ("FF", "UNDELIV", "000")
    plain = parse_receipt(0x04, text, None, None)
    assert (plain.message_id, plain.state) == ("0A1B", "DELIVRD")
    assert plain.done_at is not None and plain.done_at.isoformat() == "2026-12-01T12:01:00+00:00"
    assert parse_receipt(0x00, b"a reply from a handset", None, None) is None


def test_smsc_statuses_are_judged() -> None:
    throttled = submit_failure(0x58, 1, 2)
    assert (throttled.permanent, throttled.retry_after) == (False, 10.0)
    assert submit_failure(0x14, 1, 1).retry_after == 60.0  # ESME_RMSGQFUL
    assert not submit_failure(0x08, 1, 1).permanent  # ESME_RSYSERR
    assert not submit_failure(0x0400, 1, 1).permanent  # a vendor's code: assume it passes
    assert submit_failure(0x0B, 2, 3).reason == "the SMSC refused part 2 of 3: ESME_RINVDSTADR"
    assert submit_failure(0x0B, 2, 3).permanent
    assert bind_failure(0x0F).permanent and bind_failure(0x0F).reason.endswith("ESME_RINVSYSID")
    assert not bind_failure(0x58).permanent
    assert submit_failure(0x1234, 1, 1).reason.endswith("command_status 0x00001234")


def test_the_connector_and_the_notifications_hook_name_the_channel_alike():
    from connectors.mail.sms import APPLICANT_SMS as connector_side
    from gateway.service.notifications import APPLICANT_SMS as hub_side

    assert connector_side == hub_side
