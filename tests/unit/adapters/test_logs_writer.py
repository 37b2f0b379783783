"""The writer thread: the thread that logs only enqueues; every line is written, in each thread's
order, the context it was logged in kept, and nothing is lost when a forked child leaves."""

from __future__ import annotations

import io
import json
import logging
import os
import threading

import structlog

from gateway.adapters.logs import configure_logging, flush
from gateway.config import Settings


class _WhoWrites(io.StringIO):
    """A stream noting which thread wrote each line."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: set[str] = set()

    def write(self, text: str) -> int:
        self.writers.add(threading.current_thread().name)
        return super().write(text)


def test_the_thread_that_logs_only_enqueues_and_one_writer_thread_writes(restore_logging):
    stream = _WhoWrites()
    configure_logging(Settings(log_level="INFO"), stream=stream)
    structlog.get_logger("gateway.test").info("mailbox leased", count=1)
    logging.getLogger("some.library").warning("from the standard library")
    flush()
    assert stream.writers == {"log-writer"}
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == [
        "mailbox leased",
        "from the standard library",
    ]


def test_every_line_of_many_threads_is_written_in_each_threads_order_with_its_context(log_lines):
    def work(n: int) -> None:
        with structlog.contextvars.bound_contextvars(request_id=f"req-{n}"):
            for i in range(300):
                if i % 2:
                    structlog.get_logger("gateway.test").info("step", i=i)
                else:
                    logging.getLogger("some.library").info("step %d", i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = log_lines()
    assert len(lines) == 8 * 300
    for n in range(8):
        mine = [line for line in lines if line.get("request_id") == f"req-{n}"]
        steps = [line["i"] if "i" in line else int(line["event"].removeprefix("step ")) for line in mine]
        assert steps == list(range(300))
        timestamps = [line["timestamp"] for line in mine]
        assert timestamps == sorted(timestamps)  # stamped when logged, not when written


def test_a_forked_child_writes_its_own_lines_and_flushes_them_before_it_leaves(restore_logging, tmp_path):
    path = tmp_path / "log"
    with path.open("w") as stream:  # a file both processes write to, as stderr is
        configure_logging(Settings(log_level="INFO"), stream=stream)
        _fork_and_log()
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == [
        "before the fork",
        "in the child",
        "after the fork",
    ]


def _fork_and_log() -> None:
    structlog.get_logger("gateway.test").info("before the fork")
    pid = os.fork()
    if pid == 0:  # the child: as a Celery pool process, it leaves by os._exit
        try:
            structlog.get_logger("gateway.test").info("in the child", n=1)
            flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    structlog.get_logger("gateway.test").info("after the fork")
    flush()
