"""The verification pipeline against signxml, verdict for verdict, over a corpus of RSA and EC documents.

The pipeline (``signature.verify_slot``) replaced signxml for verification; signxml stays as the
reference (``tests/xmlsec_reference.py``, the hub's verifier as it was). Each document of the corpus
— valid, tampered and hostile, signed by signxml, by xmlsec1 and by hand — goes through both, and
both must agree: the same refusal code and pointer, or acceptance of the same signed bytes by the
same certificate.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from lxml import etree

from gateway.adapters.pki import issue_certificate, make_ca
from gateway.adapters.xmlsec import answer as answer_xml
from gateway.adapters.xmlsec.envelope import NS, build_envelope, q
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import APPLICANT, PORTAL, Slot, check_placement, verify_slot
from gateway.adapters.xmlsec.signing import sign_answer, sign_envelope
from gateway.adapters.xmlsec.suites import Anchors
from gateway.domain.errors import Rejection
from gateway.domain.model import ApplicantType
from gateway.simulators.samples import message_header, sample_appeal
from tests.integration.adapters.xmlsec.test_answer import ANSWER
from tests.xmlsec_reference import reference_verify_slot

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
MORE = "http://www.w3.org/2001/04/xmldsig-more#"
ENC = "http://www.w3.org/2001/04/xmlenc#"
SUBJECT = sample_appeal().subject
_HASHES = {
    "sha1": (hashes.SHA1, hashlib.sha1),
    "sha256": (hashes.SHA256, hashlib.sha256),
    "sha384": (hashes.SHA384, hashlib.sha384),
    "sha512": (hashes.SHA512, hashlib.sha512),
}
_DIGEST_URIS = {
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
    "sha256": ENC + "sha256",
    "sha384": MORE + "sha384",
    "sha512": ENC + "sha512",
}


def _hand_sign(
    data: bytes,
    key_pem: bytes,
    cert_pem: bytes,
    *,
    container: str = "PortalSignature",
    target: str = "Message",
    method: str = "rsa-sha256",
    digest: str = "sha256",
    c14n: str = EXC,
    transforms: tuple[str, ...] = (EXC,),
    extra_cert_pem: bytes | None = None,
) -> bytes:
    """One detached signature made by hand (RSA or ECDSA by ``method``), one algorithm varied at a time."""
    root = etree.fromstring(data)
    element = next(root.iter(q(target)))
    signature = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, f"{{{DS}}}SignedInfo")
    etree.SubElement(signed_info, f"{{{DS}}}CanonicalizationMethod", Algorithm=c14n)
    method_uri = (DS if method == "rsa-sha1" else MORE) + method
    etree.SubElement(signed_info, f"{{{DS}}}SignatureMethod", Algorithm=method_uri)
    reference = etree.SubElement(signed_info, f"{{{DS}}}Reference", URI="#" + element.get("Id"))
    transforms_el = etree.SubElement(reference, f"{{{DS}}}Transforms")
    for algorithm in transforms:
        etree.SubElement(transforms_el, f"{{{DS}}}Transform", Algorithm=algorithm)
    etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=_DIGEST_URIS[digest])
    value = etree.SubElement(reference, f"{{{DS}}}DigestValue")
    next(root.iter(q(container))).append(signature)
    canonical = etree.tostring(element, method="c14n", exclusive=bool(transforms))
    value.text = base64.b64encode(_HASHES[digest][1](canonical).digest()).decode()
    exclusive = c14n.startswith(EXC)
    signed_bytes = etree.tostring(signed_info, method="c14n", exclusive=exclusive)
    key = load_pem_private_key(key_pem, password=None)
    algorithm = _HASHES[method.split("-")[1]][0]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signed_bytes, ec.ECDSA(algorithm)))
        size = (key.key_size + 7) // 8
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        raw = key.sign(signed_bytes, padding.PKCS1v15(), algorithm)
    etree.SubElement(signature, f"{{{DS}}}SignatureValue").text = base64.b64encode(raw).decode()
    x509_data = etree.SubElement(etree.SubElement(signature, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
    for pem in (cert_pem, extra_cert_pem):
        if pem:
            der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
            etree.SubElement(x509_data, f"{{{DS}}}X509Certificate").text = base64.b64encode(der).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _edit(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _flip_signature_value(root: etree._Element) -> None:
    value = next(root.iter(f"{{{DS}}}SignatureValue"))
    raw = bytearray(base64.b64decode(value.text))
    raw[5] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()


def _flip_digest(root: etree._Element) -> None:
    value = next(root.iter(f"{{{DS}}}DigestValue"))
    raw = bytearray(base64.b64decode(value.text))
    raw[0] ^= 0x80
    value.text = base64.b64encode(bytes(raw)).decode()


def _relabel(method: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        next(root.iter(f"{{{DS}}}SignatureMethod")).set("Algorithm", MORE + method)

    return change


def _wrap(where: str, forged_id: str | None) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        original = root.find(q("Message"))
        forged = copy.deepcopy(original)
        forged.find(f"{q('Appeal')}/{q('Subject')}").text = "FORGED"
        if forged_id is None:
            del forged.attrib["Id"]
        else:
            forged.set("Id", forged_id)
        if where == "object":
            etree.SubElement(
                root.find(f"{q('PortalSignature')}/{{{DS}}}Signature"), f"{{{DS}}}Object"
            ).append(original)
        else:
            etree.SubElement(root, q("Wrapper")).append(original)
        root.insert(0, forged)

    return change


def _comment_in_subject(data: bytes) -> bytes:
    head, tail = SUBJECT.split(" ", 1)
    return data.replace(SUBJECT.encode(), f"{head} <!-- -->{tail}".encode())


def _xmlsec1_signed(xmlsec1: str, tmp: Path, unsigned: bytes, key: Path, cert: Path, method: str) -> bytes:
    """The envelope signed by xmlsec1 (not signxml): a template with the algorithms, filled by the tool."""
    root = etree.fromstring(unsigned)
    signature = etree.SubElement(root.find(q("PortalSignature")), f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, f"{{{DS}}}SignedInfo")
    etree.SubElement(signed_info, f"{{{DS}}}CanonicalizationMethod", Algorithm=EXC)
    etree.SubElement(signed_info, f"{{{DS}}}SignatureMethod", Algorithm=MORE + method)
    reference = etree.SubElement(signed_info, f"{{{DS}}}Reference", URI="#message")
    etree.SubElement(etree.SubElement(reference, f"{{{DS}}}Transforms"), f"{{{DS}}}Transform", Algorithm=EXC)
    etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=ENC + "sha256")
    etree.SubElement(reference, f"{{{DS}}}DigestValue")
    etree.SubElement(signature, f"{{{DS}}}SignatureValue")
    etree.SubElement(etree.SubElement(signature, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
    template, output = tmp / f"{method}-template.xml", tmp / f"{method}-signed.xml"
    template.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    result = subprocess.run(
        [xmlsec1, "--sign", "--privkey-pem", f"{key},{cert}", "--id-attr:Id", f"{NS}:Message",
         "--node-xpath", "//*[local-name()='PortalSignature']/*[local-name()='Signature']",
         "--output", str(output), str(template)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return output.read_bytes()


def _envelope_corpus(dev_pki, root_ca, tmp: Path, xmlsec1: str) -> dict[str, bytes]:
    """Envelopes signed by the RSA and the EC portal, then altered every way the hostile tests alter them."""
    unsigned = build_envelope(message_header("EPGU"), sample_appeal())
    legal = build_envelope(message_header("EPGU"), sample_appeal(applicant_type=ApplicantType.LEGAL_ENTITY))
    applicant = dev_pki.applicant_key.read_bytes(), dev_pki.applicant_cert.read_bytes()
    foreign_ca = make_ca("Appeals Gateway Dev Root CA")
    now = dt.datetime.now(dt.UTC)
    corpus: dict[str, bytes] = {}
    for kind, key_type in (("rsa", "rsa"), ("ec", "ec")):
        key = getattr(dev_pki, f"portal_{kind}_key").read_bytes()
        cert = getattr(dev_pki, f"portal_{kind}_cert").read_bytes()
        method = "rsa" if kind == "rsa" else "ecdsa"
        signed = sign_envelope(unsigned, key, cert)
        expired = issue_certificate(
            *root_ca, "EPGU", key_type=key_type,
            not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1),
        )  # fmt: skip
        early = issue_certificate(
            *root_ca, "EPGU", key_type=key_type,
            not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=30),
        )  # fmt: skip
        corpus |= {
            f"{kind}/valid": signed,
            f"{kind}/xmlsec1-signed": _xmlsec1_signed(
                xmlsec1,
                tmp,
                unsigned,
                getattr(dev_pki, f"portal_{kind}_key"),
                getattr(dev_pki, f"portal_{kind}_cert"),
                f"{method}-sha256",
            ),
            f"{kind}/valid-legal-entity": sign_envelope(
                legal, key, cert, applicant_key_pem=applicant[0], applicant_cert_pem=applicant[1]
            ),
            f"{kind}/tampered-text": signed.replace(SUBJECT.encode(), b"FORGED"),
            f"{kind}/tampered-signature-value": _edit(signed, _flip_signature_value),
            f"{kind}/tampered-digest-value": _edit(signed, _flip_digest),
            f"{kind}/unknown-ca": sign_envelope(
                unsigned, *issue_certificate(*foreign_ca, "EPGU", key_type=key_type)
            ),
            f"{kind}/expired": sign_envelope(unsigned, *expired),
            f"{kind}/not-yet-valid": sign_envelope(unsigned, *early),
            f"{kind}/no-digital-signature-usage": sign_envelope(
                unsigned,
                *issue_certificate(*root_ca, "EPGU", key_type=key_type, key_usage_digital_signature=False),
            ),
            f"{kind}/wrapped-object-same-id": _edit(signed, _wrap("object", "message")),
            f"{kind}/wrapped-object-new-id": _edit(signed, _wrap("object", "forged")),
            f"{kind}/wrapped-object-no-id": _edit(signed, _wrap("object", None)),
            f"{kind}/wrapped-after-envelope": _edit(signed, _wrap("wrapper", "message")),
            f"{kind}/comment-in-signed-text": _comment_in_subject(signed),
            f"{kind}/no-message-id": _edit(signed, lambda r: r.find(q("Message")).attrib.pop("Id")),
            f"{kind}/empty-container": _edit(signed, lambda r: r.find(q("PortalSignature")).clear()),
            f"{kind}/hand-signed": _hand_sign(unsigned, key, cert, method=f"{method}-sha256"),
            f"{kind}/hand-signed-sha512": _hand_sign(
                unsigned, key, cert, method=f"{method}-sha512", digest="sha512"
            ),
            f"{kind}/hand-signed-sha384-digest": _hand_sign(
                unsigned, key, cert, method=f"{method}-sha256", digest="sha384"
            ),
            f"{kind}/sha1-digest": _hand_sign(unsigned, key, cert, method=f"{method}-sha256", digest="sha1"),
            f"{kind}/inclusive-c14n": _hand_sign(
                unsigned,
                key,
                cert,
                method=f"{method}-sha256",
                c14n="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            ),
            f"{kind}/enveloped-transform": _hand_sign(
                unsigned,
                key,
                cert,
                method=f"{method}-sha256",
                transforms=("http://www.w3.org/2000/09/xmldsig#enveloped-signature", EXC),
            ),
            f"{kind}/with-anchor-in-x509data": _hand_sign(
                unsigned, key, cert, method=f"{method}-sha256", extra_cert_pem=dev_pki.root_cert.read_bytes()
            ),
            f"{kind}/method-relabelled": _edit(
                signed, _relabel("ecdsa-sha256" if kind == "rsa" else "rsa-sha256")
            ),
            f"{kind}/method-hash-swapped": _edit(signed, _relabel(f"{method}-sha512")),
        }
    corpus["rsa/sha1-method"] = _hand_sign(
        unsigned, dev_pki.portal_rsa_key.read_bytes(), dev_pki.portal_rsa_cert.read_bytes(), method="rsa-sha1"
    )
    return corpus


def _verdict(verify: Callable[[], object]) -> tuple:
    try:
        verified = verify()
    except Rejection as refusal:
        return ("refused", refusal.code, refusal.pointer)
    if verified is None:
        return ("none",)
    return (
        "accepted",
        etree.tostring(verified.signed_element, method="c14n", exclusive=True),
        verified.certificate.fingerprint(hashes.SHA256()),
    )


def _both(
    data: bytes, slot: Slot, slots: tuple[Slot, ...], pipeline_trust, reference_trust
) -> tuple[tuple, tuple]:
    def run(trust, verify) -> tuple:
        root = parse_hardened(data, max_depth=48)

        def check():
            check_placement(root, slots)
            return verify(root, slot, trust)

        return _verdict(check)

    return run(pipeline_trust, verify_slot), run(reference_trust, reference_verify_slot)


@pytest.fixture(scope="module")
def corpus(dev_pki, root_ca, tmp_path_factory, xmlsec1) -> dict[str, bytes]:
    return _envelope_corpus(dev_pki, root_ca, tmp_path_factory.mktemp("corpus"), xmlsec1)


def test_the_pipeline_and_signxml_agree_on_every_envelope(dev_pki, corpus):
    pem = dev_pki.trust_anchors.read_bytes()
    anchors, store = Anchors(pem), x509.verification.Store(x509.load_pem_x509_certificates(pem))
    disagreements, verdicts = {}, {}
    for name, data in corpus.items():
        for slot in (PORTAL, APPLICANT):
            ours, theirs = _both(data, slot, (PORTAL, APPLICANT), anchors, store)
            verdicts[f"{name}{slot.pointer}"] = ours[0]
            if ours != theirs:
                disagreements[f"{name}{slot.pointer}"] = (ours, theirs)
    assert not disagreements
    # The corpus has teeth: both outcomes occur, for both key types.
    for kind in ("rsa", "ec"):
        assert verdicts[f"{kind}/valid/PortalSignature"] == "accepted"
        assert verdicts[f"{kind}/xmlsec1-signed/PortalSignature"] == "accepted"
        assert verdicts[f"{kind}/valid-legal-entity/Message/ApplicantSignature"] == "accepted"
        assert verdicts[f"{kind}/tampered-text/PortalSignature"] == "refused"
    assert sum(v == "refused" for v in verdicts.values()) > 30


def test_the_pipeline_and_signxml_agree_on_pinned_answers(dev_pki, root_ca):
    """The agency's answer: one pinned certificate, no chain."""
    key, cert = dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    unsigned = answer_xml.build_answer(ANSWER)
    signed = sign_answer(unsigned, key, cert)
    other = issue_certificate(*root_ca, "ADM-CHEBOKSARY answers (dev)")
    documents = {
        "valid": signed,
        "tampered": signed.replace(ANSWER.text.encode(), b"FORGED"),
        "signature-value": _edit(signed, _flip_signature_value),
        "other-certificate": sign_answer(unsigned, *other),
        "ec": sign_answer(unsigned, *issue_certificate(*root_ca, "Agency EC", key_type="ec")),
    }
    registered = x509.load_pem_x509_certificate(cert)
    results = {
        name: _both(data, answer_xml.AGENCY, (answer_xml.AGENCY,), registered, registered)
        for name, data in documents.items()
    }
    assert {name: ours for name, (ours, theirs) in results.items() if ours != theirs} == {}
    assert results["valid"][0][0] == "accepted"
    assert {results[n][0][0] for n in documents if n != "valid"} == {"refused"}


def test_the_pipeline_returns_only_the_signed_bytes(dev_pki, corpus):
    """The element handed back is the canonical form re-parsed: no comment, the whole text."""
    root = parse_hardened(corpus["rsa/comment-in-signed-text"], max_depth=48)
    verified = verify_slot(root, PORTAL, Anchors(dev_pki.trust_anchors.read_bytes()))
    assert verified.signed_element.getparent() is None
    assert verified.signed_element.findtext(f"{q('Appeal')}/{q('Subject')}") == SUBJECT
    assert not list(verified.signed_element.iter(etree.Comment))
    assert NS in verified.signed_element.tag
