"""The hub's signature on what it sends the cabinet: RFC 9421 HTTP Message Signatures for REST.

Why RFC 9421 rather than a detached JWS (RFC 7515, Appendix F): it signs the request, not just
its body: the method, the target URI (so a captured body cannot be replayed against another
appeal's URL), the Idempotency-Key and, through the RFC 9530 ``Content-Digest``, the body bytes,
which stay plain JSON. A JWS would cover the payload only unless both sides agreed on custom
protected headers for the rest. pyauth's ``http-message-signatures`` implements the RFC (signing,
verification, Content-Digest); any RFC 9421 implementation verifies what it makes.

The SOAP variant signs the Update element with XMLDSig instead (``gateway.adapters.xmlsec``),
the scheme the appeal envelope and the agencies' answers already use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

LABEL = "hub"
# Signed: names the contract and its version, so a signature is not reusable elsewhere.
TAGS = {1: "appeals-gateway-cabinet-1", 2: "appeals-gateway-cabinet-2"}
COVERED = ("@method", "@target-uri", "content-digest", "idempotency-key", "content-type")
LIFETIME = timedelta(minutes=5)  # each attempt signs afresh, so a short validity costs nothing


def thumbprint(certificate: x509.Certificate) -> str:
    """The keyid: lower-case hex SHA-256 of the certificate's DER, as receivers pin it."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def algorithm_for(public_key: object) -> type[algorithms.HTTPSignatureAlgorithm]:
    """RFC 9421's algorithm for the key: rsa-v1_5-sha256 for RSA, ecdsa-p256-sha256 for P-256."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return algorithms.RSA_V1_5_SHA256
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return algorithms.ECDSA_P256_SHA256
    raise ValueError("the hub's key must be RSA or ECDSA on P-256")


@dataclass(frozen=True)
class HubCredentials:
    """The hub's signing key and certificate, checked to belong together when loaded.

    A key that does not match its certificate would sign everything the cabinet then refuses:
    better to fail when the connector is built than on every delivery.
    """

    key_pem: bytes
    cert_pem: bytes
    certificate: x509.Certificate = field(init=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        key = load_pem_private_key(self.key_pem, password=None)
        certificate = x509.load_pem_x509_certificate(self.cert_pem)
        public = certificate.public_key()
        spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*spki) != public.public_bytes(*spki):
            raise ValueError("the hub's key does not match the hub's certificate")
        algorithm_for(public)
        object.__setattr__(self, "certificate", certificate)
        object.__setattr__(self, "key_id", thumbprint(certificate))


class RequestSigner:
    """Adds ``Content-Digest``, ``Signature-Input`` and ``Signature`` to a request about to be sent."""

    def __init__(self, credentials: HubCredentials, *, contract: int = 2) -> None:
        self.key_id = credentials.key_id
        self._tag = TAGS[contract]
        key = load_pem_private_key(credentials.key_pem, password=None)
        self._signer = HTTPMessageSigner(
            signature_algorithm=algorithm_for(credentials.certificate.public_key()),
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={self.key_id: key}),
        )

    def sign(self, request: httpx.Request, body: bytes, *, now: datetime | None = None) -> None:
        """Sign ``request`` in place; ``body`` must be the exact bytes it carries."""
        created = (now or datetime.now(UTC)).replace(microsecond=0)
        self._signer.sign(
            request,
            key_id=self.key_id,
            created=created,
            expires=created + LIFETIME,
            label=LABEL,
            tag=self._tag,
            covered_component_ids=COVERED,
            body=body,  # the library adds Content-Digest (sha-256) from these bytes
        )
