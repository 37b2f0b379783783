"""Attachment contents in PostgreSQL: content-addressed by SHA-256, stored in 1 MiB chunks.

Every hub node sees the same store, and the bytes are committed in the same transaction as
the appeal that references them. Chunks stream in with COPY and out one row at a time, so
neither direction holds a whole file in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from psycopg import Connection

CHUNK_SIZE = 1024 * 1024


def put(conn: Connection, sha256: bytes, size: int, source: BinaryIO) -> bool:
    """Store ``source`` under its digest unless already there; True when the bytes were written.

    Concurrent writers of the same content serialise on the primary key: the second waits for
    the first to commit and then finds the blob present.
    """
    inserted = conn.execute(
        "INSERT INTO blob (sha256, size) VALUES (%s, %s) ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
        (sha256, size),
    ).fetchone()
    if inserted is None:
        return False
    with (
        conn.cursor() as cur,
        cur.copy("COPY blob_chunk (sha256, seq, data) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(["bytea", "int4", "bytea"])
        seq = 0
        while chunk := source.read(CHUNK_SIZE):
            copy.write_row((sha256, seq, chunk))
            seq += 1
    return True


def iter_chunks(conn: Connection, sha256: bytes) -> Iterator[bytes]:
    """Yield a blob's bytes chunk by chunk, one query per chunk (bounded memory)."""
    seq = 0
    while True:
        row = conn.execute(
            "SELECT data FROM blob_chunk WHERE sha256 = %s AND seq = %s", (sha256, seq)
        ).fetchone()
        if row is None:
            return
        yield bytes(row["data"])
        seq += 1
