"""Exporting a period for long-term storage, as X-Road archives its message log: the portal's
signed messages and the agencies' signed answers byte for byte, the attachments they bind, and
the period's stretch of the audit chain, in one tar file with a manifest of digests.

Layout of the tar (``manifest.json`` last, so it can list every other file's SHA-256 and size)::

    inbound/<sender id>/<message id>.xml   the portal's signed envelope, as received
    answers/<appeal id>/<seq>.xml          the agency's signed answer, as received
    attachments/<sha256>                   every attachment those documents bind, once
    audit.jsonl                            the period's audit records, with their links and hashes
    manifest.json                          the files, the period, the chain's hashes, the export

Attachments are included, not referenced: the signatures bind them by digest only, and an archive
meant to outlive the database must still hold what the digests name.

The audit records of the period are the stretch of the chain from the first record written at or
after its start to the last written before its end (the sealer stamps times in chain order). Each
line holds the fields as the chain hashes them, so the stretch is checked without the database,
from the manifest's ``start_hash`` to its ``end_hash``. The stretch is checked while it is written:
a broken chain fails the export rather than archiving the break.
"""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from psycopg import Connection

from gateway.adapters.db import archive as archive_db
from gateway.adapters.db import audit as audit_db
from gateway.adapters.db import blobs
from gateway.adapters.tar_archive import ArchiveWriter, Member
from gateway.domain.audit_chain import FORM_TAG, ChainWalk, archived
from gateway.domain.incoming_mail import EMAIL_SENDER
from gateway.service.hub import Hub

FORMAT = "appeals-gateway archive 1"
PROGRESS_EVERY = 500

Progress = Callable[[str], None]


class ExportFailed(Exception):
    """The period cannot be archived as it is (a broken chain, a missing attachment)."""


def export(
    hub: Hub, start: datetime, end: datetime, out: Path, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Write the archive of [start, end) to ``out``; returns its manifest. Nothing is left at
    ``out`` if the export fails."""
    say = progress or (lambda _message: None)
    exported_at = datetime.now(UTC)
    with hub.pool.connection() as conn, ArchiveWriter(out) as archive:
        head, _ = audit_db.chain_end(conn)
        files = [
            *_inbound_messages(conn, archive, start, end, say),
            *_answers(conn, archive, start, end, say),
            *_attachments(conn, archive, start, end, say),
        ]
        audit, member = _audit_stretch(conn, archive, start, end, say)
        files.append(_entry(member, "audit-records"))
        manifest = {
            "format": FORMAT,
            "period": {"start": start.isoformat(), "end": end.isoformat(), "end_is_exclusive": True},
            "exported": {
                "at": exported_at.isoformat(),
                "by": f"appeals-gateway {version('appeals-gateway')} archive export",
                "host": socket.gethostname(),
            },
            "audit": audit,
            # The whole chain's end when exported: kept apart from the database, it is what
            # `appeals-gateway audit verify --anchor` later holds the chain to.
            "chain_head": {"last_id": head.last_id, "hash": _hex(head.hash)},
            "files": files,
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=1).encode() + b"\n"
        archive.add_bytes("manifest.json", body, exported_at)
    say(f"wrote {out}: {len(files)} files and the manifest")
    return manifest


def _inbound_messages(
    conn: Connection, archive: ArchiveWriter, start: datetime, end: datetime, say: Progress
) -> list[dict[str, Any]]:
    messages = archive_db.inbound_messages(conn, start, end)
    files = []
    for n, m in enumerate(messages, 1):
        raw = archive_db.inbound_raw(conn, m["sender_id"], m["message_id"])
        # An appeal registered from e-mail keeps the e-mail as its evidence (RFC 5322), not XML.
        ext = "eml" if m["sender_id"] == EMAIL_SENDER else "xml"
        path = f"inbound/{m['sender_id']}/{m['message_id']}.{ext}"
        member = archive.add_bytes(path, raw, m["received_at"], sha256=m["sha256"])
        files.append(_entry(member, "inbound-message", appeal_id=str(m["appeal_id"])))
        if n % PROGRESS_EVERY == 0:
            say(f"inbound messages: {n:,} of {len(messages):,}")
    say(f"inbound messages: {len(messages):,}")
    return files


def _answers(
    conn: Connection, archive: ArchiveWriter, start: datetime, end: datetime, say: Progress
) -> list[dict[str, Any]]:
    files = []
    for a in archive_db.answers(conn, start, end):
        digest = a["document_sha256"]
        member = archive.add_stream(
            f"answers/{a['appeal_id']}/{a['seq']}.xml", a["size"], blobs.iter_chunks(conn, digest),
            a["received_at"], sha256=digest.hex(),
        )  # fmt: skip
        files.append(_entry(member, "answer", appeal_id=str(a["appeal_id"]), answer_id=str(a["answer_id"])))
    say(f"answers: {len(files):,}")
    return files


def _attachments(
    conn: Connection, archive: ArchiveWriter, start: datetime, end: datetime, say: Progress
) -> list[dict[str, Any]]:
    files, total = [], 0
    for n, b in enumerate(archive_db.attachment_blobs(conn, start, end), 1):
        digest = b["sha256"]
        if b["size"] is None:
            raise ExportFailed(f"attachment {digest.hex()} is bound by a signed document but not stored")
        member = archive.add_stream(
            f"attachments/{digest.hex()}", b["size"], blobs.iter_chunks(conn, digest), b["received_at"],
            sha256=digest.hex(),
        )  # fmt: skip
        files.append(_entry(member, "attachment"))
        total += member.size
        if n % PROGRESS_EVERY == 0:
            say(f"attachments: {n:,} ({total / 2**20:,.1f} MiB)")
    say(f"attachments: {len(files):,} ({total / 2**20:,.1f} MiB)")
    return files


def _audit_stretch(
    conn: Connection, archive: ArchiveWriter, start: datetime, end: datetime, say: Progress
) -> tuple[dict[str, Any], Member]:
    """Write ``audit.jsonl``, checking the stretch as it goes; returns its manifest section."""
    first_id, last_id = audit_db.period_ids(conn, start, end)
    start_hash = audit_db.hash_before(conn, end) if first_id is None else audit_db.link_of(conn, first_id)
    walk = ChainWalk(start=start_hash)
    with tempfile.TemporaryFile() as spool:  # the file's size must be known before tar takes it
        if first_id is not None and last_id is not None:
            for record in audit_db.chained_records(conn, first_id, last_id):
                broken = walk.add(record)
                if broken is not None:
                    raise ExportFailed(
                        f"the audit chain is broken at #{broken.record_id} ({broken.action}): "
                        f"{broken.fault} — {broken.reason}; see `appeals-gateway audit verify`"
                    )
                spool.write(json.dumps(archived(record), ensure_ascii=False).encode() + b"\n")
                if walk.checked % (PROGRESS_EVERY * 100) == 0:
                    say(f"audit records: {walk.checked:,}")
        size = spool.tell()
        spool.seek(0)
        chunks = iter(lambda: spool.read(blobs.CHUNK_SIZE), b"")
        member = archive.add_stream("audit.jsonl", size, chunks, datetime.now(UTC))
    say(f"audit records: {walk.checked:,}")
    end_hash = start_hash if walk.last is None else walk.last.hash
    section = {
        "file": member.path,
        "canonical_form": FORM_TAG,
        "records": walk.checked,
        "first_id": first_id,
        "last_id": last_id,
        "start_hash": _hex(start_hash),
        "end_hash": _hex(end_hash),
    }
    return section, member


def _entry(member: Member, kind: str, **about: str) -> dict[str, Any]:
    return {"path": member.path, "sha256": member.sha256, "size": member.size, "kind": kind, **about}


def _hex(digest: bytes | None) -> str | None:
    return None if digest is None else digest.hex()
