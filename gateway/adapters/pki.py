"""A development PKI, generated at run time under ``var/pki`` and never committed.

One root CA (the trust anchor) issues: the Russian portal's RSA certificate, the Belarusian
portal's ECDSA certificate, a legal entity representative's certificate naming an OGRN, the
hub's own certificate, and the certificate ADM-CHEBOKSARY signs its answers with (registered as
the agency's ``answer_certificate``, pinned rather than chained). Where the OpenSSL GOST engine is
installed, a GOST root CA beside it issues the portal's and the representative's GOST certificates
(:func:`ensure_gost_dev_pki`). Production replaces all of it with real trust anchors and the
agencies' real certificates.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

OGRN_OID = ObjectIdentifier("1.2.643.100.1")
UNP_OID = ObjectIdentifier("1.2.112.1.2.1.1.1.1.2")
DEV_OGRN = "1027700132195"


@dataclass(frozen=True)
class DevPki:
    root_cert: Path
    trust_anchors: Path
    portal_rsa_key: Path
    portal_rsa_cert: Path
    portal_ec_key: Path
    portal_ec_cert: Path
    applicant_key: Path
    applicant_cert: Path
    hub_key: Path
    hub_cert: Path
    agency_key: Path
    agency_cert: Path


def _new_key(key_type: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(common_name: str, *, valid_days: int = 3650) -> tuple[bytes, bytes]:
    """A self-signed root CA that cryptography's web-PKI CA policy accepts: (key PEM, cert PEM)."""
    key = _new_key("ec")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def issue_certificate(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    common_name: str,
    *,
    key_type: str = "rsa",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_usage_digital_signature: bool = True,
    ogrn: str | None = None,
    unp: str | None = None,
    organisation_name: str | None = None,
) -> tuple[bytes, bytes]:
    """An end-entity signing certificate issued by the given CA: (key PEM, cert PEM)."""
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    key = _new_key(key_type)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation_name:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation_name))
    if ogrn:
        attributes.append(x509.NameAttribute(OGRN_OID, ogrn))
    if unp:
        attributes.append(x509.NameAttribute(UNP_OID, unp))
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=key_usage_digital_signature,
        content_commitment=True,
        key_encipherment=not key_usage_digital_signature,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def ensure_dev_pki(directory: Path) -> DevPki:
    """Create the dev PKI under ``directory`` unless it is already there (idempotent)."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = DevPki(
        root_cert=directory / "root-ca.pem",
        trust_anchors=directory / "trust-anchors.pem",
        portal_rsa_key=directory / "portal-epgu.key",
        portal_rsa_cert=directory / "portal-epgu.pem",
        portal_ec_key=directory / "portal-by.key",
        portal_ec_cert=directory / "portal-by.pem",
        applicant_key=directory / "applicant-legal-entity.key",
        applicant_cert=directory / "applicant-legal-entity.pem",
        hub_key=directory / "hub.key",
        hub_cert=directory / "hub.pem",
        agency_key=directory / "agency-adm-cheboksary.key",
        agency_cert=directory / "agency-adm-cheboksary.pem",
    )
    if all(p.exists() for p in vars(pki).values()):
        return pki
    # A directory made by an older version lacks only the newer certificates: keep its root CA (which
    # running hubs and configured trust anchors already know) and issue just what is missing.
    ca_key_path = directory / "root-ca.key"
    new_ca = not (ca_key_path.exists() and pki.root_cert.exists())
    if new_ca:
        ca_key, ca_cert = make_ca(f"Appeals Gateway Dev Root CA {secrets.token_hex(2)}")
        _write(ca_key_path, ca_key, private=True)
        _write(pki.root_cert, ca_cert)
    else:
        ca_key, ca_cert = ca_key_path.read_bytes(), pki.root_cert.read_bytes()
    if new_ca or not pki.trust_anchors.exists():
        _write(pki.trust_anchors, ca_cert)
    for key_path, cert_path, cn, kwargs in [
        (pki.portal_rsa_key, pki.portal_rsa_cert, "EPGU Portal (dev)", {}),
        (pki.portal_ec_key, pki.portal_ec_cert, "Obrashcheniya.bel Portal (dev)", {"key_type": "ec"}),
        (pki.applicant_key, pki.applicant_cert, "Representative (dev)",
         {"ogrn": DEV_OGRN, "organisation_name": "OOO Primer (dev)"}),
        (pki.hub_key, pki.hub_cert, "Appeals Gateway Hub (dev)", {}),
        (pki.agency_key, pki.agency_cert, "ADM-CHEBOKSARY answers (dev)",
         {"organisation_name": "Administration of Cheboksary (dev)"}),
    ]:  # fmt: skip
        if new_ca or not (key_path.exists() and cert_path.exists()):
            key, cert = issue_certificate(ca_key, ca_cert, cn, **kwargs)
            _write(key_path, key, private=True)
            _write(cert_path, cert)
    return pki


# --- GOST (made by the openssl command: the cryptography package cannot issue GOST certificates) ----

_GOST_EXTENSIONS = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class GostDevPki:
    """GOST R 34.10-2012 (256-bit) certificates beside the dev PKI, under its own GOST root CA."""

    root_cert: Path
    portal_key: Path
    portal_cert: Path
    applicant_key: Path
    applicant_cert: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(
        ["openssl", *[str(a) for a in args]], capture_output=True, timeout=60, check=True
    )  # fmt: skip


def ensure_gost_dev_pki(pki: DevPki) -> GostDevPki | None:
    """GOST certificates for the dev portal and representative, their root added to the dev trust
    anchors (idempotent); None where the OpenSSL GOST engine or the ``openssl`` command is missing."""
    from gateway.adapters.xmlsec import gost

    if gost.provider() is None or shutil.which("openssl") is None:
        return None
    directory = pki.root_cert.parent / "gost"
    directory.mkdir(exist_ok=True)
    gost_pki = GostDevPki(
        root_cert=directory / "root-ca.pem",
        portal_key=directory / "portal-epgu.key",
        portal_cert=directory / "portal-epgu.pem",
        applicant_key=directory / "applicant-legal-entity.key",
        applicant_cert=directory / "applicant-legal-entity.pem",
    )
    if not all(p.exists() for p in vars(gost_pki).values()):
        _issue_gost(directory, gost_pki)
    root = gost_pki.root_cert.read_bytes()
    if root not in pki.trust_anchors.read_bytes():
        with pki.trust_anchors.open("ab") as anchors:
            anchors.write(root)
    return gost_pki


def _issue_gost(directory: Path, gost_pki: GostDevPki) -> None:
    config = directory / "openssl.cnf"
    config.write_text(_GOST_EXTENSIONS)
    engine = ("-engine", "gost")
    ca_key = directory / "root-ca.key"
    for key in (ca_key, gost_pki.portal_key, gost_pki.applicant_key):
        _openssl("genpkey", *engine, "-algorithm", "gost2012_256", "-pkeyopt", "paramset:A", "-out", key)
        key.chmod(0o600)
    _openssl(
        "req", *engine, "-config", config, "-x509", "-new", "-key", ca_key, "-days", "3650",
        "-subj", f"/CN=Appeals Gateway Dev GOST Root CA {secrets.token_hex(2)}",
        "-md_gost12_256", "-extensions", "ca", "-out", gost_pki.root_cert,
    )  # fmt: skip
    for key, cert, subject in (
        (gost_pki.portal_key, gost_pki.portal_cert, "/CN=EPGU Portal (dev)"),
        (gost_pki.applicant_key, gost_pki.applicant_cert,
         f"/CN=Representative (dev)/O=OOO Primer (dev)/OGRN={DEV_OGRN}"),
    ):  # fmt: skip
        csr = cert.with_suffix(".csr")
        _openssl("req", *engine, "-config", config, "-new", "-key", key, "-subj", subject, "-out", csr)
        _openssl(
            "x509", *engine, "-req", "-in", csr, "-CA", gost_pki.root_cert, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "730", "-md_gost12_256",
            "-extfile", config, "-extensions", "leaf", "-out", cert,
        )  # fmt: skip
        csr.unlink()
