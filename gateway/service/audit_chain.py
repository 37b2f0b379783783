"""The audit trail's hash chain: sealing committed records into it, and checking it — every record
in order, against its hash, its link and the chain's head, naming the first that was edited,
inserted or deleted (what each means, and how it is told apart: ``gateway.domain.audit_chain``).

Records are chained after their transactions commit, in batches (migrations/0023_audit_seal.sql
says why): the relay calls :func:`seal` every ``audit_seal_interval_seconds``. Until then a record
is in the window: not in the chain, so an edit to it cannot be found. :func:`verify` reports the
window (how many records wait, the oldest's age) and calls a record left there longer than
``audit_seal_max_age_seconds`` a fault: nothing is sealing.

The walk reads page by page and reports progress, so it runs on a trail of any size while the hub
keeps writing: records chained during the walk are checked too, as they follow the head read at
its start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from gateway.adapters.db import audit as audit_db
from gateway.domain.audit_chain import ChainBreak, ChainWalk, Fault, Head
from gateway.service.hub import Hub

log = structlog.get_logger(__name__)

PROGRESS_EVERY = 100_000
NONE_UNCHAINED = audit_db.Unchained(0, None)
SEAL_BATCH = 10_000  # records per sealing transaction: the head's lock is held for one batch


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What the walk saw: ``head`` as read when it began, ``last_id`` and ``end_hash`` where it ended
    (further on when records were chained meanwhile); ``end_hash`` is the anchor to keep.
    ``unchained`` is the window seen after the walk: records not chained yet."""

    records: int
    first_id: int | None
    last_id: int | None
    end_hash: bytes | None
    head: Head
    broken: ChainBreak | None
    unchained: audit_db.Unchained = NONE_UNCHAINED
    max_age_s: float | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None

    @property
    def sealed_late(self) -> bool:
        """A record waited longer than ``max_age_s`` to be chained: no sealer runs."""
        age = self.unchained.oldest_age_s
        return self.max_age_s is not None and age is not None and age > self.max_age_s


def seal(hub: Hub, *, batch: int = SEAL_BATCH) -> int:
    """Chain every record committed so far (``batch`` per transaction); returns how many this call
    chained (0 also when another sealer was at it: it chains them)."""
    total = 0
    with hub.pool.connection() as conn:  # autocommit: each batch its own transaction
        while (n := audit_db.seal(conn, batch)) > 0:
            total += n
            if n < batch:
                break
    return total


class PeriodicSeal:
    """The relay's timer: seal every ``every`` seconds until ``stop``; a failed seal (the database
    away) is logged and tried again next time — the records wait in their table."""

    def __init__(self, hub: Hub, every: float, stop: threading.Event) -> None:
        self.hub, self.every, self.stop = hub, every, stop

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                seal(self.hub)
            except Exception as exc:
                log.warning("audit seal failed; trying again", error=type(exc).__name__)


def verify(
    hub: Hub,
    *,
    anchor: bytes | None = None,
    progress: Callable[[str], None] | None = None,
    max_age_s: float | None = None,
) -> ChainReport:
    """Walk the whole chain; ``anchor``, a head hash kept outside the database (an archive's
    manifest gives one), must be on it, so a chain rewritten from scratch does not pass. Then the
    window: records not chained yet must have neither link nor hash (else they were written around
    the sealer), and with ``max_age_s`` none may have waited longer (see ``sealed_late``)."""
    with hub.pool.connection() as conn:
        head, beyond = audit_db.chain_end(conn)
        walk = ChainWalk(head=head, anchor=anchor)
        for record in audit_db.chained_records(conn):
            if walk.add(record) is not None:
                break
            if progress and walk.checked % PROGRESS_EVERY == 0:
                progress(f"checked {walk.checked:,} records, to #{record.id} (the head was #{head.last_id})")
        walk.finish(beyond)
        if walk.broken is None and (forged := audit_db.unchained_with_a_link(conn)) is not None:
            walk.broken = ChainBreak(
                forged.id, forged.action, Fault.INSERTED,
                "it has a link or a hash but no place in the chain: written around the sealer",
            )  # fmt: skip
        window = audit_db.unchained(conn)
    last = walk.last
    end_id, end_hash = (last.id, last.hash) if last else (None, None)
    return ChainReport(walk.checked, walk.first_id, end_id, end_hash, head, walk.broken, window, max_age_s)
