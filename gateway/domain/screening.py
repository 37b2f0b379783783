"""What an attachment may be before any agency sees it: its type by content, archives' bounds.

Agencies' networks accept documents and images their EDMS and clerks can open, and nothing that runs.
The portal declares each attachment's ``MediaType`` in the signed header; the hub holds that
declaration to the type sniffed from the bytes (libmagic, in ``gateway/adapters/filetype.py``) and
to the jurisdiction's list of allowed types. The default list (PDF, JPEG, PNG, TIFF, DOC, DOCX, ODT,
RTF, TXT, ZIP) is the one the hub's issue #17 set down as the document and image formats agencies'
security rules expect; it is configuration (``GATEWAY_ATTACHMENT_MEDIA_TYPES``), not a legal text,
so a region whose rules differ changes it without a release.

ZIP archives are opened and each member is typed too (its declared type is its file name only, so a
member must simply be of an allowed type); nesting, member count and expanded size are bounded so a
zip bomb costs a bounded amount of work. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.domain.errors import Code, Rejection

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
RTF = "application/rtf"
TXT = "text/plain"
ZIP = "application/zip"
EMPTY = "application/x-empty"

DEFAULT_MEDIA_TYPES: tuple[str, ...] = (PDF, JPEG, PNG, TIFF, DOC, DOCX, ODT, RTF, TXT, ZIP)

# Other spellings of the same type that portals and browsers send, folded to one name.
ALIASES: Mapping[str, str] = {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/tif": TIFF,
    "text/rtf": RTF,
    "application/x-rtf": RTF,
    "application/x-zip-compressed": ZIP,
    "application/x-zip": ZIP,
    "application/zip-compressed": ZIP,
}

# What libmagic may call a file of each allowed type (beyond the type's own name).
SNIFFED_AS: Mapping[str, frozenset[str]] = {
    RTF: frozenset({"text/rtf", "application/rtf"}),
    # An old Word file is an OLE2 compound document; libmagic names Word's, and a bare container
    # it cannot attribute, which Word 97-2003 files written by other editors often are.
    DOC: frozenset({DOC, "application/x-ole-storage", "application/cdfv2"}),
    # libmagic tells comma-separated text from prose; both are plain text to a clerk.
    TXT: frozenset({TXT, "text/csv"}),
}


def normalise(media_type: str) -> str:
    """``Image/JPG; charset=x`` → ``image/jpeg``: parameters dropped, case folded, aliases joined."""
    bare = media_type.split(";", 1)[0].strip().lower()
    return ALIASES.get(bare, bare)


def matches(declared: str, sniffed: str) -> bool:
    """Whether bytes libmagic calls ``sniffed`` are what a header declaring ``declared`` promised."""
    declared, sniffed = normalise(declared), normalise(sniffed)
    if sniffed == EMPTY:  # no bytes: nothing to open, whatever the name promised
        return True
    return sniffed == declared or sniffed in SNIFFED_AS.get(declared, ())


def check_declared(declared: str, sniffed: str, allowed: Iterable[str], pointer: str) -> None:
    """An attachment's signed ``MediaType`` is allowed and is what its bytes are; else a refusal."""
    allowed_set = {normalise(t) for t in allowed}
    if normalise(declared) not in allowed_set:
        raise Rejection(
            Code.ATTACHMENT_TYPE_NOT_ALLOWED, f"media type {normalise(declared)} is not accepted", pointer
        )
    if not matches(declared, sniffed):
        raise Rejection(
            Code.ATTACHMENT_TYPE_NOT_ALLOWED,
            f"declared {normalise(declared)}, but the bytes are {normalise(sniffed)}",
            pointer,
        )


def check_member(sniffed: str, allowed: Iterable[str], member: str, pointer: str) -> None:
    """A member of an archive is of an allowed type (named in the detail by its index, not its name:
    a file name is the applicant's text)."""
    allowed_set = {normalise(t) for t in allowed}
    if not any(matches(t, sniffed) for t in allowed_set):
        raise Rejection(
            Code.ATTACHMENT_TYPE_NOT_ALLOWED,
            f"archive member {member} is {normalise(sniffed)}, which is not accepted",
            pointer,
        )


def is_archive(sniffed: str) -> bool:
    """Archives the hub opens (a DOCX or ODT is a ZIP too, but libmagic names it as a document,
    and a document is not unpacked: clamd looks inside it)."""
    return normalise(sniffed) == ZIP


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Bounds on what an archive may unfold into, across all its levels together."""

    max_depth: int  # 1: an archive of plain files; 2: one archive inside another; …
    max_members: int
    max_expanded_bytes: int


@dataclass(slots=True)
class ArchiveBudget:
    """What is left of the limits while one attachment's archives are walked."""

    limits: ArchiveLimits
    pointer: str
    members: int = 0
    expanded: int = 0

    def enter(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise Rejection(
                Code.ATTACHMENT_ARCHIVE_LIMIT,
                f"archives nested deeper than {self.limits.max_depth} levels are not accepted",
                self.pointer,
            )

    def member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise Rejection(
                Code.ATTACHMENT_ARCHIVE_LIMIT,
                f"archives with more than {self.limits.max_members} members are not accepted",
                self.pointer,
            )

    def grow(self, n: int) -> None:
        """Count ``n`` more bytes unpacked (as they come, so a lying header saves the bomb nothing)."""
        self.expanded += n
        if self.expanded > self.limits.max_expanded_bytes:
            raise Rejection(
                Code.ATTACHMENT_ARCHIVE_LIMIT,
                f"archives expanding past {self.limits.max_expanded_bytes} bytes are not accepted",
                self.pointer,
            )
