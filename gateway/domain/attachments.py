"""Attachments travel beside a signed document; the headers it signs bind them to it.

The portal's envelope and an agency's answer both sign each attachment's header (ContentId, size,
SHA-256) and send the bytes as separate parts, as SMEV 3 does with MTOM: the signature stays small
and the bytes stream. A face spools each part while hashing it; the parts are held to the signed
headers here, once, for every kind of signed document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import BinaryIO, Protocol

from gateway.domain.errors import Code, Rejection
from gateway.domain.model import AttachmentHeader


class AttachmentPart(Protocol):
    """An attachment's bytes as a face received them, with the size and SHA-256 computed while they
    streamed (so checking them costs no second read)."""

    @property
    def content_id(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...  # lower-case hex

    @property
    def file(self) -> BinaryIO: ...


def check_parts(
    headers: Sequence[AttachmentHeader], parts: Mapping[str, AttachmentPart], max_bytes: int, pointer: str
) -> None:
    """Every signed header has its part, every part its header, and the bytes match the signed size
    and digest; otherwise a refusal naming the header at fault, ``{pointer}/Attachment[n]``.

    ``pointer`` is the path of the signed ``Attachments`` list in the document.
    """
    declared = {header.content_id for header in headers}
    for n, header in enumerate(headers, start=1):
        at = f"{pointer}/Attachment[{n}]"
        if header.size > max_bytes:
            raise Rejection(Code.ATTACHMENT_TOO_LARGE, f"attachments are limited to {max_bytes} bytes", at)
        part = parts.get(header.content_id)
        if part is None:
            raise Rejection(Code.ATTACHMENT_MISSING, f"no part named {header.content_id}", at)
        if part.size != header.size:
            raise Rejection(Code.ATTACHMENT_SIZE_MISMATCH, "the part's size differs from the signed Size", at)
        if part.sha256 != header.sha256:
            raise Rejection(
                Code.ATTACHMENT_DIGEST_MISMATCH, "the part's SHA-256 differs from the signed digest", at
            )
    for content_id in parts:
        if content_id not in declared:
            raise Rejection(
                Code.ATTACHMENT_UNEXPECTED, f"part {content_id} is not declared in the signed document"
            )
