"""The portal's push against a hub process that scans through a real clamd: an infected part, at any
depth of an archive, and a part whose bytes belie its header are refused as problem documents and
never reach an agency; the scanner stopped is a 503 with Retry-After, the same push later a 201."""

from __future__ import annotations

import httpx
import pytest

from gateway.simulators.portal import push
from gateway.simulators.samples import attachment_header, sample_appeal
from tests.attachment_samples import PDF, nested, png
from tests.clamd import EICAR, EICAR_SIGNATURE

POINTER = "/Message/Appeal/Attachments/Attachment"


@pytest.fixture
def client(hub_url, hub, clamd):
    """An HTTP client of the scanning hub; ``hub``: no appeals; ``clamd``: the scanner running."""
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


def _push(client, portal, files: list[tuple[str, str, bytes]], seq: int = 1) -> httpx.Response:
    headers = tuple(
        attachment_header(f"part-{n}", name, media, data) for n, (name, media, data) in enumerate(files)
    )
    parts = {
        h.content_id: (h.file_name, data, h.media_type)
        for h, (_, _, data) in zip(headers, files, strict=True)
    }
    return push(client, portal.envelope(sample_appeal(seq, attachments=headers)), parts)


def _count(hub, table: str) -> int:
    with hub.pool.connection() as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def _nothing_reached_an_agency(hub) -> None:
    for table in ("appeal", "attachment", "blob", "mailbox_message"):
        assert _count(hub, table) == 0, table


def test_eicar_two_archives_deep_is_refused_and_counted(client, hub, portal):
    deep = nested(EICAR, "readme.txt", 2)
    response = _push(
        client, portal, [("scan.pdf", "application/pdf", PDF), ("docs.zip", "application/zip", deep)]
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["code"], problem["pointer"]) == ("attachment-infected", POINTER + "[2]")
    assert EICAR_SIGNATURE in problem["detail"]
    _nothing_reached_an_agency(hub)
    scraped = client.get("/metrics").text
    assert 'appeals_gateway_attachment_scans_total{outcome="infected"}' in scraped
    assert 'appeals_gateway_intake_rejected_total{code="attachment-infected"}' in scraped


def test_a_png_declared_as_pdf_is_refused_naming_the_part(client, hub, portal):
    response = _push(client, portal, [("photo.pdf", "application/pdf", png())])
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["code"], problem["pointer"]) == ("attachment-type-not-allowed", POINTER + "[1]")
    assert problem["detail"] == "declared application/pdf, but the bytes are image/png"
    _nothing_reached_an_agency(hub)


def test_scanner_stopped_is_503_with_retry_after_then_the_same_push_succeeds(client, hub, portal, clamd):
    files = [("scan.pdf", "application/pdf", PDF)]
    clamd.stop()
    response = _push(client, portal, files)
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "antivirus-unavailable"
    assert int(response.headers["Retry-After"]) > 0
    _nothing_reached_an_agency(hub)
    clamd.start()
    assert _push(client, portal, files).status_code == 201
    assert _count(hub, "mailbox_message") == 1
