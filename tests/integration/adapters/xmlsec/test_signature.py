"""XMLDSig on the appeal envelope: interoperability with xmlsec1 and every refusal, with its exact code.

No database: the dev PKI lives in temporary files, the hub's adapters run in-process. Signatures come
from three independent signers so that no test only checks signxml against itself: the hub's own
``sign_envelope`` (signxml), the xmlsec1 command-line tool, and a minimal hand-rolled signer used to
vary one algorithm at a time.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import gc
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from lxml import etree

from gateway.adapters.pki import DEV_OGRN, issue_certificate, make_ca
from gateway.adapters.xmlsec.envelope import NS, build_envelope, load_schema, q, read_message, validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import EnvelopeVerifier, organisation_id
from gateway.adapters.xmlsec.signing import sign_envelope
from gateway.config import PROJECT_ROOT
from gateway.domain.errors import Code, Rejection
from gateway.domain.identity import check_identity
from gateway.domain.model import ApplicantType, Jurisdiction
from gateway.simulators.samples import message_header, sample_appeal

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
# SHA-1 deliberately: the hub must refuse signatures made with it.
_HASHES = {
    RSA_SHA256: hashes.SHA256(),
    RSA_SHA1: hashes.SHA1(),  # noqa: S303
    SHA256: hashlib.sha256,
    SHA1: hashlib.sha1,
}

SCHEMA = PROJECT_ROOT / "schemas" / "appeal-envelope-1.xsd"
MAX_DEPTH = 48  # Settings.max_xml_depth
SUBJECT = sample_appeal().subject
FORGED = "FORGED-BY-AN-ATTACKER"
OTHER_OGRN = "1157746000001"
PORTAL = "/PortalSignature"
APPLICANT = "/Message/ApplicantSignature"


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verifier(dev_pki) -> EnvelopeVerifier:
    return EnvelopeVerifier(dev_pki.trust_anchors.read_bytes())


@pytest.fixture(scope="module")
def rsa_portal(dev_pki) -> tuple[bytes, bytes]:
    return dev_pki.portal_rsa_key.read_bytes(), dev_pki.portal_rsa_cert.read_bytes()


@pytest.fixture(scope="module")
def applicant(dev_pki) -> tuple[bytes, bytes]:
    return dev_pki.applicant_key.read_bytes(), dev_pki.applicant_cert.read_bytes()


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return build_envelope(message_header("EPGU"), sample_appeal())


@pytest.fixture(scope="module")
def unsigned_legal() -> bytes:
    return build_envelope(message_header("EPGU"), sample_appeal(applicant_type=ApplicantType.LEGAL_ENTITY))


@pytest.fixture(scope="module")
def signed(unsigned, rsa_portal) -> bytes:
    return sign_envelope(unsigned, *rsa_portal)


@pytest.fixture(scope="module")
def signed_legal(unsigned_legal, rsa_portal, applicant) -> bytes:
    key, cert = applicant
    return sign_envelope(unsigned_legal, *rsa_portal, applicant_key_pem=key, applicant_cert_pem=cert)


# --- helpers --------------------------------------------------------------------------------------


def _root(data: bytes) -> etree._Element:
    """What the intake hands the verifier: the hardened parse of the raw bytes."""
    return parse_hardened(data, max_depth=MAX_DEPTH)


def _refusal(check, root: etree._Element) -> Rejection:
    with pytest.raises(Rejection) as refused:
        check(root)
    return refused.value


def _ds(parent: etree._Element | None, local: str, **attributes: str) -> etree._Element:
    if parent is None:
        return etree.Element(f"{{{DS}}}{local}", attributes, nsmap={"ds": DS})
    return etree.SubElement(parent, f"{{{DS}}}{local}", attributes)


def _template(
    reference_id: str,
    *,
    method: str = RSA_SHA256,
    digest: str = SHA256,
    c14n: str = EXC_C14N,
    transforms: tuple[str, ...] = (EXC_C14N,),
) -> etree._Element:
    """An empty detached ds:Signature as the contract in signature.py describes it (xmlsec1 fills it)."""
    signature = _ds(None, "Signature")
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=c14n)
    _ds(signed_info, "SignatureMethod", Algorithm=method)
    reference = _ds(signed_info, "Reference", URI="#" + reference_id)
    transforms_el = _ds(reference, "Transforms")
    for algorithm in transforms:
        _ds(transforms_el, "Transform", Algorithm=algorithm)
    _ds(reference, "DigestMethod", Algorithm=digest)
    _ds(reference, "DigestValue")
    _ds(signature, "SignatureValue")
    _ds(_ds(signature, "KeyInfo"), "X509Data")
    return signature


def _hand_sign(data: bytes, key_pem: bytes, cert_pem: bytes, **algorithms: str | tuple[str, ...]) -> bytes:
    """Sign the Message as the portal with explicit algorithms (RSA only), bypassing signxml's policy."""
    root = etree.fromstring(data)
    message = root.find(q("Message"))
    signature = _template(message.get("Id"), **algorithms)
    root.find(q("PortalSignature")).append(signature)
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    digest = signed_info.find(f".//{{{DS}}}DigestMethod").get("Algorithm")
    canonical = etree.tostring(message, method="c14n", exclusive=True)
    signed_info.find(f".//{{{DS}}}DigestValue").text = base64.b64encode(
        _HASHES[digest](canonical).digest()
    ).decode()
    exclusive = signed_info.find(f"{{{DS}}}CanonicalizationMethod").get("Algorithm") == EXC_C14N
    method = signed_info.find(f"{{{DS}}}SignatureMethod").get("Algorithm")
    value = load_pem_private_key(key_pem, password=None).sign(
        etree.tostring(signed_info, method="c14n", exclusive=exclusive), padding.PKCS1v15(), _HASHES[method]
    )
    signature.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    _ds(signature.find(f".//{{{DS}}}X509Data"), "X509Certificate").text = base64.b64encode(der).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, check=False)


def _xmlsec1_sign(
    tool: str, tmp: Path, document: bytes, container: str, signed_local: str, key: Path, cert: Path
) -> bytes:
    """Let xmlsec1 fill the template in ``container``, resolving Ids on ``signed_local`` elements."""
    template, output = tmp / f"{container}-template.xml", tmp / f"{container}-signed.xml"
    template.write_bytes(document)
    result = _run(
        tool, "--sign", "--privkey-pem", f"{key},{cert}",
        "--id-attr:Id", f"{NS}:{signed_local}",
        "--node-xpath", f"//*[local-name()='{container}']/*[local-name()='Signature']",
        "--output", output, template,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return output.read_bytes()


def _xmlsec1_verify(tool: str, envelope: Path, trusted: Path, container: str) -> subprocess.CompletedProcess:
    return _run(
        tool, "--verify", "--trusted-pem", trusted,
        "--id-attr:Id", f"{NS}:Message", "--id-attr:Id", f"{NS}:Appeal",
        "--node-xpath", f"//*[local-name()='{container}']/*[local-name()='Signature']",
        envelope,
    )  # fmt: skip


def _subject(message: etree._Element) -> str | None:
    return message.findtext(f"{q('Appeal')}/{q('Subject')}")


# --- interoperability -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "key_attr", "cert_attr"),
    [(RSA_SHA256, "portal_rsa_key", "portal_rsa_cert"), (ECDSA_SHA256, "portal_ec_key", "portal_ec_cert")],
    ids=["rsa-sha256", "ecdsa-sha256"],
)
def test_an_envelope_signed_by_xmlsec1_verifies(
    xmlsec1, tmp_path, dev_pki, verifier, method, key_attr, cert_attr
):
    """A conforming third-party signer (not signxml) must be accepted: the hub's contract is the spec."""
    header = message_header("EPGU")
    root = etree.fromstring(build_envelope(header, sample_appeal(), message_xml_id="msg-7f3a"))
    root.find(q("PortalSignature")).append(_template("msg-7f3a", method=method))
    signed = _xmlsec1_sign(
        xmlsec1, tmp_path, etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
        "PortalSignature", "Message", getattr(dev_pki, key_attr), getattr(dev_pki, cert_attr),
    )  # fmt: skip

    parsed = _root(signed)
    validate(parsed, load_schema(SCHEMA))
    verified = verifier.verify_portal(parsed)

    assert verified.signed_element.tag == q("Message")
    assert verified.certificate == x509.load_pem_x509_certificate(getattr(dev_pki, cert_attr).read_bytes())
    assert read_message(verified.signed_element)[0] == header
    assert verifier.verify_applicant(parsed) is None


def test_a_legal_entity_envelope_cosigned_by_xmlsec1_verifies(xmlsec1, tmp_path, dev_pki, verifier):
    """Both slots interoperate: the applicant's signature over the Appeal, then the portal's over it all."""
    root = etree.fromstring(
        build_envelope(message_header("EPGU"), sample_appeal(applicant_type=ApplicantType.LEGAL_ENTITY))
    )
    container = etree.Element(q("ApplicantSignature"))
    container.append(_template("appeal"))
    root.find(q("Message")).append(container)
    root.find(q("PortalSignature")).append(_template("message"))
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for container_name, signed_local, key, cert in (
        ("ApplicantSignature", "Appeal", dev_pki.applicant_key, dev_pki.applicant_cert),
        ("PortalSignature", "Message", dev_pki.portal_rsa_key, dev_pki.portal_rsa_cert),
    ):  # the applicant signs first: the portal's signature covers the applicant's
        document = _xmlsec1_sign(xmlsec1, tmp_path, document, container_name, signed_local, key, cert)

    parsed = _root(document)
    validate(parsed, load_schema(SCHEMA))
    assert verifier.verify_portal(parsed).signed_element.tag == q("Message")
    verified = verifier.verify_applicant(parsed)
    assert verified is not None
    assert verified.signed_element.tag == q("Appeal")
    assert organisation_id(verified.certificate) == DEV_OGRN


@pytest.mark.parametrize(
    ("key_attr", "cert_attr"),
    [("portal_rsa_key", "portal_rsa_cert"), ("portal_ec_key", "portal_ec_cert")],
    ids=["rsa", "ecdsa"],
)
def test_an_envelope_signed_by_the_hub_verifies_with_xmlsec1(
    xmlsec1, tmp_path, dev_pki, unsigned_legal, applicant, key_attr, cert_attr
):
    """The reverse direction: what sign_envelope produces is standard XMLDSig an external tool accepts."""
    key, cert = applicant
    envelope = tmp_path / "envelope.xml"
    envelope.write_bytes(
        sign_envelope(
            unsigned_legal,
            getattr(dev_pki, key_attr).read_bytes(),
            getattr(dev_pki, cert_attr).read_bytes(),
            applicant_key_pem=key,
            applicant_cert_pem=cert,
        )
    )
    for container in ("PortalSignature", "ApplicantSignature"):
        result = _xmlsec1_verify(xmlsec1, envelope, dev_pki.root_cert, container)
        assert result.returncode == 0, f"{container}: {result.stderr}"
        assert "References (ok/all): 1/1" in result.stderr

    # The external check has teeth: a foreign anchor and a tampered byte both fail it.
    foreign = tmp_path / "foreign-root.pem"
    foreign.write_bytes(make_ca("Foreign Root CA")[1])
    assert _xmlsec1_verify(xmlsec1, envelope, foreign, "PortalSignature").returncode != 0
    envelope.write_bytes(envelope.read_bytes().replace(SUBJECT.encode(), FORGED.encode()))
    assert _xmlsec1_verify(xmlsec1, envelope, dev_pki.root_cert, "PortalSignature").returncode != 0


def test_the_hand_rolled_signer_is_accepted_as_a_control(verifier, unsigned, rsa_portal):
    """The algorithm refusals below change one algorithm only; with the allowed ones it verifies."""
    verified = verifier.verify_portal(_root(_hand_sign(unsigned, *rsa_portal)))
    assert _subject(verified.signed_element) == SUBJECT


def test_verifying_leaves_nothing_behind(verifier, signed_legal):
    """Each verification once left its chain verifier in memory for good (signxml's extension
    policies held a bound method of it, a cycle through an object the collector cannot see): 2.3 KB
    per appeal pushed, for as long as the worker ran (found by ``bench/soak.py``). The pipeline's
    chain check must not grow the heap either: fifty verifications leave no objects behind."""

    def alive() -> int:
        gc.collect()
        return len(gc.get_objects())

    for _ in range(3):  # warm caches (schemas, interned names) first
        root = _root(signed_legal)
        verifier.verify_portal(root)
        verifier.verify_applicant(root)
    before = alive()
    for _ in range(50):
        root = _root(signed_legal)
        verifier.verify_portal(root)
        verifier.verify_applicant(root)
    del root
    assert alive() - before < 50  # one object kept per verification would be 100


# --- altered content and certificates -------------------------------------------------------------


def test_tampered_text_is_refused(verifier, signed):
    refusal = _refusal(verifier.verify_portal, _root(signed.replace(SUBJECT.encode(), FORGED.encode())))
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_INVALID, PORTAL)


def test_a_tampered_signature_value_is_refused(verifier, signed):
    root = _root(signed)
    value = root.find(f"{q('PortalSignature')}/{{{DS}}}Signature/{{{DS}}}SignatureValue")
    raw = bytearray(base64.b64decode(value.text))
    raw[10] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    refusal = _refusal(verifier.verify_portal, root)
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_INVALID, PORTAL)


def test_a_certificate_from_an_unknown_ca_is_refused(verifier, unsigned):
    foreign_key, foreign_cert = make_ca("Appeals Gateway Dev Root CA")  # same-looking name, other key
    key, cert = issue_certificate(foreign_key, foreign_cert, "EPGU Portal (dev)")
    refusal = _refusal(verifier.verify_portal, _root(sign_envelope(unsigned, key, cert)))
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_UNTRUSTED, PORTAL)


# Days from now of notBefore and notAfter, and the refusal: a clock problem is told from an old certificate.
VALIDITY = {
    "expired": (-30, -1, Code.CERTIFICATE_EXPIRED),
    "not-yet-valid": (1, 30, Code.CERTIFICATE_NOT_YET_VALID),
}


def _issued(root_ca: tuple[bytes, bytes], case: str, common_name: str, **kwargs) -> tuple[bytes, bytes]:
    starts, ends, _ = VALIDITY[case]
    now = dt.datetime.now(dt.UTC)
    return issue_certificate(
        *root_ca,
        common_name,
        not_before=now + dt.timedelta(days=starts),
        not_after=now + dt.timedelta(days=ends),
        **kwargs,
    )


@pytest.mark.parametrize("case", list(VALIDITY))
def test_a_certificate_outside_its_validity_is_refused(verifier, unsigned, root_ca, case):
    key, cert = _issued(root_ca, case, "EPGU Portal (dev)")
    refusal = _refusal(verifier.verify_portal, _root(sign_envelope(unsigned, key, cert)))
    assert (refusal.code, refusal.pointer) == (VALIDITY[case][2], PORTAL)
    certificate = x509.load_pem_x509_certificate(cert)
    bound = certificate.not_valid_before_utc if case == "not-yet-valid" else certificate.not_valid_after_utc
    assert bound.isoformat() in refusal.detail  # the operator sees which bound, and when


@pytest.mark.parametrize("case", list(VALIDITY))
def test_an_applicant_certificate_outside_its_validity_is_refused(
    verifier, unsigned_legal, rsa_portal, root_ca, case
):
    key, cert = _issued(root_ca, case, "Representative (dev)", ogrn=DEV_OGRN)
    root = _root(sign_envelope(unsigned_legal, *rsa_portal, applicant_key_pem=key, applicant_cert_pem=cert))
    verifier.verify_portal(root)
    refusal = _refusal(verifier.verify_applicant, root)
    assert (refusal.code, refusal.pointer) == (VALIDITY[case][2], APPLICANT)


def test_an_envelope_xmlsec1_signed_with_a_not_yet_valid_certificate_is_named_so(
    xmlsec1, tmp_path, verifier, root_ca
):
    """The code does not depend on signxml having signed: xmlsec1 signs, the hub names the cause."""
    key, cert = (tmp_path / "portal.key", tmp_path / "portal.pem")
    for path, pem in zip((key, cert), _issued(root_ca, "not-yet-valid", "EPGU Portal (dev)"), strict=True):
        path.write_bytes(pem)
    root = etree.fromstring(build_envelope(message_header("EPGU"), sample_appeal(), message_xml_id="msg-1"))
    root.find(q("PortalSignature")).append(_template("msg-1"))
    signed = _xmlsec1_sign(
        xmlsec1, tmp_path, etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
        "PortalSignature", "Message", key, cert,
    )  # fmt: skip
    refusal = _refusal(verifier.verify_portal, _root(signed))
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_NOT_YET_VALID, PORTAL)


def test_a_certificate_without_digital_signature_usage_is_refused(verifier, unsigned, root_ca):
    key, cert = issue_certificate(*root_ca, "EPGU Portal (dev)", key_usage_digital_signature=False)
    refusal = _refusal(verifier.verify_portal, _root(sign_envelope(unsigned, key, cert)))
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_KEY_USAGE, PORTAL)


# --- signature wrapping ---------------------------------------------------------------------------


def _wrap_in_object(root: etree._Element, forged: etree._Element, original: etree._Element) -> None:
    signature = root.find(f"{q('PortalSignature')}/{{{DS}}}Signature")
    _ds(signature, "Object").append(original)
    root.insert(0, forged)


def _wrap_in_container(root: etree._Element, forged: etree._Element, original: etree._Element) -> None:
    etree.SubElement(root.find(q("PortalSignature")), f"{{{DS}}}Object").append(original)
    root.insert(0, forged)


def _wrap_after_envelope(root: etree._Element, forged: etree._Element, original: etree._Element) -> None:
    root.insert(0, forged)
    etree.SubElement(root, q("Wrapper")).append(original)


@pytest.mark.parametrize(
    ("wrap", "forged_id"),
    [
        (_wrap_in_object, "message"),
        (_wrap_in_object, "forged"),
        (_wrap_in_object, None),
        (_wrap_in_container, "message"),
        (_wrap_after_envelope, "message"),
    ],
    ids=["object-same-id", "object-new-id", "object-no-id", "container-sibling", "envelope-wrapper"],
)
def test_signature_wrapping_never_yields_forged_content(verifier, signed, wrap, forged_id):
    """The signed Message moves into a wrapper and a forged one takes its place.

    Refusal is the expected outcome; should the hub ever accept, it must hand back the original
    signed Message — callers read only ``signed_element``, so forged content must never be in it.
    """
    root = _root(signed)
    original = root.find(q("Message"))
    forged = copy.deepcopy(original)
    forged.find(f"{q('Appeal')}/{q('Subject')}").text = FORGED
    if forged_id is None:
        del forged.attrib["Id"]
    else:
        forged.set("Id", forged_id)
    wrap(root, forged, original)
    assert root.find(q("Message")) is forged

    try:
        verified = verifier.verify_portal(root)
    except Rejection as refusal:
        assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_REFERENCE_INVALID, PORTAL)
    else:
        assert FORGED not in etree.tostring(verified.signed_element, encoding="unicode")
        assert _subject(verified.signed_element) == SUBJECT


def test_a_comment_splitting_signed_text_cannot_truncate_what_the_hub_reads(verifier, signed):
    """Comments are outside C14N, so this still verifies; the hub must read the whole signed text."""
    head, tail = SUBJECT.split(" ", 1)
    root = _root(signed.replace(SUBJECT.encode(), f"{head} <!-- -->{tail}".encode()))
    assert _subject(root.find(q("Message"))) == head + " "  # a naive reader would see a truncated value

    verified = verifier.verify_portal(root)

    assert _subject(verified.signed_element) == SUBJECT
    assert read_message(verified.signed_element)[1].subject == SUBJECT


def test_a_signature_outside_the_containers_is_refused(verifier, signed):
    root = _root(signed)
    stray = copy.deepcopy(root.find(f"{q('PortalSignature')}/{{{DS}}}Signature"))
    root.find(f"{q('Message')}/{q('Appeal')}").append(stray)
    refusal = _refusal(verifier.verify_portal, root)
    assert refusal.code == Code.SIGNATURE_REFERENCE_INVALID


# --- ambiguous, missing, unidentified -------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "pointer"), [("PortalSignature", PORTAL), ("ApplicantSignature", APPLICANT)]
)
def test_two_signatures_in_one_container_are_ambiguous(verifier, signed_legal, container, pointer):
    root = _root(signed_legal)
    slot = next(root.iter(q(container)))
    slot.append(copy.deepcopy(slot[0]))
    refusal = _refusal(verifier.verify_portal, root)
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_AMBIGUOUS, pointer)


@pytest.mark.parametrize("remove_container", [False, True], ids=["empty-container", "no-container"])
def test_a_missing_portal_signature_is_refused(verifier, signed, remove_container):
    root = _root(signed)
    container = root.find(q("PortalSignature"))
    if remove_container:
        root.remove(container)
    else:
        container.remove(container[0])
    refusal = _refusal(verifier.verify_portal, root)
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_MISSING, PORTAL)


@pytest.mark.parametrize(("element", "pointer"), [("Message", "/Message"), ("Appeal", "/Message/Appeal")])
def test_a_missing_id_attribute_is_a_schema_violation(signed, element, pointer):
    root = _root(signed)
    del next(root.iter(q(element))).attrib["Id"]
    with pytest.raises(Rejection) as refused:
        validate(root, load_schema(SCHEMA))
    assert (refused.value.code, refused.value.pointer) == (Code.SCHEMA_VIOLATION, pointer)


def test_the_verifier_refuses_a_message_without_id_on_its_own(verifier, signed):
    """Defence in depth: even without schema validation, an unidentified Message cannot be matched."""
    root = _root(signed)
    del root.find(q("Message")).attrib["Id"]
    refusal = _refusal(verifier.verify_portal, root)
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_REFERENCE_INVALID, PORTAL)


# --- algorithms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithms",
    [{"method": RSA_SHA1}, {"digest": SHA1}, {"method": RSA_SHA1, "digest": SHA1}],
    ids=["rsa-sha1", "sha1-digest", "both"],
)
def test_sha1_is_not_allowed(verifier, unsigned, rsa_portal, algorithms):
    refusal = _refusal(verifier.verify_portal, _root(_hand_sign(unsigned, *rsa_portal, **algorithms)))
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, PORTAL)


@pytest.mark.parametrize(
    "algorithms",
    [{"c14n": INCLUSIVE_C14N}, {"transforms": (ENVELOPED, EXC_C14N)}, {"transforms": (INCLUSIVE_C14N,)}],
    ids=["inclusive-c14n", "enveloped-transform", "inclusive-transform"],
)
def test_only_exclusive_c14n_is_allowed(verifier, unsigned, rsa_portal, algorithms):
    refusal = _refusal(verifier.verify_portal, _root(_hand_sign(unsigned, *rsa_portal, **algorithms)))
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, PORTAL)


# --- the applicant's signature --------------------------------------------------------------------


def test_the_applicant_signature_names_the_organisation(verifier, signed_legal):
    root = _root(signed_legal)
    portal = verifier.verify_portal(root)
    verified = verifier.verify_applicant(root)

    assert verified is not None
    assert verified.signed_element.tag == q("Appeal")
    org_id = organisation_id(verified.certificate)
    assert org_id == DEV_OGRN
    check_identity(read_message(portal.signed_element)[1], Jurisdiction.RU, org_id)  # accepted


def test_an_applicant_certificate_of_another_organisation_is_reported_as_such(
    verifier, unsigned_legal, rsa_portal, root_ca
):
    """The adapter verifies the signature and reports the certificate's OGRN; the domain refuses it."""
    key, cert = issue_certificate(
        *root_ca, "Representative (other)", ogrn=OTHER_OGRN, organisation_name="OOO Drugoe"
    )
    root = _root(sign_envelope(unsigned_legal, *rsa_portal, applicant_key_pem=key, applicant_cert_pem=cert))
    portal = verifier.verify_portal(root)
    verified = verifier.verify_applicant(root)

    assert verified is not None
    assert verified.certificate == x509.load_pem_x509_certificate(cert)
    assert organisation_id(verified.certificate) == OTHER_OGRN
    with pytest.raises(Rejection) as refused:
        check_identity(
            read_message(portal.signed_element)[1], Jurisdiction.RU, organisation_id(verified.certificate)
        )
    assert refused.value.code == Code.APPLICANT_ORGANISATION_MISMATCH


def test_an_applicant_certificate_from_an_unknown_ca_is_refused(verifier, unsigned_legal, rsa_portal):
    foreign_key, foreign_cert = make_ca("Foreign Root CA")
    key, cert = issue_certificate(foreign_key, foreign_cert, "Representative (forged)", ogrn=DEV_OGRN)
    root = _root(sign_envelope(unsigned_legal, *rsa_portal, applicant_key_pem=key, applicant_cert_pem=cert))
    verifier.verify_portal(root)  # the portal vouches for the bytes, not for the applicant's certificate
    refusal = _refusal(verifier.verify_applicant, root)
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_UNTRUSTED, APPLICANT)


def test_no_applicant_signature_is_reported_as_none(verifier, signed):
    root = _root(signed)
    verifier.verify_portal(root)
    assert verifier.verify_applicant(root) is None
