"""Readiness against real databases: a current schema is ready, a database behind on migrations is not."""

from __future__ import annotations

import uuid
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import psycopg

from gateway.adapters.db import open_pool
from gateway.service.health import readiness
from gateway.service.hub import Hub


def test_a_current_schema_is_ready(session_hub):
    # The tests' settings name no broker: the filesystem transport is always there.
    assert [(c.name, c.ok) for c in readiness(session_hub)] == [
        ("database", True),
        ("migrations", True),
        ("broker", True),
    ]


def test_readiness_checks_the_configured_rabbitmq(session_hub, broker_url):
    def broker_check(url: str) -> tuple[bool, str]:
        settings = session_hub.settings.model_copy(update={"broker_url": url})
        (check,) = [c for c in readiness(replace(session_hub, settings=settings)) if c.name == "broker"]
        return check.ok, check.detail

    assert broker_check(broker_url) == (True, "reachable")
    assert broker_check("amqp://guest:guest@127.0.0.1:1//") == (False, "unreachable")


def test_a_database_without_the_schema_is_not_ready(server_url, settings):
    name = f"gw_unmigrated_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    pool = open_pool(url, size=1, name="unmigrated")
    try:
        checks = readiness(Hub(settings=settings, pool=pool, database_url=url))
    finally:
        pool.close()
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    assert [(c.name, c.ok) for c in checks] == [("database", True), ("migrations", False), ("broker", True)]
    assert "0001_core" in checks[1].detail
