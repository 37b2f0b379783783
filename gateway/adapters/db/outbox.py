"""SQL for the transactional outbox (written with the state change; published by the relay)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb


def enqueue(
    conn: Connection, connector: str, appeal_id: UUID, seq: int, idempotency_key: str, payload: dict[str, Any]
) -> None:
    """Add one outgoing message in the caller's transaction; a repeat of the same key is a no-op."""
    conn.execute(
        """INSERT INTO outbox_message (connector, appeal_id, seq, idempotency_key, payload)
           VALUES (%s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING""",
        (connector, appeal_id, seq, idempotency_key, Jsonb(payload)),
    )
