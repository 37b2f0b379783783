"""The fake EDMS as its own process, as out-of-process tests and people run it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from gateway.config import PROJECT_ROOT
from gateway.domain.delivery import DeliveryError

MODULE = "gateway.simulators.edms_push"


def test_help_explains_the_options():
    result = subprocess.run(
        [sys.executable, "-m", MODULE, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    for option in ("--port", "--hub-cert", "--fail-first", "--failure", "--retry-after", "--delay"):
        assert option in result.stdout
    assert "/_received" in result.stdout


@pytest.fixture
def process(dev_pki) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The fake on a free port, failing its first call with 503 and Retry-After: 2."""
    command = [
        sys.executable, "-m", MODULE, "--port", "0", "--hub-cert", str(dev_pki.hub_cert),
        "--fail-first", "1", "--retry-after", "2",
    ]  # fmt: skip
    child = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        first = child.stdout.readline() if child.stdout else ""
        assert "fake EDMS push endpoint at " in first, first
        yield child, first.rsplit(" ", 1)[-1].strip()
    finally:
        child.terminate()
        child.wait(timeout=10)


def test_the_process_fails_as_told_then_takes_the_delivery(process, connect, make_message, envelope):
    _, url = process
    connector = connect(url)
    message = make_message()

    with pytest.raises(DeliveryError) as caught:
        connector.deliver(message)
    assert not caught.value.permanent and caught.value.retry_after == 2
    connector.deliver(message)
    connector.deliver(message)

    base = url.split("/sed-push/")[0]
    seen = requests.get(base + "/_received", timeout=5).json()
    assert seen["calls"] == 3
    assert seen["failures_injected"] == 1
    assert seen["duplicates"] == 1
    [taken] = seen["deliveries"]
    assert taken["message_id"] == message.payload["message_id"]
    assert taken["signed_xml_sha256"] == hashlib.sha256(envelope).hexdigest()
    assert "scan.pdf" not in str(seen)  # file names may name people: not shown
    assert requests.get(url + "?wsdl", timeout=5).text.count(url) >= 2  # the address and the schema
