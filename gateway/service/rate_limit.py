"""A rate limit that holds across hub nodes: the count lives in PostgreSQL, not in a process.

Three nodes behind a balancer each counting in memory allow three times the limit (and a client
whose requests the balancer spreads sees a different count on every node). The count must live
where every node reads and writes it. PostgreSQL rather than Redis: it is already the one store
every node needs (a lookup reads it anyway), so the limit adds no service to deploy, secure,
watch and fail over, and when it is away the lookup is away too (503) — a Redis outage would
instead force a choice between an open and a closed public face. The cost is one upsert on an
UNLOGGED table per lookup (no WAL): a round trip, about what the lookup's own read costs. Redis
would win only at rates far beyond what a region's public lookup sees.

Fixed windows (the count of the current minute): a client may spend one window's allowance at
its end and the next one's at the start, as with Litestar's in-memory limiter this replaces.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass

from gateway.adapters.db import rate_limit as rate_limit_db
from gateway.service.hub import Hub


@dataclass(frozen=True, slots=True)
class Allowance:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


class SharedRateLimit:
    """``limit`` requests per client and ``window_seconds``, counted for every node together."""

    def __init__(self, bucket: str, limit: int, window_seconds: int = 60) -> None:
        self.bucket = bucket
        self.limit = limit
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def check(self, hub: Hub, client: str) -> Allowance:
        """Count this request of ``client`` (an address; stored as its SHA-256) and say whether it
        is within the limit. Every request counts, refused ones too: a guesser gains nothing by
        insisting."""
        key = hashlib.sha256(client.encode()).digest()
        with hub.pool.connection() as conn:
            hits, reset_in = rate_limit_db.hit(conn, self.bucket, key, self.window_seconds)
            if self._sweep_due():
                rate_limit_db.sweep(conn, self.window_seconds)
        return Allowance(
            allowed=hits <= self.limit,
            limit=self.limit,
            remaining=max(self.limit - hits, 0),
            reset_seconds=max(math.ceil(reset_in), 1),
        )

    def _sweep_due(self) -> bool:
        """Once per window in each process: old windows go, so the table holds the last minutes."""
        with self._lock:
            now = time.monotonic()
            if now < self._next_sweep:
                return False
            self._next_sweep = now + self.window_seconds
            return True
