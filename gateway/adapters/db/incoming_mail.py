"""SQL for the moderation queue of incoming e-mail (migration 0015)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection, sql
from psycopg.types.json import Jsonb

_SUMMARY = sql.SQL("""id, mailbox, filed_at, state, labels, quarantine_reason, quarantine_detail, size,
              sender, subject, sent_at, jsonb_array_length(attachments) AS attachment_count, appeal_id,
              rejection_reason, decided_at, decided_by""")


def is_filed(conn: Connection, raw_sha256: bytes | None, message_id: str | None) -> bool:
    """Whether this message (by its bytes, or by its Message-ID) is already in the queue."""
    row = conn.execute(
        """SELECT 1 FROM incoming_mail
            WHERE raw_sha256 = %s OR (%s::text IS NOT NULL AND message_id = %s::text) LIMIT 1""",
        (raw_sha256, message_id, message_id),
    ).fetchone()
    return row is not None


def file(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert one message; False when it was filed already (a concurrent poller, a second copy)."""
    inserted = conn.execute(
        """INSERT INTO incoming_mail (id, mailbox, message_id, raw_sha256, size, state, labels,
                                      quarantine_reason, quarantine_detail, sender, sender_name,
                                      subject, sent_at, text, headers, attachments)
           VALUES (%(id)s, %(mailbox)s, %(message_id)s, %(raw_sha256)s, %(size)s, %(state)s, %(labels)s,
                   %(quarantine_reason)s, %(quarantine_detail)s, %(sender)s, %(sender_name)s,
                   %(subject)s, %(sent_at)s, %(text)s, %(headers)s, %(attachments)s)
           ON CONFLICT DO NOTHING RETURNING id""",
        {**row, "headers": Jsonb(row["headers"]), "attachments": Jsonb(row["attachments"])},
    ).fetchone()
    return inserted is not None


def listing(conn: Connection, states: list[str], limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        sql.SQL("SELECT {} FROM incoming_mail WHERE state = ANY(%s) ORDER BY filed_at, id LIMIT %s").format(
            _SUMMARY
        ),
        (states, limit),
    ).fetchall()


def get(conn: Connection, mail_id: UUID, *, lock: bool = False) -> dict[str, Any] | None:
    return conn.execute(
        sql.SQL(
            """SELECT m.*, r.template AS reply_template, r.recipient AS reply_recipient,
                      r.params AS reply_params, d.id AS reply_outbox_id, d.status AS reply_status,
                      d.last_error AS reply_error, d.delivered_at AS reply_delivered_at
                 FROM incoming_mail m LEFT JOIN incoming_mail_reply r ON r.incoming_mail_id = m.id
                 LEFT JOIN delivery d ON d.incoming_mail_id = m.id
                WHERE m.id = %s {}"""
        ).format(sql.SQL("FOR UPDATE OF m" if lock else "")),
        (mail_id,),
    ).fetchone()


def decide(
    conn: Connection,
    mail_id: UUID,
    *,
    state: str,
    operator: str,
    appeal_id: UUID | None = None,
    reason: str | None = None,
    comment: str | None = None,
) -> None:
    conn.execute(
        """UPDATE incoming_mail SET state = %s, decided_at = clock_timestamp(), decided_by = %s,
                  appeal_id = %s, rejection_reason = %s, rejection_comment = %s
            WHERE id = %s""",
        (state, operator, appeal_id, reason, comment, mail_id),
    )


def owe_reply(conn: Connection, mail_id: UUID, template: str, recipient: str, params: dict[str, Any]) -> None:
    conn.execute(
        """INSERT INTO incoming_mail_reply (incoming_mail_id, template, recipient, params)
           VALUES (%s, %s, %s, %s)""",
        (mail_id, template, recipient, Jsonb(params)),
    )


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute("SELECT state, count(*) AS n FROM incoming_mail GROUP BY state").fetchall()
    return {r["state"]: r["n"] for r in rows}
