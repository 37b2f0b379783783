"""The form of a posted answer's tracking number and date."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.domain.errors import Rejection
from gateway.domain.postal_dispatch import check_dispatched_on, check_tracking_number


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("42800012345678", "42800012345678"),
        ("428000 12 34567 8", "42800012345678"),
        ("ra123456785ru", "RA123456785RU"),
        ("RA-123456785-RU", "RA123456785RU"),
    ],
)
def test_both_forms_are_taken_as_the_post_prints_them(typed, kept):
    assert check_tracking_number(typed) == kept


@pytest.mark.parametrize(
    "typed", [None, "", "4280001234567", "428000123456789", "R1123456785RU", "RA12345678ORU"]
)
def test_other_forms_are_refused_pointing_at_the_number(typed):
    with pytest.raises(Rejection) as caught:
        check_tracking_number(typed)
    assert caught.value.pointer == "/tracking_number"


def test_the_date_runs_from_the_answer_to_tomorrow():
    answered, today = date(2027, 1, 10), date(2027, 1, 20)
    assert check_dispatched_on("2027-01-10", answered_on=answered, today=today) == answered
    assert check_dispatched_on("2027-01-21", answered_on=answered, today=today) == date(2027, 1, 21)
    for wrong in ("2027-01-09", "2027-01-22", "20.01.2027"):
        with pytest.raises(Rejection):
            check_dispatched_on(wrong, answered_on=answered, today=today)
