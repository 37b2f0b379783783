"""The text rule itself: which characters and lengths are refused, and where the refusal points."""

from __future__ import annotations

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.text import MAX_CHARS, check, check_tree, refused_character, scrubbed


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("\x00", "U+0000"),
        ("ok\ud800", "U+D800"),
        ("\udfff", "U+DFFF"),
        ("\x01", "U+0001"),
        ("\x0b", "U+000B"),
        ("\x1f", "U+001F"),
        ("\ufffe", "U+FFFE"),
        ("\uffff", "U+FFFF"),
    ],
)
def test_characters_xml_cannot_carry_are_refused_by_code_point(text, refused):
    assert refused_character(text) == refused


@pytest.mark.parametrize(
    "text",
    ["", "\t\n\r", "\x7f\x85\x9f", "\u202eRTL\u202c\u200f", "😀👍🏽", "\U0010ffff", "\ue000\ufffd", "Иванов"],
)
def test_tab_line_breaks_del_c1_marks_and_emoji_pass(text):
    assert refused_character(text) is None
    assert check(text, "/comment") == text


def test_a_refusal_is_invalid_request_at_the_field_and_does_not_echo_it():
    with pytest.raises(Rejection) as refused:
        check("secret\x00", "/reason")
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, "/reason")
    assert "secret" not in refused.value.detail and "U+0000" in refused.value.detail


def test_the_generic_length_limit():
    assert check("я" * MAX_CHARS, "/ref")
    with pytest.raises(Rejection, match="longer than"):
        check("я" * (MAX_CHARS + 1), "/ref")
    with pytest.raises(Rejection):
        check("x" * 11, "/code", max_chars=10)


def test_a_decoded_json_value_is_walked_with_rfc6901_pointers():
    with pytest.raises(Rejection) as refused:
        check_tree({"acks": [{"reason": "ok"}, {"reason": "\ud800"}]})
    assert refused.value.pointer == "/acks/1/reason"
    with pytest.raises(Rejection) as refused:
        check_tree({"a/b~c": ["\x00"]})
    assert refused.value.pointer == "/a~1b~0c/0"
    with pytest.raises(Rejection) as refused:
        check_tree({"nested": {"bad\x00name": 1}})
    assert refused.value.pointer == "/nested"  # a bad name is pointed at by its object
    with pytest.raises(Rejection) as refused:
        check_tree("\x00")
    assert refused.value.pointer == "/"
    check_tree({"n": 1, "b": True, "none": None, "list": [1.5, "ok"]})


def test_scrubbed_keeps_a_record_storable_without_refusing_it():
    assert scrubbed("/sed/v1/\x00\ud800x") == "/sed/v1/\ufffd\ufffdx"
    assert len(scrubbed("x" * (MAX_CHARS + 5))) == MAX_CHARS
