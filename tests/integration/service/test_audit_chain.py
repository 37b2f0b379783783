"""The audit chain against the real database: records written by the hub's own paths (intake's,
lease's and acknowledge's single statements, events' append_audit), chained by the sealer (as the
relay does), then tampered with by SQL as someone with write access to the table would, and caught
by ``verify``; and the sealer itself: commit order, concurrent sealers, the window."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from datetime import date
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.rows import dict_row
from yoyo import get_backend, read_migrations

from gateway.adapters.db import MIGRATIONS_DIR, migrate
from gateway.adapters.db import audit as audit_db
from gateway.adapters.db.audit import append_audit
from gateway.domain.audit_chain import Fault, record_hash
from gateway.domain.events import parse_event
from gateway.faces.worker.relay import start_audit_sealer
from gateway.service import events, intake, mailbox
from gateway.service.audit_chain import seal, verify
from gateway.simulators.samples import sample_appeal

AGENCY = "ADM-CHEBOKSARY"


def _trail(hub, portal, n: int = 3) -> list[uuid.UUID]:
    """Appeals pushed, leased, acknowledged and registered: every kind of audit writer."""
    appeal_ids = [intake.accept(hub, portal.envelope(sample_appeal(i))).appeal_id for i in range(n)]
    for m in mailbox.lease(hub, AGENCY, 10):
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(m.message_id, m.lease_token))
    for i, appeal_id in enumerate(appeal_ids):
        fields = {"registration_number": f"ОГ-{i}", "registered_on": date.today().isoformat()}
        events.record(hub, AGENCY, appeal_id, parse_event(f"reg-{i}", "registered", fields))
    seal(hub)
    return appeal_ids


def _records(hub) -> list[dict]:
    with hub.pool.connection() as conn:
        return conn.execute("SELECT id, action, at, prev_hash, hash FROM audit_record ORDER BY id").fetchall()


def _tamper(hub, *statements: tuple[str, tuple]) -> None:
    """Run ``statements`` in one transaction as the table's owner would."""
    with hub.pool.connection() as conn, conn.transaction():
        for query, params in statements:
            conn.execute(query, params)


def _broken(hub) -> tuple[int | None, str | None, Fault]:
    report = verify(hub)
    assert report.broken is not None, "the tampering went unnoticed"
    return report.broken.record_id, report.broken.action, report.broken.fault


def test_every_writer_chains_its_records_and_the_chain_verifies(hub, portal) -> None:
    _trail(hub, portal)
    records = _records(hub)
    assert {"leased", "acknowledged", "registered"} <= {r["action"] for r in records}
    assert [r["id"] for r in records] == list(range(records[0]["id"], records[0]["id"] + len(records)))
    assert all(a["hash"] == b["prev_hash"] for a, b in itertools.pairwise(records))
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)

    report = verify(hub)
    assert report.intact
    assert (report.records, report.head.last_id, report.head.hash) == (
        len(records), records[-1]["id"], records[-1]["hash"],
    )  # fmt: skip


def test_python_and_postgresql_hash_a_record_alike(hub) -> None:
    """Details whose text only PostgreSQL spells canonically: key order, numbers as written,
    escapes, non-ASCII, empty keys, nulls."""
    tricky = [
        '{"zeta": 1, "a": 2, "bb": {"y": [1.50, 1e3, -0.0, 12345678901234567890], "": null}}',
        '{"text": "кириллица \\"в кавычках\\" \\\\ \\n\\t\\u0001 😀"}',
        "{}",
    ]
    with hub.pool.connection() as conn:
        for i, details in enumerate(tricky):
            conn.execute(
                "INSERT INTO audit_record (appeal_id, actor, action, details) VALUES (%s, %s, %s, %s::jsonb)",
                (None if i % 2 else uuid.uuid4(), f"actor {i} ÿ", "tricky", details),
            )
        append_audit(conn, None, "hub", "from-python", {"n": 1.5, "list": [True, None, "ё"]})
        assert seal(hub) == 4
        records = list(audit_db.chained_records(conn))
    assert len(records) == 4
    assert all(record_hash(r) == r.hash for r in records)
    assert '"y": [1.50, 1000, 0.0, 12345678901234567890]' in records[0].details
    assert verify(hub).intact


def test_an_edit_by_sql_is_named(hub, portal) -> None:
    _trail(hub, portal)
    victim = _records(hub)[4]
    _tamper(
        hub, ("UPDATE audit_record SET details = details || '{\"seq\": 99}' WHERE id = %s", (victim["id"],))
    )
    assert _broken(hub) == (victim["id"], victim["action"], Fault.EDITED)


@pytest.mark.parametrize("new_time", ["at + interval '1 microsecond'", "'infinity'"])
def test_an_edited_time_is_named(hub, portal, new_time: str) -> None:
    _trail(hub, portal, n=1)
    victim = _records(hub)[1]
    _tamper(hub, (f"UPDATE audit_record SET at = {new_time} WHERE id = %s", (victim["id"],)))
    assert _broken(hub) == (victim["id"], victim["action"], Fault.EDITED)


def test_a_record_replaced_with_a_recomputed_hash_is_named(hub, portal) -> None:
    _trail(hub, portal)
    victim = _records(hub)[3]
    _tamper(
        hub,
        (
            """UPDATE audit_record SET actor = 'someone else',
                      hash = audit_record_hash(id, appeal_id, 'someone else', action, at, details, prev_hash)
                WHERE id = %s""",
            (victim["id"],),
        ),
    )
    assert _broken(hub) == (victim["id"], victim["action"], Fault.EDITED)


def test_a_deleted_record_is_found_at_its_successor(hub, portal) -> None:
    _trail(hub, portal)
    records = _records(hub)
    _tamper(hub, ("DELETE FROM audit_record WHERE id = %s", (records[5]["id"],)))
    assert _broken(hub) == (records[6]["id"], records[6]["action"], Fault.DELETED)


def test_deleting_the_last_record_is_caught_by_the_head(hub, portal) -> None:
    _trail(hub, portal)
    last = _records(hub)[-1]
    _tamper(hub, ("DELETE FROM audit_record WHERE id = %s", (last["id"],)))
    assert _broken(hub) == (last["id"], None, Fault.DELETED)


def test_deleting_the_first_record_is_caught(hub, portal) -> None:
    _trail(hub, portal)
    first, second = _records(hub)[:2]
    _tamper(hub, ("DELETE FROM audit_record WHERE id = %s", (first["id"],)))
    assert _broken(hub) == (second["id"], second["action"], Fault.DELETED)


def test_a_forged_record_slipped_in_with_a_valid_link_and_hash_is_named(hub, portal) -> None:
    _trail(hub, portal)
    before = _records(hub)[2]["id"]
    forged = before + 1
    _tamper(
        hub,
        ("UPDATE audit_record SET id = id + 1000 WHERE id > %s", (before,)),  # room for it
        (
            """INSERT INTO audit_record (id, actor, action, at, details, prev_hash, hash)
               SELECT %(id)s, 'operator:forger', 'forged', p.at, '{}', p.hash,
                      audit_record_hash(%(id)s, NULL, 'operator:forger', 'forged', p.at, '{}', p.hash)
                 FROM audit_record p WHERE p.id = %(before)s""",
            {"id": forged, "before": before},
        ),
    )
    assert _broken(hub) == (forged, "forged", Fault.INSERTED)


def test_a_forged_record_appended_around_the_trigger_is_caught_past_the_head(hub, portal) -> None:
    _trail(hub, portal)
    last = _records(hub)[-1]
    _tamper(
        hub,
        (
            """INSERT INTO audit_record (id, actor, action, at, details, prev_hash, hash)
               SELECT id + 1, 'operator:forger', 'forged', at, '{}', hash,
                      audit_record_hash(id + 1, NULL, 'operator:forger', 'forged', at, '{}', hash)
                 FROM audit_record WHERE id = %s""",
            (last["id"],),
        ),
    )
    assert _broken(hub) == (last["id"] + 1, "forged", Fault.INSERTED)


def test_records_are_chained_in_the_order_they_commit_with_dense_ids(hub, database_url) -> None:
    """A record is chained by the first seal after its commit: one committed later, even if written
    first, is chained after those sealed before it. Records committed between two seals are chained
    in the order they were written."""
    with psycopg.connect(database_url) as early, psycopg.connect(database_url, autocommit=True) as late:
        append_audit(early, None, "tests", "written-first-committed-last")
        append_audit(late, None, "tests", "written-last-committed-first")
        assert seal(hub) == 1
        early.commit()
    with psycopg.connect(database_url, autocommit=True) as conn:
        append_audit(conn, None, "tests", "then-a")
        append_audit(conn, None, "tests", "then-b")
    assert seal(hub) == 3
    records = _records(hub)
    assert [r["action"] for r in records] == [
        "written-last-committed-first", "written-first-committed-last", "then-a", "then-b",
    ]  # fmt: skip
    assert [r["id"] for r in records] == list(range(records[0]["id"], records[0]["id"] + 4))
    assert verify(hub).intact


def test_a_record_committed_while_a_seal_runs_is_chained_by_the_next(hub, database_url) -> None:
    """The first sealer holds the head until it commits: a second one skips at once (0, not a wait
    nor a second chaining), and a record committed meanwhile waits for the next seal."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        append_audit(conn, None, "tests", "before")
        assert seal(hub) == 1
        append_audit(conn, None, "tests", "sealed-slowly")
    with psycopg.connect(database_url) as sealing, psycopg.connect(database_url, autocommit=True) as writer:
        assert sealing.execute("SELECT audit_chain_seal(100)").fetchone()[0] == 1  # not committed yet
        append_audit(writer, None, "tests", "during")
        assert seal(hub) == 0  # the head is held: skipped, not waited for
        sealing.commit()
    with hub.pool.connection() as conn:
        assert audit_db.unchained(conn).records == 1
    assert seal(hub) == 1
    assert [r["action"] for r in _records(hub)] == ["before", "sealed-slowly", "during"]
    report = verify(hub)
    assert report.intact and report.records == 3 and report.unchained.records == 0


def test_concurrent_sealers_never_chain_a_record_twice(hub, database_url) -> None:
    writers, transactions, stop = 4, 40, threading.Event()
    sealed: list[int] = []

    def sealer() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.is_set():
                sealed.append(conn.execute("SELECT audit_chain_seal(7)").fetchone()[0])

    def writer(n: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for t in range(transactions):
                append_audit(conn, None, f"writer-{n}", "concurrent", {"t": t})

    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    for t in sealers:
        t.start()
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    for t in sealers:
        t.join()
    seal(hub)

    records = _records(hub)
    assert len(records) == writers * transactions
    assert sum(sealed) <= len(records)
    assert [r["id"] for r in records] == list(range(records[0]["id"], records[0]["id"] + len(records)))
    assert all(a["hash"] == b["prev_hash"] for a, b in itertools.pairwise(records))
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)
    report = verify(hub)
    assert report.intact and report.records == len(records) and report.unchained.records == 0


def test_a_rolled_back_record_leaves_no_trace(hub, portal) -> None:
    _trail(hub, portal, n=1)
    head = verify(hub).head
    with pytest.raises(RuntimeError), hub.pool.connection() as conn, conn.transaction():
        append_audit(conn, None, "tests", "rolled-back")
        raise RuntimeError("rolled back")
    assert seal(hub) == 0
    report = verify(hub)
    assert report.intact and report.head == head and report.unchained.records == 0
    assert "rolled-back" not in {r["action"] for r in _records(hub)}


def test_a_record_not_chained_yet_is_the_window_not_a_fault_until_it_is_too_old(hub, portal) -> None:
    _trail(hub, portal, n=1)
    with hub.pool.connection() as conn:
        append_audit(conn, None, "tests", "young")
    report = verify(hub, max_age_s=60)
    assert report.intact and not report.sealed_late
    assert report.unchained.records == 1 and report.unchained.oldest_age_s < 60

    with hub.pool.connection() as conn:  # a record the sealer has not reached for two minutes
        conn.execute(
            "INSERT INTO audit_record (actor, action, at) "
            "VALUES ('tests', 'old', now() - interval '2 minutes')"
        )
    report = verify(hub, max_age_s=60)
    assert report.intact and report.sealed_late
    assert report.unchained.records == 2 and report.unchained.oldest_age_s > 60
    seal(hub)
    assert not verify(hub, max_age_s=60).sealed_late


def test_a_provisional_record_with_a_hash_was_written_around_the_sealer(hub, portal) -> None:
    _trail(hub, portal, n=1)
    last = _records(hub)[-1]
    _tamper(
        hub,
        (
            """INSERT INTO audit_record (actor, action, at, details, prev_hash, hash)
               SELECT 'operator:forger', 'forged', at, '{}', hash, hash FROM audit_record WHERE id = %s""",
            (last["id"],),
        ),
    )
    with hub.pool.connection() as conn:
        forged = conn.execute("SELECT id FROM audit_record WHERE action = 'forged'").fetchone()["id"]
    assert forged >= audit_db.PROVISIONAL_BASE
    assert _broken(hub) == (forged, "forged", Fault.INSERTED)


def test_concurrent_appends_and_rollbacks_keep_one_chain(hub, portal) -> None:
    threads, transactions = 8, 25
    committed = []
    start = threading.Barrier(threads + 1)

    def writer(n: int) -> None:
        start.wait()
        for t in range(transactions):
            rows = 1 + (n + t) % 3
            try:
                with hub.pool.connection() as conn, conn.transaction():
                    for r in range(rows):
                        append_audit(conn, None, f"thread-{n}", "concurrent", {"t": t, "r": r})
                    if t % 5 == 4:
                        raise RuntimeError("rolled back")
            except RuntimeError:
                continue
            committed.append(rows)

    stop = threading.Event()
    sealing = threading.Thread(target=_seal_until, args=(hub, stop))
    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in [*workers, sealing]:
        w.start()
    start.wait()
    appeals = _trail(hub, portal, n=2)  # intake's and the mailbox's statements race them too
    for w in workers:
        w.join()
    stop.set()
    sealing.join()
    seal(hub)

    report = verify(hub)
    assert report.intact, report.broken
    records = _records(hub)
    assert sum(1 for r in records if r["action"] == "concurrent") == sum(committed)
    assert len(appeals) == 2 and report.records == len(records)
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)


def test_the_relays_sealer_thread_chains_what_commits(hub) -> None:
    settings = hub.settings.model_copy(update={"audit_seal_interval_seconds": 0.05})
    stop = threading.Event()
    thread = start_audit_sealer(hub, settings, stop)
    try:
        with hub.pool.connection() as conn:
            append_audit(conn, None, "tests", "sealed-by-the-relay")
            deadline = time.monotonic() + 10
            while audit_db.unchained(conn).records and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    report = verify(hub)
    assert report.intact and report.records == 1 and report.unchained.records == 0
    off = hub.settings.model_copy(update={"audit_seal_interval_seconds": 0})
    assert start_audit_sealer(hub, off, stop) is None


def _seal_until(hub, stop: threading.Event) -> None:
    """The relay's sealer, as fast as it goes."""
    while not stop.is_set():
        seal(hub)


def test_an_anchor_must_be_on_the_chain(hub, portal) -> None:
    _trail(hub, portal, n=1)
    anchor = verify(hub).head.hash
    with hub.pool.connection() as conn:
        append_audit(conn, None, "tests", "later")
    seal(hub)
    assert verify(hub, anchor=anchor).intact
    broken = verify(hub, anchor=b"\x11" * 32).broken
    assert broken is not None and broken.record_id is None and "anchor" in broken.reason


def test_the_migration_chains_the_records_already_there(server_url) -> None:
    name = f"gw_chain_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    try:
        backend = get_backend(url.replace("postgresql://", "postgresql+psycopg://", 1))
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            backend.apply_migrations(backend.to_apply(migrations.filter(lambda m: m.id < "0010")))
        with psycopg.connect(url, autocommit=True) as conn:
            for i in range(5):
                conn.execute(
                    "INSERT INTO audit_record (appeal_id, actor, action, details) VALUES (%s, 'hub', %s, %s)",
                    (uuid.uuid4(), f"before-{i}", f'{{"n": {i}.0}}'),
                )
        migrate(url)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            conn.execute("INSERT INTO audit_record (actor, action) VALUES ('hub', 'after')")
            assert audit_db.seal(conn, 100) == 1
            head, beyond = audit_db.chain_end(conn)
            records = list(audit_db.chained_records(conn))
        assert [r.action for r in records] == [*(f"before-{i}" for i in range(5)), "after"]
        assert records[0].prev_hash is None
        assert all(record_hash(r) == r.hash for r in records)
        assert all(a.hash == b.prev_hash for a, b in itertools.pairwise(records))
        assert (head.last_id, head.hash, beyond) == (records[-1].id, records[-1].hash, None)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
