"""Parts that travel beside a signed document are held to the headers it signs, for every document."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import BinaryIO

import pytest

from gateway.domain.attachments import check_parts
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import AttachmentHeader

SCAN, ACT = b"%PDF scan", b"%PDF act of inspection"
POINTER = "/answer/Document/Attachments"


@dataclass(frozen=True)
class Part:
    content_id: str
    file: BinaryIO
    size: int
    sha256: str


def _part(content_id: str, data: bytes) -> Part:
    return Part(content_id, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())


def _header(content_id: str, data: bytes) -> AttachmentHeader:
    return AttachmentHeader(
        content_id, content_id + ".pdf", "application/pdf", len(data), hashlib.sha256(data).hexdigest()
    )


HEADERS = (_header("scan", SCAN), _header("act", ACT))


def test_each_signed_header_with_its_part_passes():
    check_parts(HEADERS, {"act": _part("act", ACT), "scan": _part("scan", SCAN)}, 1000, POINTER)
    check_parts((), {}, 1000, POINTER)


@pytest.mark.parametrize(
    ("parts", "max_bytes", "code", "pointer"),
    [
        ({"scan": _part("scan", SCAN)}, 1000, Code.ATTACHMENT_MISSING, f"{POINTER}/Attachment[2]"),
        ({"scan": _part("scan", SCAN), "act": _part("act", ACT[:-1])}, 1000,
         Code.ATTACHMENT_SIZE_MISMATCH, f"{POINTER}/Attachment[2]"),
        ({"scan": _part("scan", SCAN.upper()), "act": _part("act", ACT)}, 1000,
         Code.ATTACHMENT_DIGEST_MISMATCH, f"{POINTER}/Attachment[1]"),
        ({"scan": _part("scan", SCAN), "act": _part("act", ACT), "x": _part("x", b"")}, 1000,
         Code.ATTACHMENT_UNEXPECTED, None),
        ({"scan": _part("scan", SCAN), "act": _part("act", ACT)}, len(ACT) - 1,
         Code.ATTACHMENT_TOO_LARGE, f"{POINTER}/Attachment[2]"),
    ],
    ids=["missing", "size", "digest", "unexpected", "too-large"],
)  # fmt: skip
def test_parts_that_do_not_match_the_signed_headers_are_refused(parts, max_bytes, code, pointer):
    with pytest.raises(Rejection) as refused:
        check_parts(HEADERS, parts, max_bytes, POINTER)
    assert (refused.value.code, refused.value.pointer) == (code, pointer)
