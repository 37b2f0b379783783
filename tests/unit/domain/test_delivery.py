"""The retry policy: exponential backoff with full jitter, bounded by a cap and a maximum age."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.delivery import RetryPolicy

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(base=timedelta(seconds=2), cap=timedelta(minutes=30), max_age=timedelta(days=2))


@pytest.mark.parametrize(("attempts", "ceiling"), [(1, 2), (2, 4), (3, 8), (6, 64), (11, 1800), (40, 1800)])
def test_delay_stays_under_the_exponential_ceiling_and_the_cap(attempts: int, ceiling: float) -> None:
    rng = random.Random(7)
    delays = [(POLICY.next_attempt(attempts, T0, T0, rng=rng) - T0).total_seconds() for _ in range(500)]
    assert min(delays) >= 0 and max(delays) <= ceiling
    # full jitter spreads the retries over the whole window rather than bunching them at its end
    assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling


def test_retry_after_from_the_receiver_is_respected_but_capped() -> None:
    rng = random.Random(1)
    assert POLICY.next_attempt(1, T0, T0, retry_after=120, rng=rng) >= T0 + timedelta(seconds=120)
    far = POLICY.next_attempt(1, T0, T0, retry_after=10**9, rng=rng)
    assert far <= T0 + POLICY.cap


def test_a_delivery_older_than_the_maximum_age_is_dead() -> None:
    assert POLICY.next_attempt(3, T0, T0 + POLICY.max_age + timedelta(seconds=1)) is None


def test_the_last_retry_may_not_fall_beyond_the_maximum_age() -> None:
    now = T0 + POLICY.max_age - timedelta(seconds=1)
    outcomes = {POLICY.next_attempt(20, T0, now, rng=random.Random(seed)) for seed in range(50)}
    assert None in outcomes  # most draws land after the limit: dead
    assert all(when is None or when - T0 <= POLICY.max_age for when in outcomes)
