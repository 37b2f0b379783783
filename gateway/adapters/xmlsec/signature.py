"""XMLDSig verification of signed documents: one pipeline for every signature suite.

This module pins *where* each signature must be and *what* it must cover, so a signature wrapping
attack finds nothing to exploit: the portal's signature must sit in ``/Envelope/PortalSignature``
and reference ``/Envelope/Message`` by its Id, the applicant's in
``/Envelope/Message/ApplicantSignature`` over ``/Envelope/Message/Appeal``.

Then it does the necessary work once, and nothing else: one canonicalisation of the referenced
element, its digest compared, SignedInfo canonicalised, the signature value and the certificate
chain checked by the suite the SignatureMethod names (``suites.py``: RSA/ECDSA, GOST), and the
canonical bytes re-parsed once, so that callers read only what was signed (no comment, no text
outside the signature). signxml, which serialises and re-parses the document about ten times per
verification, stays as the reference the tests compare this pipeline with, verdict for verdict.

Other signed documents (the agencies' answers) describe their own :class:`Slot` and call
:func:`check_placement` and :func:`verify_slot`, trusting anchors or one pinned certificate.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier
from lxml import etree

from gateway.adapters.xmlsec import gost
from gateway.adapters.xmlsec.envelope import q
from gateway.adapters.xmlsec.suites import CLASSIC, SUITES, Anchors, Suite, Untrusted
from gateway.domain.errors import Code, Rejection

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = {"http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"}
_EC = "http://www.w3.org/2001/10/xml-exc-c14n#"
OGRN_OID = ObjectIdentifier("1.2.643.100.1")
OGRNIP_OID = ObjectIdentifier("1.2.643.100.5")  # an individual entrepreneur's registration number
UNP_OID = ObjectIdentifier("1.2.112.1.2.1.1.1.1.2")
# Every suite this build knows; a verifier is given the ones its party may use (``Settings``).
ALL_SUITES: tuple[Suite, ...] = tuple(SUITES.values())
_per_thread = threading.local()


def _reparser() -> etree.XMLParser:
    """The parser of the canonical bytes, one per thread (an lxml parser serialises its users).

    Hardened as the intake's (no DTD can appear in C14N output anyway); large text is allowed since
    the caller already bounded the document's size.
    """
    parser = getattr(_per_thread, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, collect_ids=False)
        _per_thread.parser = parser
    return parser


@dataclass(frozen=True, slots=True)
class Verified:
    """The element a signature covers (re-parsed from the signed canonical bytes), who signed, with what."""

    signed_element: etree._Element
    certificate: x509.Certificate
    suite: str = CLASSIC.name


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
    """Verifies the envelope's signatures; build once per process from the trust-anchor PEM bundle.

    ``portal_suites`` and ``applicant_suites`` are the suites each party may sign with (all by default).
    """

    def __init__(
        self,
        trust_anchors_pem: bytes,
        *,
        portal_suites: Sequence[Suite] = ALL_SUITES,
        applicant_suites: Sequence[Suite] = ALL_SUITES,
    ) -> None:
        self._anchors = Anchors(trust_anchors_pem)
        self._portal_suites = tuple(portal_suites)
        self._applicant_suites = tuple(applicant_suites)

    def verify_portal(self, root: etree._Element) -> Verified:
        check_placement(root, (PORTAL, APPLICANT))
        result = verify_slot(root, PORTAL, self._anchors, suites=self._portal_suites)
        if result is None:
            raise Rejection(Code.SIGNATURE_MISSING, "the portal's signature is missing", PORTAL.pointer)
        return result

    def verify_applicant(self, root: etree._Element) -> Verified | None:
        """The legal entity's signature over the Appeal, or None when the envelope has none."""
        return verify_slot(root, APPLICANT, self._anchors, suites=self._applicant_suites)


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
    trust: Anchors | x509.Certificate,
    *,
    now: datetime | None = None,
    suites: Sequence[Suite] = ALL_SUITES,
) -> Verified | None:
    """The signature in ``slot`` verified, or None when its container is absent or empty.

    ``trust`` is either the trust anchors the signing certificate must chain to (portals,
    applicants), or one pinned certificate (an agency's registered one), which the signature must
    carry and is verified with: no chain is built, since a certificate the same CA issued to
    someone else must not pass. ``now`` fixes the moment certificates must be valid at;
    ``suites`` are the signature suites this party may use.
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
    plan = _check_references(signature, target, slot, suites)
    certificates = _certificates(signature, slot)
    pinned = isinstance(trust, x509.Certificate)
    if pinned:
        _check_pinned(certificates, trust, slot)
    for certificate in [trust] if pinned else certificates:
        _check_certificate(certificate, slot, now)
    signer = trust if pinned else _chain(plan.suite, certificates, trust, now, slot)
    if not plan.suite.key_fits(signer, plan.method):
        raise Rejection(
            Code.SIGNATURE_REFERENCE_INVALID,
            "the signature method does not match the certificate's key",
            slot.pointer,
        )
    value = _signature_value(signature, slot)
    signed_info = etree.tostring(
        plan.signed_info, method="c14n", exclusive=plan.exclusive, with_comments=plan.with_comments,
        inclusive_ns_prefixes=plan.signed_info_prefixes,
    )  # fmt: skip
    if not _suite_verifies(plan, signer, signed_info, value, slot):
        raise Rejection(Code.SIGNATURE_INVALID, "the signature value does not verify", slot.pointer)
    # A bare-name reference (#Id) excludes comments whatever the transform says (XMLDSig §4.4.3.3).
    canonical = etree.tostring(
        target, method="c14n", exclusive=plan.reference_exclusive, with_comments=False,
        inclusive_ns_prefixes=plan.reference_prefixes,
    )  # fmt: skip
    if not hmac.compare_digest(_suite_digest(plan, canonical, slot), plan.digest_value):
        raise Rejection(Code.SIGNATURE_INVALID, "the signed content was altered after signing", slot.pointer)
    return Verified(etree.fromstring(canonical, _reparser()), signer, plan.suite.name)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What SignedInfo asks for, checked against the slot and the party's suites."""

    suite: Suite
    signed_info: etree._Element
    method: str
    digest_method: str
    digest_value: bytes
    exclusive: bool
    with_comments: bool
    signed_info_prefixes: list[str] | None
    reference_exclusive: bool
    reference_prefixes: list[str] | None


def _prefixes(method: etree._Element) -> list[str] | None:
    """The InclusiveNamespaces PrefixList of an exclusive C14N method or transform, if any."""
    found = method.find(f"{{{_EC}}}InclusiveNamespaces")
    if found is None:
        return None
    return [("" if p == "#default" else p) for p in (found.get("PrefixList") or "").split()] or None


def _not_allowed(detail: str, slot: Slot) -> Rejection:
    return Rejection(Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, detail, slot.pointer)


def _check_references(
    signature: etree._Element, target: etree._Element | None, slot: Slot, suites: Sequence[Suite]
) -> _Plan:
    """One Reference, to the Id of the element this slot must cover, with exclusive C14N only, and
    SignatureMethod and DigestMethod of one suite the party may use (no mixing, no downgrade)."""
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    if signed_info is None:
        raise Rejection(Code.SIGNATURE_REFERENCE_INVALID, "the signature has no SignedInfo", slot.pointer)
    c14n = signed_info.find(f"{{{DS}}}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in EXC_C14N:
        raise _not_allowed("exclusive C14N is required", slot)
    method = signed_info.find(f"{{{DS}}}SignatureMethod")
    method_uri = method.get("Algorithm") if method is not None else None
    suite = next((s for s in suites if method_uri in s.signature_methods), None)
    if suite is None:
        allowed = ", ".join(s.name for s in suites)
        raise _not_allowed(f"the signature method is not among the allowed suites ({allowed})", slot)
    references = signed_info.findall(f"{{{DS}}}Reference")
    if len(references) != 1:
        raise Rejection(Code.SIGNATURE_REFERENCE_INVALID, "exactly one Reference is expected", slot.pointer)
    reference = references[0]
    digest = reference.find(f"{{{DS}}}DigestMethod")
    digest_uri = digest.get("Algorithm") if digest is not None else None
    if digest_uri not in suite.digest_methods:
        raise _not_allowed(f"the digest must be one of the {suite.name} suite's", slot)
    target_id = target.get("Id") if target is not None else None
    if not target_id or reference.get("URI") != "#" + target_id:
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
    transforms = list(reference.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform"))
    for transform in transforms:
        if transform.get("Algorithm") not in EXC_C14N:
            raise _not_allowed("only exclusive C14N transforms are allowed", slot)
    digest_text = reference.findtext(f"{{{DS}}}DigestValue") or ""
    return _Plan(
        suite=suite,
        signed_info=signed_info,
        method=method_uri,
        digest_method=digest_uri,
        digest_value=_base64(digest_text, slot),
        exclusive=True,
        with_comments=c14n.get("Algorithm").endswith("#WithComments"),
        signed_info_prefixes=_prefixes(c14n),
        # No transform: the node-set becomes octets by inclusive C14N (XMLDSig §4.3.3.2).
        reference_exclusive=bool(transforms),
        reference_prefixes=_prefixes(transforms[-1]) if transforms else None,
    )


def _base64(text: str, slot: Slot) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Rejection(
            Code.SIGNATURE_REFERENCE_INVALID, "malformed signature: a value is not base64", slot.pointer
        ) from None


def _signature_value(signature: etree._Element, slot: Slot) -> bytes:
    value = _base64(signature.findtext(f"{{{DS}}}SignatureValue") or "", slot)
    if not value:
        raise Rejection(
            Code.SIGNATURE_REFERENCE_INVALID, "malformed signature: the value is empty", slot.pointer
        )
    return value


def _chain(
    suite: Suite, certificates: list[x509.Certificate], anchors: Anchors, now: datetime, slot: Slot
) -> x509.Certificate:
    try:
        return suite.check_chain(certificates, anchors, now)
    except Untrusted:
        raise Rejection(
            Code.CERTIFICATE_UNTRUSTED, "the certificate does not chain to a trust anchor", slot.pointer
        ) from None
    except gost.GostError as exc:
        raise _unavailable(exc, slot) from None


def _unavailable(exc: gost.GostError, slot: Slot) -> Rejection:
    """The hub's GOST provider is missing: the signer did nothing wrong, the hub cannot check it."""
    return _not_allowed(f"this hub cannot verify GOST signatures: {exc}", slot)


def _suite_verifies(plan: _Plan, signer: x509.Certificate, data: bytes, value: bytes, slot: Slot) -> bool:
    try:
        return plan.suite.verify_value(signer, plan.method, data, value)
    except gost.GostError as exc:
        raise _unavailable(exc, slot) from None


def _suite_digest(plan: _Plan, data: bytes, slot: Slot) -> bytes:
    try:
        return plan.suite.digest(plan.digest_method, data)
    except gost.GostError as exc:
        raise _unavailable(exc, slot) from None


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
    """OGRN or OGRNIP (Russia) or UNP (Belarus) named in the subject, else its organizationIdentifier.

    Russian qualified certificates (GOST or not) also carry SNILS (1.2.643.100.3) and INN
    (1.2.643.3.131.1.1): personal identifiers, not the organisation's, so not read here.
    """
    for oid in (OGRN_OID, OGRNIP_OID, UNP_OID, NameOID.ORGANIZATION_IDENTIFIER):
        values = certificate.subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return None
