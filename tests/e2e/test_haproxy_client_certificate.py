"""An agency authenticating by its TLS client certificate, through deploy/haproxy/haproxy.cfg
(Debian's HAProxy, the shipped configuration with this machine's ports and files): HAProxy checks
the certificate against the agencies' CA and forwards its fingerprint; the hub, which trusts the
header from the proxy's address only, knows the agency. A client without a certificate, or one
that writes the header itself, is not let in."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.adapters.pki import issue_certificate
from gateway.config import PROJECT_ROOT
from tests.conftest import CERT_AGENCY, _free_port, _unavailable
from tests.smtp import server_certificate


@pytest.fixture
def agency_certificate(root_ca, hub, tmp_path: Path) -> tuple[Path, Path, str]:
    """A client certificate from the agencies' CA, its fingerprint registered for CERT_AGENCY."""
    key, cert = issue_certificate(*root_ca, "sed.minzdrav-21.test")
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    fingerprint = hashlib.sha256(der).hexdigest()
    with hub.pool.connection() as conn:
        conn.execute(
            "INSERT INTO agency_credential (kind, secret_hash, agency_code)"
            " VALUES ('cert-fingerprint', %s, %s) ON CONFLICT DO NOTHING",
            (fingerprint, CERT_AGENCY),
        )
    (tmp_path / "agency.pem").write_bytes(cert)
    (tmp_path / "agency.key").write_bytes(key)
    return tmp_path / "agency.pem", tmp_path / "agency.key", fingerprint


@pytest.fixture
def balancer(hub_url, root_ca, tmp_path: Path):
    """HAProxy with deploy/haproxy/haproxy.cfg: its TLS port and certificate folder made local, its
    three compose nodes replaced by the test's hub process."""
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        _unavailable("haproxy", FileNotFoundError("haproxy (apt-get install haproxy)"))
    certs = tmp_path / "certs"
    certs.mkdir()
    cert_path, key_path = server_certificate(*root_ca, certs)
    (certs / "hub.pem").write_bytes(cert_path.read_bytes() + key_path.read_bytes())
    (certs / "agencies-ca.pem").write_bytes(root_ca[1])
    port = _free_port()
    hub = urlsplit(hub_url)
    config = (PROJECT_ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    config = config.replace("/etc/haproxy/certs", str(certs))
    config = config.replace("bind :8443", f"bind 127.0.0.1:{port}")
    nodes = r"    server hub-1 .*\n(    server hub-\d .*\n)*"
    config = re.sub(nodes, f"    server hub-1 {hub.netloc}\n", config)
    (tmp_path / "haproxy.cfg").write_text(config)
    log = tmp_path / "haproxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([haproxy, "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=out, stderr=out)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    yield f"https://127.0.0.1:{port}", root_ca[1]
    proc.terminate()
    proc.wait(10)


def _client(ca_pem: bytes, cert: tuple[Path, Path] | None = None) -> httpx.Client:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    if cert:
        context.load_cert_chain(*cert)
    return httpx.Client(verify=context, timeout=10)


def test_an_agency_is_known_by_its_certificate_through_the_proxy(balancer, agency_certificate) -> None:
    url, ca = balancer
    cert, key, fingerprint = agency_certificate
    with _client(ca, (cert, key)) as agency:
        pulled = agency.get(url + "/sed/v1/messages")
        metrics = agency.get(url + "/metrics")
    assert pulled.status_code == 200, pulled.text
    assert metrics.status_code == 404  # scraped on each node, not through the public face
    with _client(ca) as stranger:
        claimed = stranger.get(url + "/sed/v1/messages", headers={"X-Client-Cert-Sha256": fingerprint})
    assert (claimed.status_code, claimed.json()["code"]) == (401, "unauthenticated")  # HAProxy dropped it
