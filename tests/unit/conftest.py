"""Fixtures for unit tests that need no service."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from gateway.adapters.logs import QUIET_LIBRARIES, configure_logging, flush, stop_writing
from gateway.config import Settings

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the test process's logging back as it was after a test that configures it."""
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    handlers, level, access_disabled = root.handlers[:], root.level, access.disabled
    last_resort = logging.lastResort
    levels = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    stop_writing()
    root.handlers, access.disabled = handlers, access_disabled
    root.setLevel(level)
    logging.lastResort = last_resort
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
    logging.captureWarnings(False)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@pytest.fixture
def log_lines(restore_logging: None) -> LogLines:
    """Logging configured as the hub's (JSON) at DEBUG, into a buffer: a function returning what
    was written so far, one parsed object per line (after the writer thread wrote what is queued)."""
    buffer = io.StringIO()
    configure_logging(Settings(log_level="DEBUG", log_format="json"), stream=buffer)

    def lines() -> list[dict[str, Any]]:
        flush()
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    return lines
