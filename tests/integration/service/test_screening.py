"""Attachments screened at intake against a real clamd (tests/clamd.py) and libmagic: what is
infected, mistyped, of a type not accepted or an archive past its bounds is refused with the part
named, and nothing of the appeal is stored; a scanner away refuses the push with 503."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.model import IdentityProvider
from gateway.service import intake, mailbox
from gateway.service.intake import IncomingAttachment
from gateway.simulators.samples import attachment_header, sample_appeal
from tests.attachment_samples import JPEG, PDF, RTF, TIFF, TXT, docx, nested, odt, png, zip_of
from tests.clamd import EICAR, EICAR_SIGNATURE, MARKER, MARKER_SIGNATURE

AGENCY = "ADM-CHEBOKSARY"
POINTER = "/Message/Appeal/Attachments/Attachment"


def push(hub, portal, files: list[tuple[str, str, bytes]], seq: int = 1, **appeal) -> intake.Receipt:
    """Push one appeal whose attachments are ``(file name, declared media type, bytes)``."""
    headers = tuple(
        attachment_header(f"part-{n}", name, media, data) for n, (name, media, data) in enumerate(files)
    )
    parts = {
        h.content_id: IncomingAttachment(
            h.content_id, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest()
        )
        for h, (_, _, data) in zip(headers, files, strict=True)
    }
    return intake.accept(hub, portal.envelope(sample_appeal(seq, attachments=headers, **appeal)), parts)


def refused(hub, portal, files, seq: int = 1, **appeal) -> Rejection:
    with pytest.raises(Rejection) as caught:
        push(hub, portal, files, seq, **appeal)
    return caught.value


def stored(hub) -> dict[str, int]:
    with hub.pool.connection() as conn:
        return {
            table: conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]
            for table in ("appeal", "attachment", "blob", "mailbox_message")
        }


NOTHING = {"appeal": 0, "attachment": 0, "blob": 0, "mailbox_message": 0}


def with_settings(hub, **changes):
    return dataclasses.replace(hub, settings=hub.settings.model_copy(update=changes))


def test_every_accepted_type_passes_the_scan_and_reaches_the_agency(scanning_hub, portal):
    inner = zip_of({"t.txt": TXT})
    files = [
        ("a.pdf", "application/pdf", PDF), ("b.jpg", "image/jpg", JPEG), ("c.png", "image/png", png()),
        ("d.tiff", "image/tiff", TIFF), ("e.docx", "application/vnd.openxmlformats-officedocument."
        "wordprocessingml.document", docx()), ("f.odt", "application/vnd.oasis.opendocument.text", odt()),
        ("g.rtf", "text/rtf", RTF), ("h.txt", "text/plain", TXT),
        ("i.zip", "application/zip", zip_of({"scan.pdf": PDF, "photo.png": png(), "inner.zip": inner})),
    ]  # fmt: skip
    receipt = push(scanning_hub, portal, files)
    assert receipt.agency_code == AGENCY
    (message,) = mailbox.lease(scanning_hub, AGENCY, 10)
    assert message.appeal_id == receipt.appeal_id
    assert stored(scanning_hub)["attachment"] == len(files)


@pytest.mark.parametrize(
    ("data", "signature"),
    [
        (EICAR, EICAR_SIGNATURE),
        (b"%PDF-1.4\n" + MARKER + b"\n%%EOF\n", MARKER_SIGNATURE),  # our own signature, inside a "PDF"
    ],
)
def test_an_infected_part_is_refused_by_its_signature_and_nothing_is_stored(
    scanning_hub, portal, data, signature
):
    media = "text/plain" if data == EICAR else "application/pdf"
    rejection = refused(scanning_hub, portal, [("ok.pdf", "application/pdf", PDF), ("x", media, data)])
    assert rejection.code == Code.ATTACHMENT_INFECTED
    assert rejection.http_status == 422
    assert rejection.pointer == POINTER + "[2]"
    assert signature in rejection.detail
    assert "EICAR" not in rejection.detail.replace(EICAR_SIGNATURE, "")  # the name, nothing of the bytes
    assert stored(scanning_hub) == NOTHING
    with scanning_hub.pool.connection() as conn:
        rows = conn.execute("SELECT code FROM intake_rejection").fetchall()
    assert rows == [{"code": "attachment-infected"}]


def test_eicar_at_the_deepest_level_an_archive_may_have_is_found(scanning_hub, portal):
    deepest = nested(EICAR, "readme.txt", scanning_hub.settings.archive_max_depth)
    rejection = refused(scanning_hub, portal, [("all.zip", "application/zip", deepest)])
    assert (rejection.code, rejection.pointer) == (Code.ATTACHMENT_INFECTED, POINTER + "[1]")
    assert EICAR_SIGNATURE in rejection.detail
    assert stored(scanning_hub) == NOTHING


def test_an_archive_nested_deeper_than_allowed_is_refused_before_any_scan(scanning_hub, portal):
    too_deep = nested(PDF, "scan.pdf", scanning_hub.settings.archive_max_depth + 1)
    rejection = refused(scanning_hub, portal, [("all.zip", "application/zip", too_deep)])
    assert rejection.code == Code.ATTACHMENT_ARCHIVE_LIMIT
    assert "nested deeper than 3" in rejection.detail


def test_a_zip_bomb_stops_at_the_expanded_size_bound(scanning_hub, portal):
    bomb = zip_of({"zeros.txt": b"\0" * (8 * 1024 * 1024)})  # ~8 KB compressed
    assert len(bomb) < 64 * 1024
    hub = with_settings(scanning_hub, archive_max_expanded_bytes=1024 * 1024)
    rejection = refused(hub, portal, [("bomb.zip", "application/zip", bomb)])
    assert (rejection.code, rejection.pointer) == (Code.ATTACHMENT_ARCHIVE_LIMIT, POINTER + "[1]")
    assert "expanding past 1048576 bytes" in rejection.detail


def test_archive_members_are_counted_across_levels(scanning_hub, portal):
    archive = zip_of({"a.pdf": PDF, "b.pdf": PDF, "inner.zip": zip_of({"c.pdf": PDF, "d.pdf": PDF})})
    assert push(
        with_settings(scanning_hub, archive_max_members=5), portal, [("z.zip", "application/zip", archive)]
    )
    rejection = refused(
        with_settings(scanning_hub, archive_max_members=4), portal, [("z.zip", "application/zip", archive)], 2
    )
    assert rejection.code == Code.ATTACHMENT_ARCHIVE_LIMIT


def test_bytes_that_are_not_what_the_header_declares_are_refused_naming_the_part(hub, portal):
    rejection = refused(
        hub, portal, [("a.pdf", "application/pdf", PDF), ("photo.pdf", "application/pdf", png())]
    )
    assert (rejection.code, rejection.pointer) == (Code.ATTACHMENT_TYPE_NOT_ALLOWED, POINTER + "[2]")
    assert rejection.detail == "declared application/pdf, but the bytes are image/png"
    assert stored(hub) == NOTHING


def test_a_type_not_on_the_list_is_refused_even_when_declared_truthfully(hub, portal):
    elf = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 100
    rejection = refused(hub, portal, [("tool", "application/x-executable", elf)])
    assert (rejection.code, rejection.pointer) == (Code.ATTACHMENT_TYPE_NOT_ALLOWED, POINTER + "[1]")
    assert rejection.detail == "media type application/x-executable is not accepted"


def test_an_archive_member_of_a_type_not_accepted_is_refused_by_its_index(hub, portal):
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    archive = zip_of({"a.pdf": PDF, "inner.zip": zip_of({"b.txt": TXT, "page.html": html})})
    rejection = refused(hub, portal, [("z.zip", "application/zip", archive)])
    assert (rejection.code, rejection.pointer) == (Code.ATTACHMENT_TYPE_NOT_ALLOWED, POINTER + "[1]")
    assert rejection.detail == "archive member 2/2 is text/html, which is not accepted"


def test_the_list_of_types_is_per_jurisdiction(hub, portal, portal_by):
    no_images = {"RU": ["application/pdf", "image/png"], "BY": ["application/pdf"]}
    hub = with_settings(hub, attachment_media_types=no_images)
    assert push(hub, portal, [("p.png", "image/png", png())]).agency_code
    belarus = {"provider": IdentityProvider.BY_PASSWORD_PHONE, "territory_code": "5000000000"}
    rejection = refused(hub, portal_by, [("p.png", "image/png", png())], 2, **belarus)
    assert rejection.code == Code.ATTACHMENT_TYPE_NOT_ALLOWED


def test_scanner_stopped_refuses_the_push_with_503_and_stores_nothing(scanning_hub, portal, clamd):
    files = [("a.pdf", "application/pdf", PDF)]
    clamd.stop()
    rejection = refused(scanning_hub, portal, files)
    assert (rejection.code, rejection.http_status) == (Code.ANTIVIRUS_UNAVAILABLE, 503)
    assert stored(scanning_hub) == NOTHING
    clamd.start()
    assert not push(scanning_hub, portal, files).duplicate  # the same push, later: accepted


def test_a_hung_scanner_times_out_into_503(scanning_hub, portal, clamd):
    hub = with_settings(scanning_hub, clamd_timeout_seconds=0.5)
    clamd.pause()
    try:
        rejection = refused(hub, portal, [("a.pdf", "application/pdf", PDF)])
    finally:
        clamd.resume()
    assert rejection.code == Code.ANTIVIRUS_UNAVAILABLE
    assert stored(hub) == NOTHING
