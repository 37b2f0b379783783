"""Status upload against the real database: one atomic batch, idempotent, late statuses kept as
history, one series of registration numbers per agency across portal and uploaded appeals, and
the public lookup of what was uploaded."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest

from gateway.domain.deadlines import clock_for
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import parse_event
from gateway.domain.status_upload import StatusRecord, parse_record
from gateway.service import events, intake, mailbox, status, status_upload
from gateway.simulators.samples import sample_appeal

AGENCY = "ADM-CHEBOKSARY"
OTHER = "MINSTROY-21"
CLOCK = clock_for("RU-59FZ", "Europe/Moscow")
NOW = datetime.now(UTC).replace(microsecond=0)
REGISTERED_ON = CLOCK.local_date(NOW) - timedelta(days=10)
DAY = timedelta(days=1)
T0 = datetime.combine(REGISTERED_ON, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)


def _record(number: str, state: str = "registered", at: datetime = T0, **fields: str) -> StatusRecord:
    values = {
        "registration_number": number,
        "registered_on": REGISTERED_ON.isoformat(),
        "channel": "post",
        "state": state,
        "at": at.isoformat(),
        **fields,
    }
    return parse_record(0, values)


def _outcomes(results: list[status_upload.RecordResult]) -> list[tuple[str, str]]:
    return [(r.registration_number, r.outcome.value) for r in results]


def _count(hub, table: str) -> int:
    with hub.pool.connection() as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def _refused(hub, records: list[StatusRecord], agency: str = AGENCY) -> Rejection:
    with pytest.raises(Rejection) as refused:
        status_upload.upload(hub, agency, records)
    return refused.value


def _portal_appeal(hub, portal, number: str | None = None) -> UUID:
    """A portal appeal in the agency's mailbox, acknowledged, and registered under ``number``."""
    receipt = intake.accept(hub, portal.envelope(sample_appeal(0)))
    (leased,) = mailbox.lease(hub, AGENCY, 1)
    mailbox.acknowledge_one(hub, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    if number is not None:
        _register(hub, receipt.appeal_id, number)
    return receipt.appeal_id


def _register(hub, appeal_id: UUID, number: str) -> None:
    fields = {"registration_number": number, "registered_on": REGISTERED_ON.isoformat()}
    events.record(hub, AGENCY, appeal_id, parse_event("reg-" + uuid.uuid4().hex, "registered", fields))


# --- a new appeal, and the lookup ---------------------------------------------------------------


def test_the_first_record_creates_the_appeal_and_its_code_opens_the_lookup(hub):
    (result,) = status_upload.upload(hub, AGENCY, [_record("П-101")])
    assert (result.outcome.value, len(result.access_code or "")) == ("created", 10)
    found = status.lookup(hub, " П-101 ", result.access_code.lower())
    assert found == {
        "registration_number": "П-101",
        "registered_on": REGISTERED_ON.isoformat(),
        "agency": {"code": AGENCY, "name": "Администрация г. Чебоксары"},
        "channel": "post",
        "state": "registered",
        "answer_by": CLOCK.answer_by(REGISTERED_ON).isoformat(),  # the legal clock's 30 days
        "history": [{"seq": 1, "type": "status", "at": T0.isoformat(), "state": "registered", "details": {}}],
    }
    with hub.pool.connection() as conn:
        stored = conn.execute("SELECT * FROM offline_appeal").fetchone()
    assert result.access_code not in str(stored) and len(stored["access_code_sha256"]) == 64


def test_a_wrong_code_and_a_wrong_number_look_the_same(hub):
    (result,) = status_upload.upload(hub, AGENCY, [_record("П-102")])
    refusals = []
    for number, code in (("П-102", "2345678ABC"), ("П-999", result.access_code)):
        with pytest.raises(Rejection) as refused:
            status.lookup(hub, number, code)
        refusals.append((refused.value.code, refused.value.detail, refused.value.pointer))
    assert refusals[0] == refusals[1]
    assert refusals[0][0] is Code.NOT_FOUND


def test_portal_appeals_say_their_channel_too(hub, portal):
    appeal_id = _portal_appeal(hub, portal, "П-103")
    with hub.pool.connection() as conn:
        payload = conn.execute(
            "SELECT payload FROM outbox_message WHERE appeal_id = %s AND seq = 1", (appeal_id,)
        ).fetchone()["payload"]
    assert status.lookup(hub, "П-103", payload["access_code"])["channel"] == "portal"


def test_the_same_number_at_two_agencies_is_two_appeals_told_apart_by_the_code(hub):
    (ours,) = status_upload.upload(hub, AGENCY, [_record("П-104", "answered", T0 + DAY)])
    (theirs,) = status_upload.upload(hub, OTHER, [_record("П-104", "in-progress", T0)])
    assert status.lookup(hub, "П-104", ours.access_code)["state"] == "answered"
    assert status.lookup(hub, "П-104", theirs.access_code)["agency"]["code"] == OTHER


# --- the batch ----------------------------------------------------------------------------------


def test_a_batch_is_applied_in_order_and_only_the_creating_record_carries_the_code(hub):
    results = status_upload.upload(
        hub,
        AGENCY,
        [
            _record("П-201"),
            _record("П-201", "extended", T0 + 2 * DAY, answer_by=(REGISTERED_ON + 45 * DAY).isoformat(),
                    reason="нужна проверка на месте"),
            _record("П-202", "answered", T0 + DAY),
            _record("П-201", "in-progress", T0 + DAY),  # reported late: before the extension
        ],
    )  # fmt: skip
    assert _outcomes(results) == [
        ("П-201", "created"), ("П-201", "updated"), ("П-202", "created"), ("П-201", "stale"),
    ]  # fmt: skip
    assert [r.access_code is not None for r in results] == [True, False, True, False]
    found = status.lookup(hub, "П-201", results[0].access_code)
    assert (found["state"], found["answer_by"]) == ("extended", (REGISTERED_ON + 45 * DAY).isoformat())
    # the history in the order things happened, numbered in the order they came
    assert [(h["seq"], h["state"]) for h in found["history"]] == [
        (1, "registered"), (3, "in-progress"), (2, "extended"),
    ]  # fmt: skip
    assert found["history"][2]["details"] == {
        "answer_by": (REGISTERED_ON + 45 * DAY).isoformat(),
        "reason": "нужна проверка на месте",
    }


def test_a_later_status_without_a_due_date_keeps_the_appeals(hub):
    extended = _record("П-203", "extended", T0, answer_by=(REGISTERED_ON + 50 * DAY).isoformat())
    (created,) = status_upload.upload(hub, AGENCY, [extended])
    status_upload.upload(hub, AGENCY, [_record("П-203", "answered", T0 + DAY)])
    found = status.lookup(hub, "П-203", created.access_code)
    assert (found["state"], found["answer_by"]) == ("answered", (REGISTERED_ON + 50 * DAY).isoformat())


def test_a_refused_record_leaves_the_whole_batch_unstored(hub):
    status_upload.upload(hub, AGENCY, [_record("П-301", "closed", T0 + DAY)])
    audit_before = _count(hub, "audit_record")
    batch = [_record("П-302"), _record("П-303"), _record("П-301", "in-progress", T0 + 2 * DAY)]
    refused = _refused(hub, batch)
    assert (refused.code, refused.pointer) == (Code.ILLEGAL_TRANSITION, "/records/2/state")
    assert "closed" in refused.detail
    with hub.pool.connection() as conn:
        numbers = conn.execute("SELECT registration_number FROM offline_appeal").fetchall()
    assert [n["registration_number"] for n in numbers] == ["П-301"]
    assert (_count(hub, "offline_appeal_status"), _count(hub, "audit_record")) == (1, audit_before)


def test_sending_a_batch_again_changes_nothing(hub):
    batch = [_record("П-401"), _record("П-401", "answered", T0 + DAY), _record("П-402", "declined", T0)]
    first = status_upload.upload(hub, AGENCY, batch)
    again = status_upload.upload(hub, AGENCY, batch)
    assert [r.outcome.value for r in first] == ["created", "updated", "created"]
    assert _outcomes(again) == [("П-401", "repeated"), ("П-401", "repeated"), ("П-402", "repeated")]
    assert all(r.access_code is None for r in again)  # issued once
    assert (_count(hub, "offline_appeal"), _count(hub, "offline_appeal_status")) == (2, 3)
    assert status.lookup(hub, "П-401", first[0].access_code)["state"] == "answered"


def test_an_older_status_is_history_and_never_moves_the_state_back(hub):
    (created,) = status_upload.upload(hub, AGENCY, [_record("П-501", "answered", T0 + 3 * DAY)])
    late = status_upload.upload(hub, AGENCY, [_record("П-501", "in-progress", T0 + DAY)])
    assert _outcomes(late) == [("П-501", "stale")]
    found = status.lookup(hub, "П-501", created.access_code)
    assert found["state"] == "answered"
    assert [h["state"] for h in found["history"]] == ["in-progress", "answered"]


def test_a_number_keeps_its_registration_date_and_channel(hub):
    status_upload.upload(hub, AGENCY, [_record("П-601")])
    moved = _record("П-601", "answered", T0 + DAY, registered_on=(REGISTERED_ON - DAY).isoformat())
    refused = _refused(hub, [_record("П-602"), moved])
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, "/records/1/registered_on")


@pytest.mark.parametrize(
    ("at", "pointer"),
    # when the test runs, not when the module was imported: a long run would bring "future" near
    [(lambda: datetime.now(UTC) + timedelta(minutes=10), "/records/1/at"),
     (lambda: T0 - 2 * DAY, "/records/1/at")],
    ids=["future", "before-registration"],
)  # fmt: skip
def test_dates_are_held_to_the_agencys_calendar(hub, at, pointer):
    refused = _refused(hub, [_record("П-701"), _record("П-702", at=at())])
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, pointer)
    assert _count(hub, "offline_appeal") == 0


def test_the_batch_size_is_limited(hub):
    limit = hub.settings.max_status_batch
    refused = _refused(hub, [_record(f"П-8{i:04}") for i in range(limit + 1)])
    assert (refused.code, refused.pointer) == (Code.INVALID_REQUEST, "/records")
    assert (_refused(hub, []).code, _refused(hub, []).pointer) == (Code.INVALID_REQUEST, "/records")


def test_a_full_batch_goes_in_one_transaction(hub):
    limit = hub.settings.max_status_batch
    results = status_upload.upload(hub, AGENCY, [_record(f"П-9{i:04}") for i in range(limit)])
    assert {r.outcome.value for r in results} == {"created"}
    assert len({r.access_code for r in results}) == limit == _count(hub, "offline_appeal")


def test_one_audit_record_per_upload_with_counts_and_nothing_personal(hub):
    batch = [_record("П-1001"), _record("П-1001", "declined", T0 + DAY, reason="повторное обращение")]
    results = status_upload.upload(hub, AGENCY, batch)
    status_upload.upload(hub, AGENCY, batch[:1])
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT appeal_id, actor, action, details FROM audit_record WHERE action = 'statuses-uploaded' "
            "ORDER BY id"
        ).fetchall()
    assert [(r["appeal_id"], r["actor"], r["details"]) for r in rows] == [
        (None, "agency:" + AGENCY, {"agency": AGENCY, "created": 1, "updated": 1}),
        (None, "agency:" + AGENCY, {"agency": AGENCY, "repeated": 1}),
    ]
    trail = str([r["details"] for r in rows])
    for private in ("П-1001", "повторное", results[0].access_code):
        assert private not in trail


# --- one series of numbers per agency -----------------------------------------------------------


def test_a_number_given_to_a_portal_appeal_cannot_be_uploaded(hub, portal):
    _portal_appeal(hub, portal, "П-1101")
    refused = _refused(hub, [_record("П-1100"), _record("П-1101")])
    assert (refused.code, refused.pointer) == (
        Code.REGISTRATION_NUMBER_TAKEN,
        "/records/1/registration_number",
    )
    assert _count(hub, "offline_appeal") == 0
    (other,) = status_upload.upload(hub, OTHER, [_record("П-1101")])  # numbers are per agency
    assert other.outcome.value == "created"


def test_a_portal_appeal_cannot_be_registered_under_an_uploaded_number(hub, portal):
    status_upload.upload(hub, AGENCY, [_record("П-1201")])
    appeal_id = _portal_appeal(hub, portal)
    with pytest.raises(Rejection) as refused:
        _register(hub, appeal_id, "П-1201")
    assert (refused.value.code, refused.value.pointer) == (
        Code.REGISTRATION_NUMBER_TAKEN,
        "/registration_number",
    )
    _register(hub, appeal_id, "П-1202")


# An uploaded appeal written by hand, as a writer skipping the service's checks would.
INSERT_OFFLINE = """
    INSERT INTO offline_appeal (id, agency_code, registration_number, registered_on, channel, state, state_at,
                                answer_by, access_code_sha256)
    VALUES (gen_random_uuid(), %s, %s, current_date, 'post', 'registered', now(), current_date, 'x')"""


def test_the_database_refuses_a_shared_number_whoever_writes_it(hub, portal):
    """Writers that skip the service's check (a bug, a hand-written fix) are held by the database."""
    status_upload.upload(hub, AGENCY, [_record("П-1301")])
    appeal_id = _portal_appeal(hub, portal, "П-1302")
    with hub.pool.connection() as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("UPDATE appeal SET registration_number = 'П-1301' WHERE id = %s", (appeal_id,))
    with hub.pool.connection() as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(INSERT_OFFLINE, (AGENCY, "П-1302"))


def test_of_two_racing_claims_of_one_number_the_second_fails(hub, portal):
    appeal_id = _portal_appeal(hub, portal)
    outcome: list[BaseException | None] = []
    with psycopg.connect(hub.database_url) as first, psycopg.connect(hub.database_url) as second:
        first.execute(
            """INSERT INTO appeal_registration (agency_code, registration_number, appeal_id, registered_on)
               VALUES (%s, 'П-1401', %s, current_date)""",
            (AGENCY, appeal_id),
        )

        def claim() -> None:
            try:
                second.execute(INSERT_OFFLINE, (AGENCY, "П-1401"))
                outcome.append(None)
            except psycopg.Error as exc:
                second.rollback()
                outcome.append(exc)

        racer = threading.Thread(target=claim)
        racer.start()
        racer.join(timeout=1)
        assert racer.is_alive()  # waits on the first claim, uncommitted
        first.commit()
        racer.join(timeout=10)
    assert len(outcome) == 1 and isinstance(outcome[0], psycopg.errors.UniqueViolation)


def test_a_redirect_leaves_the_number_with_the_appeal(hub, portal):
    """The applicant still holds the number after a redirect (the lookup answers to it), so the
    agency cannot give it to another appeal: it named this one."""
    appeal_id = _portal_appeal(hub, portal, "П-1501")
    redirect = parse_event("rd-1", "redirected", {"target_agency": OTHER, "reason": "не по компетенции"})
    events.record(hub, AGENCY, appeal_id, redirect)
    refused = _refused(hub, [_record("П-1501")])
    assert (refused.code, refused.pointer) == (
        Code.REGISTRATION_NUMBER_TAKEN,
        "/records/0/registration_number",
    )
