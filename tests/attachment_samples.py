"""Small real files of each type the hub accepts, and archives of them, built in memory for tests.

Each is what libmagic recognises in a real file of its kind (a PNG with a valid IHDR and CRCs, a
DOCX laid out as Word writes it), not just a leading magic number.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib

from gateway.service import intake
from gateway.simulators.samples import attachment_header, sample_appeal

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
TIFF = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32
RTF = b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}}\\f0 Appeal text.}"
TXT = "Текст обращения в простом виде.\n".encode()


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def zip_of(members: dict[str, bytes], *, stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, (name, data) in enumerate(members.items()):
            stored = stored_first and i == 0
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def docx() -> bytes:
    return zip_of({
        "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
        "word/document.xml": b'<?xml version="1.0"?><w:document/>',
    })  # fmt: skip


def odt() -> bytes:
    return zip_of(
        {
            "mimetype": b"application/vnd.oasis.opendocument.text",
            "content.xml": b"<office:document-content/>",
        },
        stored_first=True,
    )


def nested(data: bytes, name: str, levels: int) -> bytes:
    """``data`` as ``name`` inside ``levels`` ZIP archives, one inside the other."""
    for level in range(levels):
        data = zip_of({name if level == 0 else f"level-{levels - level}.zip": data})
    return data


def accepted_with(hub, portal, data: bytes, media_type: str, seq: int = 1, **appeal) -> intake.Receipt:
    """Push (through the service layer) one appeal with one attachment, ``data`` as ``media_type``."""
    header = attachment_header("part-1", "file", media_type, data)
    part = intake.IncomingAttachment("part-1", io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())
    envelope = portal.envelope(sample_appeal(seq, attachments=(header,), **appeal))
    return intake.accept(hub, envelope, {"part-1": part})
