"""SQL for notifications to applicants: who asked to be told, where, and in which language."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection


def applicant_contacts(conn: Connection, appeal_id: UUID) -> dict[str, Any]:
    """The channels the applicant asked for, their contacts as the envelope gave them, and the
    jurisdiction of the agency that has the appeal now (None before routing)."""
    return conn.execute(
        """SELECT coalesce(a.data->'notification_channels', '[]'::jsonb) AS channels,
                  a.data->'applicant'->>'email' AS email, a.data->'applicant'->>'phone' AS phone,
                  g.jurisdiction_profile
             FROM appeal a LEFT JOIN agency g ON g.code = a.agency_code
            WHERE a.id = %s""",
        (appeal_id,),
    ).fetchone()
