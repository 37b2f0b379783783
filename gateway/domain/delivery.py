"""Outgoing deliveries: what a connector is handed, how it reports failure, when to try again.

Everything that leaves the hub (a status update for the citizen's cabinet, an appeal pushed to
an agency's EDMS) is first written to the outbox in the transaction of the change that causes it,
then handed to its connector, once per attempt, as an :class:`OutgoingMessage`. A connector
either returns (the receiver has the message: delivered) or raises :class:`DeliveryError`.
Whether and when to try again is decided here, by :class:`RetryPolicy`, not by the connector.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One outbox message as its connector sees it.

    ``payload`` is the JSON the outbox holds. Binary documents too big for it (a signed answer,
    an appeal's raw envelope) are stored once in the blob store and named in
    ``payload["documents"]`` as ``{name: sha256 hex}``; the delivery service resolves them into
    ``documents`` before the connector is called.
    """

    id: int
    connector: str
    appeal_id: UUID | None  # None: a reply to an e-mailed appeal rejected by moderation (0017)
    seq: int
    idempotency_key: str
    payload: Mapping[str, Any]
    created_at: datetime
    attempt: int  # 1 for the first try
    documents: Mapping[str, bytes] = field(default_factory=dict)


class DeliveryError(Exception):
    """The receiver does not have the message.

    ``permanent`` means trying again cannot help until someone changes something (the receiver
    refused the message as invalid, or no endpoint is configured): the delivery goes dead at once,
    for an operator to replay after the fix. Otherwise the policy schedules another attempt, not
    earlier than ``retry_after`` seconds when the receiver asked for that. ``reason`` is shown to
    operators and stored: it must never carry personal data (no names, texts, contacts).
    """

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Connector(Protocol):
    """An outside system the hub delivers to (the portal's cabinet, an agency's EDMS)."""

    def deliver(self, message: OutgoingMessage) -> None:
        """Hand ``message`` over; return only when the receiver has it, else raise DeliveryError."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, until the message is ``max_age`` old.

    Full jitter (a uniform draw between zero and the exponential cap, as AWS's architecture blog
    recommends) keeps many failed deliveries from retrying in lock step when a receiver recovers.
    """

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=30)
    max_age: timedelta = timedelta(days=2)

    def next_attempt(
        self,
        attempts: int,
        created_at: datetime,
        now: datetime,
        *,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again after ``attempts`` failed tries, or None: the delivery is dead."""
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** max(attempts - 1, 0))
        delay = (rng or random).uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap.total_seconds()))
        when = now + timedelta(seconds=delay)
        return None if when - created_at > self.max_age else when
