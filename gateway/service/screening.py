"""Screening at intake: every attachment typed by its bytes and scanned by clamd before it is stored.

It runs after the parts are held to their signed headers and before the store transaction, with no
database connection held: a refused part leaves nothing stored, and a 50 MB scan does not pin a
pooled connection. Typing comes first (local, milliseconds); the scan streams each part to clamd,
which unpacks archives and documents itself, at every level the typing let through.

Scanner unavailable (not listening, slower than ``clamd_timeout_seconds``, refusing the stream):
by default the push is refused with 503 ``antivirus-unavailable`` and nothing is stored, so the
portal pushes the same bytes again later (fail-closed). With ``antivirus_outage = "hold"``
(fail-open) :func:`screen` answers True instead: intake stores the appeal but holds it back from the
agency (``gateway/service/holds.py``) until a later scan passes. Either way nothing unscanned
reaches an agency.
"""

from __future__ import annotations

import io
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from typing import BinaryIO

import structlog

from gateway.adapters import filetype, metrics
from gateway.adapters.antivirus import Clamd, ScannerUnavailable
from gateway.config import Settings
from gateway.domain.attachments import AttachmentPart
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import AttachmentHeader
from gateway.domain.screening import (
    DEFAULT_MEDIA_TYPES,
    ArchiveBudget,
    ArchiveLimits,
    check_declared,
    check_member,
    is_archive,
)

log = structlog.get_logger(__name__)

SPOOL_IN_MEMORY = 1024 * 1024
_UNPACK_CHUNK = 256 * 1024
_ZIP_ENCRYPTED = 0x1
_UNREADABLE = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, OSError)


def scanner(settings: Settings) -> Clamd | None:
    if not settings.clamd_address:
        return None
    return Clamd(settings.clamd_address, settings.clamd_timeout_seconds)


def screen(
    settings: Settings,
    headers: Sequence[AttachmentHeader],
    parts: Mapping[str, AttachmentPart],
    jurisdiction: str,
    pointer: str,
) -> bool:
    """Type every part, then scan every part; raises a :class:`Rejection` naming the part at fault.
    True when the appeal must be held back: the scanner gave no verdict and the policy is ``hold``.

    ``pointer`` is the path of the signed ``Attachments`` list; parts were already held to it.
    """
    allowed = settings.attachment_media_types.get(str(jurisdiction), list(DEFAULT_MEDIA_TYPES))
    limits = ArchiveLimits(
        settings.archive_max_depth, settings.archive_max_members, settings.archive_max_expanded_bytes
    )
    for n, header in enumerate(headers, start=1):
        at = f"{pointer}/Attachment[{n}]"
        file = parts[header.content_id].file
        sniffed = filetype.sniff(file)
        check_declared(header.media_type, sniffed, allowed, at)
        if is_archive(sniffed):
            _walk(file, allowed, ArchiveBudget(limits, at), depth=1, path="")
    clamd = scanner(settings)
    if clamd is None:
        return False
    for n, header in enumerate(headers, start=1):
        at = f"{pointer}/Attachment[{n}]"
        if not _scan(clamd, parts[header.content_id].file, at, settings.antivirus_outage):
            return True  # no verdict, fail-open: every part is scanned again on release
    return False


def scan_answer(
    settings: Settings, headers: Sequence[AttachmentHeader], parts: Mapping[str, AttachmentPart], pointer: str
) -> None:
    """Scan an agency's answer attachments before they are stored: the applicant opens them, so they
    pass the same clamd as an appeal's. Always fail-closed, whatever ``antivirus_outage`` says: an
    answer cannot be held back like an appeal (the event would be recorded and the cabinet told
    without its attachments), while an EDMS already sends the same event again on a 503 and the
    event id makes that repeat safe. Not typed: agencies attach what their EDMS produces (signature
    files, scans), and the applicant's side has no list of accepted types to hold them to.

    ``pointer`` is the path of the signed ``Attachments`` list; parts were already held to it.
    """
    clamd = scanner(settings)
    if clamd is None:
        return
    for n, header in enumerate(headers, start=1):
        _scan(clamd, parts[header.content_id].file, f"{pointer}/Attachment[{n}]", "refuse")


def infection(settings: Settings, data: bytes) -> str | None:
    """The signature clamd finds in ``data`` (a whole e-mail: clamd reads MIME and unpacks every
    attachment), or None; raises :class:`ScannerUnavailable` when it gives no verdict, so the caller
    leaves the message where it is and tries again. None, too, when no clamd is configured."""
    return infection_in(settings, io.BytesIO(data))


def infection_in(settings: Settings, file: BinaryIO) -> str | None:
    """:func:`infection` of a file's bytes, from its start."""
    clamd = scanner(settings)
    if clamd is None:
        return None
    file.seek(0)
    start = time.perf_counter()
    try:
        verdict = clamd.scan(file)
    except ScannerUnavailable:
        metrics.attachment_scanned("unavailable", time.perf_counter() - start)
        raise
    metrics.attachment_scanned("infected" if verdict.infected else "clean", time.perf_counter() - start)
    return None if verdict.signature is None else _printable(verdict.signature)


def _scan(clamd: Clamd, file: BinaryIO, at: str, outage: str) -> bool:
    """True when clamd found the part clean; False when it gave no verdict and the policy holds;
    otherwise a refusal."""
    file.seek(0)
    start = time.perf_counter()
    try:
        verdict = clamd.scan(file)
    except ScannerUnavailable as exc:
        metrics.attachment_scanned("unavailable", time.perf_counter() - start)
        log.warning("antivirus unavailable", reason=exc.reason, policy=outage)
        if outage == "hold":
            return False
        raise Rejection(
            Code.ANTIVIRUS_UNAVAILABLE,
            "the attachments cannot be scanned at the moment; push the same bytes again later",
            at,
        ) from None
    finally:
        file.seek(0)
    if verdict.signature is not None:
        metrics.attachment_scanned("infected", time.perf_counter() - start)
        signature = _printable(verdict.signature)
        log.warning("attachment infected", signature=signature, pointer=at)
        raise Rejection(Code.ATTACHMENT_INFECTED, f"the antivirus found {signature}", at)
    metrics.attachment_scanned("clean", time.perf_counter() - start)
    return True


def _printable(signature: str) -> str:
    """A signature's name as clamd gives it, held to a safe alphabet and length for the detail."""
    return re.sub(r"[^A-Za-z0-9._:/+-]", "?", signature)[:120]


def _walk(file: BinaryIO, allowed: Sequence[str], budget: ArchiveBudget, depth: int, path: str) -> None:
    """Open a ZIP and type each member, unpacking it (bytes counted as they come: a header's sizes
    may lie) and walking into members that are archives themselves."""
    budget.enter(depth)
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
        members = archive.infolist()
    except _UNREADABLE:
        raise _unreadable(budget.pointer, path or "the archive") from None
    with archive:
        for i, info in enumerate(members, start=1):
            if info.is_dir():
                continue
            budget.member()
            label = f"{path}{i}"
            if info.flag_bits & _ZIP_ENCRYPTED:
                raise Rejection(
                    Code.ATTACHMENT_TYPE_NOT_ALLOWED,
                    f"archive member {label} is encrypted and cannot be checked",
                    budget.pointer,
                )
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as member:
                _unpack(archive, info, member, budget, label)
                sniffed = filetype.sniff(member)
                check_member(sniffed, allowed, label, budget.pointer)
                if is_archive(sniffed):
                    _walk(member, allowed, budget, depth + 1, f"{label}/")
    file.seek(0)


def _unpack(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: BinaryIO, budget: ArchiveBudget, label: str
) -> None:
    try:
        with archive.open(info) as source:
            while chunk := source.read(_UNPACK_CHUNK):
                budget.grow(len(chunk))
                out.write(chunk)
    except _UNREADABLE:
        raise _unreadable(budget.pointer, f"archive member {label}") from None
    out.seek(0)


def _unreadable(pointer: str, what: str) -> Rejection:
    return Rejection(Code.ATTACHMENT_TYPE_NOT_ALLOWED, f"{what} cannot be read as a ZIP archive", pointer)
