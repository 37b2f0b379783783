"""The fake cabinet as its own process (``python -m gateway.simulators.cabinet``), as the delivery
worker's tests run it: told on the command line to fail first, inspected over ``GET /_state``."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from connectors.portal.cabinet_rest import CabinetRestConnector
from connectors.portal.cabinet_soap import CabinetSoapConnector
from gateway.config import PROJECT_ROOT
from gateway.domain.delivery import DeliveryError
from tests.integration.connectors.portal.cabinet_messages import message

MODULE = [sys.executable, "-m", "gateway.simulators.cabinet"]


@pytest.fixture
def cabinet_process(dev_pki) -> Iterator[str]:
    """A cabinet process failing its first call with 503 and Retry-After: 5; yields its URL."""
    process = subprocess.Popen(
        [
            *MODULE,
            "--port",
            "0",
            "--hub-cert",
            str(dev_pki.hub_cert),
            "--fail-first",
            "1",
            "--retry-after",
            "5",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # printed once it listens
        found = re.search(r"listening on (http://\S+)", line)
        assert found, f"unexpected first line: {line!r}"
        yield found[1]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0  # SIGTERM is a clean stop
        process.stdout.close()


def test_help_explains_the_options():
    result = subprocess.run([*MODULE, "--help"], capture_output=True, text=True, timeout=60, check=True)
    for option in ("--port", "--hub-cert", "--fail-first", "--retry-after", "--delay"):
        assert option in result.stdout


def test_the_cabinet_process_fails_first_then_takes_updates_over_both_variants(
    cabinet_process, hub, appeal_id
):
    with (
        CabinetRestConnector(cabinet_process, *hub) as rest,
        CabinetSoapConnector(cabinet_process + "/soap", *hub) as soap,
    ):
        with pytest.raises(DeliveryError) as caught:
            rest.deliver(message(appeal_id, 1))
        assert (caught.value.permanent, caught.value.retry_after) == (False, 5)
        rest.deliver(message(appeal_id, 1, attempt=2))
        soap.deliver(message(appeal_id, 3, "answered"))
        rest.deliver(message(appeal_id, 2, "assigned"))

    state = httpx.get(f"{cabinet_process}/_state/{appeal_id}").json()
    assert (state["state"], state["seq"]) == ("answered", 3)
    assert [(r["update"]["seq"], r["via"], r["outcome"]) for r in state["history"]] == [
        (1, "rest", "applied"),
        (3, "soap", "applied"),
        (2, "rest", "stale"),
    ]
    assert httpx.get(f"{cabinet_process}/_state").json() == {"calls": 4, "duplicates": 0, "refusals": []}
