"""Loading the registry against the real database: a certificate that cannot be used is named at
load time, and a bad file loads nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from gateway.config import PROJECT_ROOT
from gateway.service.registry import RegistryError, load_registry

EXAMPLE = PROJECT_ROOT / "deploy" / "agencies.example.yaml"


def _names(hub) -> dict[str, str]:
    with hub.pool.connection() as conn:
        return {r["code"]: r["name"] for r in conn.execute("SELECT code, name FROM agency")}


def _registry(tmp_path, certificate: str):
    """The example registry, every agency renamed (to see whether anything loaded), with
    ADM-CHEBOKSARY's answer certificate set to ``certificate``."""
    content = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for agency in content["agencies"]:
        agency["name"] += " (renamed)"
        if agency["code"] == "ADM-CHEBOKSARY":
            agency["answer_certificate"] = certificate
    path = tmp_path / "agencies.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [
        ("missing.pem", "cannot read"),
        ("not-a-certificate.pem", "not a PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM certificate"),
    ],
)
def test_an_unusable_answer_certificate_is_named_and_nothing_is_loaded(hub, tmp_path, certificate, reason):
    (tmp_path / "not-a-certificate.pem").write_text("hello\n")
    before = _names(hub)
    with pytest.raises(RegistryError) as refused:
        load_registry(hub, _registry(tmp_path, certificate))
    assert str(refused.value).startswith("agencies[1] (ADM-CHEBOKSARY) answer_certificate: " + reason)
    assert _names(hub) == before


def test_a_certificate_path_is_relative_to_the_registry_file(hub, tmp_path, dev_pki):
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "agency.pem").write_bytes(dev_pki.agency_cert.read_bytes())
    path = tmp_path / "one-agency.yaml"  # an agency of its own: the tests' registry stays as it is
    path.write_text(
        yaml.safe_dump({"portal_senders": [], "agencies": [{
            "code": "REGISTRY-TEST", "name": "Registry test", "jurisdiction_profile": "RU-59FZ",
            "timezone": "Europe/Moscow", "answer_certificate": "certs/agency.pem"}]}),
        encoding="utf-8",
    )  # fmt: skip
    try:
        assert load_registry(hub, path) == (0, 1)
        with hub.pool.connection() as conn:
            row = conn.execute(
                "SELECT answer_certificate FROM agency WHERE code = 'REGISTRY-TEST'"
            ).fetchone()
        assert row["answer_certificate"] == dev_pki.agency_cert.read_text()
    finally:
        with hub.pool.connection() as conn:
            conn.execute("DELETE FROM agency WHERE code = 'REGISTRY-TEST'")


def test_the_cli_explains_an_unusable_registry_without_a_traceback(settings):
    # The example's certificate path is relative to var/dev/, where `make run` copies it.
    run = subprocess.run(
        [sys.executable, "-m", "gateway.faces.cli.main", "agencies", "load", str(EXAMPLE)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DATABASE_URL": settings.database_url, "GATEWAY_DATA_DIR": str(settings.data_dir)},
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "invalid registry, nothing loaded" in run.stderr
    assert "agencies[1] (ADM-CHEBOKSARY) answer_certificate: cannot read" in run.stderr
    assert "Traceback" not in run.stderr
