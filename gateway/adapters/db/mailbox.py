"""SQL for per-agency mailboxes (SMEV-style pull: lease, then acknowledge)."""

from __future__ import annotations

from uuid import UUID, uuid4

from psycopg import Connection


def post(conn: Connection, agency_code: str, appeal_id: UUID, kind: str) -> UUID:
    """Put one message in an agency's mailbox; it becomes visible when the transaction commits."""
    message_id = uuid4()
    conn.execute(
        "INSERT INTO mailbox_message (id, agency_code, appeal_id, kind) VALUES (%s, %s, %s, %s)",
        (message_id, agency_code, appeal_id, kind),
    )
    return message_id
