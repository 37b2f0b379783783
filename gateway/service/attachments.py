"""Attachment downloads (agencies: an appeal's; portals: an answer's): the header at once, the bytes
streamed chunk by chunk; and storing a received part under its signed digest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from psycopg import Connection

from gateway.adapters.db import answers as answers_db
from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import blobs
from gateway.adapters.db.outage import read as db_read
from gateway.domain.attachments import AttachmentPart
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import AttachmentHeader
from gateway.service.hub import Hub


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    n: int
    file_name: str
    media_type: str
    size: int
    sha256: bytes


def _file(row: dict) -> AttachmentFile:
    return AttachmentFile(row["n"], row["file_name"], row["media_type"], row["size"], bytes(row["sha256"]))


def find(hub: Hub, agency_code: str, appeal_id: UUID, n: int) -> AttachmentFile:
    row = db_read(hub.pool, lambda conn: appeals_db.attachment_for_agency(conn, appeal_id, n, agency_code))
    if row is None:
        raise Rejection(Code.NOT_FOUND, "no such attachment for this agency")
    return _file(row)


def find_in_answer(hub: Hub, sender_id: str, appeal_id: UUID, content_id: str) -> AttachmentFile:
    """An attachment of the appeal's answer, for the portal that sent the appeal (and no other:
    anyone else gets the same not-found as for an appeal or attachment that does not exist)."""
    row = db_read(
        hub.pool, lambda conn: answers_db.attachment_for_sender(conn, appeal_id, content_id, sender_id)
    )
    if row is None:
        raise Rejection(Code.NOT_FOUND, "no such answer attachment for this portal")
    return _file(row)


def stream(hub: Hub, attachment: AttachmentFile) -> Iterator[bytes]:
    """The bytes, holding one pooled connection while the consumer reads (released when closed)."""
    with hub.pool.connection() as conn:
        yield from blobs.iter_chunks(conn, attachment.sha256)


def store(conn: Connection, header: AttachmentHeader, part: AttachmentPart) -> bytes:
    """Store a part already held to its signed ``header`` (in the caller's transaction); its digest."""
    digest = bytes.fromhex(header.sha256)
    part.file.seek(0)
    blobs.put(conn, digest, header.size, part.file)
    return digest
