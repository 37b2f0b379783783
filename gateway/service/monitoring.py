"""What operators look at: which agency stopped pulling, what is stuck in delivery, where an appeal is.

Views only (the actions are where their business is: leases in ``mailbox``, dead deliveries in
``delivery``, routing in ``manual_routing``); every face shows these same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import Connection

from gateway.adapters import broker_status
from gateway.adapters.db import monitoring as monitoring_db
from gateway.adapters.db import outbox as outbox_db
from gateway.adapters.db import sms as sms_db
from gateway.adapters.db.outage import read as db_read
from gateway.domain.errors import Code, Rejection
from gateway.service.hub import Hub
from gateway.service.notifications import APPLICANT_SMS

MAX_REF = 200


@dataclass(frozen=True, slots=True)
class MailboxView:
    agency_code: str
    delivery_mode: str
    pending: int
    leased: int
    redelivered: int  # open messages leased more than once: an EDMS that leases but never acks
    refused: int  # negative acks waiting for an operator
    oldest_pending_age_s: float | None
    last_pull_at: datetime | None
    last_ack_at: datetime | None


def mailboxes(hub: Hub) -> list[MailboxView]:
    return [MailboxView(**row) for row in db_read(hub.pool, monitoring_db.mailboxes)]


@dataclass(frozen=True, slots=True)
class DeliveriesView:
    """Open deliveries per connector, the ones stuck (retrying or dead) with why, and the SMS the
    SMSC took but whose delivery receipt says the handset did not get (what a bounce is to an
    e-mail; no replay offers itself: the SMSC already tried until the validity ran out)."""

    by_connector: list[dict[str, Any]]
    stuck: list[dict[str, Any]]
    undelivered_sms: list[dict[str, Any]] = field(default_factory=list)


def deliveries(hub: Hub, *, connector: str | None = None, limit: int = 50) -> DeliveriesView:
    if not 1 <= limit <= 1000:
        raise Rejection(Code.INVALID_REQUEST, "limit must be 1 to 1000", "/limit")

    def read(conn: Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        summary = monitoring_db.deliveries_by_connector(conn)
        stuck = [
            row
            for status in ("dead", "retrying")
            for row in outbox_db.deliveries(conn, status=status, connector=connector, limit=limit)
        ]
        sms = []
        if connector in (None, APPLICANT_SMS):
            sms = monitoring_db.undelivered_sms(conn, sms_db.FAILED_STATES, limit)
        return summary, stuck, sms

    summary, stuck, sms = db_read(hub.pool, read)
    if connector is not None:
        summary = [row for row in summary if row["connector"] == connector]
    return DeliveriesView(summary, stuck[:limit], sms)


def broker(hub: Hub) -> broker_status.BrokerStatus:
    return broker_status.status(hub.settings)


def timeline(hub: Hub, ref: str) -> list[dict[str, Any]]:
    """Each appeal ``ref`` names (hub id, portal id or registration number) with its whole story."""
    ref = ref.strip()
    if not 0 < len(ref) <= MAX_REF:
        raise Rejection(Code.INVALID_REQUEST, f"ref must be 1 to {MAX_REF} characters", "/ref")

    def read(conn: Connection) -> list[dict[str, Any]]:
        found = monitoring_db.find_appeals(conn, ref)
        return [{"appeal": appeal, **monitoring_db.timeline(conn, appeal["id"])} for appeal in found]

    timelines = db_read(hub.pool, read)
    if not timelines:
        raise Rejection(Code.NOT_FOUND, "no appeal with this id, portal id or registration number", "/ref")
    return timelines
