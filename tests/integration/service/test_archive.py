"""Archiving a period against the real database: the signed bytes as received, the attachments they
bind, the period's stretch of the audit chain, and a manifest that accounts for every file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from gateway.domain.audit_chain import ChainedRecord, record_hash
from gateway.domain.events import parse_event
from gateway.service import events, intake, mailbox
from gateway.service.archive import ExportFailed, export
from gateway.service.audit_chain import seal, verify
from gateway.service.intake import IncomingAttachment
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import attachment_header, sample_answer, sample_appeal

AGENCY = "ADM-CHEBOKSARY"
SCAN = b"%PDF-1.4\n" + os.urandom(2 * 1024 * 1024 + 12345)  # more than two of the blob store's 1 MiB chunks
ACT = b"%PDF-1.4 act of inspection\n"


def _part(content_id: str, data: bytes) -> IncomingAttachment:
    return IncomingAttachment(content_id, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())


def received_with_a_scan(hub, portal) -> UUID:
    appeal = sample_appeal(1, attachments=(attachment_header("scan-1", "scan.pdf", "application/pdf", SCAN),))
    appeal_id = intake.accept(hub, portal.envelope(appeal), {"scan-1": _part("scan-1", SCAN)}).appeal_id
    seal(hub)
    return appeal_id


def answered_with_an_act(hub, portal, dev_pki) -> tuple[UUID, bytes]:
    appeal_id = intake.accept(hub, portal.envelope(sample_appeal(2))).appeal_id
    for m in mailbox.lease(hub, AGENCY, 10):
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(m.message_id, m.lease_token))
    fields = {"registration_number": "ОГ-2", "registered_on": date.today().isoformat()}
    events.record(hub, AGENCY, appeal_id, parse_event("reg", "registered", fields))
    document = sample_answer(appeal_id, "ОГ-2", files={"act-1": ACT})
    signed = signed_answer(document, dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes())
    answered = parse_event("ans", "answered", {}, answer=signed, parts={"act-1": _part("act-1", ACT)})
    events.record(hub, AGENCY, appeal_id, answered)
    seal(hub)
    return appeal_id, signed


def read_archive(path: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest, and every other member's bytes, after checking the manifest accounts for each."""
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(members.pop("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert listed.keys() == members.keys()
    for name, data in members.items():
        assert (listed[name]["sha256"], listed[name]["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
    return manifest, members


def audit_lines(data: bytes) -> list[ChainedRecord]:
    """audit.jsonl read back into records, with nothing but the archive."""
    return [
        ChainedRecord(
            id=r["id"],
            appeal_id=r["appeal_id"] and UUID(r["appeal_id"]),
            actor=r["actor"],
            action=r["action"],
            at=datetime.fromisoformat(r["at"]),
            details=r["details"],
            prev_hash=r["prev_hash"] and bytes.fromhex(r["prev_hash"]),
            hash=bytes.fromhex(r["hash"]),
        )
        for r in map(json.loads, data.splitlines())
    ]


def _now_window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(hours=1)


def test_a_period_is_archived_byte_for_byte_with_its_stretch_of_the_chain(
    hub, portal, dev_pki, tmp_path
) -> None:
    scanned = received_with_a_scan(hub, portal)
    answered, signed = answered_with_an_act(hub, portal, dev_pki)
    out = tmp_path / "period.tar"

    export(hub, *_now_window(), out)
    manifest, files = read_archive(out)

    with hub.pool.connection() as conn:
        inbound = conn.execute("SELECT sender_id, message_id, appeal_id, raw FROM inbound_message").fetchall()
        seq = conn.execute("SELECT seq FROM appeal_answer WHERE appeal_id = %s", (answered,)).fetchone()[
            "seq"
        ]
    assert {r["appeal_id"] for r in inbound} == {scanned, answered}
    for r in inbound:
        assert files[f"inbound/{r['sender_id']}/{r['message_id']}.xml"] == r["raw"]
    assert files[f"answers/{answered}/{seq}.xml"] == signed
    assert files[f"attachments/{hashlib.sha256(SCAN).hexdigest()}"] == SCAN
    assert files[f"attachments/{hashlib.sha256(ACT).hexdigest()}"] == ACT

    audit, head = manifest["audit"], verify(hub).head
    records = audit_lines(files["audit.jsonl"])
    assert len(records) == audit["records"] and records[0].id == audit["first_id"]
    assert records[0].prev_hash is None and audit["start_hash"] is None  # the chain's beginning
    link = None
    for r in records:
        assert r.prev_hash == link and record_hash(r) == r.hash
        link = r.hash
    assert link.hex() == audit["end_hash"] == manifest["chain_head"]["hash"] == head.hash.hex()
    assert manifest["period"]["end_is_exclusive"] and manifest["exported"]["by"].startswith("appeals-gateway")


def test_a_period_holds_what_was_received_and_written_in_it_only(hub, portal, tmp_path) -> None:
    received_with_a_scan(hub, portal)
    later = intake.accept(hub, portal.envelope(sample_appeal(3))).appeal_id
    seal(hub)  # its records are stamped when chained: after the first appeal's, after `later` arrived
    with hub.pool.connection() as conn:
        start = conn.execute(
            "SELECT received_at FROM inbound_message WHERE appeal_id = %s", (later,)
        ).fetchone()
        first = conn.execute(
            "SELECT id, prev_hash FROM audit_record WHERE at >= %s ORDER BY id LIMIT 1",
            (start["received_at"],),
        ).fetchone()
    out = tmp_path / "later.tar"

    export(hub, start["received_at"], _now_window()[1], out)
    manifest, files = read_archive(out)

    assert [f["appeal_id"] for f in manifest["files"] if f["kind"] == "inbound-message"] == [str(later)]
    assert not any(name.startswith("attachments/") for name in files)
    assert (manifest["audit"]["first_id"], manifest["audit"]["start_hash"]) == (
        first["id"],
        first["prev_hash"].hex(),
    )
    assert audit_lines(files["audit.jsonl"])[0].id == first["id"]


def test_an_empty_period_still_says_where_the_chain_stood(hub, portal, tmp_path) -> None:
    received_with_a_scan(hub, portal)
    head = verify(hub).head
    later = datetime.now(UTC) + timedelta(days=1)
    out = tmp_path / "tomorrow.tar"

    export(hub, later, later + timedelta(days=1), out)
    manifest, files = read_archive(out)

    assert files == {"audit.jsonl": b""}
    assert manifest["audit"]["records"] == 0
    assert manifest["audit"]["start_hash"] == manifest["audit"]["end_hash"] == head.hash.hex()


def test_records_not_chained_yet_wait_for_a_later_export(hub, portal, tmp_path) -> None:
    """An unchained record has no place in the chain yet, so no period holds it: the export leaves
    it out (and does not fail on it); it is stamped, and exported, when chained."""
    received_with_a_scan(hub, portal)
    with hub.pool.connection() as conn:
        conn.execute("INSERT INTO audit_record (actor, action) VALUES ('tests', 'not-chained-yet')")

    export(hub, *_now_window(), tmp_path / "before.tar")
    manifest, files = read_archive(tmp_path / "before.tar")
    before = audit_lines(files["audit.jsonl"])
    assert "not-chained-yet" not in {r.action for r in before}
    assert manifest["audit"]["end_hash"] == manifest["chain_head"]["hash"]

    seal(hub)
    export(hub, *_now_window(), tmp_path / "after.tar")
    manifest, files = read_archive(tmp_path / "after.tar")
    after = audit_lines(files["audit.jsonl"])
    assert [r.action for r in after] == [*(r.action for r in before), "not-chained-yet"]
    assert after[-1].prev_hash == before[-1].hash and record_hash(after[-1]) == after[-1].hash
    assert manifest["audit"]["end_hash"] == after[-1].hash.hex() == verify(hub).head.hash.hex()


def test_a_broken_chain_is_not_archived(hub, portal, tmp_path) -> None:
    received_with_a_scan(hub, portal)
    with hub.pool.connection() as conn:
        conn.execute(
            "UPDATE audit_record SET actor = 'someone else' WHERE id = (SELECT min(id) FROM audit_record)"
        )
    out = tmp_path / "broken.tar"

    with pytest.raises(ExportFailed, match="broken at #"):
        export(hub, *_now_window(), out)
    assert list(tmp_path.iterdir()) == []
