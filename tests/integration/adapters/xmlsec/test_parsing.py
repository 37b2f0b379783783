"""Hardened parsing of untrusted envelopes: every hostile construct is refused fast, with its own code.

The time bound (1 s) is a safety net against expansion or network access, not a benchmark. The
rejection must never carry what an entity would have resolved to.
"""

from __future__ import annotations

import time

import pytest

from gateway.adapters.xmlsec.envelope import build_envelope, q
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.domain.errors import Code, Rejection
from gateway.simulators.samples import message_header, sample_appeal

MAX_DEPTH = 48  # Settings.max_xml_depth
SAFETY_BOUND_S = 1.0
MARKER = "SECRET-MARKER-7c1e"

LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol0 "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10))
    + "]>\n<lolz>&lol9;</lolz>"
)


def _refused(data: bytes, max_depth: int = MAX_DEPTH) -> Rejection:
    """The rejection, checked to be quick and to echo nothing a resolved entity could contain."""
    started = time.perf_counter()
    with pytest.raises(Rejection) as refused:
        parse_hardened(data, max_depth=max_depth)
    assert time.perf_counter() - started < SAFETY_BOUND_S
    rejection = refused.value
    assert rejection.pointer is None
    for text in (str(rejection), rejection.detail):
        assert "root:" not in text
        assert MARKER not in text
    return rejection


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(MARKER, encoding="utf-8")
    return path


def test_a_real_envelope_with_an_xml_declaration_parses():
    """The control: what the portal sends (declaration included) passes the byte scan and the parser."""
    root = parse_hardened(build_envelope(message_header("EPGU"), sample_appeal()), max_depth=MAX_DEPTH)
    assert root.tag == q("Envelope")


@pytest.mark.parametrize(
    "document",
    [
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}"> %p;]><r/>',
        '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
        "<!doctype r><r/>",
        LAUGHS,
        '<r><!ENTITY x "y"></r>',
    ],
    ids=[
        "xxe-passwd",
        "xxe-file",
        "parameter-entity",
        "external-dtd",
        "bare-dtd",
        "billion-laughs",
        "stray-entity",
    ],
)
def test_dtds_and_entities_are_forbidden(document, secret_file):
    refusal = _refused(document.format(secret=secret_file).encode())
    assert refusal.code == Code.FORBIDDEN_XML_CONSTRUCT


@pytest.mark.parametrize(
    "document",
    [
        '<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="http://127.0.0.1:9/x.xsl"?><r/>',
        "<r><?php echo 1; ?></r>",
        "<r/><?trailing?>",
    ],
    ids=["stylesheet", "inside-element", "after-root"],
)
def test_processing_instructions_are_forbidden(document):
    assert _refused(document.encode()).code == Code.FORBIDDEN_XML_CONSTRUCT


def test_xinclude_is_forbidden(secret_file):
    document = (
        '<r xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="file://{secret_file}" parse="text"/></r>'
    )
    assert _refused(document.encode()).code == Code.FORBIDDEN_XML_CONSTRUCT


def test_a_dtd_in_utf16_escapes_the_byte_scan_but_not_the_parser(secret_file):
    """UTF-16 hides ``<!DOCTYPE`` from the byte scan; the post-parse check still refuses it unresolved."""
    document = f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]><r>&x;</r>'
    data = document.encode("utf-16")
    assert b"<!DOCTYPE" not in data
    assert _refused(data).code == Code.FORBIDDEN_XML_CONSTRUCT


def test_billion_laughs_in_utf16_is_refused_without_expansion():
    """libxml2's amplification guard refuses it as not well-formed before the post-parse DTD check."""
    data = LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    assert _refused(data).code in {Code.MALFORMED_XML, Code.FORBIDDEN_XML_CONSTRUCT}


def test_a_processing_instruction_in_utf16_is_forbidden():
    data = '<?xml version="1.0" encoding="UTF-16"?><r><?php echo 1; ?></r>'.encode("utf-16")
    try:
        parse_hardened(data, max_depth=MAX_DEPTH)
    except Rejection as refusal:
        assert refusal.code == Code.FORBIDDEN_XML_CONSTRUCT
    else:
        raise AssertionError("a processing instruction was accepted")


def _nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


@pytest.mark.parametrize("max_depth", [5, MAX_DEPTH])
def test_nesting_up_to_max_depth_parses_and_one_more_is_too_deep(max_depth):
    assert parse_hardened(_nested(max_depth), max_depth=max_depth).tag == "a"
    refusal = _refused(_nested(max_depth + 1), max_depth)
    assert refusal.code == Code.XML_TOO_DEEP


@pytest.mark.parametrize("depth", [300, 100_000], ids=["past-libxml2-limit", "very-deep"])
def test_far_too_deep_nesting_is_refused_quickly(depth):
    assert _refused(_nested(depth)).code == Code.XML_TOO_DEEP


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<r><a></r>",
        b"<r/><r/>",
        b"<r>fish & chips</r>",
        b"<r a='1' a='2'/>",
        b"\xff\xfe\x00not xml",
        b'<?xml version="1.0"?>',
        b"<r xmlns:p='urn:x'><q:a/></r>",
    ],
    ids=["empty", "mismatched-tag", "two-roots", "bare-ampersand", "duplicate-attribute", "garbage",
         "declaration-only", "undeclared-prefix"],
)  # fmt: skip
def test_malformed_xml_is_refused(data):
    assert _refused(data).code == Code.MALFORMED_XML
