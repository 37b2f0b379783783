"""Applicants' requests: what the portal may relay, refused with the field at fault."""

from __future__ import annotations

import pytest

from gateway.domain.applicant_requests import (
    Feedback,
    Withdrawal,
    check_rateable,
    parse_feedback,
    parse_withdrawal,
)
from gateway.domain.errors import Code, Rejection
from gateway.domain.lifecycle import AppealState


def test_a_withdrawal_needs_an_id_and_may_give_a_reason():
    assert parse_withdrawal(" w-1 ") == Withdrawal("w-1", None)
    assert parse_withdrawal("w-1", "  вопрос решён  ") == Withdrawal("w-1", "вопрос решён")
    assert parse_withdrawal("w-1", "   ") == Withdrawal("w-1", None)


@pytest.mark.parametrize(
    ("withdrawal_id", "reason", "pointer"),
    [
        (None, None, "/withdrawal_id"),
        ("", None, "/withdrawal_id"),
        ("x" * 101, None, "/withdrawal_id"),
        ("w\n1", None, "/withdrawal_id"),
        (17, None, "/withdrawal_id"),
        ("w-1", 5, "/reason"),
        ("w-1", "x" * 2001, "/reason"),
    ],
)
def test_a_bad_withdrawal_names_its_field(withdrawal_id, reason, pointer):
    with pytest.raises(Rejection) as refused:
        parse_withdrawal(withdrawal_id, reason)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, pointer)


@pytest.mark.parametrize("rating", [1, 3, 5])
def test_feedback_rates_one_to_five(rating):
    assert parse_feedback("f-1", rating, "спасибо") == Feedback("f-1", rating, "спасибо")


@pytest.mark.parametrize(
    ("feedback_id", "rating", "comment", "pointer"),
    [
        ("f-1", 0, None, "/rating"),
        ("f-1", 6, None, "/rating"),
        ("f-1", 4.5, None, "/rating"),
        ("f-1", "5", None, "/rating"),
        ("f-1", True, None, "/rating"),  # a JSON true is not a rating of 1
        ("f-1", None, None, "/rating"),
        ("", 5, None, "/feedback_id"),
        ("f-1", 5, "x" * 2001, "/comment"),
        ("f-1", 5, ["a"], "/comment"),
    ],
)
def test_bad_feedback_names_its_field(feedback_id, rating, comment, pointer):
    with pytest.raises(Rejection) as refused:
        parse_feedback(feedback_id, rating, comment)
    assert (refused.value.code, refused.value.pointer) == (Code.INVALID_REQUEST, pointer)


@pytest.mark.parametrize("state", [AppealState.ANSWERED, AppealState.CLOSED])
def test_an_answered_appeal_may_be_rated(state):
    check_rateable(state, answered=True)


@pytest.mark.parametrize(
    ("state", "answered"),
    [
        (AppealState.REGISTERED, False),
        (AppealState.IN_PROGRESS, False),
        (AppealState.DECLINED, False),
        (AppealState.CLOSED, False),  # closed after a decline: there is no answer to rate
        (AppealState.WITHDRAWN, False),
    ],
)
def test_no_feedback_without_an_answer(state, answered):
    with pytest.raises(Rejection) as refused:
        check_rateable(state, answered)
    assert refused.value.code is Code.NOT_ANSWERED
    assert state.value in refused.value.detail
