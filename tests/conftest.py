"""Shared fixtures: a real PostgreSQL database for the whole run, created fresh and dropped after.

With ``DATABASE_URL`` set (CI, production-like machines) the tests use that server; without it
they start the embedded ``pgserver`` PostgreSQL under ``var/test-pg``. If the server cannot be
reached, tests that need it are skipped — unless ``REQUIRE_SERVICES=1``, when they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from gateway.adapters.db import start_embedded
from gateway.config import PROJECT_ROOT

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def server_url() -> str:
    """An admin URL of the PostgreSQL server the tests run against."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    try:
        return start_embedded(PROJECT_ROOT / "var" / "test-pg")
    except Exception as exc:  # the embedded server failing to boot is a missing service too
        _unavailable("embedded PostgreSQL", exc)
        raise


@pytest.fixture(scope="module")
def embedded_data_dir() -> Iterator[Path]:
    """An empty directory for an embedded PostgreSQL of a test's own, removed after the module.

    Not under pytest's tmp_path: run as root, pgserver runs PostgreSQL as its own user and opens
    the path's parents to it, and any pytest session starting meanwhile closes
    /tmp/pytest-of-root again (0700), cutting the server off its files mid-test.
    """
    path = Path(tempfile.mkdtemp(prefix="gw-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database for this test run, dropped at the end."""
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        _unavailable("PostgreSQL", exc)
    yield _with_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def terminate_backends(database_url: str) -> Callable[..., int]:
    """A function that ends every session on the test database but the caller's own (and those of
    ``spare`` pids), as a failover or a restart does to the hub's pool; it returns how many ended."""

    def terminate(spare: Collection[int] = ()) -> int:
        with psycopg.connect(database_url, autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> ALL(%s)",
                (list(spare),),
            ).fetchone()
        return row[0]

    return terminate


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """The xmlsec1 binary, the independent XMLDSig implementation (Debian: apt-get install xmlsec1)."""
    path = shutil.which("xmlsec1")
    if path is None:
        _unavailable("the xmlsec1 command-line tool", FileNotFoundError("xmlsec1"))
    assert path is not None
    return path


@pytest.fixture(scope="session")
def root_ca(dev_pki) -> tuple[bytes, bytes]:
    """The trust anchor's key and certificate, to issue certificates for a test's own purpose."""
    return (dev_pki.root_cert.parent / "root-ca.key").read_bytes(), dev_pki.root_cert.read_bytes()


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The RabbitMQ the tests use (``BROKER_URL``, else the local one)."""
    from kombu import Connection

    url = os.environ.get("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # any failure to connect means the service is missing
        _unavailable("RabbitMQ", exc)
    return url


# --- the hub in-process (integration tests) -------------------------------------------------

OPERATOR_TOKEN = "operator-token-for-tests"
# An agency that (also) authenticates by the client certificate a TLS terminator vouches for.
CERT_AGENCY = "MINZDRAV-21"
CLIENT_CERT_SHA256 = "5e" * 32
# An agency registered for push delivery; tests start its fake endpoint on the `push_port`.
PUSH_AGENCY = "PUSH-TEST"
APPEAL_TABLES = (
    "appeal, inbound_message, attachment, blob, blob_chunk, mailbox_message, appeal_event, "
    "audit_record, audit_chain_head, intake_rejection, request_refusal, outbox_message, delivery_attempt, "
    "appeal_answer, appeal_feedback"
    ", offline_appeal, offline_appeal_status, agency_registration_number, agency_activity"
)
# The agency whose answers are signed with the dev PKI's agency certificate (registered for it).
ANSWERING_AGENCY = "ADM-CHEBOKSARY"


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory):
    from gateway.adapters.pki import ensure_dev_pki

    return ensure_dev_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def push_port() -> int:
    """Where the fake endpoint of the push agency will listen (registered before it starts)."""
    return _free_port()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, dev_pki, push_port: int):
    """The example registry with generated tokens: (path, tokens by agency code and portal sender id)."""
    import yaml

    from gateway.faces.cli.dev import write_dev_registry

    path, tokens = write_dev_registry(tmp_path_factory.mktemp("registry"))
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    for agency in content["agencies"]:
        if agency["code"] == CERT_AGENCY:
            agency["credentials"]["cert_sha256"] = [CLIENT_CERT_SHA256]
        if agency["code"] == ANSWERING_AGENCY:  # the example's path is relative to var/dev
            agency["answer_certificate"] = str(dev_pki.agency_cert)
    content["agencies"].append(
        {"code": PUSH_AGENCY, "name": "An agency taking pushes (tests)", "jurisdiction_profile": "RU-59FZ",
         "delivery_mode": "push-soap", "push_url": f"http://127.0.0.1:{push_port}/sed-push/v1"}
    )  # fmt: skip
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return path, tokens


@pytest.fixture(scope="session")
def settings(database_url: str, dev_pki, tmp_path_factory: pytest.TempPathFactory):
    from gateway.config import Settings
    from gateway.service.registry import hash_secret

    return Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("var"),
        trust_anchors=dev_pki.trust_anchors,
        operator_tokens_sha256=[hash_secret(OPERATOR_TOKEN)],
        trust_client_cert_header=True,
    )


@pytest.fixture(scope="session")
def session_hub(settings, registry):
    from gateway.service.hub import open_hub
    from gateway.service.registry import load_registry

    hub = open_hub(settings)
    load_registry(hub, registry[0], actor="tests")
    yield hub
    hub.close()


@pytest.fixture
def hub(session_hub):
    """The hub with no appeals, mailbox messages or audit records left by earlier tests."""
    with session_hub.pool.connection() as conn:
        conn.execute(f"TRUNCATE {APPEAL_TABLES} CASCADE")
    return session_hub


# --- the portal, played ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def portal(dev_pki):
    """The Russian portal (EPGU, RSA) with a legal entity's representative able to co-sign."""
    from gateway.simulators.portal import Portal, Signer

    return Portal(
        "EPGU",
        Signer(dev_pki.portal_rsa_key.read_bytes(), dev_pki.portal_rsa_cert.read_bytes()),
        applicant=Signer(dev_pki.applicant_key.read_bytes(), dev_pki.applicant_cert.read_bytes()),
    )


@pytest.fixture(scope="session")
def portal_by(dev_pki):
    """The Belarusian portal (обращения.бел, ECDSA)."""
    from gateway.simulators.portal import Portal, Signer

    return Portal(
        "OBRASHCHENIYA-BEL", Signer(dev_pki.portal_ec_key.read_bytes(), dev_pki.portal_ec_cert.read_bytes())
    )


# --- a real IMAP server (Debian's Dovecot) ---------------------------------------------------


@pytest.fixture(scope="session")
def dovecot_server():
    """Dovecot on loopback with its own config in a temporary directory (``tests/dovecot.py``)."""
    if shutil.which("dovecot") is None:
        _unavailable("the dovecot IMAP server", FileNotFoundError("dovecot (apt-get install dovecot-imapd)"))
    from tests.dovecot import start_dovecot

    try:
        server = start_dovecot()
    except Exception as exc:  # a server that does not start is a missing service too
        _unavailable("the dovecot IMAP server", exc)
        raise
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server):
    """The IMAP server with every folder emptied."""
    dovecot_server.empty()
    return dovecot_server


# --- mail: a recording SMTP server on loopback (tests/smtp.py) ------------------------------


@pytest.fixture(scope="session")
def smtp_certificate(root_ca, tmp_path_factory: pytest.TempPathFactory):
    """The SMTP server's certificate for 127.0.0.1, issued by the dev root (cert path, key path)."""
    from tests.smtp import server_certificate

    return server_certificate(*root_ca, tmp_path_factory.mktemp("smtp"))


@pytest.fixture(scope="session")
def smtp_session():
    from tests.smtp import smtp_server

    with smtp_server() as server:
        yield server


@pytest.fixture
def smtp(smtp_session):
    """A plain SMTP server on loopback that records what it accepts; emptied for each test."""
    smtp_session.handler.reset()
    return smtp_session


# --- the hub as a user installs it: the wheel in a venv of its own --------------------------


@dataclass(frozen=True)
class InstalledWheel:
    """The project built as a wheel (not editable) and installed with its dependencies in a fresh
    venv, away from the source tree: what ``pip install .`` gives an operator."""

    wheel: Path
    venv: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "appeals-gateway"

    @property
    def site_packages(self) -> Path:
        (path,) = (self.venv / "lib").glob("python3*/site-packages")
        return path


# What the build needs of the checkout: not the venv, data, caches or build leftovers, whose copy
# would be slow, and which the build would otherwise write into the repository itself.
_NOT_BUILT = (".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "_bundled")


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """Build the wheel from a copy of the checkout and install it into a new venv (about 30 s;
    the dependencies come from the package index, nothing is cached in the repository)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=shutil.ignore_patterns(*_NOT_BUILT, "tests", "bench"))
    quiet = {"capture_output": True, "text": True, "timeout": 600}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(root / "dist"), str(source)], **quiet
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("appeals_gateway-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, **quiet)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", str(wheel)], **quiet)
    if installed.returncode != 0:
        _unavailable("the package index (for the wheel's dependencies)", RuntimeError(installed.stderr))
    return InstalledWheel(wheel, venv)
