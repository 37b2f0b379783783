"""SQL for appeals, their archived signed messages, attachments and intake rejections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection, sql
from psycopg.types.json import Jsonb

from gateway.domain.model import Appeal, MessageHeader

_FOR_UPDATE = sql.SQL("FOR UPDATE")


def appeal_to_json(appeal: Appeal) -> dict[str, Any]:
    """The appeal as agencies receive it in JSON (field names as in the domain model)."""
    return asdict(appeal)


def earlier_appeals(
    conn: Connection, appeal: Appeal, agency_code: str, since: datetime
) -> list[dict[str, Any]]:
    """The same applicant's appeals (by the portal's identity provider and subject id) on the same
    topic code at ``agency_code`` received since ``since``, oldest first, as agencies are shown them
    (index ``appeal_applicant_topic``, migration 0019)."""
    rows = conn.execute(
        """SELECT id, received_at, registration_number, state FROM appeal
            WHERE data->'identity'->>'subject_id' = %s AND data->'identity'->>'provider' = %s
              AND agency_code = %s AND topic_code = %s AND received_at >= %s
            ORDER BY received_at, id LIMIT 20""",
        (appeal.identity.subject_id, appeal.identity.provider.value, agency_code, appeal.topic_code, since),
    ).fetchall()
    return [
        {"appeal_id": str(r["id"]), "received_at": r["received_at"].isoformat(),
         "registration_number": r["registration_number"], "state": r["state"]}
        for r in rows
    ]  # fmt: skip


def same_applicant_earlier(
    conn: Connection, appeal_id: UUID, earlier_id: UUID, agency_code: str
) -> dict | None:
    """``earlier_id`` if it is an appeal of the same applicant as ``appeal_id``, received before it,
    that was (or is) this agency's; with its registration number. None otherwise."""
    return conn.execute(
        """SELECT e.id, e.registration_number FROM appeal a JOIN appeal e
               ON e.data->'identity'->>'subject_id' = a.data->'identity'->>'subject_id'
              AND e.data->'identity'->>'provider' = a.data->'identity'->>'provider'
            WHERE a.id = %s AND e.id = %s AND e.id <> a.id AND e.received_at <= a.received_at
              AND (e.agency_code = %s
                   OR EXISTS (SELECT 1 FROM appeal_registration r
                               WHERE r.appeal_id = e.id AND r.agency_code = %s))""",
        (appeal_id, earlier_id, agency_code, agency_code),
    ).fetchone()


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


def store_new(
    conn: Connection,
    *,
    appeal_id: UUID,
    header: MessageHeader,
    appeal: Appeal,
    state: str,
    received_at: datetime,
    register_by: date | None,
    raw: bytes,
    body_sha256: bytes,
    mailbox: tuple[UUID, str, str] | None,
    audit: list[tuple[str, str, dict[str, Any]]],
    earlier_appeals: Sequence[dict[str, Any]] = (),
    post: bool = True,
) -> bool:
    """Store a new appeal with its archived message, mailbox message and audit records in one
    statement (one round trip). False, and nothing written, when this sender already delivered
    an appeal with the same portal id.

    ``mailbox`` is (message id, agency code, kind) for an appeal routed to that agency, or None
    for one left to manual routing; ``audit`` is (actor, action, details) in order. Foreign keys
    between the sibling inserts are checked at the end of the statement.
    """
    message_id, agency_code, kind = mailbox or (None, None, None)
    row = conn.execute(
        """WITH new_appeal AS (
               INSERT INTO appeal (id, sender_id, portal_appeal_id, kind, applicant_type, topic_code,
                                   territory_code, addressee_code, agency_code, state, received_at,
                                   register_by, data)
               VALUES (%(id)s, %(sender)s, %(portal_id)s, %(kind)s, %(applicant_type)s, %(topic)s,
                       %(territory)s, %(addressee)s, %(agency)s::text, %(state)s, %(received_at)s,
                       %(register_by)s, %(data)s)
               ON CONFLICT (sender_id, portal_appeal_id) DO NOTHING
               RETURNING id
           ), archived AS (
               INSERT INTO inbound_message
                      (sender_id, message_id, body_sha256, raw, sent_at, received_at, appeal_id)
               SELECT %(sender)s, %(message_id)s, %(sha)s, %(raw)s, %(sent_at)s, %(received_at)s, id
               FROM new_appeal
           ), posted AS (
               INSERT INTO mailbox_message (id, agency_code, appeal_id, kind)
               SELECT %(mailbox_id)s::uuid, %(agency)s::text, id, %(mailbox_kind)s::text
               FROM new_appeal WHERE %(mailbox_id)s::uuid IS NOT NULL AND %(post)s
           ), audited AS (
               INSERT INTO audit_record (appeal_id, actor, action, details)
               SELECT new_appeal.id, r.actor, r.action, r.details
               FROM new_appeal,
                    unnest(%(actors)s::text[], %(actions)s::text[], %(details)s::jsonb[])
                        WITH ORDINALITY AS r(actor, action, details, ord)
               ORDER BY r.ord
           )
           SELECT id FROM new_appeal""",
        {
            "id": appeal_id,
            "sender": header.sender_id,
            "portal_id": appeal.portal_appeal_id,
            "kind": appeal.kind.value,
            "applicant_type": appeal.applicant.type.value,
            "topic": appeal.topic_code,
            "territory": appeal.territory_code,
            "addressee": appeal.addressee_code,
            "agency": agency_code,
            "state": state,
            "received_at": received_at,
            "register_by": register_by,
            "data": Jsonb({**appeal_to_json(appeal), "earlier_appeals": list(earlier_appeals)}),
            "message_id": header.message_id,
            "sha": body_sha256,
            "raw": raw,
            "sent_at": header.sent_at,
            "mailbox_id": message_id,
            "post": post,
            "mailbox_kind": kind,
            "actors": [a[0] for a in audit],
            "actions": [a[1] for a in audit],
            "details": [Jsonb(a[2]) for a in audit],
        },
    ).fetchone()
    return row is not None


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


def find_for_agency(
    conn: Connection, appeal_id: UUID, agency_code: str, *, lock: bool = False
) -> dict[str, Any] | None:
    """The appeal if it is this agency's; ``lock`` serialises events on it until commit."""
    query = sql.SQL(
        "SELECT id, state, agency_code, registration_number, registered_on, register_by, redirect_by, "
        "answer_by, extensions, access_code_sha256 IS NOT NULL AS has_access_code "
        "FROM appeal WHERE id = %s AND agency_code = %s {}"
    ).format(_FOR_UPDATE if lock else sql.SQL(""))
    return conn.execute(query, (appeal_id, agency_code)).fetchone()


def find_for_sender(
    conn: Connection, appeal_id: UUID, sender_id: str, *, lock: bool = False
) -> dict[str, Any] | None:
    """The appeal if the portal ``sender_id`` sent it, and whether the agency has answered it."""
    query = sql.SQL(
        "SELECT id, state, agency_code, "
        "EXISTS (SELECT 1 FROM appeal_answer r WHERE r.appeal_id = appeal.id) AS answered "
        "FROM appeal WHERE id = %s AND sender_id = %s {}"
    ).format(_FOR_UPDATE if lock else sql.SQL(""))
    return conn.execute(query, (appeal_id, sender_id)).fetchone()


def find(conn: Connection, appeal_id: UUID, *, lock: bool = False) -> dict[str, Any] | None:
    query = sql.SQL(
        "SELECT id, state, agency_code, received_at, topic_code, territory_code FROM appeal WHERE id = %s {}"
    ).format(_FOR_UPDATE if lock else sql.SQL(""))
    return conn.execute(query, (appeal_id,)).fetchone()


def assign(conn: Connection, appeal_id: UUID, agency_code: str, state: str, *, register_by: date) -> None:
    conn.execute(
        "UPDATE appeal SET agency_code = %s, state = %s, register_by = %s WHERE id = %s",
        (agency_code, state, register_by, appeal_id),
    )


def register(
    conn: Connection,
    appeal_id: UUID,
    number: str,
    registered_on: date,
    state: str,
    *,
    answer_by: date,
    redirect_by: date,
) -> None:
    """The agency's registration: the appeal's current number and clock, and a lasting record of the
    number (``appeal_registration``: it keeps answering the lookup after a redirect). An agency that
    registers the appeal again under a number it gave it before reuses that record; a number the
    agency gave another appeal meanwhile raises ``UniqueViolation`` (its primary key), whoever won."""
    conn.execute(
        """INSERT INTO appeal_registration (agency_code, registration_number, appeal_id, registered_on)
           SELECT a.agency_code, %(number)s, a.id, %(on)s FROM appeal a
           WHERE a.id = %(id)s AND NOT EXISTS (
               SELECT 1 FROM appeal_registration r WHERE r.agency_code = a.agency_code
                  AND r.registration_number = %(number)s AND r.appeal_id = a.id)""",
        {"number": number, "on": registered_on, "id": appeal_id},
    )
    conn.execute(
        """UPDATE appeal SET registration_number = %(number)s, registered_on = %(on)s, state = %(state)s,
                             answer_by = %(answer_by)s, redirect_by = %(redirect_by)s
           WHERE id = %(id)s""",
        {"number": number, "on": registered_on, "state": state, "answer_by": answer_by,
         "redirect_by": redirect_by, "id": appeal_id},
    )  # fmt: skip


def set_access_code(conn: Connection, appeal_id: UUID, code_sha256: str) -> None:
    conn.execute("UPDATE appeal SET access_code_sha256 = %s WHERE id = %s", (code_sha256, appeal_id))


def by_registration_number(conn: Connection, number: str) -> list[dict[str, Any]]:
    """Appeals ever registered under ``number`` (unique per agency, not across agencies), by any of
    the agencies that had them: a redirected appeal is still found by its first number. Each row is
    the registration asked for (``asked_number``, ``asked_registered_on``) and the appeal's id."""
    return conn.execute(
        """SELECT r.appeal_id AS id, r.registration_number AS asked_number,
                  r.registered_on AS asked_registered_on, a.access_code_sha256, a.sender_id
           FROM appeal_registration r JOIN appeal a ON a.id = r.appeal_id
           WHERE r.registration_number = %s""",
        (number,),
    ).fetchall()


def registrations(conn: Connection, appeal_id: UUID) -> list[dict[str, Any]]:
    """Every registration of the appeal, oldest first, with the agency's name."""
    return conn.execute(
        """SELECT r.agency_code, g.name AS agency_name, r.registration_number, r.registered_on
           FROM appeal_registration r JOIN agency g ON g.code = r.agency_code
           WHERE r.appeal_id = %s ORDER BY r.recorded_at, r.registered_on""",
        (appeal_id,),
    ).fetchall()


def sender_of(conn: Connection, appeal_id: UUID) -> str | None:
    """Who brought the appeal in: a portal's sender id, or the e-mail channel's."""
    row = conn.execute("SELECT sender_id FROM appeal WHERE id = %s", (appeal_id,)).fetchone()
    return row["sender_id"] if row else None


def public_record(conn: Connection, appeal_id: UUID) -> dict[str, Any] | None:
    """What of the appeal row anyone with its access code may see (no content, no executor)."""
    return conn.execute(
        """SELECT a.id, a.state, a.agency_code, g.name AS agency_name, a.registration_number,
                  a.registered_on, a.register_by, a.answer_by, a.received_at
           FROM appeal a LEFT JOIN agency g ON g.code = a.agency_code
           WHERE a.id = %s""",
        (appeal_id,),
    ).fetchone()


def event_history(conn: Connection, appeal_id: UUID) -> list[dict[str, Any]]:
    return conn.execute(
        """SELECT seq, type, at, state_after, details, actor FROM appeal_event
           WHERE appeal_id = %s ORDER BY seq""",
        (appeal_id,),
    ).fetchall()


_UPDATABLE = frozenset({"state", "executor", "answer_by", "extensions"})


def update(conn: Connection, appeal_id: UUID, **columns: Any) -> None:
    """Set some of the appeal's lifecycle columns (names from a fixed list, values as parameters)."""
    assert columns and set(columns) <= _UPDATABLE, columns
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in columns
    )
    query = sql.SQL("UPDATE appeal SET {} WHERE id = %(appeal_id)s").format(assignments)
    conn.execute(query, {**columns, "appeal_id": appeal_id})


def redirect(conn: Connection, appeal_id: UUID, agency_code: str, state: str, *, register_by: date) -> None:
    """Hand the appeal to another agency: the old agency's clock no longer applies, and its number is
    no longer the current one (it stays the appeal's in ``appeal_registration``)."""
    conn.execute(
        """UPDATE appeal SET agency_code = %s, state = %s, register_by = %s, registration_number = NULL,
                             registered_on = NULL, answer_by = NULL, redirect_by = NULL, extensions = 0,
                             executor = NULL
           WHERE id = %s""",
        (agency_code, state, register_by, appeal_id),
    )


def registration_taken(
    conn: Connection, agency_code: str, number: str, appeal_id: UUID | None = None
) -> bool:
    """Whether the agency gave ``number`` to another portal appeal than ``appeal_id`` (now or before
    a redirect), or to an appeal it received through another channel: one series of numbers per
    agency (migrations 0009 and 0013 also hold it so in the database)."""
    row = conn.execute(
        """SELECT 1 FROM appeal_registration
           WHERE agency_code = %(agency)s AND registration_number = %(number)s
             AND appeal_id IS DISTINCT FROM %(id)s
           UNION ALL
           SELECT 1 FROM offline_appeal
           WHERE agency_code = %(agency)s AND registration_number = %(number)s""",
        {"agency": agency_code, "number": number, "id": appeal_id},
    ).fetchone()
    return row is not None


def find_event(
    conn: Connection, appeal_id: UUID, event_id: str, *, actor: str | None = None
) -> dict[str, Any] | None:
    """An event already recorded under ``event_id`` (by ``actor``, when given)."""
    return conn.execute(
        """SELECT seq, event_id, type, at, details, state_after FROM appeal_event
           WHERE appeal_id = %s AND event_id = %s AND (%s::text IS NULL OR actor = %s)""",
        (appeal_id, event_id, actor, actor),
    ).fetchone()


def append_event(
    conn: Connection,
    appeal_id: UUID,
    event_id: str,
    type_: str,
    actor: str,
    details: dict[str, Any],
    state_after: str,
) -> dict[str, Any]:
    """Append an event with the appeal's next sequence number (callers hold the appeal's row lock)."""
    return conn.execute(
        """INSERT INTO appeal_event (appeal_id, seq, event_id, type, actor, details, state_after)
           SELECT %s, coalesce(max(seq), 0) + 1, %s, %s, %s, %s, %s FROM appeal_event WHERE appeal_id = %s
           RETURNING seq, event_id, type, at, details""",
        (appeal_id, event_id, type_, actor, Jsonb(details), state_after, appeal_id),
    ).fetchone()


def attachment_for_agency(
    conn: Connection, appeal_id: UUID, n: int, agency_code: str
) -> dict[str, Any] | None:
    return conn.execute(
        """SELECT t.n, t.file_name, t.media_type, t.size, t.sha256 FROM attachment t
           JOIN appeal a ON a.id = t.appeal_id
           WHERE t.appeal_id = %s AND t.n = %s AND a.agency_code = %s""",
        (appeal_id, n, agency_code),
    ).fetchone()


def awaiting_manual_routing(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """Unrouted appeals, oldest first, with what an operator needs to choose (no personal data)."""
    return conn.execute(
        """SELECT id, sender_id, portal_appeal_id, kind, applicant_type, topic_code, territory_code,
                  addressee_code, received_at
           FROM appeal WHERE agency_code IS NULL AND state = 'received'
           ORDER BY received_at, id LIMIT %s""",
        (limit,),
    ).fetchall()
