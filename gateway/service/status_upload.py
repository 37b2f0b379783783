"""Agencies upload statuses of appeals received through other channels, in batches, on any face.

A batch is one transaction: if any record is refused, nothing of the batch is stored, and the
refusal points at the record and its field, so the EDMS fixes that one and sends the batch again.
Sending again is safe: a record already stored (same number, state and time) is ``repeated``.

The first record of a number makes the appeal known to the hub and issues its access code, which
comes back once, in that record's result: the agency prints it on the applicant's receipt. The hub
keeps only its SHA-256, as for portal appeals.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import Connection

from gateway.adapters.db import agencies as agencies_db
from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import offline_appeals as offline_db
from gateway.adapters.db.audit import append_audit
from gateway.domain import status_upload as su
from gateway.domain.access_code import digest, new_access_code
from gateway.domain.deadlines import LegalClock, clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import check_registration_number
from gateway.domain.lifecycle import AppealState
from gateway.service.hub import Hub

AUDIT_ACTION = "statuses-uploaded"


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What one record did; ``access_code`` only for the record that created the appeal."""

    registration_number: str
    outcome: su.Outcome
    access_code: str | None = None


def upload(hub: Hub, agency_code: str, records: Sequence[su.StatusRecord]) -> list[RecordResult]:
    """Apply the batch in order, all or nothing; one result per record, in the same order."""
    if not 0 < len(records) <= hub.settings.max_status_batch:
        raise Rejection(
            Code.INVALID_REQUEST, f"a batch holds 1 to {hub.settings.max_status_batch} records", "/records"
        )
    now = datetime.now(UTC)
    with hub.pool.connection() as conn, conn.transaction():
        agency = agencies_db.get_agency(conn, agency_code)
        assert agency is not None  # authenticated callers are registered agencies
        clock = clock_for(agency.jurisdiction_profile, agency.timezone)
        for index, record in enumerate(records):
            su.check_dates(index, record, clock, now)
        offline_db.lock_uploads(conn, agency_code)
        results = [_apply(conn, clock, agency_code, index, record) for index, record in enumerate(records)]
        counts = Counter(result.outcome.value for result in results)
        # Counts only: the numbers and reasons are the agency's records, not the hub's trail.
        append_audit(conn, None, "agency:" + agency_code, AUDIT_ACTION, {"agency": agency_code, **counts})
    return results


def _apply(
    conn: Connection, clock: LegalClock, agency_code: str, index: int, record: su.StatusRecord
) -> RecordResult:
    number = record.registration_number
    appeal = offline_db.find(conn, agency_code, number)
    if appeal is None:
        return _create(conn, clock, agency_code, index, record)
    su.check_same_appeal(index, record, appeal["registered_on"], su.Channel(appeal["channel"]))
    latest = su.LatestStatus(AppealState(appeal["state"]), appeal["state_at"])
    stored = offline_db.status_stored(conn, appeal["id"], record.state, record.at)
    outcome = su.judge(index, record, latest, stored=stored)
    if outcome is not su.Outcome.REPEATED:
        offline_db.append_status(conn, appeal["id"], record.state, record.at, record.public_details())
    if outcome is su.Outcome.UPDATED:
        answer_by = record.answer_by or appeal["answer_by"]
        offline_db.move(conn, appeal["id"], record.state, record.at, answer_by)
    return RecordResult(number, outcome)


def _create(
    conn: Connection, clock: LegalClock, agency_code: str, index: int, record: su.StatusRecord
) -> RecordResult:
    """The appeal's first record: it becomes known, due by the record's date or the legal clock's."""
    if appeals_db.registration_taken(conn, agency_code, record.registration_number):
        raise Rejection(
            Code.REGISTRATION_NUMBER_TAKEN,
            "this agency already registered an appeal from the portal under this number",
            su.pointer(index, "registration_number"),
        )
    appeal_id = uuid.uuid4()
    code = new_access_code()
    offline_db.create(
        conn,
        appeal_id,
        agency_code,
        record.registration_number,
        registered_on=record.registered_on,
        channel=record.channel.value,
        state=record.state.value,
        at=record.at,
        answer_by=record.answer_by or clock.answer_by(record.registered_on),
        access_code_sha256=digest(code),
    )
    offline_db.append_status(conn, appeal_id, record.state, record.at, record.public_details())
    return RecordResult(record.registration_number, su.Outcome.CREATED, code)


def reissue_access_code(hub: Hub, agency_code: str, registration_number: str | None) -> tuple[str, str]:
    """A new access code for an appeal the agency uploaded (the applicant lost the receipt, or the
    response that carried the first code was lost); the old code stops working.

    Portal appeals are not reissued here: their code reaches the applicant through the cabinet.
    Returns the number as checked (trimmed) and the new code.
    """
    number = check_registration_number(registration_number)
    code = new_access_code()
    with hub.pool.connection() as conn, conn.transaction():
        appeal_id = offline_db.replace_access_code(conn, agency_code, number, digest(code))
        if appeal_id is None:
            raise Rejection(
                Code.NOT_FOUND,
                "this agency uploaded no appeal under this number "
                "(a portal appeal's code reaches the applicant in the cabinet)",
                "/registration_number",
            )
        details = {"agency": agency_code, "offline_appeal": str(appeal_id)}
        append_audit(conn, None, "agency:" + agency_code, "access-code-reissued", details)
    return number, code
