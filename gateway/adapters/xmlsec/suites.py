"""Signature suites: the algorithms one family of signatures uses, and the code that checks them.

The verification pipeline (``signature.py``) is the same for every suite: placement, reference, one
exclusive C14N, the digest, SignedInfo's C14N, the signature value, the chain. What differs by suite
is only what this module holds: which SignatureMethod and DigestMethod URIs it answers for, how a
digest is computed, how a signature value is checked with a certificate's key, and how a certificate
chain is checked against the trust anchors.

Two suites today: ``rsa-ecdsa`` (the ``cryptography`` package) and ``gost-2012`` (GOST R 34.10-2012
with Streebog, through the OpenSSL GOST engine, see ``gost.py``). Another provider — Belarus's
STB 34.101.45 (bign/belt), or a certified GOST provider such as CryptoPro CSP — is one more
:class:`Suite` registered in :data:`SUITES`; the service layer does not change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.adapters.xmlsec import gost

_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_ENC = "http://www.w3.org/2001/04/xmlenc#"
_CPXMLSEC = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:"

GOST_256 = _CPXMLSEC + "gostr34102012-gostr34112012-256"
GOST_512 = _CPXMLSEC + "gostr34102012-gostr34112012-512"
STREEBOG_256 = _CPXMLSEC + "gostr34112012-256"
STREEBOG_512 = _CPXMLSEC + "gostr34112012-512"
# GOST R 34.10-2012 public keys (256- and 512-bit), as SubjectPublicKeyInfo names them.
GOST_KEY_OIDS = {"1.2.643.7.1.1.1.1": 256, "1.2.643.7.1.1.1.2": 512}


class Untrusted(Exception):
    """The certificate does not chain to a trust anchor (the reason is for logs, not for clients)."""


class Suite(Protocol):
    name: str
    signature_methods: frozenset[str]
    digest_methods: frozenset[str]

    def digest(self, method: str, data: bytes) -> bytes: ...

    def key_fits(self, certificate: x509.Certificate, method: str) -> bool:
        """Whether ``certificate``'s key is of the kind ``method`` names (no relabelling of a signature)."""
        ...

    def verify_value(self, certificate: x509.Certificate, method: str, data: bytes, value: bytes) -> bool:
        """Whether ``value`` signs ``data`` with ``certificate``'s key under ``method``."""
        ...

    def check_chain(self, chain: list[x509.Certificate], anchors: Anchors, now: datetime) -> x509.Certificate:
        """The signing certificate of ``chain`` (leaf first or last), or :class:`Untrusted`."""
        ...


def _is_gost(certificate: x509.Certificate) -> bool:
    return certificate.public_key_algorithm_oid.dotted_string in GOST_KEY_OIDS


class Anchors:
    """The trust-anchor bundle, prepared once per process for every suite (RSA, EC and GOST anchors mixed)."""

    def __init__(self, pem: bytes) -> None:
        certificates = x509.load_pem_x509_certificates(pem)
        classic = [c for c in certificates if not _is_gost(c)]
        # cryptography's verifier cannot check a GOST signature, so GOST anchors stay out of its store.
        self.classic = x509.verification.Store(classic) if classic else None
        self._all_der = [c.public_bytes(Encoding.DER) for c in certificates]
        self._gost_store: gost.TrustStore | None = None

    def gost_store(self, provider: gost.Gost) -> gost.TrustStore:
        if self._gost_store is None:
            self._gost_store = provider.trust_store(self._all_der)
        return self._gost_store


def _require_digital_signature(_policy: object, _certificate: x509.Certificate, usage: x509.KeyUsage) -> None:
    """The signing certificate's KeyUsage must be present and allow digitalSignature (as signxml requires)."""
    if not usage.digital_signature:
        raise ValueError("certificate KeyUsage does not allow digitalSignature")


# Built once, with a plain function: a bound method inside these policies (signxml's default) formed
# a cycle through a Rust object the collector cannot see, and every chain verifier stayed in memory
# (2.3 KB per appeal, found by bench/soak.py).
_LEAF_POLICY = x509.verification.ExtensionPolicy.permit_all().require_present(
    x509.KeyUsage, x509.verification.Criticality.AGNOSTIC, _require_digital_signature
)
_CA_POLICY = x509.verification.ExtensionPolicy.webpki_defaults_ca()


def _orders(chain: list[x509.Certificate]) -> list[list[x509.Certificate]]:
    """X509Data does not fix an order: try leaf first, then leaf last (as signxml does)."""
    return [chain, chain[::-1]] if len(chain) > 1 else [chain]


_DIGESTS: dict[str, Callable[[bytes], object]] = {
    _ENC + "sha256": hashlib.sha256,
    _MORE + "sha384": hashlib.sha384,
    _ENC + "sha512": hashlib.sha512,
}
_CLASSIC_METHODS: dict[str, type[hashes.HashAlgorithm]] = {
    _MORE + "rsa-sha256": hashes.SHA256,
    _MORE + "rsa-sha384": hashes.SHA384,
    _MORE + "rsa-sha512": hashes.SHA512,
    _MORE + "ecdsa-sha256": hashes.SHA256,
    _MORE + "ecdsa-sha384": hashes.SHA384,
    _MORE + "ecdsa-sha512": hashes.SHA512,
}


class ClassicSuite:
    """RSA PKCS#1 v1.5 and ECDSA with SHA-2, checked by ``cryptography``; SHA-1 is not among them."""

    name = "rsa-ecdsa"
    signature_methods = frozenset(_CLASSIC_METHODS)
    digest_methods = frozenset(_DIGESTS)

    def digest(self, method: str, data: bytes) -> bytes:
        return _DIGESTS[method](data).digest()

    def key_fits(self, certificate: x509.Certificate, method: str) -> bool:
        try:
            key = certificate.public_key()
        except (UnsupportedAlgorithm, ValueError):
            return False
        kind = rsa.RSAPublicKey if "#rsa-" in method else ec.EllipticCurvePublicKey
        return isinstance(key, kind)

    def verify_value(self, certificate: x509.Certificate, method: str, data: bytes, value: bytes) -> bool:
        algorithm = _CLASSIC_METHODS[method]()
        try:
            key = certificate.public_key()
            if "#rsa-" in method and isinstance(key, rsa.RSAPublicKey):
                key.verify(value, data, padding.PKCS1v15(), algorithm)
            elif "#ecdsa-" in method and isinstance(key, ec.EllipticCurvePublicKey):
                size = (key.key_size + 7) // 8
                if len(value) != 2 * size:
                    return False
                r, s = int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
                key.verify(encode_dss_signature(r, s), data, ec.ECDSA(algorithm))
            else:
                return False  # the key is not of the method's type: no downgrade by relabelling
        except (InvalidSignature, UnsupportedAlgorithm, ValueError):
            return False
        return True

    def check_chain(self, chain: list[x509.Certificate], anchors: Anchors, now: datetime) -> x509.Certificate:
        if anchors.classic is None:
            raise Untrusted("no RSA or EC trust anchor is configured")
        verifier = (
            x509.verification.PolicyBuilder()
            .store(anchors.classic)
            .time(now)
            .extension_policies(ee_policy=_LEAF_POLICY, ca_policy=_CA_POLICY)
            .build_client_verifier()
        )
        reason = "no chain"
        for ordered in _orders(chain):
            try:
                return verifier.verify(ordered[0], ordered[1:]).chain[0]
            except (x509.verification.VerificationError, ValueError, UnsupportedAlgorithm) as exc:
                reason = str(exc)
        raise Untrusted(reason)


@dataclass(frozen=True)
class GostSuite:
    """GOST R 34.10-2012 (256 and 512) with GOST R 34.11-2012 (Streebog), as SMEV 3 and CryptoPro use them.

    The SignatureValue is the 64 (128) octets s‖r, each big-endian (RFC 4491 §2.2.2, RFC 9215 and
    the methodical recommendations MR 26.2.001): exactly what the OpenSSL engine signs and verifies.
    The DigestValue is the Streebog hash as the engine (and CryptoPro) output it.
    """

    name: str = "gost-2012"
    signature_methods: frozenset[str] = frozenset({GOST_256, GOST_512})
    digest_methods: frozenset[str] = frozenset({STREEBOG_256, STREEBOG_512})

    @staticmethod
    def _provider() -> gost.Gost:
        provider = gost.provider()
        if provider is None:
            raise gost.GostError(gost.unavailable_reason() or "GOST signatures unavailable")
        return provider

    def digest(self, method: str, data: bytes) -> bytes:
        return self._provider().digest(256 if method == STREEBOG_256 else 512, data)

    def key_fits(self, certificate: x509.Certificate, method: str) -> bool:
        bits = 256 if method == GOST_256 else 512
        return GOST_KEY_OIDS.get(certificate.public_key_algorithm_oid.dotted_string) == bits

    def verify_value(self, certificate: x509.Certificate, method: str, data: bytes, value: bytes) -> bool:
        bits = 256 if method == GOST_256 else 512
        if not self.key_fits(certificate, method):
            return False
        try:
            return self._provider().verify(certificate.public_bytes(Encoding.DER), bits, data, value)
        except gost.GostError:
            return False

    def check_chain(self, chain: list[x509.Certificate], anchors: Anchors, now: datetime) -> x509.Certificate:
        store = anchors.gost_store(self._provider())
        der = [c.public_bytes(Encoding.DER) for c in chain]
        reason = "no chain"
        for ordered, ordered_der in zip(_orders(chain), _orders(der), strict=True):  # type: ignore[arg-type]
            try:
                failure = store.check(ordered_der[0], ordered_der[1:], now)
            except gost.GostError as exc:
                failure = str(exc)
            if failure is None:
                return ordered[0]
            reason = failure
        raise Untrusted(reason)


CLASSIC = ClassicSuite()
GOST = GostSuite()
SUITES: dict[str, Suite] = {CLASSIC.name: CLASSIC, GOST.name: GOST}


def suites_named(names: Iterable[str]) -> tuple[Suite, ...]:
    """The suites a configuration names, in its order; an unknown name is the operator's error."""
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        raise ValueError(f"unknown signature suite(s) {unknown}; known: {sorted(SUITES)}")
    return tuple(SUITES[name] for name in names)
