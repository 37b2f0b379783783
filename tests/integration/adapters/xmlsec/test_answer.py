"""An agency's signed answer: interoperability with xmlsec1 and every refusal, with its exact code.

No database: the dev PKI lives in temporary files. Unlike the envelope, the answer is not trusted
through a chain: the signature must carry the certificate registered for the agency, so the
refusals below include certificates the hub's own trust anchor issued.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import subprocess
from pathlib import Path
from uuid import UUID

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from lxml import etree

from gateway.adapters.pki import ensure_dev_pki, issue_certificate
from gateway.adapters.xmlsec.answer import NS, AnswerDocument, Signatory, build_answer, q, verify_answer
from gateway.adapters.xmlsec.signature import certificate_cn
from gateway.adapters.xmlsec.signing import sign_answer
from gateway.config import PROJECT_ROOT
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import AttachmentHeader

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
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

EXAMPLE = PROJECT_ROOT / "schemas" / "examples" / "answer-unsigned.xml"
MAX_DEPTH = 48  # Settings.max_xml_depth
AGENCY_CN = "ADM-CHEBOKSARY answers (dev)"
TEXT = "Ваше обращение рассмотрено. Управляющей организации поручено произвести перерасчёт платы."
FORGED = "FORGED-BY-AN-ATTACKER"
POINTER = "/AgencySignature"
ANSWER = AnswerDocument(
    answer_id=UUID("3b0e8c52-6f1d-4c8a-9e27-5d4a1f0b7c13"),
    appeal_id=UUID("9a6c2f4e-1b7d-4e3a-8c05-2f6d8e1a4b97"),
    agency_code="ADM-CHEBOKSARY",
    registration_number="ОГ-01-12/345",
    answered_on=dt.date(2026, 12, 14),
    signatory=Signatory("Иванов Иван Иванович", "Начальник управления ЖКХ"),
    text=TEXT,
    attachments=(AttachmentHeader("act-1", "akt-proverki.pdf", "application/pdf", 18342, "5f" * 32),),
)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agency(dev_pki) -> tuple[bytes, bytes]:
    """The agency's key and the certificate registered as its ``answer_certificate``."""
    return dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return build_answer(ANSWER)


@pytest.fixture(scope="module")
def signed(unsigned, agency) -> bytes:
    return sign_answer(unsigned, *agency)


# --- helpers --------------------------------------------------------------------------------------


def _refusal(data: bytes, registered: bytes, *, now: dt.datetime | None = None) -> Rejection:
    with pytest.raises(Rejection) as refused:
        verify_answer(data, registered, max_depth=MAX_DEPTH, now=now)
    return refused.value


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _ds(parent: etree._Element | None, local: str, **attributes: str) -> etree._Element:
    if parent is None:
        return etree.Element(f"{{{DS}}}{local}", attributes, nsmap={"ds": DS})
    return etree.SubElement(parent, f"{{{DS}}}{local}", attributes)


def _template(reference_id: str, *, method: str = RSA_SHA256, digest: str = SHA256) -> etree._Element:
    """An empty detached ds:Signature as the schema's annotation describes it (xmlsec1 fills it)."""
    signature = _ds(None, "Signature")
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=EXC_C14N)
    _ds(signed_info, "SignatureMethod", Algorithm=method)
    reference = _ds(signed_info, "Reference", URI="#" + reference_id)
    _ds(_ds(reference, "Transforms"), "Transform", Algorithm=EXC_C14N)
    _ds(reference, "DigestMethod", Algorithm=digest)
    _ds(reference, "DigestValue")
    _ds(signature, "SignatureValue")
    _ds(_ds(signature, "KeyInfo"), "X509Data")
    return signature


def _hand_sign(data: bytes, key_pem: bytes, cert_pem: bytes, *, method: str, digest: str) -> bytes:
    """Sign the Document with explicit algorithms (RSA only), bypassing signxml's policy."""
    root = etree.fromstring(data)
    document = root.find(q("Document"))
    signature = _template(document.get("Id"), method=method, digest=digest)
    root.find(q("AgencySignature")).append(signature)
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    canonical = etree.tostring(document, method="c14n", exclusive=True)
    signed_info.find(f".//{{{DS}}}DigestValue").text = base64.b64encode(
        _HASHES[digest](canonical).digest()
    ).decode()
    value = load_pem_private_key(key_pem, password=None).sign(
        etree.tostring(signed_info, method="c14n", exclusive=True), padding.PKCS1v15(), _HASHES[method]
    )
    signature.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    _ds(signature.find(f".//{{{DS}}}X509Data"), "X509Certificate").text = base64.b64encode(der).decode()
    return _serialise(root)


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, check=False)


def _signature(root: etree._Element) -> etree._Element:
    return root.find(f"{q('AgencySignature')}/{{{DS}}}Signature")


# --- accepted -------------------------------------------------------------------------------------


def test_an_answer_signed_by_the_hub_verifies(signed, agency):
    answer, document = verify_answer(signed, agency[1].decode("ascii"), max_depth=MAX_DEPTH)

    assert answer == ANSWER
    assert document.tag == q("Document")


def test_the_example_answer_verifies_once_signed(agency):
    """The published example is schema-valid and reads back as what it says."""
    answer, _ = verify_answer(sign_answer(EXAMPLE.read_bytes(), *agency), agency[1], max_depth=MAX_DEPTH)

    assert answer.agency_code == "ADM-CHEBOKSARY"
    assert answer.registration_number == "ОГ-01-12/345"
    assert [a.content_id for a in answer.attachments] == ["act-1"]


@pytest.mark.parametrize(
    ("method", "key_type"), [(RSA_SHA256, "rsa"), (ECDSA_SHA256, "ec")], ids=["rsa", "ecdsa"]
)
def test_an_answer_signed_by_xmlsec1_verifies(xmlsec1, tmp_path, root_ca, method, key_type):
    """A conforming third-party signer (not signxml), as an agency's EDMS would use, is accepted."""
    key, cert = issue_certificate(*root_ca, AGENCY_CN, key_type=key_type)
    answer, _ = verify_answer(
        _xmlsec1_signed(xmlsec1, tmp_path, key, cert, method), cert, max_depth=MAX_DEPTH
    )
    assert answer == ANSWER


def test_an_answer_xmlsec1_signed_with_a_not_yet_valid_certificate_is_named_so(xmlsec1, tmp_path, root_ca):
    """The code does not depend on signxml having signed: xmlsec1 signs, the hub names the cause."""
    now = dt.datetime.now(dt.UTC)
    key, cert = issue_certificate(
        *root_ca, AGENCY_CN, not_before=now + dt.timedelta(hours=1), not_after=now + dt.timedelta(days=30)
    )
    refusal = _refusal(_xmlsec1_signed(xmlsec1, tmp_path, key, cert, RSA_SHA256), cert)
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_NOT_YET_VALID, POINTER)


def _xmlsec1_signed(xmlsec1: str, tmp_path: Path, key: bytes, cert: bytes, method: str) -> bytes:
    """``ANSWER`` signed by xmlsec1 with ``key`` and ``cert`` (PEM)."""
    (tmp_path / "agency.key").write_bytes(key)
    (tmp_path / "agency.pem").write_bytes(cert)
    root = etree.fromstring(build_answer(ANSWER, document_xml_id="doc-5e1b"))
    root.find(q("AgencySignature")).append(_template("doc-5e1b", method=method))
    (tmp_path / "template.xml").write_bytes(_serialise(root))
    result = _run(
        xmlsec1, "--sign", "--privkey-pem", f"{tmp_path / 'agency.key'},{tmp_path / 'agency.pem'}",
        "--id-attr:Id", f"{NS}:Document",
        "--output", tmp_path / "signed.xml", tmp_path / "template.xml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return (tmp_path / "signed.xml").read_bytes()


def test_an_answer_signed_by_the_hub_verifies_with_xmlsec1(xmlsec1, tmp_path, dev_pki, signed):
    """The reverse direction: what sign_answer produces is standard XMLDSig an external tool accepts."""
    document = tmp_path / "answer.xml"
    document.write_bytes(signed)
    verify = (
        xmlsec1, "--verify", "--trusted-pem", dev_pki.root_cert,
        "--id-attr:Id", f"{NS}:Document", document,
    )  # fmt: skip
    result = _run(*verify)
    assert result.returncode == 0, result.stderr
    assert "References (ok/all): 1/1" in result.stderr

    document.write_bytes(signed.replace(TEXT.encode(), FORGED.encode()))
    assert _run(*verify).returncode != 0


def test_a_comment_splitting_signed_text_cannot_truncate_what_the_hub_reads(signed, agency):
    """Comments are outside C14N, so this still verifies; the whole signed text must be read."""
    head, tail = TEXT.split(" ", 1)
    answer, _ = verify_answer(
        signed.replace(TEXT.encode(), f"{head} <!-- -->{tail}".encode()), agency[1], max_depth=MAX_DEPTH
    )
    assert answer.text == TEXT


# --- altered content ------------------------------------------------------------------------------


def test_tampered_text_is_refused(signed, agency):
    refusal = _refusal(signed.replace(TEXT.encode(), FORGED.encode()), agency[1])
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_INVALID, POINTER)


def test_a_missing_signature_is_refused(unsigned, agency):
    refusal = _refusal(unsigned, agency[1])
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_MISSING, POINTER)


# --- the registered certificate, and only it ------------------------------------------------------


@pytest.mark.parametrize(
    "issue",
    [
        lambda ca, pki: issue_certificate(*ca, AGENCY_CN),
        lambda ca, pki: (pki.portal_rsa_key.read_bytes(), pki.portal_rsa_cert.read_bytes()),
    ],
    ids=["same-ca-same-name", "the-portal's"],
)
def test_a_certificate_other_than_the_registered_one_is_refused(unsigned, agency, root_ca, dev_pki, issue):
    """Chaining to the hub's trust anchor is not enough: answers speak only with the registered one."""
    refusal = _refusal(sign_answer(unsigned, *issue(root_ca, dev_pki)), agency[1])
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_UNTRUSTED, POINTER)


def test_the_registered_certificate_carried_by_another_key_is_refused(unsigned, agency, root_ca):
    """Copying the registered certificate into X509Data does not help: its key must have signed."""
    other_key, other_cert = issue_certificate(*root_ca, AGENCY_CN)
    root = etree.fromstring(sign_answer(unsigned, other_key, other_cert))
    carried = _signature(root).find(f".//{{{DS}}}X509Certificate")
    carried.text = base64.b64encode(
        x509.load_pem_x509_certificate(agency[1]).public_bytes(Encoding.DER)
    ).decode()
    refusal = _refusal(_serialise(root), agency[1])
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_INVALID, POINTER)


@pytest.mark.parametrize(
    ("not_before", "not_after", "code"),
    [(-30, -1, Code.CERTIFICATE_EXPIRED), (1, 30, Code.CERTIFICATE_NOT_YET_VALID)],
    ids=["expired", "not-yet-valid"],
)
def test_a_registered_certificate_outside_its_validity_is_refused(
    unsigned, root_ca, not_before, not_after, code
):
    now = dt.datetime.now(dt.UTC)
    key, cert = issue_certificate(
        *root_ca,
        AGENCY_CN,
        not_before=now + dt.timedelta(days=not_before),
        not_after=now + dt.timedelta(days=not_after),
    )
    refusal = _refusal(sign_answer(unsigned, key, cert), cert)
    assert (refusal.code, refusal.pointer) == (code, POINTER)


def test_validity_is_judged_at_the_given_time(signed, agency):
    registered = x509.load_pem_x509_certificate(agency[1])
    second = dt.timedelta(seconds=1)
    for now, code in (
        (registered.not_valid_after_utc + second, Code.CERTIFICATE_EXPIRED),
        (registered.not_valid_before_utc - second, Code.CERTIFICATE_NOT_YET_VALID),
    ):
        refusal = _refusal(signed, agency[1], now=now)
        assert (refusal.code, refusal.pointer) == (code, POINTER)
    for now in (registered.not_valid_before_utc, registered.not_valid_after_utc):  # the bounds are in
        verify_answer(signed, agency[1], max_depth=MAX_DEPTH, now=now)


def test_a_registered_certificate_without_digital_signature_usage_is_refused(unsigned, root_ca):
    key, cert = issue_certificate(*root_ca, AGENCY_CN, key_usage_digital_signature=False)
    refusal = _refusal(sign_answer(unsigned, key, cert), cert)
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_KEY_USAGE, POINTER)


# --- signature wrapping ---------------------------------------------------------------------------


def _wrap_in_object(root: etree._Element, forged: etree._Element, original: etree._Element) -> None:
    _ds(_signature(root), "Object").append(original)
    root.insert(0, forged)


def _wrap_in_container(root: etree._Element, forged: etree._Element, original: etree._Element) -> None:
    _ds(root.find(q("AgencySignature")), "Object").append(original)
    root.insert(0, forged)


def _wrap_after_answer(root: etree._Element, forged: etree._Element, original: etree._Element) -> None:
    root.insert(0, forged)
    etree.SubElement(root, q("Wrapper")).append(original)


@pytest.mark.parametrize(
    ("wrap", "forged_id", "code", "pointer"),
    [
        (_wrap_in_object, "document", Code.SIGNATURE_REFERENCE_INVALID, POINTER),
        (_wrap_in_object, "forged", Code.SIGNATURE_REFERENCE_INVALID, POINTER),
        (_wrap_in_object, None, Code.SCHEMA_VIOLATION, "/Document"),
        (_wrap_in_container, "document", Code.SIGNATURE_REFERENCE_INVALID, POINTER),
        (_wrap_after_answer, "document", Code.SCHEMA_VIOLATION, "/Wrapper"),
    ],
    ids=["object-same-id", "object-new-id", "object-no-id", "container-sibling", "answer-wrapper"],
)
def test_signature_wrapping_is_refused(signed, agency, wrap, forged_id, code, pointer):
    """The signed Document moves into a wrapper and a forged one takes its place: never accepted."""
    root = etree.fromstring(signed)
    original = root.find(q("Document"))
    forged = copy.deepcopy(original)
    forged.find(q("Text")).text = FORGED
    if forged_id is None:
        del forged.attrib["Id"]
    else:
        forged.set("Id", forged_id)
    wrap(root, forged, original)
    assert root.find(q("Document")) is forged

    refusal = _refusal(_serialise(root), agency[1])
    assert (refusal.code, refusal.pointer) == (code, pointer)


# --- ambiguous, unidentified, weak ----------------------------------------------------------------


def test_two_signatures_are_ambiguous(signed, agency):
    root = etree.fromstring(signed)
    root.find(q("AgencySignature")).append(copy.deepcopy(_signature(root)))
    refusal = _refusal(_serialise(root), agency[1])
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_AMBIGUOUS, POINTER)


def test_a_missing_id_attribute_is_a_schema_violation(signed, agency):
    root = etree.fromstring(signed)
    del root.find(q("Document")).attrib["Id"]
    refusal = _refusal(_serialise(root), agency[1])
    assert (refusal.code, refusal.pointer) == (Code.SCHEMA_VIOLATION, "/Document")
    assert NS not in refusal.detail


@pytest.mark.parametrize(
    "algorithms",
    [
        {"method": RSA_SHA1, "digest": SHA256},
        {"method": RSA_SHA256, "digest": SHA1},
        {"method": RSA_SHA1, "digest": SHA1},
    ],
    ids=["rsa-sha1", "sha1-digest", "both"],
)
def test_sha1_is_not_allowed(unsigned, agency, algorithms):
    refusal = _refusal(_hand_sign(unsigned, *agency, **algorithms), agency[1])
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, POINTER)


def test_the_hand_rolled_signer_is_accepted_as_a_control(unsigned, agency):
    """The SHA-1 refusals above change one algorithm only; with the allowed ones it verifies."""
    answer, _ = verify_answer(
        _hand_sign(unsigned, *agency, method=RSA_SHA256, digest=SHA256), agency[1], max_depth=MAX_DEPTH
    )
    assert answer == ANSWER


# --- the dev PKI ----------------------------------------------------------------------------------


def test_an_older_dev_pki_gains_the_agency_certificate_and_keeps_its_root(tmp_path):
    """A var/pki made before answers existed: only the missing files are added, the anchor stays."""
    pki = ensure_dev_pki(tmp_path)
    root, portal = pki.root_cert.read_bytes(), pki.portal_rsa_cert.read_bytes()
    pki.agency_key.unlink()
    pki.agency_cert.unlink()

    again = ensure_dev_pki(tmp_path)

    assert (again.root_cert.read_bytes(), again.portal_rsa_cert.read_bytes()) == (root, portal)
    agency = x509.load_pem_x509_certificate(again.agency_cert.read_bytes())
    assert agency.issuer == x509.load_pem_x509_certificate(root).subject
    assert certificate_cn(agency) == AGENCY_CN
