"""SQL for per-agency mailboxes (SMEV-style pull: lease, then acknowledge).

A message is pending when ``visible_at <= now()`` and it is neither acknowledged nor refused.
Leasing moves ``visible_at`` forward and issues a fresh token, so an expired lease makes the
message pending again without any sweeper. An ack or a refusal matches on the token alone, not on
``visible_at``: the latest lease's token takes the message until a new lease replaces it (the rule
and its reasons: ``gateway/service/mailbox.py``). Both statements lock the row, and a lease skips a
row an ack holds (``FOR UPDATE SKIP LOCKED``, which also keeps concurrent pullers of one agency
apart) while an ack waiting behind a lease re-reads the new token and misses: exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from psycopg import Connection
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb


def post(
    conn: Connection, agency_code: str, appeal_id: UUID, kind: str, details: dict[str, Any] | None = None
) -> UUID:
    """Put one message in an agency's mailbox; it becomes visible when the transaction commits.

    ``details`` is what a notice (a kind other than the appeal itself) tells the agency.
    """
    message_id = uuid4()
    conn.execute(
        "INSERT INTO mailbox_message (id, agency_code, appeal_id, kind, details) VALUES (%s, %s, %s, %s, %s)",
        (message_id, agency_code, appeal_id, kind, None if details is None else Jsonb(details)),
    )
    return message_id


_LEASE = """WITH picked AS (
               SELECT id FROM mailbox_message
               WHERE agency_code = %(agency)s AND acked_at IS NULL AND refused_at IS NULL
                 AND visible_at <= clock_timestamp()
               ORDER BY created_at, id
               LIMIT %(limit)s
               FOR UPDATE SKIP LOCKED
           ), leased AS (
               UPDATE mailbox_message m
               SET visible_at = clock_timestamp() + make_interval(secs => %(seconds)s),
                   lease_token = gen_random_uuid(),
                   delivery_count = m.delivery_count + 1,
                   last_leased_at = clock_timestamp()
               FROM picked WHERE m.id = picked.id
               RETURNING m.id, m.appeal_id, m.kind, m.details, m.created_at, m.lease_token,
                         m.visible_at, m.delivery_count
           ), moved AS (
               UPDATE appeal a SET state = %(target)s
               FROM leased l
               WHERE a.id = l.appeal_id AND l.kind = 'appeal' AND l.delivery_count = 1
                 AND a.state = ANY(%(sources)s)
           ), audited AS (
               INSERT INTO audit_record (appeal_id, actor, action, details)
               SELECT appeal_id, %(actor)s, 'leased',
                      jsonb_build_object('mailbox_message', id, 'delivery', delivery_count)
               FROM leased ORDER BY created_at, id
           ), documents AS (
               SELECT l.created_at, l.id, l.kind,
                      json_build_object(
                          'message_id', l.id, 'kind', l.kind, 'appeal_id', l.appeal_id,
                          'lease_token', l.lease_token, 'lease_expires_at', l.visible_at,
                          'delivery_count', l.delivery_count, 'received_at', a.received_at,
                          'appeal', a.data,
                          'signed_xml_base64', translate(encode(i.raw, 'base64'), chr(10), ''),
                          'attachments', coalesce((
                              SELECT json_agg(json_build_object(
                                         'n', t.n, 'file_name', t.file_name,
                                         'media_type', t.media_type, 'size', t.size,
                                         'sha256', encode(t.sha256, 'hex'),
                                         'href', replace(replace(%(href)s, '{appeal_id}', l.appeal_id::text),
                                                         '{n}', t.n::text)) ORDER BY t.n)
                                FROM attachment t WHERE t.appeal_id = l.appeal_id), '[]'::json)
                      )::text AS document,
                      (SELECT jsonb_object_agg(d.key, d.value) FROM jsonb_each(l.details) d
                        WHERE jsonb_typeof(l.details) = 'object' AND d.value <> 'null'::jsonb
                          AND l.kind IN ('withdrawal', 'feedback')) AS notice
               FROM leased l
               JOIN appeal a ON a.id = l.appeal_id
               JOIN inbound_message i ON i.appeal_id = l.appeal_id
           )
           SELECT CASE WHEN notice IS NULL THEN document
                       ELSE left(document, -1) || ', ' || to_json(kind)::text || ': ' || notice::text || '}'
                  END
           FROM documents
           ORDER BY created_at, id"""


def lease(
    conn: Connection,
    agency_code: str,
    limit: int,
    lease_seconds: int,
    *,
    actor: str,
    first_delivery: tuple[frozenset[str], str],
    attachment_href: str = "",
) -> list[bytes]:
    """Lease up to ``limit`` pending messages, oldest first: each as the JSON document an EDMS
    receives (``docs/edms-rest.md``), as UTF-8 bytes.

    One statement: the lease, the appeals' move on their first delivery (``first_delivery`` is
    the lifecycle's (source states, target state)) and an audit record per lease.

    PostgreSQL writes the documents, and the hub passes them on: decoding the rows into Python
    objects only to encode them again was most of what the hub spent per message between the
    database and the wire (``bench/pull.py``, ``bench/RESULTS.md``), on the cores PostgreSQL needs.
    ``attachment_href`` is where an attachment's bytes are fetched, with ``{appeal_id}`` and
    ``{n}`` in it. A notice's members (``withdrawal`` or ``feedback``, named by its kind) are
    spliced in only when it has any: the document has no member for what a message is not.
    """
    sources, target = first_delivery
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.adapters.register_loader("text", _Utf8Bytes)
        params = {
            "agency": agency_code,
            "limit": limit,
            "seconds": lease_seconds,
            "actor": actor,
            "sources": list(sources),
            "target": target,
            "href": attachment_href,
        }
        return [document for (document,) in cur.execute(_LEASE, params)]


class _Utf8Bytes(Loader):
    """A text column as its UTF-8 bytes, not decoded: the documents go to the wire as they are."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


_ACKNOWLEDGE = """WITH acked AS (
               UPDATE mailbox_message m SET acked_at = clock_timestamp()
               FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS a(id, token)
               WHERE m.id = a.id AND m.lease_token = a.token AND m.agency_code = %(agency)s
                 AND m.acked_at IS NULL AND m.refused_at IS NULL
               RETURNING m.id, m.appeal_id, m.kind
           ), moved AS (
               UPDATE appeal a SET state = %(target)s
               FROM acked WHERE a.id = acked.appeal_id AND acked.kind = 'appeal'
                 AND a.state = ANY(%(sources)s)
           ), audited AS (
               INSERT INTO audit_record (appeal_id, actor, action, details)
               SELECT appeal_id, %(actor)s, 'acknowledged', jsonb_build_object('mailbox_message', id)
               FROM acked
           )
           SELECT id FROM acked"""


def acknowledge(
    conn: Connection,
    agency_code: str,
    acks: Sequence[tuple[UUID, UUID]],
    *,
    actor: str,
    taken: tuple[frozenset[str], str],
) -> list[UUID]:
    """Take the messages whose (id, token) still match an unacknowledged lease; returns the ids taken.

    One statement: the acknowledgements, the appeals' move (``taken`` is the lifecycle's
    (source states, target state)) and an audit record per acknowledged message.
    """
    if not acks:
        return []
    ids, tokens = zip(*acks, strict=True)
    sources, target = taken
    params = {
        "ids": list(ids),
        "tokens": list(tokens),
        "agency": agency_code,
        "actor": actor,
        "sources": list(sources),
        "target": target,
    }
    with conn.cursor(row_factory=tuple_row) as cur:
        # A generic (prepared) plan cannot see the array's length and walks the agency's whole
        # open mailbox once per acked row; a custom plan joins on the primary key (measured:
        # 130 ms → 3 ms per 100 acks at 7,000 open messages).
        return [message_id for (message_id,) in cur.execute(_ACKNOWLEDGE, params, prepare=False)]


def refuse(
    conn: Connection, agency_code: str, message_id: UUID, lease_token: UUID, reason: str
) -> dict[str, Any] | None:
    """Record the EDMS's refusal of a leased message; it leaves delivery until an operator acts."""
    return conn.execute(
        """UPDATE mailbox_message SET refused_at = clock_timestamp(), refused_reason = %s
           WHERE id = %s AND lease_token = %s AND agency_code = %s
             AND acked_at IS NULL AND refused_at IS NULL
           RETURNING id, appeal_id, kind""",
        (reason, message_id, lease_token, agency_code),
    ).fetchone()


def find(conn: Connection, agency_code: str, message_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    """The agency's own messages among ``message_ids`` (others' are indistinguishable from unknown)."""
    rows = conn.execute(
        """SELECT id, lease_token, acked_at, refused_at FROM mailbox_message
           WHERE id = ANY(%s) AND agency_code = %s""",
        (list(message_ids), agency_code),
    ).fetchall()
    return {row["id"]: row for row in rows}


def statistics(conn: Connection, agency_code: str) -> dict[str, Any]:
    """Pending, leased, refused and the age of the oldest pending message (seconds) of one mailbox."""
    return conn.execute(
        """SELECT count(*) FILTER (WHERE refused_at IS NULL AND visible_at <= clock_timestamp()) AS pending,
                  count(*) FILTER (WHERE refused_at IS NULL AND visible_at > clock_timestamp()) AS leased,
                  count(*) FILTER (WHERE refused_at IS NOT NULL) AS refused,
                  coalesce(extract(epoch FROM clock_timestamp() - min(created_at)
                      FILTER (WHERE refused_at IS NULL AND visible_at <= clock_timestamp())), 0)::float
                      AS oldest_pending_age_s
           FROM mailbox_message WHERE agency_code = %s AND acked_at IS NULL""",
        (agency_code,),
    ).fetchone()


def for_push(conn: Connection, message_id: UUID) -> dict[str, Any] | None:
    """What a push of one mailbox message carries: the appeal's ids, routing, the portal's signed
    bytes verbatim, and its attachments' headers (their contents are fetched by the agency)."""
    row = conn.execute(
        """SELECT m.id AS message_id, m.agency_code, m.appeal_id, m.kind, m.acked_at, m.refused_at,
                  a.sender_id, a.portal_appeal_id, a.received_at, a.topic_code, a.territory_code,
                  a.addressee_code, i.message_id AS portal_message_id, i.raw
             FROM mailbox_message m
             JOIN appeal a ON a.id = m.appeal_id
             JOIN inbound_message i ON i.appeal_id = m.appeal_id
            WHERE m.id = %s""",
        (message_id,),
    ).fetchone()
    if row is not None:
        row["attachments"] = conn.execute(
            """SELECT n, content_id, file_name, media_type, size, encode(sha256, 'hex') AS sha256
                 FROM attachment WHERE appeal_id = %s ORDER BY n""",
            (row["appeal_id"],),
        ).fetchall()
    return row


def take_pushed(
    conn: Connection, message_id: UUID, *, actor: str, taken: tuple[frozenset[str], str]
) -> dict[str, Any] | None:
    """The agency's endpoint accepted the pushed message: it counts as delivered and acknowledged
    (``taken`` is the lifecycle's (source states, target state) of the appeal)."""
    sources, target = taken
    row = conn.execute(
        """UPDATE mailbox_message
              SET acked_at = clock_timestamp(), last_leased_at = clock_timestamp(),
                  delivery_count = delivery_count + 1
            WHERE id = %s AND acked_at IS NULL AND refused_at IS NULL
        RETURNING id, appeal_id, kind""",
        (message_id,),
    ).fetchone()
    if row is not None and row["kind"] == "appeal":
        conn.execute(
            "UPDATE appeal SET state = %s WHERE id = %s AND state = ANY(%s)",
            (target, row["appeal_id"], list(sources)),
        )
    return row
