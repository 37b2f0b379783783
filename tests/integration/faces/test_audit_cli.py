"""``appeals-gateway audit verify`` and ``archive export`` as an operator runs them: the real command
in its own process against the test database."""

from __future__ import annotations

import hashlib
import json
import tarfile
from datetime import UTC, datetime

from gateway.service import intake, mailbox
from gateway.service.audit_chain import seal
from gateway.simulators.samples import sample_appeal

AGENCY = "ADM-CHEBOKSARY"


def _trail(hub, portal) -> None:
    for i in range(2):
        intake.accept(hub, portal.envelope(sample_appeal(i)))
    for m in mailbox.lease(hub, AGENCY, 10):
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(m.message_id, m.lease_token))
    seal(hub)


def test_verify_says_intact_in_one_line_then_names_the_tampered_record(hub, portal, cli) -> None:
    _trail(hub, portal)
    code, out, err = cli("audit", "verify")
    assert code == 0, err
    assert out.startswith("audit chain intact: ") and out.count("\n") == 1

    with hub.pool.connection() as conn:
        victim = conn.execute(
            "SELECT id, action FROM audit_record WHERE action = 'leased' ORDER BY id LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE audit_record SET details = '{}' WHERE id = %s", (victim["id"],))
    code, out, _ = cli("audit", "verify")
    assert code == 1
    assert f"record #{victim['id']} (leased): edited" in out


def test_seal_chains_what_waits_and_verify_faults_a_record_waiting_too_long(hub, portal, cli) -> None:
    _trail(hub, portal)
    with hub.pool.connection() as conn:
        conn.execute("INSERT INTO audit_record (actor, action) VALUES ('tests', 'young')")
    code, out, err = cli("audit", "verify")
    assert code == 0, err
    assert "1 not chained yet" in out

    with hub.pool.connection() as conn:  # as if no relay had run for two minutes
        conn.execute(
            "INSERT INTO audit_record (actor, action, at) "
            "VALUES ('tests', 'old', now() - interval '2 minutes')"
        )
    code, out, _ = cli("audit", "verify")
    assert code == 1
    assert "not chained within 60 s: 2 not chained yet" in out and "is the relay running?" in out

    code, out, err = cli("audit", "seal")
    assert (code, out) == (0, "audit records chained: 2\n"), err
    code, out, err = cli("audit", "verify")
    assert code == 0 and "none waits to be chained" in out, out + err


def test_export_writes_an_archive_its_manifest_accounts_for(hub, portal, cli, tmp_path) -> None:
    _trail(hub, portal)
    today = datetime.now(UTC).date().isoformat()
    archive = tmp_path / "archive.tar"

    code, out, err = cli("archive", "export", "--from", today, "--to", today, "--out", str(archive))

    assert code == 0, err
    assert "inbound messages: 2" in err  # progress goes to stderr
    with tarfile.open(archive) as tar:
        contents = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(contents.pop("manifest.json"))
    assert sorted(f["path"] for f in manifest["files"]) == sorted(contents)
    for f in manifest["files"]:
        assert hashlib.sha256(contents[f["path"]]).hexdigest() == f["sha256"]
        assert len(contents[f["path"]]) == f["size"]
    assert sum(f["kind"] == "inbound-message" for f in manifest["files"]) == 2
    assert manifest["chain_head"]["hash"] in out

    code, out, err = cli("audit", "verify", "--anchor", manifest["chain_head"]["hash"])
    assert code == 0, out + err


def test_export_refuses_to_overwrite_and_to_archive_a_broken_chain(hub, portal, cli, tmp_path) -> None:
    _trail(hub, portal)
    today = datetime.now(UTC).date().isoformat()
    taken = tmp_path / "taken.tar"
    taken.write_bytes(b"keep me")
    assert cli("archive", "export", "--from", today, "--to", today, "--out", str(taken))[0] == 2
    assert taken.read_bytes() == b"keep me"

    with hub.pool.connection() as conn:
        conn.execute("DELETE FROM audit_record WHERE id = (SELECT min(id) + 1 FROM audit_record)")
    fresh = tmp_path / "fresh.tar"
    code, _, err = cli("archive", "export", "--from", today, "--to", today, "--out", str(fresh))
    assert code == 1 and "broken at #" in err
    assert not fresh.exists()
