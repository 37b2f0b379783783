"""Logs: what one access line costs the thread that logs it, and the process.

Four threads each log 20,000 access lines (the hub's ``request`` line with its usual fields and
a bound request id) through ``configure_logging`` as the hub runs it (JSON, INFO), to
``/dev/null``; then every line is flushed. ``caller_us_per_line`` is the CPU the logging threads
spent per line (``time.thread_time``): what a request thread pays. ``process_cpu_us_per_line``
is the whole process's CPU per line, the writer thread's rendering included. Run it from two
checkouts (``PYTHONPATH``) to compare them.

Last line: {"bench":"logs","caller_us_per_line":…,"process_cpu_us_per_line":…}
"""

from __future__ import annotations

import json
import os
import threading
import time

import structlog

from gateway.adapters import logs
from gateway.config import Settings

THREADS = 4
LINES = 20_000


def _log_lines(spent: list[float]) -> None:
    log = structlog.get_logger("gateway.access")
    with structlog.contextvars.bound_contextvars(
        request_id="0f3c7c1e-6d7b-4bb0-9a57-2f0b5f1c7e11", face="sed"
    ):
        start = time.thread_time()
        for _ in range(LINES):
            log.info(
                "request", method="POST", path="/sed/v1/appeals/{appeal_id}/events", status=201,
                duration_ms=3.2, appeal_id="ff0b1779-22ac-407b-9874-46cccca2deb6", caller="ADM-CHEBOKSARY",
            )  # fmt: skip
        spent.append(time.thread_time() - start)


def main() -> None:
    with open(os.devnull, "w") as sink:
        logs.configure_logging(Settings(log_level="INFO", log_format="json"), stream=sink)
        spent: list[float] = []
        cpu = time.process_time()
        threads = [threading.Thread(target=_log_lines, args=(spent,)) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if hasattr(logs, "stop_writing"):  # a checkout from before the writer thread writes in the caller
            logs.stop_writing()  # every line written
        cpu = time.process_time() - cpu
    lines = THREADS * LINES
    print(json.dumps({
        "bench": "logs",
        "caller_us_per_line": round(sum(spent) / lines * 1e6, 1),
        "process_cpu_us_per_line": round(cpu / lines * 1e6, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
