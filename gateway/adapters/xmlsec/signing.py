"""Signing envelopes as the portal (and a legal entity's representative) do, and answers as an agency does.

Detached XMLDSig, one Reference by Id, exclusive C14N, SHA-256, RSA-SHA256 or ECDSA-SHA256
by key type, the signing certificate in X509Data — what any conforming implementation makes.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)

from gateway.adapters.xmlsec import answer
from gateway.adapters.xmlsec.envelope import q

EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0


@lru_cache(maxsize=8)
def _private_key(key_pem: bytes) -> PrivateKeyTypes:
    """Loading an RSA key checks its primes: 60 ms here, against 2 ms for the signature itself, and
    a signer (the SOAP cabinet connector, the simulators) signs with the same few keys again and again."""
    return load_pem_private_key(key_pem, password=None)


def detached_signature(element: etree._Element, key_pem: bytes, cert_pem: bytes) -> etree._Element:
    """A ds:Signature over ``element`` (by its ``Id``), for the caller to place in its container.

    ``element`` must already sit in its final document: the reference is resolved from its root.
    """
    key = _private_key(key_pem)
    method = (
        SignatureMethod.ECDSA_SHA256
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else SignatureMethod.RSA_SHA256
    )
    signer = XMLSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=EXC_C14N,
    )
    certificate = x509.load_pem_x509_certificate(cert_pem)
    reference = "#" + element.get("Id")
    return signer.sign(
        element.getroottree().getroot(),
        key=key,
        cert=[certificate],
        reference_uri=reference,
        id_attribute="Id",
    )


def sign_envelope(
    unsigned: bytes,
    portal_key_pem: bytes,
    portal_cert_pem: bytes,
    *,
    applicant_key_pem: bytes | None = None,
    applicant_cert_pem: bytes | None = None,
) -> bytes:
    """Sign the Appeal as the applicant (when keys are given), then the Message as the portal."""
    root = etree.fromstring(unsigned, etree.XMLParser(resolve_entities=False, no_network=True))
    message = root.find(q("Message"))
    if applicant_key_pem and applicant_cert_pem:
        container = message.find(q("ApplicantSignature"))
        if container is None:
            container = etree.Element(q("ApplicantSignature"))
            message.find(q("Appeal")).addnext(container)
        container[:] = [detached_signature(message.find(q("Appeal")), applicant_key_pem, applicant_cert_pem)]
    portal_container = root.find(q("PortalSignature"))
    portal_container[:] = [detached_signature(message, portal_key_pem, portal_cert_pem)]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sign_answer(unsigned: bytes, key_pem: bytes, cert_pem: bytes) -> bytes:
    """Sign the answer's Document as the agency, into its AgencySignature container."""
    root = etree.fromstring(unsigned, etree.XMLParser(resolve_entities=False, no_network=True))
    container = root.find(answer.q("AgencySignature"))
    container[:] = [detached_signature(root.find(answer.q("Document")), key_pem, cert_pem)]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
