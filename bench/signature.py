"""Signature verification in process, per suite: the pipeline against signxml, and each necessary step.

One ~12 KB envelope (10 KB of appeal text) per suite — RSA-2048, ECDSA P-256 (the dev PKI) and
GOST R 34.10-2012 256 (the dev PKI's GOST part, OpenSSL gost engine) — verified N times by
``EnvelopeVerifier.verify_portal`` (the pipeline) and by the signxml reference the tests keep
(``tests/xmlsec_reference.py``); then the pipeline's steps timed one by one: the hardened parse and
XSD (for scale), one exclusive C14N of the Message, its digest, SignedInfo's C14N, the signature
value, the chain, the re-parse of the canonical bytes. Also the GOST signature made by the hub.

Last line: {"bench":"signature","rsa":{...µs},"ec":{...},"gost-256":{...}} (median µs per step).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _harness import log, machine
from _signed import median_us, take_apart
from cryptography import x509
from lxml import etree

from gateway.adapters.pki import ensure_dev_pki, ensure_gost_dev_pki
from gateway.adapters.xmlsec import gost
from gateway.adapters.xmlsec.envelope import build_envelope, load_schema, validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import PORTAL, EnvelopeVerifier, _certificates
from gateway.adapters.xmlsec.signing import sign_envelope
from gateway.adapters.xmlsec.suites import CLASSIC, GOST, Anchors
from gateway.config import PROJECT_ROOT
from gateway.simulators.samples import message_header, sample_appeal

sys.path.insert(0, str(PROJECT_ROOT))
from tests.xmlsec_reference import reference_verify_slot

N = 400


def _median_us(action: Callable[[], object], n: int = N) -> float:
    return round(median_us(action, n), 1)


def _steps(envelope: bytes, anchors: Anchors, suite) -> dict[str, float]:
    p = take_apart(envelope)
    schema = load_schema(PROJECT_ROOT / "schemas" / "appeal-envelope-1.xsd")
    now = datetime.now(UTC)
    return {
        "parse_hardened": _median_us(lambda: parse_hardened(envelope, max_depth=48)),
        "xsd": _median_us(lambda: validate(p.root, schema)),
        "c14n_message": _median_us(lambda: etree.tostring(p.message, method="c14n", exclusive=True)),
        "digest": _median_us(lambda: suite.digest(p.digest_method, p.canonical)),
        "c14n_signed_info": _median_us(lambda: etree.tostring(p.signed_info, method="c14n", exclusive=True)),
        "signature_value": _median_us(
            lambda: suite.verify_value(p.certificates[0], p.method, p.signed_bytes, p.value)
        ),
        "chain": _median_us(lambda: suite.check_chain(p.certificates, anchors, now)),
        "certificate_parse": _median_us(lambda: _certificates(p.signature, PORTAL)),
        "reparse_signed": _median_us(lambda: etree.fromstring(p.canonical)),
    }


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-signature-"))
    pki = ensure_dev_pki(workdir / "pki")
    gost_pki = ensure_gost_dev_pki(pki)
    if gost_pki is None:
        sys.exit(gost.unavailable_reason())
    pem = pki.trust_anchors.read_bytes()
    verifier = EnvelopeVerifier(pem)
    anchors = Anchors(pem)
    store = x509.verification.Store([c for c in x509.load_pem_x509_certificates(pem) if not _is_gost(c)])
    unsigned = build_envelope(message_header("EPGU"), sample_appeal(1, text_size=10_000))
    signers = {
        "rsa": (pki.portal_rsa_key, pki.portal_rsa_cert, CLASSIC),
        "ec": (pki.portal_ec_key, pki.portal_ec_cert, CLASSIC),
        "gost-256": (gost_pki.portal_key, gost_pki.portal_cert, GOST),
    }
    results: dict[str, dict[str, float]] = {}
    for name, (key, cert, suite) in signers.items():
        key_pem, cert_pem = key.read_bytes(), cert.read_bytes()
        envelope = sign_envelope(unsigned, key_pem, cert_pem)
        log(f"{name}: envelope of {len(envelope)} bytes")
        root = parse_hardened(envelope, max_depth=48)
        figures = {
            "sign_envelope": _median_us(lambda k=key_pem, c=cert_pem: sign_envelope(unsigned, k, c), n=100),
            "pipeline_verify": _median_us(lambda r=root: verifier.verify_portal(r)),
        }
        if suite is CLASSIC:
            figures["signxml_verify"] = _median_us(lambda r=root: reference_verify_slot(r, PORTAL, store))
        figures |= _steps(envelope, anchors, suite)
        log(f"  {figures}")
        results[name] = figures
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    print(json.dumps({"bench": "signature", **results}))


def _is_gost(certificate: x509.Certificate) -> bool:
    return certificate.public_key_algorithm_oid.dotted_string.startswith("1.2.643.7.1.1.1.")


if __name__ == "__main__":
    main()
