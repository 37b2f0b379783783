"""The audit trail: every state change of an appeal, appended in the same transaction as the change."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb


def append_audit(
    conn: Connection, appeal_id: UUID | None, actor: str, action: str, details: dict[str, Any] | None = None
) -> None:
    """Append one record. ``details`` must hold no personal data: codes, ids and numbers only."""
    conn.execute(
        "INSERT INTO audit_record (appeal_id, actor, action, details) VALUES (%s, %s, %s, %s)",
        (appeal_id, actor, action, Jsonb(details or {})),
    )
