"""How many threads a hub process runs requests' service calls in: sized from the cores and the
database pool, the same in anyio's pool and in the event loop's executor."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from litestar import Litestar, get
from litestar.di import Provide
from litestar.testing import TestClient

from gateway.config import Settings
from gateway.faces.rest.app import size_thread_pools


def test_the_default_is_the_cores_plus_four_and_never_more_than_the_database_pool():
    cores = os.cpu_count() or 1
    assert Settings(db_pool_size=100).thread_tokens == cores + 4
    assert Settings(db_pool_size=3).thread_tokens == 3
    assert Settings(db_pool_size=1).thread_tokens == 2
    assert Settings(db_pool_size=3, worker_threads=12).thread_tokens == 12


def _thread_of_a_dependency() -> str:
    return threading.current_thread().name


@get("/pools", dependencies={"where": Provide(_thread_of_a_dependency, sync_to_thread=True)})
async def _pools(where: str) -> dict[str, object]:
    async def in_anyio_threads() -> None:
        await anyio.to_thread.run_sync(lambda: None)

    await in_anyio_threads()
    return {
        "anyio_tokens": anyio.to_thread.current_default_thread_limiter().total_tokens,
        "dependency": where,
    }


def test_both_pools_are_sized_at_startup():
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        size_thread_pools(3)
        yield

    with TestClient(Litestar(route_handlers=[_pools], lifespan=[lifespan])) as client:
        answer = client.get("/pools").json()
    assert answer["anyio_tokens"] == 3
    assert answer["dependency"].startswith("handler")  # the loop's executor is the one sized
