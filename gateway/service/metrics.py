"""The hub's state as Prometheus sees it, read at scrape time, and the exposition of ``/metrics``.

Which due date runs is the lifecycle's business: ``register_by`` while an appeal can still be
registered, ``answer_by`` while it can still be answered. An answered or declined appeal has met
its legal duty even before the agency closes it, so it is neither at risk nor overdue.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.adapters import broker_status, metrics
from gateway.adapters.db import audit as audit_db
from gateway.adapters.db import metrics as metrics_db
from gateway.adapters.db import monitoring as monitoring_db
from gateway.domain.lifecycle import Transition, sources
from gateway.service.cabinet_updates import CABINET
from gateway.service.hub import Hub
from gateway.service.notifications import CONNECTORS as NOTIFICATION_CONNECTORS
from gateway.service.push import SED_PUSH

log = logging.getLogger(__name__)

# A scrape that waits on a sick database would pile up behind Prometheus' own timeout (10 s).
STATEMENT_TIMEOUT = "5s"


def exposition(hub: Hub, accept: str | None) -> tuple[bytes, str]:
    """The body of ``/metrics`` and its content type."""
    broker = metrics.BrokerCollector(lambda: broker_status.status(hub.settings, ping_workers=False))
    return metrics.render(metrics.StateCollector(lambda: hub_state(hub)), accept, broker)


def hub_state(hub: Hub) -> metrics.HubState:
    """Everything the state families say, read in one short transaction on one pooled connection,
    then the certificates from their files and the agencies' registered PEMs."""
    settings = hub.settings
    with hub.pool.connection() as conn, conn.transaction():
        conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
        mailboxes = [_mailbox(row) for row in monitoring_db.mailboxes(conn)]
        deliveries = [
            metrics.Deliveries(r["connector"], r["status"], r["n"]) for r in metrics_db.open_deliveries(conn)
        ]
        attempts = [
            metrics.Attempts(r["connector"], r["outcome"], r["n"])
            for r in metrics_db.recent_delivery_attempts(conn, metrics.ATTEMPTS_WINDOW_SECONDS)
        ]
        lag = metrics_db.outbox_lag_seconds(conn)
        clock = [
            metrics.ClockCounts(**row)
            for row in metrics_db.legal_clock(
                conn,
                register_states=sources(Transition.REGISTER),
                answer_states=sources(Transition.ANSWER),
                at_risk_days=settings.at_risk_days,
            )
        ]
        answer_certificates = metrics_db.answer_certificates(conn)
        unchained = audit_db.unchained(conn)
    certificates = [
        *_from_file(settings.trust_anchor_file, "trust-anchor"),
        *_from_file(settings.hub_certificate_file, "hub-signing"),
    ]
    for row in answer_certificates:
        certificates += _parsed(row["answer_certificate"].encode("ascii"), "agency-answer", row["agency"])
    return metrics.HubState(
        mailboxes=mailboxes,
        connectors=(CABINET, SED_PUSH, *NOTIFICATION_CONNECTORS),
        deliveries=deliveries,
        attempts=attempts,
        outbox_lag_s=lag,
        clock=clock,
        at_risk_days=settings.at_risk_days,
        certificates=certificates,
        audit_unchained=unchained.records,
        audit_unchained_oldest_s=unchained.oldest_age_s or 0.0,
    )


def _from_file(path: Path, kind: str) -> list[metrics.Certificate]:
    """A hub without trust anchors or a signing key still serves agencies: nothing to export then
    (and an unreadable file is the file's problem, not the database's: the scrape goes on)."""
    if not path.is_file():
        return []
    try:
        pem = path.read_bytes()
    except OSError:
        log.warning("metrics: the %s certificate file %s cannot be read", kind, path)
        return []
    return _parsed(pem, kind)


def _parsed(pem: bytes, kind: str, name: str | None = None) -> list[metrics.Certificate]:
    try:
        return metrics.certificates_in(pem, kind, name)
    except ValueError:
        log.warning("metrics: a %s certificate (%s) cannot be read", kind, name or "file")
        return []


def _mailbox(row: dict[str, Any]) -> metrics.Mailbox:
    def epoch(at: datetime | None) -> float | None:
        return None if at is None else at.timestamp()

    return metrics.Mailbox(
        agency=row["agency_code"],
        pending=row["pending"],
        leased=row["leased"],
        refused=row["refused"],
        oldest_pending_age_s=row["oldest_pending_age_s"] or 0.0,
        last_pull=epoch(row["last_pull_at"]),
        last_ack=epoch(row["last_ack_at"]),
    )
