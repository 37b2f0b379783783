"""SQL for appeals, their archived signed messages, attachments and intake rejections."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

from gateway.domain.model import Appeal, MessageHeader


def appeal_to_json(appeal: Appeal) -> dict[str, Any]:
    """The appeal as agencies receive it in JSON (field names as in the domain model)."""
    return asdict(appeal)


def find_receipt_by_body(conn: Connection, body_sha256: bytes) -> dict[str, Any] | None:
    return conn.execute(
        """SELECT m.appeal_id, m.received_at, a.agency_code, m.sender_id, m.message_id
           FROM inbound_message m JOIN appeal a ON a.id = m.appeal_id
           WHERE m.body_sha256 = %s LIMIT 1""",
        (body_sha256,),
    ).fetchone()


def find_inbound(conn: Connection, sender_id: str, message_id: UUID) -> dict[str, Any] | None:
    return conn.execute(
        """SELECT m.appeal_id, m.received_at, m.body_sha256, a.agency_code
           FROM inbound_message m JOIN appeal a ON a.id = m.appeal_id
           WHERE m.sender_id = %s AND m.message_id = %s""",
        (sender_id, message_id),
    ).fetchone()


def insert_appeal(
    conn: Connection,
    appeal_id: UUID,
    header: MessageHeader,
    appeal: Appeal,
    *,
    agency_code: str | None,
    state: str,
    received_at: datetime,
) -> bool:
    """False when this sender already delivered an appeal with the same portal id."""
    row = conn.execute(
        """INSERT INTO appeal (id, sender_id, portal_appeal_id, kind, applicant_type, topic_code,
                               territory_code, addressee_code, agency_code, state, received_at, data)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (sender_id, portal_appeal_id) DO NOTHING RETURNING id""",
        (
            appeal_id,
            header.sender_id,
            appeal.portal_appeal_id,
            appeal.kind.value,
            appeal.applicant.type.value,
            appeal.topic_code,
            appeal.territory_code,
            appeal.addressee_code,
            agency_code,
            state,
            received_at,
            Jsonb(appeal_to_json(appeal)),
        ),
    ).fetchone()
    return row is not None


def insert_inbound(
    conn: Connection,
    header: MessageHeader,
    appeal_id: UUID,
    raw: bytes,
    body_sha256: bytes,
    received_at: datetime,
) -> None:
    conn.execute(
        """INSERT INTO inbound_message
                (sender_id, message_id, body_sha256, raw, sent_at, received_at, appeal_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (header.sender_id, header.message_id, body_sha256, raw, header.sent_at, received_at, appeal_id),
    )


def insert_attachment(
    conn: Connection,
    appeal_id: UUID,
    n: int,
    content_id: str,
    file_name: str,
    media_type: str,
    size: int,
    sha256: bytes,
) -> None:
    conn.execute(
        """INSERT INTO attachment (appeal_id, n, content_id, file_name, media_type, size, sha256)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (appeal_id, n, content_id, file_name, media_type, size, sha256),
    )


def record_rejection(
    conn: Connection,
    *,
    code: str,
    pointer: str | None,
    detail: str,
    sender_id: str | None,
    message_id: str | None,
    body_sha256: bytes | None,
    body_size: int | None,
) -> None:
    conn.execute(
        """INSERT INTO intake_rejection (code, pointer, detail, sender_id, message_id, body_sha256, body_size)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (code, pointer, detail, sender_id, message_id, body_sha256, body_size),
    )
