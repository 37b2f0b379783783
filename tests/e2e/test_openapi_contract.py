"""The OpenAPI document is the truth: schemathesis drives every REST operation of a live hub with
each kind of credentials and holds every answer to the document (status, media type, body)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ANALYST_TOKEN, ANSWERING_AGENCY, OPERATOR_TOKEN
from tests.e2e.conftest import hub_env, hub_process, scanning

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
# Enough to reach every status the document names in about 20 s; raise it for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("GATEWAY_SCHEMATHESIS_EXAMPLES", "8"))


def _schemathesis(hub_url: str, token: str, path_regex: str, report: Path) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{hub_url}/schema/openapi.json",
        "--checks", ",".join(CHECKS), "--max-examples", str(MAX_EXAMPLES), "--seed", "16",
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-shrink",
        "--include-path-regex", path_regex, "-H", f"Authorization: Bearer {token}",
        # The lookup's allowance is counted per client address in the database all nodes share:
        # the fuzzing spends that of an address of its own (127.0.0.1 is a trusted proxy), not
        # the one the tests of the lookup use.
        "-H", "X-Forwarded-For: 203.0.113.16",
        # SOAP 1.1 answers every fault with 500 (not a server error there): the WSDL is its contract,
        # and tests/e2e/test_sed_soap.py its proof.
        "--exclude-operation-id", "SedSoapV1Call",
        "--report", "junit", "--report-junit-path", str(report), "--warnings", "off",
    ]  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false", "COLUMNS": "200"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def own_hub_url(settings, session_hub, tmp_path_factory, clamd_server):
    """A hub process of its own (its log apart from the shared ``hub_url`` process's)."""
    env = hub_env(settings, **scanning(clamd_server.socket))
    with hub_process(env, tmp_path_factory.mktemp("contract") / "hub.log") as url:
        yield url


@pytest.mark.parametrize(
    ("caller", "path_regex"),
    [
        ("agency", "^/sed/"),  # the REST face and the SOAP contract (WSDL, XSD)
        ("portal", "^/portal/"),
        ("operator", "^/ops/"),
        ("analyst", "^/analytics/"),
        ("nobody", "^/(public|health|metrics)"),
    ],
)
def test_schemathesis_finds_every_answer_in_the_document(own_hub_url, registry, tmp_path, caller, path_regex):
    token = {
        "agency": registry[1][ANSWERING_AGENCY],
        "portal": registry[1]["EPGU"],
        "operator": OPERATOR_TOKEN,
        "analyst": ANALYST_TOKEN,
        "nobody": "none",
    }[caller]
    run = _schemathesis(own_hub_url, token, path_regex, tmp_path / "junit.xml")
    if os.environ.get("GATEWAY_SCHEMATHESIS_LOG"):  # keep the run's own summary for a look by hand
        Path(os.environ["GATEWAY_SCHEMATHESIS_LOG"]).with_suffix(f".{caller}.txt").write_text(run.stdout)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
