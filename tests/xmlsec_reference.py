"""The reference verifier: the hub's signxml-based XMLDSig check as it was before the pipeline.

Kept in the tests only, as the yardstick ``test_signature_differential.py`` holds the pipeline in
``gateway/adapters/xmlsec/signature.py`` to: every RSA/EC document of the corpus must get the same
verdict from both. signxml does the cryptography here; the placement, reference and certificate
checks (shared code) are the hub's, as they were.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.util import X509CertChainVerifier

from gateway.adapters.xmlsec.signature import (
    Slot,
    Verified,
    _certificates,
    _check_certificate,
    _check_pinned,
)
from gateway.domain.errors import Code, Rejection

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = {"http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"}

_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
# Checked before signxml runs, so the refusal does not depend on the wording of its messages.
_SIGNATURE_METHOD_URIS = frozenset(m.value for m in _SIGNATURE_METHODS)
_DIGEST_URIS = frozenset(d.value for d in _DIGESTS)


def _require_digital_signature(_policy: object, _certificate: x509.Certificate, usage: x509.KeyUsage) -> None:
    """signxml's own rule for the signing certificate (KeyUsage present, digitalSignature set)."""
    if not usage.digital_signature:
        raise ValueError("certificate KeyUsage does not allow digitalSignature")


# Built once, with a plain function: signxml's defaults hold a bound method of the chain verifier
# inside a Rust object the garbage collector cannot see into, a cycle never collected, so every
# chain verifier (one per verified signature) stayed in memory: 2.3 KB per appeal pushed, found by
# bench/soak.py as a hub worker's RSS growing by ~45 MB/hour at 6 pushes/s.
_LEAF_POLICY = x509.verification.ExtensionPolicy.permit_all().require_present(
    x509.KeyUsage, x509.verification.Criticality.AGNOSTIC, _require_digital_signature
)
_CA_POLICY = x509.verification.ExtensionPolicy.webpki_defaults_ca()


class _AnchoredChainVerifier(X509CertChainVerifier):
    """signxml's chain verifier, with the trust store built once instead of read from a file per call,
    and the extension policies shared (see ``_LEAF_POLICY``)."""

    def __init__(self, store: x509.verification.Store, verification_time: datetime) -> None:
        super().__init__(
            ca_pem_file="unused", verification_time=verification_time,
            ee_policy=_LEAF_POLICY, ca_policy=_CA_POLICY,
        )  # fmt: skip
        self._store = store

    @property
    def store(self) -> x509.verification.Store:
        return self._store


class _Verifier(XMLVerifier):
    def __init__(self, store: x509.verification.Store) -> None:
        super().__init__()
        self._store = store

    def get_cert_chain_verifier(self, ca_pem_file, ee_policy, ca_policy):
        return _AnchoredChainVerifier(self._store, self._get_cert_verification_time())


def reference_verify_slot(
    root: etree._Element,
    slot: Slot,
    trust: x509.verification.Store | x509.Certificate,
    *,
    now: datetime | None = None,
) -> Verified | None:
    """The signature in ``slot`` verified, or None when its container is absent or empty.

    ``trust`` is either the trust anchors the signing certificate must chain to (portals,
    applicants), or one pinned certificate (an agency's registered one), which the signature must
    carry and is verified with: no chain is built, since a certificate the same CA issued to
    someone else must not pass. ``now`` fixes the moment certificates must be valid at.
    """
    now = now or datetime.now(UTC)
    container = root.find(slot.container)
    signature = container.find(f"{{{DS}}}Signature") if container is not None else None
    if signature is None or len(container) != 1:
        if container is not None and len(container):
            raise Rejection(
                Code.SIGNATURE_REFERENCE_INVALID, "unexpected content in the container", slot.pointer
            )
        return None
    target = root.find(slot.target)
    _check_references(signature, target, slot)
    certificates = _certificates(signature, slot)
    if isinstance(trust, x509.Certificate):
        _check_pinned(certificates, trust, slot)
        checked, verifier, pinned = [trust], XMLVerifier(), trust
    else:
        checked, verifier, pinned = certificates, _Verifier(trust), None
    for certificate in checked:
        _check_certificate(certificate, slot, now)
    config = SignatureConfiguration(
        location=slot.container + "/",
        expect_references=1,
        signature_methods=_SIGNATURE_METHODS,
        digest_algorithms=_DIGESTS,
        verification_time=now,
    )
    try:
        result = verifier.verify(root, x509_cert=pinned, expect_config=config, id_attribute="Id")
    except InvalidDigest:
        raise Rejection(
            Code.SIGNATURE_INVALID, "the signed content was altered after signing", slot.pointer
        ) from None
    except InvalidCertificate:
        raise Rejection(
            Code.CERTIFICATE_UNTRUSTED, "the certificate does not chain to a trust anchor", slot.pointer
        ) from None
    except InvalidSignature:
        raise Rejection(Code.SIGNATURE_INVALID, "the signature value does not verify", slot.pointer) from None
    except InvalidInput as exc:
        text = str(exc)
        if "not allowed" in text or "Unrecognized" in text or "not expected" in text.lower():
            raise Rejection(Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, text, slot.pointer) from None
        raise Rejection(Code.SIGNATURE_REFERENCE_INVALID, text, slot.pointer) from None
    except (ValueError, etree.DocumentInvalid) as exc:
        raise Rejection(
            Code.SIGNATURE_REFERENCE_INVALID, f"malformed signature: {exc}", slot.pointer
        ) from None
    signed = result.signed_xml
    if signed is None or signed.tag != target.tag:
        raise Rejection(
            Code.SIGNATURE_REFERENCE_INVALID, "the signature covers the wrong element", slot.pointer
        )
    key = result.signature_key
    signer = pinned if pinned is not None else next(c for c in certificates if _public_pem(c) == key)
    return Verified(signed, signer)


def _public_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _check_references(signature: etree._Element, target: etree._Element | None, slot: Slot) -> None:
    """One Reference, to the Id of the element this slot must cover, with exclusive C14N only."""
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    if signed_info is None:
        raise Rejection(Code.SIGNATURE_REFERENCE_INVALID, "the signature has no SignedInfo", slot.pointer)
    c14n = signed_info.find(f"{{{DS}}}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in EXC_C14N:
        raise Rejection(Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, "exclusive C14N is required", slot.pointer)
    method = signed_info.find(f"{{{DS}}}SignatureMethod")
    if method is None or method.get("Algorithm") not in _SIGNATURE_METHOD_URIS:
        raise Rejection(
            Code.SIGNATURE_ALGORITHM_NOT_ALLOWED,
            "RSA or ECDSA with SHA-256 or stronger is required",
            slot.pointer,
        )
    references = signed_info.findall(f"{{{DS}}}Reference")
    if len(references) != 1:
        raise Rejection(Code.SIGNATURE_REFERENCE_INVALID, "exactly one Reference is expected", slot.pointer)
    digest = references[0].find(f"{{{DS}}}DigestMethod")
    if digest is None or digest.get("Algorithm") not in _DIGEST_URIS:
        raise Rejection(
            Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, "a SHA-256 or stronger digest is required", slot.pointer
        )
    target_id = target.get("Id") if target is not None else None
    if not target_id or references[0].get("URI") != "#" + target_id:
        raise Rejection(
            Code.SIGNATURE_REFERENCE_INVALID,
            "the Reference must point at the signed element's Id",
            slot.pointer,
        )
    root = target.getroottree().getroot()
    if len(root.xpath("//*[@Id=$id]", id=target_id)) != 1:
        raise Rejection(
            Code.SIGNATURE_REFERENCE_INVALID, "the signed element's Id is not unique", slot.pointer
        )
    for transform in references[0].iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform"):
        if transform.get("Algorithm") not in EXC_C14N:
            raise Rejection(
                Code.SIGNATURE_ALGORITHM_NOT_ALLOWED,
                "only exclusive C14N transforms are allowed",
                slot.pointer,
            )
