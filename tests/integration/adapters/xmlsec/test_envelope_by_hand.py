"""The envelope helpers for trying the hub by hand: declared attachments land where the contract
has them and replace any the envelope had (the hub taking one signed so: tests/e2e/test_docs_commands.py)."""

from __future__ import annotations

import hashlib

from lxml import etree

from gateway.adapters.xmlsec.envelope import attach, q, restamp
from gateway.config import PROJECT_ROOT
from gateway.domain.model import AttachmentHeader

EXAMPLE = (PROJECT_ROOT / "schemas" / "examples" / "appeal-unsigned.xml").read_bytes()


def _header(content_id: str, data: bytes) -> AttachmentHeader:
    return AttachmentHeader(
        content_id, f"{content_id}.pdf", "application/pdf", len(data), hashlib.sha256(data).hexdigest()
    )


def test_declared_attachments_follow_consent_and_replace_earlier_ones():
    once = attach(EXAMPLE, [_header("old", b"x")])
    twice = attach(restamp(once), [_header("scan-1", b"%PDF-1.4 a"), _header("scan-2", b"%PDF-1.4 b")])
    root = etree.fromstring(twice)
    appeal = root.find(f"{q('Message')}/{q('Appeal')}")
    names = [etree.QName(child).localname for child in appeal]
    assert names[names.index("Consent") + 1] == "Attachments"
    ids = [a.get("ContentId") for a in appeal.iterfind(f"{q('Attachments')}/{q('Attachment')}")]
    assert ids == ["scan-1", "scan-2"]
    assert (
        appeal.findtext(f"{q('Attachments')}/{q('Attachment')}/{q('Sha256')}")
        == hashlib.sha256(b"%PDF-1.4 a").hexdigest()
    )


def test_no_attachments_leaves_none():
    root = etree.fromstring(attach(attach(EXAMPLE, [_header("old", b"x")]), []))
    assert root.find(f"{q('Message')}/{q('Appeal')}/{q('Attachments')}") is None
