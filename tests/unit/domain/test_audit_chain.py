"""The chain walk on records built in memory: what each kind of tampering looks like to it."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone

from gateway.domain.audit_chain import ChainedRecord, ChainWalk, Fault, Head, canonical_time, record_hash

T0 = datetime(2026, 11, 25, 6, 37, 20, 781064, tzinfo=UTC)


def _chain(n: int, *, step: int = 1) -> list[ChainedRecord]:
    records, link = [], None
    for i in range(1, n + 1):
        at = T0 + timedelta(seconds=i)
        r = ChainedRecord(i * step, uuid.uuid4(), "agency:X", f"action-{i}", at, '{"n": 1}', link, None)
        r = dataclasses.replace(r, hash=record_hash(r))
        records.append(r)
        link = r.hash
    return records


def _rehashed(r: ChainedRecord, **changes) -> ChainedRecord:
    r = dataclasses.replace(r, **changes)
    return dataclasses.replace(r, hash=record_hash(r))


def _walk(records: list[ChainedRecord], head: Head | None, beyond: ChainedRecord | None = None, **kw):
    walk = ChainWalk(head=head, **kw)
    for r in records:
        if walk.add(r):
            break
    return walk.finish(beyond)


def _head(records: list[ChainedRecord]) -> Head:
    return Head(records[-1].id, records[-1].hash)


def test_the_canonical_form_is_length_prefixed_fields_under_sha256() -> None:
    r = ChainedRecord(7, None, "hub", "routed", T0, "{}", b"\x01" * 32, None)

    def field(b: bytes | None) -> bytes:
        return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b

    expected = hashlib.sha256(
        b"".join(
            field(f)
            for f in (
                b"appeals-gateway audit record 1", b"7", None, b"hub", b"routed",
                b"2026-11-25T06:37:20.781064Z", b"{}", b"\x01" * 32,
            )
        )
    ).digest()  # fmt: skip
    assert record_hash(r) == expected


def test_times_are_written_in_utc_whatever_zone_they_come_in() -> None:
    moscow = T0.astimezone(timezone(timedelta(hours=3)))
    assert canonical_time(moscow) == canonical_time(T0) == "2026-11-25T06:37:20.781064Z"
    assert canonical_time(datetime(2026, 1, 2, tzinfo=UTC)) == "2026-01-02T00:00:00.000000Z"


def test_fields_cannot_bleed_into_each_other() -> None:
    a = ChainedRecord(1, None, "ab", "c", T0, "{}", None, None)
    b = dataclasses.replace(a, actor="a", action="bc")
    assert record_hash(a) != record_hash(b)
    assert record_hash(a) != record_hash(dataclasses.replace(a, details='{"": ""}'))


def test_an_intact_chain_passes_with_its_head_and_anchor() -> None:
    records = _chain(5)
    assert _walk(records, _head(records), anchor=records[2].hash) is None
    assert _walk([], Head(None, None)) is None


def test_an_edited_record_is_named() -> None:
    records = _chain(5)
    records[2] = dataclasses.replace(records[2], details='{"n": 2}')
    broken = _walk(records, _head(records))
    assert (broken.record_id, broken.action, broken.fault) == (3, "action-3", Fault.EDITED)


def test_a_record_replaced_hash_and_all_is_named_by_its_successor_link() -> None:
    records = _chain(5)
    records[2] = _rehashed(records[2], details='{"n": 2}')
    broken = _walk(records, _head(records))
    assert (broken.record_id, broken.fault) == (3, Fault.EDITED)


def test_the_last_record_replaced_hash_and_all_disagrees_with_the_head() -> None:
    records = _chain(5)
    head = _head(records)
    records[4] = _rehashed(records[4], actor="someone else")
    broken = _walk(records, head)
    assert (broken.record_id, broken.fault) == (5, Fault.EDITED)


def test_a_deleted_record_is_found_at_its_successor() -> None:
    records = _chain(5)
    head = _head(records)
    del records[2]
    broken = _walk(records, head)
    assert (broken.record_id, broken.action, broken.fault) == (4, "action-4", Fault.DELETED)


def test_deleting_the_first_records_shows_at_the_new_first() -> None:
    records = _chain(5)
    head = _head(records)
    broken = _walk(records[2:], head)
    assert (broken.record_id, broken.fault) == (3, Fault.DELETED)


def test_deleting_the_end_of_the_chain_shows_against_the_head() -> None:
    records = _chain(5)
    head = _head(records)
    broken = _walk(records[:3], head)
    assert (broken.record_id, broken.action, broken.fault) == (4, None, Fault.DELETED)
    assert "#5" in broken.reason
    assert _walk([], head).fault is Fault.DELETED


def test_a_record_slipped_between_two_others_is_named_even_with_a_valid_hash() -> None:
    records = _chain(5, step=10)  # room between ids
    forged = _rehashed(records[0], id=15, action="forged", prev_hash=records[0].hash)
    broken = _walk([records[0], forged, *records[1:]], _head(records))
    assert (broken.record_id, broken.action, broken.fault) == (15, "forged", Fault.INSERTED)


def test_a_record_without_a_hash_is_inserted() -> None:
    records = _chain(3)
    records.append(ChainedRecord(4, None, "x", "forged", T0, "{}", records[-1].hash, None))
    broken = _walk(records, Head(4, None))
    assert (broken.record_id, broken.fault) == (4, Fault.INSERTED)


def test_a_record_past_the_head_was_written_around_the_sealer() -> None:
    records = _chain(3)
    forged = _rehashed(records[-1], id=4, action="forged", prev_hash=records[-1].hash)
    broken = _walk(records, _head(records), beyond=forged)
    assert (broken.record_id, broken.action, broken.fault) == (4, "forged", Fault.INSERTED)
    assert _walk([], Head(None, None), beyond=records[0]).record_id == 1


def test_a_second_chain_start_is_inserted() -> None:
    records = _chain(3)
    restart = _rehashed(records[0], id=4, prev_hash=None)
    broken = _walk([*records, restart], Head(4, restart.hash))
    assert (broken.record_id, broken.fault) == (4, Fault.INSERTED)


def test_an_anchor_not_on_the_chain_means_it_was_rewritten() -> None:
    records = _chain(3)
    broken = _walk(records, _head(records), anchor=b"\x00" * 32)
    assert (broken.record_id, broken.fault) == (None, Fault.DELETED)


def test_a_slice_is_checked_from_its_first_link() -> None:
    whole = _chain(6)
    stretch = whole[2:5]
    walk = ChainWalk(start=stretch[0].prev_hash)
    assert all(walk.add(r) is None for r in stretch)
    assert walk.finish() is None
    walk = ChainWalk(start=stretch[0].prev_hash)
    assert walk.add(stretch[0]) is None
    assert walk.add(stretch[2]).fault is Fault.DELETED
