"""The registry facts intake needs on every push, cached per process for a few seconds.

Portal senders, routing rules and agency codes change only when someone runs
``appeals-gateway agencies load``; reading them on every push would cost three queries per
appeal. Each process re-reads them at most every ``registry_refresh_seconds``, so a reload
takes effect everywhere within that time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from psycopg import Connection

from gateway.adapters.db import agencies as agencies_db
from gateway.domain.model import JurisdictionProfile, PortalSender, RoutingRule


@dataclass(frozen=True, slots=True)
class RoutingTable:
    senders: dict[str, PortalSender]
    rules: list[RoutingRule]
    agencies: frozenset[str]
    clocks: dict[str, tuple[JurisdictionProfile, str]]  # agency code → (profile, time zone)
    push_agencies: frozenset[str] = frozenset()  # delivered to by push-soap


class RoutingTableCache:
    def __init__(self, max_age_s: float) -> None:
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._table: RoutingTable | None = None
        self._loaded_at = 0.0

    def get(self, conn: Connection) -> RoutingTable:
        """The cached table, re-read through ``conn`` when it is older than the configured age."""
        with self._lock:
            if self._table is None or time.monotonic() - self._loaded_at > self._max_age_s:
                rules, codes = agencies_db.routing_table(conn)
                clocks = agencies_db.agency_clocks(conn)
                self._table = RoutingTable(
                    agencies_db.senders(conn), rules, codes, clocks, agencies_db.push_agencies(conn)
                )
                self._loaded_at = time.monotonic()
            return self._table
