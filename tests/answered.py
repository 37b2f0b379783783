"""An appeal pushed, taken, registered and answered with a signed answer, through the service layer,
and the cabinet updates it queued: shared by the tests of what follows an answer."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from gateway.domain.deadlines import clock_for
from gateway.domain.events import parse_event
from gateway.service import events, intake, mailbox
from gateway.service.cabinet_updates import CABINET
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import sample_answer, sample_appeal

AGENCY = "ADM-CHEBOKSARY"


def agency_today() -> str:
    return clock_for("RU-59FZ", "Europe/Moscow").local_date(datetime.now(UTC)).isoformat()


def registered_appeal(hub, portal, number: str, *, reply_preference: str = "post", seq: int = 0) -> UUID:
    """Taken from the agency's mailbox and registered under ``number`` (not answered yet)."""
    receipt = intake.accept(hub, portal.envelope(sample_appeal(seq, reply_preference=reply_preference)))
    for leased in mailbox.lease(hub, AGENCY, 10):
        mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    fields = {"registration_number": number, "registered_on": agency_today()}
    events.record(hub, AGENCY, receipt.appeal_id, parse_event(f"reg-{number}", "registered", fields))
    return receipt.appeal_id


def answer(hub, dev_pki, appeal_id: UUID, number: str) -> None:
    signed = signed_answer(
        sample_answer(appeal_id, number), dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    )
    events.record(hub, AGENCY, appeal_id, parse_event(f"ans-{number}", "answered", {}, answer=signed))


def answered_appeal(
    hub, portal, dev_pki, number: str, *, reply_preference: str = "post", seq: int = 0
) -> UUID:
    appeal_id = registered_appeal(hub, portal, number, reply_preference=reply_preference, seq=seq)
    answer(hub, dev_pki, appeal_id, number)
    return appeal_id


def cabinet_payloads(hub, appeal_id: UUID) -> list[dict]:
    """The payloads of the appeal's cabinet updates in the outbox, in event order."""
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT payload FROM outbox_message WHERE appeal_id = %s AND connector = %s ORDER BY seq",
            (appeal_id, CABINET),
        ).fetchall()
    return [r["payload"] for r in rows]
