"""A tar file for long-term storage, each member hashed (SHA-256) as it is written.

The archive is written under a temporary name beside its destination, synced to disk and renamed
into place only when complete: a failed export leaves no file that looks like an archive. Members
are read from streams of chunks, so no member is ever whole in memory; a stream that yields more
or fewer bytes than announced, or other bytes than its expected digest, fails the export.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType


class MemberMismatch(ValueError):
    """A member's stream did not hold what was announced: other size, or other bytes."""


@dataclass(frozen=True, slots=True)
class Member:
    path: str
    sha256: str  # hex
    size: int


class _HashingReader(io.RawIOBase):
    """A file over an iterator of chunks, hashing what is read (tarfile reads in small blocks)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._chunk = memoryview(b"")
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        while not self._chunk:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._chunk = memoryview(chunk)
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self.digest.update(self._chunk[:n])
        self._chunk = self._chunk[n:]
        self.count += n
        return n


class ArchiveWriter:
    """``with ArchiveWriter(path) as archive: archive.add(...)``; the file appears only if the block
    completes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        self._tar: tarfile.TarFile | None = None
        self.members: list[Member] = []

    def __enter__(self) -> ArchiveWriter:
        self._tar = tarfile.open(self._partial, "w", format=tarfile.PAX_FORMAT)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tar is not None
        self._tar.close()
        if kind is not None:
            self._partial.unlink(missing_ok=True)
            return
        with self._partial.open("rb+") as f:
            os.fsync(f.fileno())
        self._partial.replace(self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)

    def add_bytes(self, path: str, data: bytes, mtime: datetime, *, sha256: str | None = None) -> Member:
        return self.add_stream(path, len(data), [data], mtime, sha256=sha256)

    def add_stream(
        self, path: str, size: int, chunks: Iterable[bytes], mtime: datetime, *, sha256: str | None = None
    ) -> Member:
        """Add ``size`` bytes from ``chunks`` as ``path``; ``sha256`` (hex), when given, must match."""
        assert self._tar is not None
        info = tarfile.TarInfo(path)
        info.size, info.mtime, info.mode = size, int(mtime.timestamp()), 0o444
        reader = _HashingReader(chunks)
        try:
            self._tar.addfile(info, reader)
        except OSError:
            if reader.count < size:  # tarfile's "unexpected end of data"
                raise MemberMismatch(f"{path}: {reader.count} bytes, not the {size} announced") from None
            raise
        if reader.read(1):
            raise MemberMismatch(f"{path}: more than the {size} bytes announced")
        digest = reader.digest.hexdigest()
        if sha256 is not None and digest != sha256:
            raise MemberMismatch(f"{path}: the stored bytes hash to {digest}, not to {sha256}")
        member = Member(path, digest, size)
        self.members.append(member)
        return member
