"""XMLDSig verification of pushed envelopes against the configured trust anchors only.

signxml does the cryptography; this module pins *where* each signature must be and *what* it
must cover, so a signature wrapping attack finds nothing to exploit: the portal's signature must
sit in ``/Envelope/PortalSignature`` and reference ``/Envelope/Message`` by its Id, the
applicant's in ``/Envelope/Message/ApplicantSignature`` over ``/Envelope/Message/Appeal``, and
callers read only the element signxml hands back as signed.

Other signed documents (the agencies' answers) describe their own :class:`Slot` and call
:func:`check_placement` and :func:`verify_slot`, trusting anchors or one pinned certificate.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID, ObjectIdentifier
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.util import X509CertChainVerifier

from gateway.adapters.xmlsec.envelope import q
from gateway.domain.errors import Code, Rejection

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = {"http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"}
OGRN_OID = ObjectIdentifier("1.2.643.100.1")
UNP_OID = ObjectIdentifier("1.2.112.1.2.1.1.1.1.2")

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


@dataclass(frozen=True, slots=True)
class Verified:
    """The element a signature covers (as signxml re-parsed it from the signed bytes) and who signed."""

    signed_element: etree._Element
    certificate: x509.Certificate


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


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one kind of signature lives and what it must cover."""

    container: str  # ElementPath from the root, e.g. "./{ns}PortalSignature"
    target: str  # ElementPath of the signed element from the root
    pointer: str  # for problem documents


PORTAL = Slot(f"./{q('PortalSignature')}", f"./{q('Message')}", "/PortalSignature")
APPLICANT = Slot(
    f"./{q('Message')}/{q('ApplicantSignature')}",
    f"./{q('Message')}/{q('Appeal')}",
    "/Message/ApplicantSignature",
)


class EnvelopeVerifier:
    """Verifies the envelope's signatures; build once per process from the trust-anchor PEM bundle."""

    def __init__(self, trust_anchors_pem: bytes) -> None:
        anchors = x509.load_pem_x509_certificates(trust_anchors_pem)
        self._store = x509.verification.Store(anchors)

    def verify_portal(self, root: etree._Element) -> Verified:
        check_placement(root, (PORTAL, APPLICANT))
        result = verify_slot(root, PORTAL, self._store)
        if result is None:
            raise Rejection(Code.SIGNATURE_MISSING, "the portal's signature is missing", PORTAL.pointer)
        return result

    def verify_applicant(self, root: etree._Element) -> Verified | None:
        """The legal entity's signature over the Appeal, or None when the envelope has none."""
        return verify_slot(root, APPLICANT, self._store)


def check_placement(root: etree._Element, slots: Sequence[Slot]) -> None:
    """Signatures are allowed in the document's slot containers only, and one per container."""
    allowed = {root.find(slot.container) for slot in slots} - {None}
    for signature in root.iter(f"{{{DS}}}Signature"):
        if signature.getparent() not in allowed:
            raise Rejection(
                Code.SIGNATURE_REFERENCE_INVALID, "a signature sits outside the signature containers"
            )
    for slot in slots:
        container = root.find(slot.container)
        if container is not None and len(container.findall(f"{{{DS}}}Signature")) > 1:
            raise Rejection(Code.SIGNATURE_AMBIGUOUS, "one signature per container is allowed", slot.pointer)


def verify_slot(
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


def _certificates(signature: etree._Element, slot: Slot) -> list[x509.Certificate]:
    texts = signature.findall(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    if not texts:
        raise Rejection(
            Code.CERTIFICATE_UNTRUSTED, "the signature carries no X.509 certificate", slot.pointer
        )
    try:
        return [
            x509.load_der_x509_certificate(base64.b64decode("".join((t.text or "").split()))) for t in texts
        ]
    except ValueError:
        raise Rejection(Code.CERTIFICATE_UNTRUSTED, "the certificate cannot be read", slot.pointer) from None


def _check_pinned(certificates: list[x509.Certificate], pinned: x509.Certificate, slot: Slot) -> None:
    """The signature must carry the pinned certificate itself (not merely one of the same issuer or name).

    Its key usage must state digitalSignature: with no chain policy to fall back on, a certificate
    silent on it (or a CA's) is not taken as one meant for signing documents.
    """
    if pinned not in certificates:
        raise Rejection(
            Code.CERTIFICATE_UNTRUSTED,
            "the signature does not carry the registered certificate",
            slot.pointer,
        )
    try:
        signs = pinned.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    except x509.ExtensionNotFound:
        signs = False
    if not signs:
        raise Rejection(
            Code.CERTIFICATE_KEY_USAGE, "the certificate may not be used for digital signatures", slot.pointer
        )


def _check_certificate(certificate: x509.Certificate, slot: Slot, now: datetime) -> None:
    """Give validity and key usage their own codes before the chain is built (signxml lumps them).

    Not yet valid is told apart from expired: a certificate issued minutes ago by a CA whose clock
    runs ahead of ours (or ours behind) is a clock problem to chase, not a certificate to renew.
    """
    if now < certificate.not_valid_before_utc:
        raise Rejection(
            Code.CERTIFICATE_NOT_YET_VALID,
            f"a certificate is valid from {certificate.not_valid_before_utc.isoformat()} only "
            f"(the hub's time is {now.isoformat(timespec='seconds')})",
            slot.pointer,
        )
    if now > certificate.not_valid_after_utc:
        raise Rejection(
            Code.CERTIFICATE_EXPIRED,
            f"a certificate expired at {certificate.not_valid_after_utc.isoformat()}",
            slot.pointer,
        )
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return  # a CA certificate included in the chain; the leaf is checked by the chain policy
    basic = _basic_constraints(certificate)
    if not (basic and basic.ca) and not usage.digital_signature:
        raise Rejection(
            Code.CERTIFICATE_KEY_USAGE, "the certificate may not be used for digital signatures", slot.pointer
        )


def _basic_constraints(certificate: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def certificate_cn(certificate: x509.Certificate) -> str | None:
    values = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def organisation_id(certificate: x509.Certificate) -> str | None:
    """OGRN (Russia) or UNP (Belarus) named in the subject, else its organizationIdentifier."""
    for oid in (OGRN_OID, UNP_OID, NameOID.ORGANIZATION_IDENTIFIER):
        values = certificate.subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return None
