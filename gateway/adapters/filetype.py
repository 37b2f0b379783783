"""A file's real type, sniffed from its bytes by libmagic (the library behind file(1)).

python-magic over ``puremagic``: libmagic is the reference every EDMS vendor's "what is this file"
agrees with, it tells a DOCX from a plain ZIP and an OLE2 Word file from an MSI by looking inside
them, and Debian ships and patches it (``libmagic1``); puremagic matches leading bytes only and
guesses OOXML from extensions. A libmagic cookie is not thread-safe, so each thread has its own.
"""

from __future__ import annotations

import threading
from typing import BinaryIO

import magic

# libmagic's own default read size (MAGIC_PARAM_BYTES_MAX): what it looks at anyway.
HEAD = 1024 * 1024

_local = threading.local()


def _cookie() -> magic.Magic:
    cookie = getattr(_local, "cookie", None)
    if cookie is None:
        cookie = _local.cookie = magic.Magic(mime=True)
    return cookie


def sniff(file: BinaryIO) -> str:
    """The media type of ``file``'s bytes (read from the start; the position is restored to 0)."""
    file.seek(0)
    head = file.read(HEAD)
    file.seek(0)
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> str:
    return _cookie().from_buffer(head)
