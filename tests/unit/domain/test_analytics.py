"""Periods, dimensions and small-cell suppression: pure rules of the analytics."""

from __future__ import annotations

import random
from datetime import date

import pytest

from gateway.domain.analytics import (
    Dimension,
    disclosed,
    parse_dimensions,
    parse_period,
    suppress,
)
from gateway.domain.errors import Rejection


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-11-25", date(2026, 11, 25), date(2026, 11, 26)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-q4", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026-01-15..2026-03-10", date(2026, 1, 15), date(2026, 3, 11)),
    ],
)
def test_periods(text, start, end):
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-13",
        "2026-Q5",
        "26",
        "2026-03-10..2026-01-15",
        "2000..2030",
        "9999-12-31",
        "2026-01-01..9999-12-31",
    ],
)
def test_bad_periods_are_refused_at_the_field(text):
    with pytest.raises(Rejection) as refused:
        parse_period(text)
    assert refused.value.pointer == "/period"


def test_a_period_splits_into_whole_months_and_at_most_two_edges():
    period = parse_period("2026-01-15..2026-03-10")
    assert period.whole_months() == (date(2026, 2, 1), date(2026, 3, 1))
    assert period.edges() == [(date(2026, 1, 15), date(2026, 2, 1)), (date(2026, 3, 1), date(2026, 3, 11))]
    assert parse_period("2026-Q1").edges() == []
    assert parse_period("2026-02-03..2026-02-05").edges() == [(date(2026, 2, 3), date(2026, 2, 6))]


def test_dimensions():
    assert parse_dimensions("section, municipality") == (Dimension.SECTION, Dimension.MUNICIPALITY)
    for bad in ("", "colour", "agency,agency", "section,theme,topic,question"):
        with pytest.raises(Rejection):
            parse_dimensions(bad)


def test_a_lone_small_cell_is_hidden_with_a_partner_in_its_row_and_column():
    counts = {("0005", "A"): 40, ("0005", "B"): 1, ("0005", "C"): 30, ("0003", "A"): 12, ("0003", "B"): 9,
              ("0003", "C"): 20}  # fmt: skip
    table = suppress(counts, 5)
    assert table.cells[("0005", "B")] is None  # the small count
    assert table.cells[("0003", "B")] is None  # its column partner (the smallest other)
    assert table.cells[("0005", "C")] is None and table.cells[("0003", "C")] is None  # the rows'
    assert table.row_totals == {"0003": 41, "0005": 71} and table.total == 112
    assert disclosed(table, 5) == []


def test_random_tables_never_disclose_a_hidden_cell():
    rng = random.Random(15)
    for _ in range(300):
        counts = {(f"s{r}", f"m{c}"): rng.choice([0, 0, 1, 2, 3, 4, 7, 20])
                  for r in range(rng.randint(2, 5)) for c in range(rng.randint(2, 6))}  # fmt: skip
        table = suppress(counts, 5)
        assert disclosed(table, 5) == []
        assert all(table.cells[k] is None for k, n in counts.items() if 0 < n < 5)
