"""The OpenAPI document is the truth: schemathesis drives every REST operation of a live hub with
each kind of credentials and holds every answer to the document (status, media type, body)."""

from __future__ import annotations

import json
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
    "positive_data_acceptance",
)
# Operations whose requests obey a rule no JSON Schema can state: a schema-valid request may still
# be refused there with 400, so positive_data_acceptance skips them (every other check still runs).
# Everything else a rule of the hub says is in the document (gateway/faces/rest/contract.py).
NOT_POSITIVE = {
    "PortalV1AppealsPushAppeal": "the body is an envelope the portal signed, well-formed XML valid "
    "against schemas/envelope-1.xsd, whose attachments' digests are signed",
    "SedV1AppealsAppealIdEventsEvent": "an answer is multipart: the signed answer (schemas/answer-1.xsd) and "
    "parts that must match the digests it signs",
    "SedV1StatusesUploadStatuses": "a record's dates are held to the hub's clock (not in the future) and to "
    "each other (at not before registered_on, answer_by not before it)",
    **{
        operation_id: "a FROM..TO period must not end before it starts nor span more than 3700 days, "
        "and `by` names different dimensions: comparisons a pattern cannot make"
        for operation_id in (
            "AnalyticsV1ReportsReport",
            "AnalyticsV1OverviewOverview",
            "AnalyticsV1ReportHtmlHtml",
            "AnalyticsV1ExportParquetParquet",
            "PublicV1OpenDataOpenData",
        )
    },
}
# Enough to reach every status the document names in about 20 s; raise it for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("GATEWAY_SCHEMATHESIS_EXAMPLES", "8"))


def _config(path: Path) -> Path:
    """schemathesis.toml: the CHECKS, and positive_data_acceptance off for each operation of
    NOT_POSITIVE (in the file, not on the command line, whose `--checks` would win over an operation's)."""
    checks = "".join(f"{name}.enabled = true\n" for name in CHECKS)
    operations = "".join(
        f"\n# {reason}\n[[operations]]\ninclude-operation-id = {json.dumps(operation_id)}\n"
        "checks.positive_data_acceptance.enabled = false\n"
        for operation_id, reason in NOT_POSITIVE.items()
    )
    path.write_text(f"[checks]\nenabled = false\n{checks}{operations}")
    return path


def _schemathesis(hub_url: str, token: str, path_regex: str, report: Path) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(_config(report.with_name("schemathesis.toml"))),
        "run", f"{hub_url}/schema/openapi.json",
        "--max-examples", str(MAX_EXAMPLES), "--seed", "16",
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
        # The printable ids and registration numbers are Python's Unicode database spelled out (about
        # 280,000 characters): Hypothesis builds each draw's alphabet slowly, not wrongly.
        "--suppress-health-check", "too_slow",
    ]  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false", "COLUMNS": "200"}
    # The agency's run is the longest (the registration number's Unicode class): minutes, on a busy machine.
    timeout = 120 + 60 * MAX_EXAMPLES
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)


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
