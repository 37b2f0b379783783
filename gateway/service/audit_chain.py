"""Checking the audit trail's hash chain: every record in order, against its hash, its link and the
chain's head, naming the first that was edited, inserted or deleted (what each means, and how it
is told apart: ``gateway.domain.audit_chain``).

The walk reads page by page and reports progress, so it runs on a trail of any size while the hub
keeps writing: records committed during the walk are checked too, as they follow the head read at
its start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.adapters.db import audit as audit_db
from gateway.domain.audit_chain import ChainBreak, ChainWalk, Head
from gateway.service.hub import Hub

PROGRESS_EVERY = 100_000


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What the walk saw: ``head`` as read when it began, ``last_id`` and ``end_hash`` where it ended
    (further on when records were committed meanwhile); ``end_hash`` is the anchor to keep."""

    records: int
    first_id: int | None
    last_id: int | None
    end_hash: bytes | None
    head: Head
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify(
    hub: Hub, *, anchor: bytes | None = None, progress: Callable[[str], None] | None = None
) -> ChainReport:
    """Walk the whole chain; ``anchor``, a head hash kept outside the database (an archive's
    manifest gives one), must be on it, so a chain rewritten from scratch does not pass."""
    with hub.pool.connection() as conn:
        head, beyond = audit_db.chain_end(conn)
        walk = ChainWalk(head=head, anchor=anchor)
        for record in audit_db.chained_records(conn):
            if walk.add(record) is not None:
                break
            if progress and walk.checked % PROGRESS_EVERY == 0:
                progress(f"checked {walk.checked:,} records, to #{record.id} (the head was #{head.last_id})")
        walk.finish(beyond)
    last = walk.last
    return ChainReport(walk.checked, walk.first_id, last and last.id, last and last.hash, head, walk.broken)
