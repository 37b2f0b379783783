"""Attachment downloads for agencies: the header at once, the bytes streamed chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import blobs
from gateway.domain.errors import Code, Rejection
from gateway.service.hub import Hub


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    n: int
    file_name: str
    media_type: str
    size: int
    sha256: bytes


def find(hub: Hub, agency_code: str, appeal_id: UUID, n: int) -> AttachmentFile:
    with hub.pool.connection() as conn:
        row = appeals_db.attachment_for_agency(conn, appeal_id, n, agency_code)
    if row is None:
        raise Rejection(Code.NOT_FOUND, "no such attachment for this agency")
    return AttachmentFile(row["n"], row["file_name"], row["media_type"], row["size"], bytes(row["sha256"]))


def stream(hub: Hub, attachment: AttachmentFile) -> Iterator[bytes]:
    """The bytes, holding one pooled connection while the consumer reads (released when closed)."""
    with hub.pool.connection() as conn:
        yield from blobs.iter_chunks(conn, attachment.sha256)
