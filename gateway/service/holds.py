"""Appeals held back from their agency because the antivirus could not scan their attachments.

Under ``GATEWAY_ANTIVIRUS_OUTAGE=hold`` (fail-open) an intake that gets no verdict from clamd still
stores and routes the appeal, so the portal's receipt and the legal clock are not held up by the
hub's own outage, but the agency's mailbox message is not posted (``attachment_hold``, migration
0020). :func:`release` scans each held appeal's attachments again from the blob store: clean, the
message is posted (and pushed, for a push agency) exactly as intake would have; infected, the hold
stays with the signature, the agency never sees the appeal, and operators decide. The relay runs it
every ``antivirus_release_seconds``; operators may run it at once (REST, CLI).

The scan holds no transaction: each appeal's bytes are spooled out of the blob store, scanned, and
the outcome written in a short transaction of its own; two releasers racing post a message once.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog

from gateway.adapters import metrics
from gateway.adapters.antivirus import ScannerUnavailable
from gateway.adapters.db import blobs
from gateway.adapters.db import holds as holds_db
from gateway.adapters.db.audit import append_audit
from gateway.service import push, screening
from gateway.service.hub import Hub
from gateway.service.mailbox import APPEAL_MESSAGE

log = structlog.get_logger(__name__)

BATCH = 50
SPOOL_IN_MEMORY = 1024 * 1024


@dataclass
class ReleaseResult:
    released: int = 0
    infected: int = 0
    still_held: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"released": self.released, "infected": self.infected, "still_held": self.still_held}


def listing(hub: Hub) -> list[dict[str, Any]]:
    with hub.pool.connection() as conn:
        return holds_db.listing(conn)


def release(hub: Hub) -> ReleaseResult:
    """Scan the held appeals (oldest first, up to :data:`BATCH`) and release or flag each."""
    result = ReleaseResult()
    if screening.scanner(hub.settings) is None:
        return result
    with hub.pool.connection() as conn:
        waiting = holds_db.waiting(conn, BATCH)
    for held in waiting:
        _one(hub, held, result)
    if waiting:
        log.info("held appeals scanned", **result.as_dict())
    return result


def _one(hub: Hub, held: dict[str, Any], result: ReleaseResult) -> None:
    appeal_id: UUID = held["appeal_id"]
    try:
        signature = _scan(hub, [bytes(d) for d in held["digests"]])
    except ScannerUnavailable as exc:
        with hub.pool.connection() as conn:
            holds_db.failed(conn, appeal_id, exc.reason)
        result.still_held += 1
        return
    with hub.pool.connection() as conn, conn.transaction():
        if signature is not None:
            if holds_db.infected(conn, appeal_id, signature):
                append_audit(conn, appeal_id, "hub", "quarantined-infected", {"signature": signature})
                metrics.held_appeal("infected")
                log.warning("held appeal infected", appeal_id=str(appeal_id), signature=signature)
            result.infected += 1
            return
        released = holds_db.release(conn, appeal_id)
        if released is None:  # another releaser took it
            return
        mailbox_id, agency_code = released["mailbox_message_id"], released["agency_code"]
        holds_db.post(conn, mailbox_id, agency_code, appeal_id, APPEAL_MESSAGE)
        if agency_code in hub.routing_table(conn).push_agencies:
            push.enqueue(conn, mailbox_id)
        append_audit(conn, appeal_id, "hub", "released-after-scan", {"mailbox_message": str(mailbox_id)})
    metrics.held_appeal("released")
    result.released += 1


def _scan(hub: Hub, digests: list[bytes]) -> str | None:
    """The first signature clamd finds in the appeal's attachments, or None when all are clean."""
    for digest in digests:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            with hub.pool.connection() as conn:
                for chunk in blobs.iter_chunks(conn, digest):
                    spool.write(chunk)
            signature = screening.infection_in(hub.settings, spool)
        if signature is not None:
            return signature
    return None


def run_periodically(hub: Hub, every: float, stop: threading.Event) -> None:
    """The relay's thread: release what can be released, every ``every`` seconds, until ``stop``."""
    while not stop.wait(every):
        try:
            release(hub)
        except Exception as exc:  # the database away a moment: the next round tries again
            log.warning("held appeals not scanned", error=type(exc).__name__)
