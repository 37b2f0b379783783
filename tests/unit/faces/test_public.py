"""The public lookup's rate limiter forgets the addresses it no longer needs to remember."""

from __future__ import annotations

import time

import anyio

from gateway.config import Settings
from gateway.faces.rest import public
from gateway.faces.rest.app import create_app


def test_the_limiter_store_keeps_only_live_addresses():
    """Litestar's plain memory store kept an entry per client address that ever looked up, until the
    same address came back: unbounded in a public face. Expired entries are swept on a write."""
    store = public.SweptMemoryStore(sweep_seconds=0.5)

    async def scenario() -> tuple[int, int, bool]:
        for n in range(1000):
            await store.set(f"RateLimitMiddleware::10.0.{n // 256}.{n % 256}", b"{}", expires_in=1)
        filled = store.count()
        time.sleep(1.1)  # every entry above has expired, and a sweep is due
        await store.set("RateLimitMiddleware::192.0.2.1", b"{}", expires_in=60)
        return filled, store.count(), await store.exists("RateLimitMiddleware::192.0.2.1")

    assert anyio.run(scenario) == (1000, 1, True)


def test_a_live_entry_survives_the_sweep():
    store = public.SweptMemoryStore(sweep_seconds=0)

    async def scenario() -> bytes | None:
        await store.set("RateLimitMiddleware::192.0.2.1", b"counted", expires_in=60)
        await store.set("RateLimitMiddleware::192.0.2.2", b"{}", expires_in=60)
        return await store.get("RateLimitMiddleware::192.0.2.1")

    assert anyio.run(scenario) == b"counted"


def test_the_app_limits_lookups_in_the_swept_store():
    app = create_app(Settings(database_url="postgresql://unused@127.0.0.1:1/unused"))
    assert isinstance(app.stores.get(public.STORE), public.SweptMemoryStore)
