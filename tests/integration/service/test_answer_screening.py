"""An agency's answer attachments scanned by a real clamd (tests/clamd.py) before anything of the
answer is stored: an infected one refuses the event naming the attachment, with the appeal left as
it was and nothing queued for the applicant; a scanner away refuses it with 503 whatever the intake
outage policy is, and the EDMS's repeat of the same event is accepted once the scanner is back."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from uuid import UUID

import pytest

from gateway.domain.errors import Code, Rejection
from gateway.domain.events import parse_event
from gateway.service import events
from gateway.service.intake import IncomingAttachment
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import sample_answer
from tests.answered import AGENCY, registered_appeal
from tests.clamd import EICAR, EICAR_SIGNATURE

ACT = b"%PDF-1.4 act of inspection\n%%EOF\n"


def _answer(hub, dev_pki, appeal_id: UUID, files: dict[str, bytes], event_id: str = "ans-1"):
    document = sample_answer(appeal_id, "ОГ-7", files=files)
    signed = signed_answer(document, dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes())
    parts = {
        cid: IncomingAttachment(cid, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())
        for cid, data in files.items()
    }
    event = parse_event(event_id, "answered", {}, answer=signed, parts=parts)
    return events.record(hub, AGENCY, appeal_id, event)


def _refused(hub, dev_pki, appeal_id: UUID, files: dict[str, bytes]) -> Rejection:
    with pytest.raises(Rejection) as caught:
        _answer(hub, dev_pki, appeal_id, files)
    return caught.value


def _left_as_registered(hub, appeal_id: UUID) -> None:
    with hub.pool.connection() as conn:
        state = conn.execute("SELECT state FROM appeal WHERE id = %s", (appeal_id,)).fetchone()["state"]
        counts = conn.execute(
            """SELECT (SELECT count(*) FROM appeal_answer WHERE appeal_id = %(a)s) AS answers,
                      (SELECT count(*) FROM appeal_event
                        WHERE appeal_id = %(a)s AND type = 'answered') AS events,
                      (SELECT count(*) FROM outbox_message
                        WHERE appeal_id = %(a)s AND payload->>'type' = 'answered') AS queued""",
            {"a": appeal_id},
        ).fetchone()
    assert state == "registered"
    assert counts == {"answers": 0, "events": 0, "queued": 0}


def test_a_clean_attachment_passes_the_scan_and_the_answer_is_recorded(scanning_hub, portal, dev_pki):
    appeal_id = registered_appeal(scanning_hub, portal, "ОГ-7")
    receipt = _answer(scanning_hub, dev_pki, appeal_id, {"act-1": ACT})
    assert receipt.state == "answered"


def test_an_infected_attachment_refuses_the_answer_naming_it_and_stores_nothing(
    scanning_hub, portal, dev_pki
):
    appeal_id = registered_appeal(scanning_hub, portal, "ОГ-7")
    rejection = _refused(scanning_hub, dev_pki, appeal_id, {"act-1": ACT, "photo-2": EICAR})
    assert rejection.code == Code.ATTACHMENT_INFECTED
    assert rejection.pointer == "/answer/Document/Attachments/Attachment[2]"
    assert EICAR_SIGNATURE in rejection.detail
    _left_as_registered(scanning_hub, appeal_id)


def test_a_scanner_away_refuses_the_answer_with_503_even_when_intake_holds(
    scanning_hub, portal, dev_pki, clamd
):
    hub = dataclasses.replace(
        scanning_hub, settings=scanning_hub.settings.model_copy(update={"antivirus_outage": "hold"})
    )
    appeal_id = registered_appeal(hub, portal, "ОГ-7")
    clamd.stop()
    try:
        rejection = _refused(hub, dev_pki, appeal_id, {"act-1": ACT})
    finally:
        clamd.start()
    assert (rejection.code, rejection.http_status) == (Code.ANTIVIRUS_UNAVAILABLE, 503)
    _left_as_registered(hub, appeal_id)
    assert _answer(hub, dev_pki, appeal_id, {"act-1": ACT}).state == "answered"  # the EDMS's repeat


def test_an_answer_without_attachments_needs_no_scanner(scanning_hub, portal, dev_pki, clamd):
    appeal_id = registered_appeal(scanning_hub, portal, "ОГ-7")
    clamd.stop()
    try:
        assert _answer(scanning_hub, dev_pki, appeal_id, {}).state == "answered"
    finally:
        clamd.start()
