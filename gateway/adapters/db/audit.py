"""The audit trail: every state change of an appeal, appended in the same transaction as the change.

A record is inserted with a provisional id (at or above ``PROVISIONAL_BASE``); the sealer
(``seal``, the database's ``audit_chain_seal()``, migrations/0023_audit_seal.sql) later chains the
committed ones by hash, giving each its final id. The functions below the line read the chain
back for the verifier and the archive: only chained records, below ``PROVISIONAL_BASE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

from gateway.domain.audit_chain import ChainedRecord, Head


def append_audit(
    conn: Connection, appeal_id: UUID | None, actor: str, action: str, details: dict[str, Any] | None = None
) -> None:
    """Append one record. ``details`` must hold no personal data: codes, ids and numbers only."""
    conn.execute(
        "INSERT INTO audit_record (appeal_id, actor, action, details) VALUES (%s, %s, %s, %s)",
        (appeal_id, actor, action, Jsonb(details or {})),
    )


PROVISIONAL_BASE = 2**62  # audit_provisional_base(): ids of records not chained yet start here


@dataclass(frozen=True, slots=True)
class Unchained:
    """The records waiting for the sealer: how many, and how long the oldest has waited (seconds,
    from its insert; None when none waits)."""

    records: int
    oldest_age_s: float | None


def seal(conn: Connection, max_records: int) -> int:
    """Chain up to ``max_records`` committed records in one transaction of their own; 0 when another
    sealer holds the chain's head (it is chaining them). ``conn`` must be in autocommit."""
    return conn.execute("SELECT audit_chain_seal(%s) AS n", (max_records,)).fetchone()["n"]


def unchained(conn: Connection) -> Unchained:
    row = conn.execute(
        """SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(at))::float AS age
             FROM audit_record WHERE id >= %s""",
        (PROVISIONAL_BASE,),
    ).fetchone()
    return Unchained(row["n"], None if row["age"] is None else max(row["age"], 0.0))


def unchained_with_a_link(conn: Connection) -> ChainedRecord | None:
    """The first record with a provisional id that has a hash or a link: the sealer gives both with
    the final id in one statement, so such a record was written around it."""
    row = conn.execute(
        _COLUMNS + " WHERE id >= %s AND (hash IS NOT NULL OR prev_hash IS NOT NULL) ORDER BY id LIMIT 1",
        (PROVISIONAL_BASE,),
    ).fetchone()
    return None if row is None else _record(row)


# --- the hash chain (migrations/0010_audit_chain.sql, 0023_audit_seal.sql) ----------------------
#
# Long reads go page by page (keyset on id), each page its own short statement, never one cursor
# over the whole trail: a snapshot held for the length of a walk would keep vacuum from pruning
# the old versions of the chain head's row, which every audited commit updates, and each commit
# would then step through all of them.

# ``details`` as jsonb's canonical text, which is what the chain hashes. A time edited out of what
# Python can hold (e.g. 'infinity') reads as NULL, so the walk reports the record as edited
# instead of failing to load it.
_COLUMNS = """
    SELECT id, appeal_id, actor, action,
           CASE WHEN at BETWEEN '0002-01-01' AND '9998-12-31' THEN at END AS at,
           details::text AS details, prev_hash, hash
      FROM audit_record"""
_PAGE = _COLUMNS + " WHERE id > %s AND id <= %s ORDER BY id LIMIT %s"
_LOWEST_ID, _HIGHEST_ID = -(2**63), PROVISIONAL_BASE - 1


def chain_end(conn: Connection) -> tuple[Head, ChainedRecord | None]:
    """The chain's head, and the first chained record after it (seen in the same snapshot): the
    sealer moves the head with the records it chains, so a record past the head was written around
    it. Call it outside a transaction: it opens its own."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT last_id, hash FROM audit_chain_head").fetchone()
        head = Head(None, None) if row is None else Head(row["last_id"], row["hash"])
        after = _LOWEST_ID if head.last_id is None else head.last_id
        beyond = conn.execute(_PAGE, (after, _HIGHEST_ID, 1)).fetchone()
    return head, None if beyond is None else _record(beyond)


def chained_records(
    conn: Connection, first_id: int = _LOWEST_ID, last_id: int = _HIGHEST_ID, *, page: int = 5000
) -> Iterator[ChainedRecord]:
    """Chained records from ``first_id`` to ``last_id`` in id order, ``page`` at a time: the trail can be
    far larger than memory. Each page sees what was committed when it was read."""
    after = first_id - 1 if first_id > _LOWEST_ID else _LOWEST_ID
    while True:
        rows = conn.execute(_PAGE, (after, last_id, page)).fetchall()
        yield from map(_record, rows)
        if len(rows) < page:
            return
        after = rows[-1]["id"]


def period_ids(conn: Connection, start: datetime, end: datetime) -> tuple[int | None, int | None]:
    """The first and last id of the records written in [start, end), or (None, None).

    The sealer stamps ``at`` when it chains a record, so times follow ids and the records of a
    period are one stretch of the chain; records not chained yet are not in any period (they will
    be stamped when chained). (No index on ``at``: one scan per export.)
    """
    row = conn.execute(
        """SELECT min(id) AS first, max(id) AS last FROM audit_record
            WHERE at >= %s AND at < %s AND id < %s""",
        (start, end, PROVISIONAL_BASE),
    ).fetchone()
    return row["first"], row["last"]


def link_of(conn: Connection, record_id: int) -> bytes | None:
    """The hash ``record_id`` links to: the chain's hash just before it."""
    row = conn.execute("SELECT prev_hash FROM audit_record WHERE id = %s", (record_id,)).fetchone()
    return None if row is None else row["prev_hash"]


def hash_before(conn: Connection, when: datetime) -> bytes | None:
    """The chain's hash as it stood at ``when``: the last record written before it (None: none)."""
    row = conn.execute(
        "SELECT hash FROM audit_record WHERE at < %s AND id < %s ORDER BY at DESC, id DESC LIMIT 1",
        (when, PROVISIONAL_BASE),
    ).fetchone()
    return None if row is None else row["hash"]


def _record(row: dict[str, Any]) -> ChainedRecord:
    return ChainedRecord(
        id=row["id"], appeal_id=row["appeal_id"], actor=row["actor"], action=row["action"], at=row["at"],
        details=row["details"], prev_hash=row["prev_hash"], hash=row["hash"],
    )  # fmt: skip
