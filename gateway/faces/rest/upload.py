"""Reading a pushed envelope off the wire without holding attachments in memory.

``application/xml``: the body is the envelope. ``multipart/form-data`` (or ``multipart/related``,
as SMEV's MTOM does): the part named ``envelope`` is the envelope, every other part is an
attachment named by its ``ContentId``; each is spooled to a temporary file (memory up to
1 MiB, then disk) while its SHA-256 is computed, so a 50 MB scan costs the hub 1 MiB of RAM.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

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
    envelope: bytearray | None = None


@dataclass
class Upload:
    envelope: bytes
    attachments: dict[str, IncomingAttachment]

    def close(self) -> None:
        for item in self.attachments.values():
            item.file.close()


async def read_xml(stream: AsyncIterator[bytes], max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > max_bytes:
            raise Rejection(Code.BODY_TOO_LARGE, f"the envelope exceeds {max_bytes} bytes")
    return bytes(body)


async def read_multipart(
    stream: AsyncIterator[bytes],
    content_type: str,
    *,
    max_envelope: int,
    max_attachment: int,
    max_parts: int,
) -> Upload:
    """Parse a multipart body part by part; attachments go to spooled files as they arrive."""
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
        part.name = raw_name.decode("utf-8", "replace")
        if len(parts) >= max_parts + 1:
            raise Rejection(Code.MALFORMED_MULTIPART, f"more than {max_parts} attachment parts")
        if part.name == ENVELOPE_PART:
            part.envelope = bytearray()
        else:
            part.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by Upload)
        parts.append(part)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = current[0]
        chunk = data[start:end]
        part.size += len(chunk)
        if part.envelope is not None:
            if part.size > max_envelope:
                raise Rejection(Code.BODY_TOO_LARGE, f"the envelope exceeds {max_envelope} bytes")
            part.envelope += chunk
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
    except Rejection:
        _close(parts)
        raise

    envelopes = [p for p in parts if p.envelope is not None]
    if len(envelopes) != 1:
        _close(parts)
        raise Rejection(Code.MALFORMED_MULTIPART, "exactly one part must be named 'envelope'")
    attachments: dict[str, IncomingAttachment] = {}
    for p in parts:
        if p.file is None:
            continue
        if p.name in attachments:
            _close(parts)
            raise Rejection(Code.MALFORMED_MULTIPART, f"two parts are named {p.name}")
        attachments[p.name] = IncomingAttachment(p.name, p.file, p.size, p.hasher.hexdigest())
    return Upload(bytes(envelopes[0].envelope), attachments)


def _close(parts: list[_Part]) -> None:
    for p in parts:
        if p.file is not None:
            p.file.close()
