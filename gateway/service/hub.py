"""The hub's running context: settings, the database pool, and the verifier built from trust anchors.

Faces receive one :class:`Hub` and pass it to service functions; nothing else is global.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from lxml import etree
from psycopg import Connection
from psycopg_pool import ConnectionPool

from gateway.adapters.db import migrate, open_pool, resolve_database_url
from gateway.adapters.xmlsec import gost
from gateway.adapters.xmlsec.envelope import load_schema
from gateway.adapters.xmlsec.signature import EnvelopeVerifier
from gateway.adapters.xmlsec.suites import GOST, suites_named
from gateway.config import Settings
from gateway.service.routing_table import RoutingTable, RoutingTableCache

log = logging.getLogger(__name__)


@dataclass
class Hub:
    settings: Settings
    pool: ConnectionPool
    database_url: str = field(repr=False)

    @property
    def envelope_schema(self) -> etree.XMLSchema:
        """The compiled envelope XSD of the calling thread (see ``load_schema``)."""
        return load_schema(self.settings.schemas_dir / "appeal-envelope-1.xsd")

    @cached_property
    def verifier(self) -> EnvelopeVerifier:
        """Built lazily so a hub without trust anchors still serves agencies and operators."""
        return EnvelopeVerifier(
            self.settings.trust_anchor_file.read_bytes(),
            portal_suites=suites_named(self.settings.portal_signature_suites),
            applicant_suites=suites_named(self.settings.applicant_signature_suites),
        )

    @cached_property
    def _routing_tables(self) -> RoutingTableCache:
        return RoutingTableCache(self.settings.registry_refresh_seconds)

    def routing_table(self, conn: Connection) -> RoutingTable:
        return self._routing_tables.get(conn)

    def close(self) -> None:
        self.pool.close()


def open_hub(settings: Settings, *, apply_migrations: bool = True) -> Hub:
    """Connect to the database (embedded if none is configured) and bring its schema up to date."""
    _say_if_gost_is_missing(settings)
    url = resolve_database_url(settings)
    if apply_migrations:
        migrate(url)
    pool = open_pool(url, size=settings.db_pool_size)
    return Hub(settings=settings, pool=pool, database_url=url)


def _say_if_gost_is_missing(settings: Settings) -> None:
    """One line at start-up when GOST signatures are allowed but this machine cannot check them: such
    input is then refused with ``signature-algorithm-not-allowed``, and the operator knows why."""
    configured = {
        *settings.portal_signature_suites,
        *settings.applicant_signature_suites,
        *settings.agency_signature_suites,
    }
    if GOST.name in configured and (reason := gost.unavailable_reason()):
        log.warning(reason)
