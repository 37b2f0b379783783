"""A small, fast HTTP/1.1 load generator on raw asyncio streams (keep-alive, pre-encoded requests).

General-purpose clients spend more CPU per request than the hub does; on a 2-core machine
that would measure the client. Requests here are bytes built in advance; responses are read
by Content-Length. It runs in its own process so it competes with the hub only as a client would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def request_bytes(url: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    host = urlsplit(url).netloc
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def record(self, status: int, latency_ms: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies_ms.append(latency_ms)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def closed_loop(url: str, requests: Iterator[bytes], connections: int, duration_s: float) -> Result:
    """Each connection sends its next request as soon as the last one is answered (saturation)."""
    result = Result()
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        reader, writer = await _connect(url)
        try:
            while time.perf_counter() < deadline:
                request = next(requests, None)
                if request is None:
                    return
                start = time.perf_counter()
                status = await _exchange(reader, writer, request)
                result.record(status, (time.perf_counter() - start) * 1000)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.elapsed_s = time.perf_counter() - start
    return result


async def open_loop(
    url: str, requests: Iterator[bytes], rate: float, duration_s: float, connections: int
) -> Result:
    """Requests start on a fixed schedule whatever the latency (offered load), over a connection pool."""
    result = Result()
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await _connect(url))

    async def one(request: bytes, scheduled: float) -> None:
        reader, writer = await pool.get()
        try:
            status = await _exchange(reader, writer, request)
            result.record(status, (time.perf_counter() - scheduled) * 1000)
        finally:
            pool.put_nowait((reader, writer))

    tasks = []
    start = time.perf_counter()
    total = int(rate * duration_s)
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        request = next(requests, None)
        if request is None:
            break
        tasks.append(asyncio.create_task(one(request, scheduled)))
    await asyncio.gather(*tasks)
    result.elapsed_s = time.perf_counter() - start
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return result
