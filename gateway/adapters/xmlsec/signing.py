"""Signing envelopes as the portal (and a legal entity's representative) do, and answers as an agency does.

Detached XMLDSig, one Reference by Id, exclusive C14N, the signing certificate in X509Data — what
any conforming implementation makes. The algorithms follow the certificate's key: RSA-SHA256 or
ECDSA-SHA256 with a SHA-256 digest (made by signxml), or GOST R 34.10-2012 with Streebog of the
key's size, as SMEV 3 signs (made here: signxml knows no GOST; the arithmetic is the OpenSSL GOST
engine's, see ``gost.py``).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)

from gateway.adapters.xmlsec import answer, gost
from gateway.adapters.xmlsec.envelope import q
from gateway.adapters.xmlsec.suites import GOST_256, GOST_512, GOST_KEY_OIDS, STREEBOG_256, STREEBOG_512

EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
DS = "http://www.w3.org/2000/09/xmldsig#"


@lru_cache(maxsize=8)
def _private_key(key_pem: bytes) -> PrivateKeyTypes:
    """Loading an RSA key checks its primes: 60 ms here, against 2 ms for the signature itself, and
    a signer (the SOAP cabinet connector, the simulators) signs with the same few keys again and again."""
    return load_pem_private_key(key_pem, password=None)


def detached_signature(element: etree._Element, key_pem: bytes, cert_pem: bytes) -> etree._Element:
    """A ds:Signature over ``element`` (by its ``Id``), for the caller to place in its container.

    ``element`` must already sit in its final document: the reference is resolved from its root.
    """
    certificate = x509.load_pem_x509_certificate(cert_pem)
    bits = GOST_KEY_OIDS.get(certificate.public_key_algorithm_oid.dotted_string)
    if bits:
        return _gost_signature(element, key_pem, certificate, bits)
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
    reference = "#" + element.get("Id")
    return signer.sign(
        element.getroottree().getroot(),
        key=key,
        cert=[certificate],
        reference_uri=reference,
        id_attribute="Id",
    )


def _ds(parent: etree._Element, local: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{DS}}}{local}", attributes)


def _gost_signature(
    element: etree._Element, key_pem: bytes, certificate: x509.Certificate, bits: int
) -> etree._Element:
    """The GOST signature SMEV 3 makes: exclusive C14N, Streebog-``bits`` digest, GOST R 34.10-2012 value
    s‖r (RFC 4491 byte order, as the engine outputs it)."""
    provider = gost.provider()
    if provider is None:
        raise gost.GostError(gost.unavailable_reason() or "GOST signatures unavailable")
    signature = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=EXC_C14N.value)
    _ds(signed_info, "SignatureMethod", Algorithm=GOST_256 if bits == 256 else GOST_512)
    reference = _ds(signed_info, "Reference", URI="#" + element.get("Id"))
    _ds(_ds(reference, "Transforms"), "Transform", Algorithm=EXC_C14N.value)
    _ds(reference, "DigestMethod", Algorithm=STREEBOG_256 if bits == 256 else STREEBOG_512)
    canonical = etree.tostring(element, method="c14n", exclusive=True)
    _ds(reference, "DigestValue").text = base64.b64encode(provider.digest(bits, canonical)).decode()
    value = provider.sign(key_pem, bits, etree.tostring(signed_info, method="c14n", exclusive=True))
    _ds(signature, "SignatureValue").text = base64.b64encode(value).decode()
    der = certificate.public_bytes(Encoding.DER)
    _ds(_ds(_ds(signature, "KeyInfo"), "X509Data"), "X509Certificate").text = base64.b64encode(der).decode()
    return signature


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
