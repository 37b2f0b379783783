"""The audit trail's hash chain, as X-Road keeps its message log: the canonical form of a record,
and the walk that finds the first record where the chain breaks.

The database chains records after they commit (``audit_chain_seal()``, run by the relay, computes
the hash: migrations 0010 and 0023); this module computes the same hash on its own, so the
verifier never takes the database's word for a hash. Both follow one canonical form, version 1: SHA-256
over eight fields, each a 4-byte big-endian signed length and then its bytes (length -1 and no
bytes for NULL):

1. the form's tag ``appeals-gateway audit record 1``;
2. ``id`` in decimal;
3. ``appeal_id`` as a lower-case hyphenated UUID, or NULL;
4. ``actor``; 5. ``action``;
6. ``at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``;
7. ``details``: PostgreSQL's text output of the jsonb value (jsonb normalises keys and values,
   so that text is canonical; re-serialising parsed JSON would lose spellings such as ``1.50``);
8. ``prev_hash``: the previous record's hash, NULL for the chain's first record.

Text is UTF-8. Lengths make the encoding unambiguous: no choice of field values makes two
different records serialise alike.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

FORM_TAG = "appeals-gateway audit record 1"
_NULL = struct.pack(">i", -1)


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    """An audit record as stored, with its link and hash (``at`` None when the stored time is
    outside what can be read, which only an edit can make)."""

    id: int
    appeal_id: UUID | None
    actor: str
    action: str
    at: datetime | None
    details: str
    prev_hash: bytes | None
    hash: bytes | None


def canonical_time(at: datetime) -> str:
    """``at`` as the canonical form writes it: UTC, microseconds, ``Z``."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _field(value: bytes | None) -> bytes:
    return _NULL if value is None else struct.pack(">i", len(value)) + value


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8")


def record_hash(record: ChainedRecord) -> bytes:
    """The SHA-256 the sealer gives ``record`` (over its content and its link)."""
    fields = (
        _text(FORM_TAG),
        _text(str(record.id)),
        _text(None if record.appeal_id is None else str(record.appeal_id)),
        _text(record.actor),
        _text(record.action),
        _text(None if record.at is None else canonical_time(record.at)),
        _text(record.details),
        record.prev_hash,
    )
    return hashlib.sha256(b"".join(_field(f) for f in fields)).digest()


def archived(record: ChainedRecord) -> dict[str, Any]:
    """The record as an archive keeps it: every field as the canonical form writes it (``details``
    as its canonical text, not re-encoded JSON), hashes in hex, so the hash can be recomputed from
    the archive alone."""
    return {
        "id": record.id,
        "appeal_id": None if record.appeal_id is None else str(record.appeal_id),
        "actor": record.actor,
        "action": record.action,
        "at": None if record.at is None else canonical_time(record.at),
        "details": record.details,
        "prev_hash": None if record.prev_hash is None else record.prev_hash.hex(),
        "hash": None if record.hash is None else record.hash.hex(),
    }


class Fault(StrEnum):
    EDITED = "edited"
    INSERTED = "inserted"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place where the chain does not hold: the record to look at, and why.

    ``record_id`` is None when no single record can be named (the chain's head is gone, or the
    given anchor is not on the chain); ``action`` is None when the record is not there.
    """

    record_id: int | None
    action: str | None
    fault: Fault
    reason: str


@dataclass(frozen=True, slots=True)
class Head:
    """What the database keeps of the chain's end: the last record's id and hash (None, None
    while the chain is empty)."""

    last_id: int | None
    hash: bytes | None


def short(digest: bytes | None) -> str:
    return "none" if digest is None else digest.hex()[:16] + "…"


class ChainWalk:
    """Feed records in id order with :meth:`add`, then call :meth:`finish`; the first break wins.

    Ids follow the chain (the sealer gives the final id under the chain's lock) and are dense
    but for the odd unused one (a sealing transaction that failed, sequence values lost
    in a crash). So when a record does not link to the one before it:

    * it links to what that one links to: that one is not in the chain (inserted);
    * it links to nothing although records come before it: it starts a chain of its own (inserted);
    * its id directly follows the one before: that one was replaced, content and hash (edited);
    * otherwise records between them are missing (deleted), and it is the record named.

    ``start`` is the hash the first record must link to (None: the chain's beginning; a slice of
    the chain starts from its first record's link). ``head``, when given, is the chain's end as
    the database keeps it: the walk must meet that record with that hash (records committed since
    may follow it), else the end of the chain was deleted. ``anchor``, a hash kept outside the
    database (an archive's), must be met on the way.
    """

    def __init__(
        self, *, start: bytes | None = None, head: Head | None = None, anchor: bytes | None = None
    ) -> None:
        self._start = start
        self._head = head
        self._anchor = anchor
        self._anchor_met = anchor is None
        self._head_met = head is None or head.last_id is None
        self._last: ChainedRecord | None = None
        self.checked = 0
        self.first_id: int | None = None
        self.broken: ChainBreak | None = None

    @property
    def last(self) -> ChainedRecord | None:
        return self._last

    def add(self, record: ChainedRecord) -> ChainBreak | None:
        """Check one more record; returns the break once found (and ignores records after it)."""
        if self.broken is None:
            self.broken = self._check(record)
            self.checked += 1
            if self.first_id is None:
                self.first_id = record.id
            self._anchor_met = self._anchor_met or record.hash == self._anchor
            self._last = record
        return self.broken

    def finish(self, beyond: ChainedRecord | None = None) -> ChainBreak | None:
        """The chain's end against its head, then ``beyond`` (the first record past the head, seen
        with it), then the anchor; returns the first break found overall."""
        if self.broken is None:
            self.broken = self._check_end(beyond)
        return self.broken

    def _check(self, r: ChainedRecord) -> ChainBreak | None:
        last = self._last
        expected = self._start if last is None else last.hash
        linked = r.prev_hash == expected
        if not linked and last is not None and r.prev_hash is not None and r.prev_hash == last.prev_hash:
            return ChainBreak(
                last.id, last.action, Fault.INSERTED,
                f"not in the chain: #{r.id} after it links to the record before it",
            )  # fmt: skip
        if r.hash is None:
            return ChainBreak(r.id, r.action, Fault.INSERTED, "it has no hash: written around the sealer")
        if record_hash(r) != r.hash:
            return ChainBreak(r.id, r.action, Fault.EDITED, "its content does not match its hash")
        if linked:
            return self._check_head(r)
        if last is None:
            return ChainBreak(
                r.id, r.action, Fault.DELETED,
                f"the record it follows (hash {short(r.prev_hash)}) is missing: deleted",
            )  # fmt: skip
        if r.prev_hash is None:
            return ChainBreak(
                r.id, r.action, Fault.INSERTED, f"it starts a chain of its own after #{last.id}"
            )
        if r.id == last.id + 1:
            return ChainBreak(
                last.id, last.action, Fault.EDITED,
                f"replaced, hash and all: #{r.id} links to another record (hash {short(r.prev_hash)})",
            )  # fmt: skip
        return ChainBreak(
            r.id, r.action, Fault.DELETED,
            f"the record it follows (hash {short(r.prev_hash)}) is missing: deleted after #{last.id}",
        )  # fmt: skip

    def _check_head(self, r: ChainedRecord) -> ChainBreak | None:
        head = self._head
        if head is None or r.id != head.last_id:
            return None
        self._head_met = True
        if r.hash == head.hash:
            return None
        return ChainBreak(
            r.id, r.action, Fault.EDITED,
            f"replaced, hash and all: the chain's head keeps another hash for it ({short(head.hash)})",
        )  # fmt: skip

    def _check_end(self, beyond: ChainedRecord | None) -> ChainBreak | None:
        last, head = self._last, self._head
        if head is not None and head.last_id is not None and not self._head_met:
            if last is None:
                return ChainBreak(
                    head.last_id, None, Fault.DELETED,
                    f"the chain's head names #{head.last_id}, but no record is left: deleted",
                )  # fmt: skip
            return ChainBreak(
                last.id + 1 if last.id < head.last_id else head.last_id, None, Fault.DELETED,
                f"the chain ends at #{last.id} but its head names #{head.last_id}: "
                f"the records after #{last.id} were deleted",
            )  # fmt: skip
        if beyond is not None:
            where = "names no record" if head is None or head.last_id is None else f"is #{head.last_id}"
            return ChainBreak(
                beyond.id, beyond.action, Fault.INSERTED,
                f"past the chain's head, which {where}: written around the sealer",
            )  # fmt: skip
        if not self._anchor_met:
            return ChainBreak(
                None, None, Fault.DELETED,
                f"the anchor {short(self._anchor)} is not on the chain: the chain was rewritten or cut",
            )  # fmt: skip
        return None
