"""SQL for refused requests of agencies and operators (what was wrong, never the content)."""

from __future__ import annotations

from psycopg import Connection


def insert(
    conn: Connection,
    face: str,
    method: str,
    path: str,
    status: int,
    code: str,
    pointer: str | None,
    detail: str,
) -> None:
    conn.execute(
        """INSERT INTO request_refusal (face, method, path, status, code, pointer, detail)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (face, method, path, status, code, pointer, detail),
    )
