"""SQL of the shared rate limit: one counter per bucket, client and fixed window (migration 0018)."""

from __future__ import annotations

from psycopg import Connection


def hit(conn: Connection, bucket: str, client_key: bytes, window_seconds: int) -> tuple[int, float]:
    """Count one request in the client's current window, atomically across every node (one
    upsert: two nodes counting at once both land); returns the window's count with this one and
    the seconds until the window ends."""
    row = conn.execute(
        """WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM clock_timestamp()) / %(w)s) * %(w)s)
                                AS start)
           INSERT INTO rate_limit_window AS r (bucket, client_key, window_start, hits)
           SELECT %(bucket)s, %(key)s, w.start, 1 FROM w
           ON CONFLICT (bucket, client_key, window_start) DO UPDATE SET hits = r.hits + 1
           RETURNING r.hits,
                     extract(epoch FROM r.window_start + make_interval(secs => %(w)s) - clock_timestamp())
                       AS reset_in""",
        {"bucket": bucket, "key": client_key, "w": window_seconds},
    ).fetchone()
    return row["hits"], float(row["reset_in"])


def sweep(conn: Connection, window_seconds: int) -> int:
    """Forget windows that ended more than a window ago; returns how many."""
    return conn.execute(
        "DELETE FROM rate_limit_window WHERE window_start < clock_timestamp() - make_interval(secs => %s)",
        (2 * window_seconds,),
    ).rowcount
