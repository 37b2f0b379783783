"""Reading signed documents and their attachments off the wire without holding attachments in memory.

``application/xml``: the body is the envelope. ``multipart/form-data`` (or ``multipart/related``,
as SMEV's MTOM does): the parts with agreed names are documents kept in memory (the portal's
``envelope``; an agency's ``event`` and ``answer``), every other part is an attachment named by its
``ContentId``; each attachment is spooled to a temporary file (memory up to 1 MiB, then disk) while
its SHA-256 is computed, so a 50 MB scan costs the hub 1 MiB of RAM.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.domain import text
from gateway.domain.errors import Code, Rejection
from gateway.service.intake import IncomingAttachment

ENVELOPE_PART = "envelope"
SPOOL_IN_MEMORY = 1024 * 1024


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    size: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    file: Any = None
    document: bytearray | None = None


@dataclass
class Upload:
    envelope: bytes
    attachments: dict[str, IncomingAttachment]

    def close(self) -> None:
        for item in self.attachments.values():
            item.file.close()


@dataclass
class Parts:
    """A multipart body read: the named documents' bytes, and the attachments spooled by ContentId."""

    documents: dict[str, bytes]
    attachments: dict[str, IncomingAttachment]

    def close(self) -> None:
        for item in self.attachments.values():
            item.file.close()


async def read_body(stream: AsyncIterator[bytes], max_bytes: int, what: str = "envelope") -> bytes:
    """The whole body, refused (``body-too-large``) as soon as it grows past ``max_bytes``."""
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > max_bytes:
            raise Rejection(Code.BODY_TOO_LARGE, f"the {what} exceeds {max_bytes} bytes")
    return bytes(body)


async def read_xml(stream: AsyncIterator[bytes], max_bytes: int) -> bytes:
    return await read_body(stream, max_bytes)


async def read_multipart(
    stream: AsyncIterator[bytes],
    content_type: str,
    *,
    max_envelope: int,
    max_attachment: int,
    max_parts: int,
) -> Upload:
    """The portal's push: the part ``envelope`` and its attachments."""
    parts = await read_parts(
        stream,
        content_type,
        documents={ENVELOPE_PART: max_envelope},
        max_attachment=max_attachment,
        max_parts=max_parts,
    )
    return Upload(parts.documents[ENVELOPE_PART], parts.attachments)


async def read_parts(
    stream: AsyncIterator[bytes],
    content_type: str,
    *,
    documents: Mapping[str, int],
    max_attachment: int,
    max_parts: int,
) -> Parts:
    """Parse a multipart body part by part; attachments go to spooled files as they arrive.

    ``documents`` names the parts kept in memory, each with its byte limit; each must come exactly
    once. Any other part is an attachment (at most ``max_parts`` of them, each ``max_attachment``
    bytes at most), named by its ``Content-Disposition`` name or ``Content-ID``.
    """
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise Rejection(Code.MALFORMED_MULTIPART, "the multipart Content-Type has no boundary")

    parts: list[_Part] = []
    header_field = bytearray()
    header_value = bytearray()
    current: list[_Part] = []

    def on_part_begin() -> None:
        current[:] = [_Part()]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        current[0].headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        part = current[0]
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        raw_name = disposition.get(b"name") or part.headers.get(b"content-id", b"").strip(b"<>")
        if not raw_name:
            raise Rejection(Code.MALFORMED_MULTIPART, "every part needs a name (Content-Disposition name=)")
        # A part's name becomes an attachment's ContentId: held to the text rule like any field.
        part.name = text.check(raw_name.decode("utf-8", "replace"), f"/parts/{len(parts)}/name")
        if len(parts) >= max_parts + len(documents):
            raise Rejection(Code.MALFORMED_MULTIPART, f"more than {max_parts} attachment parts")
        if part.name in documents:
            part.document = bytearray()
        else:
            part.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by Upload)
        parts.append(part)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = current[0]
        chunk = data[start:end]
        part.size += len(chunk)
        if part.document is not None:
            limit = documents[part.name]
            if part.size > limit:
                raise Rejection(Code.BODY_TOO_LARGE, f"the {part.name} exceeds {limit} bytes")
            part.document += chunk
        else:
            if part.size > max_attachment:
                raise Rejection(
                    Code.ATTACHMENT_TOO_LARGE, f"attachments are limited to {max_attachment} bytes"
                )
            part.hasher.update(chunk)
            part.file.write(chunk)

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        _close(parts)
        raise Rejection(Code.MALFORMED_MULTIPART, f"the multipart body is malformed: {exc}") from None
    except Exception:  # a Rejection, or the client gone mid-upload: the spooled parts go now
        _close(parts)
        raise

    found: dict[str, bytes] = {}
    for name in documents:
        named = [p for p in parts if p.name == name]
        if len(named) != 1:
            _close(parts)
            raise Rejection(Code.MALFORMED_MULTIPART, f"exactly one part must be named '{name}'")
        found[name] = bytes(named[0].document)
    attachments: dict[str, IncomingAttachment] = {}
    for p in parts:
        if p.file is None:
            continue
        if p.name in attachments:
            _close(parts)
            raise Rejection(Code.MALFORMED_MULTIPART, f"two parts are named {p.name}")
        attachments[p.name] = IncomingAttachment(p.name, p.file, p.size, p.hasher.hexdigest())
    return Parts(found, attachments)


def _close(parts: list[_Part]) -> None:
    for p in parts:
        if p.file is not None:
            p.file.close()
