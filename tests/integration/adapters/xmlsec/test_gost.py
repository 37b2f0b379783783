"""GOST R 34.10-2012 / Streebog XMLDSig, as SMEV 3 signs: interoperability with openssl, every refusal.

The counterpart is the ``openssl`` command with the gost engine (``tests/gost_pki.py``): it makes the
keys, the CA and the certificates and signs canonical SignedInfo with ``dgst -sign``. Both directions
are proved — what openssl signs the hub accepts, what the hub signs openssl verifies — and the hostile
cases of ``test_signature.py`` are repeated with GOST keys, expecting the codes of their RSA twins.
Streebog itself is held to the standard's own examples.
"""

from __future__ import annotations

import base64
import copy

import pytest
from cryptography import x509
from lxml import etree

from gateway.adapters.pki import DEV_OGRN
from gateway.adapters.xmlsec import answer as answer_xml
from gateway.adapters.xmlsec import gost
from gateway.adapters.xmlsec.envelope import build_envelope, load_schema, q, read_message, validate
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import EnvelopeVerifier, organisation_id
from gateway.adapters.xmlsec.signing import sign_answer, sign_envelope
from gateway.adapters.xmlsec.suites import CLASSIC, GOST_256, STREEBOG_256, SUITES
from gateway.config import PROJECT_ROOT
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import ApplicantType
from gateway.simulators.samples import message_header, sample_appeal
from tests import gost_pki as ossl
from tests.integration.adapters.xmlsec.test_answer import ANSWER

DS = "http://www.w3.org/2000/09/xmldsig#"
SCHEMA = PROJECT_ROOT / "schemas" / "appeal-envelope-1.xsd"
SUBJECT = sample_appeal().subject
FORGED = "FORGED-BY-AN-ATTACKER"
PORTAL, APPLICANT = "/PortalSignature", "/Message/ApplicantSignature"

# GOST R 34.11-2012, appendix A: the messages and hashes as the standard prints them (most significant
# byte first); the byte strings hashed and output are their reverse, as OpenSSL and CryptoPro use them.
M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M2 = bytes.fromhex(
    "fbe2e5f0eee3c820fbeafaebef20fffbf0e1e0f0f520e0ed20e8ece0ebe5f0f2f120fff0eeec20f120faf2fee5e2202ce8f6f3"
    "ede220e8e6eee1e8f0f2d1202ce8f0f2e5e220e5d1"
)[::-1]
STANDARD_HASHES = {
    ("M1", 512): "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
                 "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
    ("M1", 256): "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500",
    ("M2", 512): "1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376"
                 "035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28",
    ("M2", 256): "9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50",
}  # fmt: skip


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portal(gost_pki) -> ossl.Issued:
    return gost_pki.issue("portal", "EPGU Portal (dev)")


@pytest.fixture(scope="module")
def applicant(gost_pki) -> ossl.Issued:
    return gost_pki.issue("applicant", "Representative (dev)", ogrn=DEV_OGRN, organisation="ООО Пример")


@pytest.fixture(scope="module")
def verifier(dev_pki, gost_pki) -> EnvelopeVerifier:
    """Trust anchors of both kinds in one bundle: the dev root (EC) and the GOST root."""
    return EnvelopeVerifier(dev_pki.trust_anchors.read_bytes() + gost_pki.cert.read_bytes())


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return build_envelope(message_header("EPGU"), sample_appeal())


@pytest.fixture(scope="module")
def signed(unsigned, portal) -> bytes:
    return ossl.sign_detached(unsigned, "PortalSignature", "Message", portal)


def _root(data: bytes) -> etree._Element:
    return parse_hardened(data, max_depth=48)


def _refusal(check, root: etree._Element) -> Rejection:
    with pytest.raises(Rejection) as refused:
        check(root)
    return refused.value


# --- Streebog against the standard ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "bits"), list(STANDARD_HASHES), ids=[f"{m}-{b}" for m, b in STANDARD_HASHES]
)
def test_streebog_gives_the_standards_examples(gost_pki, message, bits):
    data = {"M1": M1, "M2": M2}[message]
    assert gost.provider().digest(bits, data).hex() == STANDARD_HASHES[(message, bits)]
    assert ossl.streebog(data, bits).hex() == STANDARD_HASHES[(message, bits)]  # the counterpart agrees


# --- openssl signs, the hub accepts ---------------------------------------------------------------


def test_an_envelope_signed_by_openssl_verifies(verifier, signed, portal):
    root = _root(signed)
    validate(root, load_schema(SCHEMA))
    verified = verifier.verify_portal(root)

    assert verified.suite == "gost-2012"
    assert verified.certificate == x509.load_pem_x509_certificate(portal.cert.read_bytes())
    assert read_message(verified.signed_element)[1].subject == SUBJECT
    assert verifier.verify_applicant(root) is None


def test_a_legal_entity_envelope_cosigned_by_openssl_names_the_ogrn(verifier, portal, applicant):
    document = build_envelope(
        message_header("EPGU"), sample_appeal(applicant_type=ApplicantType.LEGAL_ENTITY)
    )
    root = etree.fromstring(document)
    root.find(q("Message")).append(etree.Element(q("ApplicantSignature")))
    document = etree.tostring(root)
    document = ossl.sign_detached(document, "ApplicantSignature", "Appeal", applicant)
    document = ossl.sign_detached(document, "PortalSignature", "Message", portal)

    parsed = _root(document)
    validate(parsed, load_schema(SCHEMA))
    assert verifier.verify_portal(parsed).suite == "gost-2012"
    verified = verifier.verify_applicant(parsed)
    assert verified is not None
    assert verified.signed_element.tag == q("Appeal")
    assert organisation_id(verified.certificate) == DEV_OGRN


def test_an_entrepreneurs_certificate_names_the_ogrnip_not_the_snils(gost_pki):
    """OGRNIP (1.2.643.100.5) identifies an entrepreneur; SNILS (1.2.643.100.3) is a person's, never read."""
    issued = gost_pki.issue(
        "entrepreneur", "IP Ivanov (dev)", extra_subject="/SNILS=11223344595/OGRNIP=304500116000157"
    )
    assert organisation_id(x509.load_pem_x509_certificate(issued.cert.read_bytes())) == "304500116000157"


def test_a_512_bit_key_signs_with_streebog_512(verifier, gost_pki, unsigned):
    signer = gost_pki.issue("portal-512", "EPGU Portal (dev)", bits=512)
    verified = verifier.verify_portal(
        _root(ossl.sign_detached(unsigned, "PortalSignature", "Message", signer, bits=512))
    )
    assert verified.suite == "gost-2012"


def test_an_agencys_answer_signed_by_openssl_verifies_against_its_registered_certificate(gost_pki):
    agency = gost_pki.issue("agency", "ADM-CHEBOKSARY answers (dev)")
    signed = ossl.sign_detached(answer_xml.build_answer(ANSWER), "AgencySignature", "Document", agency)
    document, _ = answer_xml.verify_answer(signed, agency.cert.read_bytes(), max_depth=48)
    assert document == ANSWER


# --- the hub signs, openssl verifies --------------------------------------------------------------


def test_an_envelope_signed_by_the_hub_verifies_with_openssl(tmp_path, unsigned, portal, applicant, verifier):
    legal = build_envelope(message_header("EPGU"), sample_appeal(applicant_type=ApplicantType.LEGAL_ENTITY))
    signed = sign_envelope(
        legal, *portal.pems, applicant_key_pem=applicant.pems[0], applicant_cert_pem=applicant.pems[1]
    )
    root = etree.fromstring(signed)
    for container, target, signer in (
        ("PortalSignature", "Message", portal),
        ("ApplicantSignature", "Appeal", applicant),
    ):
        signature = next(root.iter(q(container)))[0]
        signed_info = signature.find(f"{{{DS}}}SignedInfo")
        assert signed_info.find(f"{{{DS}}}SignatureMethod").get("Algorithm") == GOST_256
        assert signed_info.find(f".//{{{DS}}}DigestMethod").get("Algorithm") == STREEBOG_256
        canonical = etree.tostring(next(root.iter(q(target))), method="c14n", exclusive=True)
        digest = base64.b64decode(signed_info.findtext(f".//{{{DS}}}DigestValue"))
        assert digest == ossl.streebog(canonical)
        value = base64.b64decode(signature.findtext(f"{{{DS}}}SignatureValue"))
        c14n = etree.tostring(signed_info, method="c14n", exclusive=True)
        assert ossl.verify(signer.cert, c14n, value, tmp_path)
        assert not ossl.verify(signer.cert, c14n.replace(b"Reference", b"Reference "), value, tmp_path)
    parsed = _root(signed)
    assert verifier.verify_portal(parsed).suite == verifier.verify_applicant(parsed).suite == "gost-2012"


def test_an_answer_signed_by_the_hub_with_gost_verifies(gost_pki):
    agency = gost_pki.issue("agency-hub-signed", "ADM-CHEBOKSARY answers (dev)")
    signed = sign_answer(answer_xml.build_answer(ANSWER), *agency.pems)
    assert answer_xml.verify_answer(signed, agency.cert.read_bytes(), max_depth=48)[0] == ANSWER


# --- hostile: the codes of the RSA twins ----------------------------------------------------------


def test_tampered_text_is_refused(verifier, signed):
    refusal = _refusal(verifier.verify_portal, _root(signed.replace(SUBJECT.encode(), FORGED.encode())))
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_INVALID, PORTAL)


def test_a_tampered_signature_value_is_refused(verifier, signed):
    root = _root(signed)
    value = next(root.iter(f"{{{DS}}}SignatureValue"))
    raw = bytearray(base64.b64decode(value.text))
    raw[10] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    refusal = _refusal(verifier.verify_portal, root)
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_INVALID, PORTAL)


def test_a_certificate_from_an_unknown_gost_ca_is_refused(verifier, unsigned, tmp_path):
    foreign = ossl.GostCa.create(tmp_path / "foreign", "Test GOST Root CA")  # the same name, another key
    signer = foreign.issue("portal", "EPGU Portal (dev)")
    refusal = _refusal(
        verifier.verify_portal, _root(ossl.sign_detached(unsigned, "PortalSignature", "Message", signer))
    )
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_UNTRUSTED, PORTAL)


@pytest.mark.parametrize(
    ("days", "code"),
    [((-30, -1), Code.CERTIFICATE_EXPIRED), ((1, 30), Code.CERTIFICATE_NOT_YET_VALID)],
    ids=["expired", "not-yet-valid"],
)
def test_a_certificate_outside_its_validity_is_refused(verifier, gost_pki, unsigned, days, code):
    signer = gost_pki.issue(f"portal{days[0]}", "EPGU Portal (dev)", days=days)
    refusal = _refusal(
        verifier.verify_portal, _root(ossl.sign_detached(unsigned, "PortalSignature", "Message", signer))
    )
    assert (refusal.code, refusal.pointer) == (code, PORTAL)


def test_a_certificate_without_digital_signature_usage_is_refused(verifier, gost_pki, unsigned):
    signer = gost_pki.issue("portal-no-signing", "EPGU Portal (dev)", digital_signature=False)
    refusal = _refusal(
        verifier.verify_portal, _root(ossl.sign_detached(unsigned, "PortalSignature", "Message", signer))
    )
    assert (refusal.code, refusal.pointer) == (Code.CERTIFICATE_KEY_USAGE, PORTAL)


@pytest.mark.parametrize("forged_id", ["message", "forged", None], ids=["same-id", "new-id", "no-id"])
def test_signature_wrapping_never_yields_forged_content(verifier, signed, forged_id):
    root = _root(signed)
    original = root.find(q("Message"))
    forged = copy.deepcopy(original)
    forged.find(f"{q('Appeal')}/{q('Subject')}").text = FORGED
    if forged_id is None:
        del forged.attrib["Id"]
    else:
        forged.set("Id", forged_id)
    etree.SubElement(root.find(f"{q('PortalSignature')}/{{{DS}}}Signature"), f"{{{DS}}}Object").append(
        original
    )
    root.insert(0, forged)
    try:
        verified = verifier.verify_portal(root)
    except Rejection as refusal:
        assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_REFERENCE_INVALID, PORTAL)
    else:
        assert FORGED not in etree.tostring(verified.signed_element, encoding="unicode")


CP = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:"
MORE = "http://www.w3.org/2001/04/xmldsig-more#"


@pytest.mark.parametrize(
    ("algorithms", "code"),
    [
        ({"digest": "http://www.w3.org/2001/04/xmlenc#sha256"}, Code.SIGNATURE_ALGORITHM_NOT_ALLOWED),
        ({"method": CP + "gostr34102001-gostr3411"}, Code.SIGNATURE_ALGORITHM_NOT_ALLOWED),
        ({"method": MORE + "gostr34102001-gostr3411"}, Code.SIGNATURE_ALGORITHM_NOT_ALLOWED),
        ({"digest": CP + "gostr34112012-512"}, Code.SIGNATURE_INVALID),
        ({"method": CP + "gostr34102012-gostr34112012-512"}, Code.SIGNATURE_REFERENCE_INVALID),
        ({"method": MORE + "rsa-sha256"}, Code.SIGNATURE_ALGORITHM_NOT_ALLOWED),
    ],
    ids=["sha256-digest", "gost-2001-cp", "gost-2001-w3c", "streebog-512-digest-relabelled",
         "512-method-over-256-key", "rsa-method-with-streebog"],
)  # fmt: skip
def test_algorithm_swaps_are_refused(verifier, portal, unsigned, algorithms, code):
    """A suite's methods are not mixed, retired GOST 2001 is not taken, and a method is not relabelled:
    the codes match the RSA twins (SHA-1 refused; a method of another key type, as signxml names it)."""
    refusal = _refusal(
        verifier.verify_portal,
        _root(ossl.sign_detached(unsigned, "PortalSignature", "Message", portal, **algorithms)),
    )
    assert (refusal.code, refusal.pointer) == (code, PORTAL)


def test_a_party_not_allowed_gost_is_refused_with_the_suites_it_may_use(dev_pki, gost_pki, signed):
    only_rsa = EnvelopeVerifier(
        dev_pki.trust_anchors.read_bytes() + gost_pki.cert.read_bytes(), portal_suites=[CLASSIC]
    )
    refusal = _refusal(only_rsa.verify_portal, _root(signed))
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, PORTAL)
    assert "rsa-ecdsa" in refusal.detail


def test_an_agency_not_allowed_gost_is_refused(gost_pki):
    agency = gost_pki.issue("agency-not-allowed", "ADM-CHEBOKSARY answers (dev)")
    signed = ossl.sign_detached(answer_xml.build_answer(ANSWER), "AgencySignature", "Document", agency)
    with pytest.raises(Rejection) as refused:
        answer_xml.verify_answer(signed, agency.cert.read_bytes(), max_depth=48, suites=[CLASSIC])
    assert (refused.value.code, refused.value.pointer) == (
        Code.SIGNATURE_ALGORITHM_NOT_ALLOWED,
        "/AgencySignature",
    )


def test_rsa_and_ec_still_verify_with_gost_anchors_in_the_bundle(verifier, dev_pki):
    for kind in ("rsa", "ec"):
        signed = sign_envelope(
            build_envelope(message_header("EPGU"), sample_appeal()),
            getattr(dev_pki, f"portal_{kind}_key").read_bytes(),
            getattr(dev_pki, f"portal_{kind}_cert").read_bytes(),
        )
        assert verifier.verify_portal(_root(signed)).suite == "rsa-ecdsa"


def test_without_the_engine_gost_input_is_refused_with_a_clear_code(monkeypatch, verifier, signed):
    """A machine without libengine-gost-openssl: a refusal naming the package, never a traceback."""
    monkeypatch.setattr(gost, "provider", lambda: None)
    monkeypatch.setattr(gost, "unavailable_reason", lambda: f"install the {gost.PACKAGE} package")
    refusal = _refusal(verifier.verify_portal, _root(signed))
    assert (refusal.code, refusal.pointer) == (Code.SIGNATURE_ALGORITHM_NOT_ALLOWED, PORTAL)
    assert gost.PACKAGE in refusal.detail
    assert set(SUITES) == {"rsa-ecdsa", "gost-2012"}


def test_the_hub_says_at_start_up_which_package_gost_needs(monkeypatch, caplog):
    """One line naming the package, only when a configured party may sign with GOST."""
    from gateway.config import Settings
    from gateway.service.hub import _say_if_gost_is_missing

    monkeypatch.setattr(
        gost, "unavailable_reason", lambda: f"GOST signatures unavailable: install the {gost.PACKAGE} package"
    )
    with caplog.at_level("WARNING", logger="gateway.service.hub"):
        _say_if_gost_is_missing(Settings())
        _say_if_gost_is_missing(
            Settings(portal_signature_suites=["rsa-ecdsa"], applicant_signature_suites=["rsa-ecdsa"],
                     agency_signature_suites=["rsa-ecdsa"])
        )  # fmt: skip
    assert [r.getMessage() for r in caplog.records] == [
        f"GOST signatures unavailable: install the {gost.PACKAGE} package"
    ]


# --- GOST R 34.10-2012 against the standard ------------------------------------------------------

# Appendix A.1: the test curve (id-GostR3410-2001-TestParamSet, 1.2.643.2.2.35.0), the public key Q,
# the digest reduced to e, and the signature (r, s), all as the standard prints them.
APPENDIX_Q = (
    0x7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B,
    0x26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA,
)
APPENDIX_E = 0x2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5
APPENDIX_R = 0x41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493
APPENDIX_S = 0x01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = (
        bytes([size])
        if size < 128
        else bytes([0x81, size])
        if size < 256
        else bytes([0x82, size >> 8, size & 255])
    )
    return bytes([tag]) + length + body


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytes([40 * first + second])
    for value in rest:
        groups = [value & 0x7F]
        value >>= 7
        while value:
            groups.append(0x80 | (value & 0x7F))
            value >>= 7
        body += bytes(reversed(groups))
    return _tlv(0x06, body)


def test_the_engine_verifies_the_standards_signature_example_in_the_byte_order_the_suite_uses(gost_pki):
    """The appendix's signature verifies with s‖r big-endian (the XMLDSig SignatureValue layout) over the
    digest as little-endian bytes (how Streebog's output is read as a number); the other order fails."""
    import ctypes

    lib, pointer = gost.provider()._lib, ctypes.c_void_p
    lib.d2i_PUBKEY.restype, lib.d2i_PUBKEY.argtypes = (
        pointer,
        [pointer, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long],
    )
    lib.EVP_PKEY_CTX_new.restype, lib.EVP_PKEY_CTX_new.argtypes = pointer, [pointer, pointer]
    lib.EVP_PKEY_CTX_free.argtypes = [pointer]
    lib.EVP_PKEY_verify_init.argtypes = [pointer]
    lib.EVP_PKEY_verify.argtypes = [
        pointer,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    point = APPENDIX_Q[0].to_bytes(32, "little") + APPENDIX_Q[1].to_bytes(32, "little")  # RFC 4491 §2.3.2
    algorithm = _tlv(
        0x30, _oid("1.2.643.7.1.1.1.1") + _tlv(0x30, _oid("1.2.643.2.2.35.0") + _oid("1.2.643.7.1.1.2.2"))
    )
    spki = _tlv(0x30, algorithm + _tlv(0x03, b"\x00" + _tlv(0x04, point)))
    key = lib.d2i_PUBKEY(None, ctypes.byref(ctypes.c_char_p(spki)), len(spki))
    assert key
    signature = APPENDIX_S.to_bytes(32, "big") + APPENDIX_R.to_bytes(32, "big")

    def verifies(digest: bytes) -> bool:
        ctx = lib.EVP_PKEY_CTX_new(key, None)
        try:
            assert lib.EVP_PKEY_verify_init(ctx) == 1
            return lib.EVP_PKEY_verify(ctx, signature, len(signature), digest, len(digest)) == 1
        finally:
            lib.EVP_PKEY_CTX_free(ctx)

    try:
        assert verifies(APPENDIX_E.to_bytes(32, "little"))
        assert not verifies(APPENDIX_E.to_bytes(32, "big"))
    finally:
        lib.EVP_PKEY_free(key)
