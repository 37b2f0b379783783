"""One table of mailbox scenarios, run against every face an EDMS can use (REST and SOAP).

Each scenario drives an Edms-like simulator, so the faces must answer the same things with the
same stable codes; only the HTTP status of a refusal differs (a SOAP Fault is always 500), so
refusals are compared by ``code`` and ``pointer``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from gateway.adapters.pki import issue_certificate
from gateway.adapters.xmlsec.answer import build_answer
from gateway.simulators.edms import Edms, Refused, signed_answer
from gateway.simulators.edms_soap import SoapEdms
from gateway.simulators.portal import answer_attachment, give_feedback, push, withdraw
from gateway.simulators.samples import attachment_header, sample_answer, sample_appeal
from tests.clamd import EICAR
from tests.conftest import OPERATOR_TOKEN
from tests.e2e.pushing import push_samples as _push

CHEBOKSARY = "ADM-CHEBOKSARY"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
MINSTROY = "MINSTROY-21"

EdmsLike = Edms | SoapEdms
Face = Callable[[str], EdmsLike]


@pytest.fixture
def client(hub_url, hub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


@pytest.fixture(params=["rest", "soap"])
def face(request, hub_url, hub, registry) -> Iterator[Face]:
    """A maker of EDMS simulators on one face: ``face(agency_code)`` with the agency's own token."""
    opened: list[httpx.Client | SoapEdms] = []

    def edms_for(agency_code: str) -> EdmsLike:
        token = registry[1][agency_code]
        if request.param == "rest":
            own = httpx.Client(base_url=hub_url, timeout=30)
            opened.append(own)
            return Edms(own, token)
        soap = SoapEdms(hub_url, agency_code, token)
        opened.append(soap)
        return soap

    yield edms_for
    for item in opened:
        item.close()


@pytest.fixture
def edms(face) -> EdmsLike:
    return face(CHEBOKSARY)


def _refusal(attempt: Callable[[], object]) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        attempt()
    return refused.value.code, refused.value.pointer


def _audit(hub, appeal_id: str) -> list[str]:
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT action FROM audit_record WHERE appeal_id = %s ORDER BY id", (appeal_id,)
        ).fetchall()
    return [r["action"] for r in rows]


def _state(hub, appeal_id: str) -> str:
    with hub.pool.connection() as conn:
        return conn.execute("SELECT state FROM appeal WHERE id = %s", (appeal_id,)).fetchone()["state"]


def test_a_lease_gives_the_appeal_as_data_and_as_the_signed_bytes(client, hub, portal, edms):
    envelope = portal.envelope(sample_appeal(1))
    appeal_id = push(client, envelope).json()["appeal_id"]
    (message,) = edms.pull(limit=10)
    assert (message["appeal_id"], message["kind"], message["delivery_count"]) == (appeal_id, "appeal", 1)
    assert base64.b64decode(message["signed_xml_base64"]) == envelope
    assert message["appeal"]["topic_code"] == "0005.0005.0056.1149"
    assert message["appeal"]["applicant"]["person"]["last_name"] == "Петрова"
    assert message["appeal"]["notification_channels"] == ["cabinet", "email"]
    assert message["attachments"] == []
    assert _state(hub, appeal_id) == "delivered"
    assert edms.pull(limit=10) == []  # leased: not offered again while the lease runs
    assert edms.ack([message]) == [{"message_id": message["message_id"], "status": "acknowledged"}]
    assert _state(hub, appeal_id) == "acknowledged"
    assert _audit(hub, appeal_id) == ["received", "routed", "leased", "acknowledged"]


def test_leases_are_oldest_first_and_limited(client, portal, edms):
    ids = _push(client, portal, 5)
    first = edms.pull(limit=3)
    second = edms.pull(limit=3)
    assert [m["appeal_id"] for m in first + second] == ids
    assert edms.statistics() == {"pending": 0, "leased": 5, "refused": 0, "oldest_pending_age_s": 0}


def test_acks_are_idempotent_and_check_the_lease(client, portal, edms):
    _push(client, portal)
    (message,) = edms.pull()
    assert edms.ack_one(message["message_id"], message["lease_token"]) == "acknowledged"
    assert edms.ack_one(message["message_id"], message["lease_token"]) == "acknowledged"
    stale = _refusal(lambda: edms.ack_one(message["message_id"], str(uuid.uuid4())))
    assert stale == ("lease-invalid", "/lease_token")
    unknown = _refusal(lambda: edms.ack_one(str(uuid.uuid4()), message["lease_token"]))
    assert unknown == ("not-found", "/message_id")
    assert edms.pull() == []


def test_a_negative_ack_needs_a_reason_and_is_not_redelivered(client, hub, portal, edms):
    (appeal_id,) = _push(client, portal)
    (message,) = edms.pull()
    no_reason = _refusal(lambda: edms.ack_one(message["message_id"], message["lease_token"], accepted=False))
    assert no_reason == ("invalid-request", "/acks/0/reason")
    status = edms.ack_one(
        message["message_id"], message["lease_token"], accepted=False, reason="не наш вопрос"
    )
    assert status == "refused"
    assert edms.pull() == []
    assert edms.statistics()["refused"] == 1
    assert _audit(hub, appeal_id)[-1] == "refused-by-edms"
    with hub.pool.connection() as conn:
        row = conn.execute("SELECT refused_reason FROM mailbox_message").fetchone()
    assert row["refused_reason"] == "не наш вопрос"


def test_an_expired_lease_makes_the_message_pending_again(client, portal, edms):
    _push(client, portal)
    (first,) = edms.pull(lease_seconds=1)
    time.sleep(1.3)
    (again,) = edms.pull(lease_seconds=60)
    assert again["message_id"] == first["message_id"]
    assert again["delivery_count"] == 2
    assert again["lease_token"] != first["lease_token"]
    assert edms.ack([first])[0]["status"] == "lease-invalid"  # the stale lease cannot take it any more
    assert edms.ack([again])[0]["status"] == "acknowledged"


def _expire(hub, message_id: str) -> None:
    """The message's lease runs out: moved back in the database rather than waited for."""
    with hub.pool.connection() as conn:
        conn.execute(
            "UPDATE mailbox_message SET visible_at = clock_timestamp() - interval '1 second' WHERE id = %s",
            (message_id,),
        )


def _release(client, message_id: str) -> None:
    response = client.post(f"/ops/v1/messages/{message_id}/release", headers=OPERATOR)
    assert response.json()["status"] == "pending", response.text


# The lease rule (docs/edms-rest.md, "Leases: which token takes a message"): what happens after the first
# lease, whose token then acks or refuses, and whether that takes the message.
LEASE_RULE: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "within-the-lease": ((), "first", True),
    "after-expiry-before-a-new-lease": (("expire",), "first", True),
    "old-token-after-a-new-lease": (("expire", "pull"), "first", False),
    "new-token-after-a-new-lease": (("expire", "pull"), "latest", True),
    "old-token-after-an-operators-release": (("release",), "first", False),
    "new-token-after-a-release-and-a-new-lease": (("release", "pull"), "latest", True),
}


@pytest.mark.parametrize("accepted", [True, False], ids=["ack", "refuse"])
@pytest.mark.parametrize("case", list(LEASE_RULE))
def test_the_latest_leases_token_takes_the_message_until_it_is_leased_again(
    client, hub, portal, edms, case, accepted
):
    steps, whose, takes = LEASE_RULE[case]
    (appeal_id,) = _push(client, portal)
    leases = edms.pull(lease_seconds=60)
    for step in steps:
        if step == "expire":
            _expire(hub, leases[0]["message_id"])
            assert edms.statistics()["pending"] == 1
        elif step == "release":
            _release(client, leases[0]["message_id"])
        else:
            leases += edms.pull(lease_seconds=60)
    assert [m["delivery_count"] for m in leases] == list(range(1, len(leases) + 1))
    message = leases[0] if whose == "first" else leases[-1]
    reason = None if accepted else "не наш вопрос"

    def answer() -> str:
        return edms.ack_one(message["message_id"], message["lease_token"], accepted=accepted, reason=reason)

    if takes:
        outcome = "acknowledged" if accepted else "refused"
        assert answer() == outcome
        assert answer() == outcome  # idempotent
        assert edms.pull() == []  # taken or refused: never offered again
        assert _state(hub, appeal_id) == ("acknowledged" if accepted else "delivered")
        assert _audit(hub, appeal_id)[-1] == ("acknowledged" if accepted else "refused-by-edms")
        return
    with pytest.raises(Refused) as refused:
        answer()
    assert (refused.value.code, refused.value.pointer) == ("lease-invalid", "/lease_token")
    assert refused.value.status == (409 if isinstance(edms, Edms) else 500)  # a SOAP Fault is 500
    assert edms.ack([message]) == [{"message_id": message["message_id"], "status": "lease-invalid"}]
    assert _state(hub, appeal_id) == "delivered"
    # Nothing is lost: the latest lease (or the next pull, after a release) still takes the message.
    latest = leases[-1] if len(leases) > 1 else edms.pull()[0]
    assert latest["lease_token"] != message["lease_token"]
    assert edms.ack([latest]) == [{"message_id": message["message_id"], "status": "acknowledged"}]


def test_a_batch_ack_reports_each_message(client, portal, edms):
    _push(client, portal, 2)
    good, other = edms.pull(limit=2)
    stranger = {"message_id": str(uuid.uuid4()), "lease_token": other["lease_token"]}
    stale = {**other, "lease_token": str(uuid.uuid4())}
    results = edms.ack([good, stranger, stale])
    assert [r["status"] for r in results] == ["acknowledged", "not-found", "lease-invalid"]
    assert [r["message_id"] for r in results] == [
        good["message_id"],
        stranger["message_id"],
        other["message_id"],
    ]


def test_concurrent_pullers_never_share_a_message(client, portal, face):
    ids = set(_push(client, portal, 24))
    pullers = [face(CHEBOKSARY) for _ in range(6)]  # each with its own connection

    def drain(puller: EdmsLike) -> list[str]:
        taken = []
        while batch := puller.pull(limit=3):
            taken += [m["appeal_id"] for m in batch]
            puller.ack(batch)
        return taken

    with ThreadPoolExecutor(len(pullers)) as pool:
        per_puller = list(pool.map(drain, pullers))
    everything = [appeal for taken in per_puller for appeal in taken]
    assert len(everything) == len(set(everything)) == len(ids)
    assert set(everything) == ids


def test_an_agency_never_sees_another_agencys_messages_or_appeals(client, portal, face, edms):
    other = face(MINSTROY)
    scan = b"%PDF-1.4\n" + b"scan" * 1000
    header = attachment_header("scan-1", "scan.pdf", "application/pdf", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    push(client, envelope, {"scan-1": ("scan.pdf", scan, "application/pdf")})
    assert other.pull(limit=50) == []
    (message,) = edms.pull()
    (ref,) = message["attachments"]
    for attempt in (
        lambda: other.ack_one(message["message_id"], message["lease_token"]),
        lambda: other.ack([message]),
        lambda: other.download(ref["href"]),
        lambda: other.register(message["appeal_id"], "1", date.today(), "e-1"),
    ):
        try:
            outcome = attempt()
        except Refused as refused:
            assert refused.code == "not-found"
        else:  # a batch answers per message instead of refusing
            assert outcome == [{"message_id": message["message_id"], "status": "not-found"}]
    assert other.statistics()["leased"] == 0
    assert edms.ack_one(message["message_id"], message["lease_token"]) == "acknowledged"


def test_attachments_come_with_their_digest(client, portal, edms):
    scan = b"%PDF-1.4\n" + bytes(range(256)) * 12_000  # ~3 MB: several storage chunks
    header = attachment_header("scan-1", "акт проверки.pdf", "application/pdf", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    push(client, envelope, {"scan-1": (header.file_name, scan, "application/pdf")})
    (message,) = edms.pull()
    (ref,) = message["attachments"]
    assert ref == {
        "n": 1,
        "file_name": "акт проверки.pdf",
        "media_type": "application/pdf",
        "size": len(scan),
        "sha256": header.sha256,
        "href": f"/sed/v1/appeals/{message['appeal_id']}/attachments/1",
    }
    (signed,) = message["appeal"]["attachments"]
    assert (signed["content_id"], signed["sha256"]) == ("scan-1", header.sha256)
    assert edms.download(ref["href"]) == (len(scan), header.sha256)
    assert _refusal(lambda: edms.download(ref["href"].replace("/1", "/2")))[0] == "not-found"


def test_registration_is_recorded_once_per_event_id(client, hub, portal, edms):
    appeal_id, second_id = _push(client, portal, 2)
    first = edms.register(appeal_id, "ОГ-2026/1", date.today(), "evt-1")
    assert set(first) == {"appeal_id", "event_id", "seq", "type", "recorded_at", "state", "repeated"}
    assert (first["appeal_id"], first["event_id"], first["type"]) == (appeal_id, "evt-1", "registered")
    assert (first["seq"], first["state"], first["repeated"]) == (1, "registered", False)
    repeat = edms.register(appeal_id, "ОГ-2026/1", date.today(), "evt-1")
    assert (repeat["seq"], repeat["repeated"], repeat["recorded_at"]) == (1, True, first["recorded_at"])
    reused = _refusal(lambda: edms.register(appeal_id, "ОГ-2026/2", date.today(), "evt-1"))
    assert reused == ("event-id-reused", "/event_id")
    again = _refusal(lambda: edms.register(appeal_id, "ОГ-2026/2", date.today(), "evt-2"))
    assert again[0] == "illegal-transition"
    taken = _refusal(lambda: edms.register(second_id, "ОГ-2026/1", date.today(), "evt-3"))
    assert taken == ("registration-number-taken", "/registration_number")
    with hub.pool.connection() as conn:
        row = conn.execute(
            "SELECT registration_number, registered_on, state FROM appeal WHERE id = %s", (appeal_id,)
        ).fetchone()
        events = conn.execute(
            "SELECT seq, type FROM appeal_event WHERE appeal_id = %s", (appeal_id,)
        ).fetchall()
    assert (row["registration_number"], row["registered_on"], row["state"]) == (
        "ОГ-2026/1",
        date.today(),
        "registered",
    )
    assert events == [{"seq": 1, "type": "registered"}]


@pytest.mark.parametrize(
    ("number", "registered_on", "event_id", "pointer"),
    [
        ("ОГ-1", date.today() + timedelta(days=30), "e-1", "/registered_on"),
        ("  ", date.today(), "e-1", "/registration_number"),
        ("ОГ-1", date.today(), "e" * 101, "/event_id"),
    ],
)
def test_bad_events_are_refused_with_the_field_at_fault(
    client, portal, edms, number, registered_on, event_id, pointer
):
    (appeal_id,) = _push(client, portal)
    assert _refusal(lambda: edms.register(appeal_id, number, registered_on, event_id)) == (
        "invalid-request",
        pointer,
    )


def test_answered_and_closed_carry_the_result_category_when_given(client, hub, portal, edms, signer):
    appeal_id = _registered(client, portal, edms, "ОГ-R1")
    document = sample_answer(appeal_id, "ОГ-R1")
    refused = _refusal(lambda: edms.answer(appeal_id, "ans-1", document, *signer, result="splendid"))
    assert refused == ("invalid-request", "/result")
    edms.answer(appeal_id, "ans-1", document, *signer, result="explained")
    edms.send_event(appeal_id, "closed", "close-1", result="supported-measures-taken")
    with hub.pool.connection() as conn:
        stored = conn.execute(
            "SELECT type, details->>'result' AS result FROM appeal_event WHERE appeal_id = %s "
            "AND type IN ('answered', 'closed') ORDER BY seq",
            (appeal_id,),
        ).fetchall()
    assert [(r["type"], r["result"]) for r in stored] == [
        ("answered", "explained"), ("closed", "supported-measures-taken"),
    ]  # fmt: skip


def test_old_clients_answer_and_close_without_a_result_category(client, hub, portal, edms, signer):
    appeal_id = _registered(client, portal, edms, "ОГ-R2")
    edms.answer(appeal_id, "ans-1", sample_answer(appeal_id, "ОГ-R2"), *signer)
    assert edms.send_event(appeal_id, "closed", "close-1")["state"] == "closed"


@pytest.mark.parametrize(
    ("limit", "lease_seconds", "pointer"),
    [(0, None, "/limit"), (100_000, None, "/limit"), (10, 100_000, "/lease_seconds")],
)
def test_bad_lease_parameters_are_refused(edms, limit, lease_seconds, pointer):
    assert _refusal(lambda: edms.pull(limit, lease_seconds)) == ("invalid-request", pointer)


def test_statistics_count_pending_leased_and_refused(client, portal, edms):
    assert edms.statistics() == {"pending": 0, "leased": 0, "refused": 0, "oldest_pending_age_s": 0}
    _push(client, portal, 3)
    time.sleep(0.05)
    waiting = edms.statistics()
    assert (waiting["pending"], waiting["leased"], waiting["refused"]) == (3, 0, 0)
    assert waiting["oldest_pending_age_s"] > 0
    taken, refused = edms.pull(limit=2)
    edms.ack([taken])
    edms.ack_one(refused["message_id"], refused["lease_token"], accepted=False, reason="дубликат")
    assert {k: v for k, v in edms.statistics().items() if k != "oldest_pending_age_s"} == {
        "pending": 1,
        "leased": 0,
        "refused": 1,
    }


def _appeal_row(hub, appeal_id: str) -> dict:
    with hub.pool.connection() as conn:
        return conn.execute(
            "SELECT state, agency_code, registered_on, answer_by, redirect_by, register_by, extensions, "
            "executor FROM appeal WHERE id = %s",
            (appeal_id,),
        ).fetchone()


def test_an_appeal_is_worked_on_extended_once_declined_and_closed(client, hub, portal, edms):
    (appeal_id,) = _push(client, portal)
    assert _appeal_row(hub, appeal_id)["register_by"] is not None
    today = date.today()
    edms.register(appeal_id, "ОГ-7", today, "e-1")
    registered = _appeal_row(hub, appeal_id)
    assert registered["answer_by"] >= today + timedelta(days=30)  # 30 days, later if that is a day off
    assert registered["redirect_by"] >= today + timedelta(days=7)
    assert _refusal(lambda: edms.send_event(appeal_id, "closed", "e-0"))[0] == "illegal-transition"

    assigned = edms.send_event(appeal_id, "assigned", "e-2", executor="отдел ЖКХ")
    assert (assigned["seq"], assigned["state"]) == (2, "in-progress")
    too_early = registered["answer_by"] - timedelta(days=1)
    refused = _refusal(
        lambda: edms.send_event(appeal_id, "extended", "e-3", new_due_date=too_early, reason="x")
    )
    assert refused == ("invalid-request", "/new_due_date")
    new_due = registered["answer_by"] + timedelta(days=20)
    extended = edms.send_event(appeal_id, "extended", "e-4", new_due_date=new_due, reason="нужна проверка")
    assert (extended["seq"], extended["state"]) == (3, "extended")
    row = _appeal_row(hub, appeal_id)
    assert (row["extensions"], row["executor"]) == (1, "отдел ЖКХ")
    assert row["answer_by"] >= new_due
    edms.send_event(appeal_id, "assigned", "e-5", executor="другой отдел")
    second = _refusal(lambda: edms.send_event(appeal_id, "extended", "e-6", new_due_date=new_due, reason="x"))
    assert second[0] == "illegal-transition"

    assert _refusal(lambda: edms.send_event(appeal_id, "declined", "e-7", ground="boredom")) == (
        "invalid-request",
        "/ground",
    )
    declined = edms.send_event(appeal_id, "declined", "e-8", ground="repeated")
    closed = edms.send_event(appeal_id, "closed", "e-9")
    assert (declined["state"], closed["state"], closed["seq"]) == ("declined", "closed", 6)
    again = edms.send_event(appeal_id, "declined", "e-8", ground="repeated")
    assert (again["repeated"], again["seq"]) == (True, 5)
    with hub.pool.connection() as conn:
        types = [r["type"] for r in conn.execute(
            "SELECT type FROM appeal_event WHERE appeal_id = %s ORDER BY seq", (appeal_id,)
        )]  # fmt: skip
    assert types == ["registered", "assigned", "extended", "assigned", "declined", "closed"]
    with hub.pool.connection() as conn:
        outbox = conn.execute(
            "SELECT connector, seq, idempotency_key, payload, published_at FROM outbox_message "
            "WHERE appeal_id = %s ORDER BY id",
            (appeal_id,),
        ).fetchall()
    # One status update for the cabinet per event, in order; the repeated decline added none.
    assert [(o["connector"], o["seq"], o["payload"]["state"]) for o in outbox] == [
        ("cabinet", 1, "registered"),
        ("cabinet", 2, "in-progress"),
        ("cabinet", 3, "extended"),
        ("cabinet", 4, "in-progress"),
        ("cabinet", 5, "declined"),
        ("cabinet", 6, "closed"),
    ]
    assert outbox[0]["payload"]["details"]["registration_number"] == "ОГ-7"
    assert outbox[2]["payload"]["details"]["reason"] == "нужна проверка"
    assert "executor" not in outbox[1]["payload"]["details"]  # officials' names stay inside
    assert all(o["published_at"] is None for o in outbox)  # no relay yet


def test_a_redirected_appeal_moves_to_the_competent_agency(client, hub, portal, face):
    cheboksary, minstroy = face(CHEBOKSARY), face(MINSTROY)
    (appeal_id,) = _push(client, portal)
    cheboksary.register(appeal_id, "ОГ-8", date.today(), "r-1")
    for target, code in (("NO-SUCH", "agency-unknown"), (CHEBOKSARY, "invalid-request")):
        refused = _refusal(
            lambda t=target: cheboksary.send_event(
                appeal_id, "redirected", "r-2", target_agency=t, reason="x"
            )
        )
        assert refused == (code, "/target_agency")
    moved = cheboksary.send_event(
        appeal_id, "redirected", "r-3", target_agency=MINSTROY, reason="не наш вопрос"
    )
    assert moved["state"] == "redirected"
    assert cheboksary.send_event(
        appeal_id, "redirected", "r-3", target_agency=MINSTROY, reason="не наш вопрос"
    )["repeated"]
    assert _refusal(lambda: cheboksary.register(appeal_id, "ОГ-9", date.today(), "r-4"))[0] == "not-found"
    row = _appeal_row(hub, appeal_id)
    assert (row["agency_code"], row["registered_on"], row["answer_by"]) == (MINSTROY, None, None)
    assert row["register_by"] is not None
    (message,) = minstroy.pull()
    assert message["appeal_id"] == appeal_id
    minstroy.ack([message])
    assert minstroy.register(appeal_id, "МС-1", date.today(), "m-1")["state"] == "registered"
    with hub.pool.connection() as conn:
        details = conn.execute(
            "SELECT details FROM appeal_event WHERE appeal_id = %s AND type = 'redirected'", (appeal_id,)
        ).fetchone()["details"]
    assert (details["from_agency"], details["target_agency"], details["within_legal_window"]) == (
        CHEBOKSARY,
        MINSTROY,
        True,
    )


# --- the signed answer ------------------------------------------------------------------------

ACT = b"%PDF-1.7 act of inspection\n" * 40
SCAN = bytes(range(256)) * 5000  # 1.2 MiB: two storage chunks
FILES = {"act-1": ACT, "scan-2": SCAN}
INFECTED = {"act-1": ACT, "scan-2": EICAR}  # the hub under test scans through the tests' clamd


@pytest.fixture(scope="session")
def signer(dev_pki) -> tuple[bytes, bytes]:
    """ADM-CHEBOKSARY's answer key and the certificate its registry entry holds."""
    return dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()


def _registered(client, portal, edms: EdmsLike, number: str, **kwargs) -> str:
    (appeal_id,) = _push(client, portal, **kwargs)
    edms.register(appeal_id, number, date.today(), "reg-" + number)
    return appeal_id


def _answer_rows(hub, appeal_id: str) -> dict[str, list]:
    with hub.pool.connection() as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} WHERE appeal_id = %s", (appeal_id,)).fetchall()
            for table in ("appeal_answer", "outbox_message")
        }


def _blob(hub, sha256_hex: str) -> bytes:
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT data FROM blob_chunk WHERE sha256 = %s ORDER BY seq", (bytes.fromhex(sha256_hex),)
        ).fetchall()
    return b"".join(bytes(r["data"]) for r in rows)


def test_a_signed_answer_answers_the_appeal_and_goes_to_the_cabinet(client, hub, portal, edms, signer):
    appeal_id = _registered(client, portal, edms, "ОГ-10")
    document = sample_answer(appeal_id, "ОГ-10", files=FILES)
    signed = signed_answer(document, *signer)
    receipt = edms.send_answer(appeal_id, "ans-1", signed, FILES)
    assert (receipt["type"], receipt["seq"], receipt["state"], receipt["repeated"]) == (
        "answered", 2, "answered", False,
    )  # fmt: skip
    assert _state(hub, appeal_id) == "answered"

    digest = hashlib.sha256(signed).hexdigest()
    rows = _answer_rows(hub, appeal_id)
    (answer,) = rows["appeal_answer"]
    assert (answer["seq"], answer["answer_id"], answer["answered_on"]) == (
        2,
        document.answer_id,
        date.today(),
    )
    assert bytes(answer["document_sha256"]).hex() == digest
    assert _blob(hub, digest) == signed  # the signed bytes as the agency sent them, for the applicant
    headers = [
        {"content_id": a.content_id, "file_name": a.file_name, "media_type": a.media_type, "size": a.size,
         "sha256": a.sha256}
        for a in document.attachments
    ]  # fmt: skip
    assert answer["attachments"] == headers
    assert [_blob(hub, h["sha256"]) for h in headers] == [ACT, SCAN]

    update = rows["outbox_message"][-1]
    assert (update["connector"], update["seq"]) == ("cabinet", 2)
    payload = update["payload"]
    assert (payload["type"], payload["state"]) == ("answered", "answered")
    assert payload["documents"] == {"answer": digest}
    assert payload["answer"] == {
        "answer_id": str(document.answer_id),
        "answered_on": date.today().isoformat(),
        "signatory": {"name": document.signatory.name, "position": document.signatory.position},
        "attachments": headers,
    }
    assert payload["details"] == {"answered_on": date.today().isoformat()}
    with hub.pool.connection() as conn:
        audit = conn.execute(
            "SELECT details FROM audit_record WHERE appeal_id = %s AND action = 'answered'", (appeal_id,)
        ).fetchone()["details"]
        event = conn.execute(
            "SELECT details FROM appeal_event WHERE appeal_id = %s AND seq = 2", (appeal_id,)
        ).fetchone()["details"]
    assert (audit["answer_sha256"], audit["answer_size"], audit["answer_id"]) == (
        digest, len(signed), str(document.answer_id),
    )  # fmt: skip
    assert audit["attachments"] == [{k: h[k] for k in ("content_id", "size", "sha256")} for h in headers]
    # The answer's text travels inside the signed document only; officials' names stay out of records.
    for record in (payload, audit, event):
        assert document.text not in json.dumps(record, ensure_ascii=False)
    for record in (audit, event):
        assert document.signatory.name not in json.dumps(record, ensure_ascii=False)

    # A retry (even without the parts: the answer binds them) answers as the first time did.
    for files in (FILES, None):
        again = edms.send_answer(appeal_id, "ans-1", signed, files)
        assert (again["repeated"], again["seq"], again["recorded_at"]) == (True, 2, receipt["recorded_at"])
    other = signed_answer(sample_answer(appeal_id, "ОГ-10", files=FILES), *signer)
    assert _refusal(lambda: edms.send_answer(appeal_id, "ans-1", other, FILES)) == (
        "event-id-reused",
        "/event_id",
    )
    assert _refusal(lambda: edms.send_answer(appeal_id, "ans-2", other, FILES)) == (
        "illegal-transition",
        "/type",
    )
    assert len(_answer_rows(hub, appeal_id)["appeal_answer"]) == 1
    assert edms.send_event(appeal_id, "closed", "close-1")["state"] == "closed"


def _tampered(signed: bytes) -> bytes:
    tampered = signed.replace("перерасчёт".encode(), "отказ в перерасчёте".encode())
    assert tampered != signed
    return tampered


TOMORROW_BUT_ONE = date.today() + timedelta(days=2)
AT = "/answer/Document/Attachments/Attachment"
# case: (changes to the answer, who signs it, what happens to it then, the parts sent, the refusal)
ANSWER_AT_FAULT: dict[str, tuple[dict, str | None, Callable[[bytes], bytes] | None, dict, tuple]] = {
    "hub-key": ({}, "hub", None, FILES, ("certificate-untrusted", "/answer/AgencySignature")),
    "portal-key": ({}, "portal", None, FILES, ("certificate-untrusted", "/answer/AgencySignature")),
    "tampered": ({}, "agency", _tampered, FILES, ("signature-invalid", "/answer/AgencySignature")),
    "unsigned": ({}, None, None, FILES, ("signature-missing", "/answer/AgencySignature")),
    "not-xml": ({}, None, lambda _: b"%PDF-1.7", {}, ("malformed-xml", "/answer")),
    "not-an-answer": ({}, None, lambda _: b'<Answer xmlns="urn:appeals-gateway:answer:1"/>', {},
                      ("schema-violation", "/answer")),
    "agency-code": ({"agency_code": MINSTROY}, "agency", None, FILES,
                    ("answer-mismatch", "/answer/Document/AgencyCode")),
    "appeal-id": ({"appeal_id": uuid.uuid4()}, "agency", None, FILES,
                  ("answer-mismatch", "/answer/Document/AppealId")),
    "registration-number": ({"registration_number": "ОГ-99"}, "agency", None, FILES,
                            ("answer-mismatch", "/answer/Document/RegistrationNumber")),
    "answered-on": ({"answered_on": TOMORROW_BUT_ONE}, "agency", None, FILES,
                    ("invalid-request", "/answer/Document/AnsweredOn")),
    "digest": ({}, "agency", None, {**FILES, "act-1": ACT[::-1]}, ("attachment-digest-mismatch", AT + "[1]")),
    "size": ({}, "agency", None, {**FILES, "scan-2": SCAN[:-1]}, ("attachment-size-mismatch", AT + "[2]")),
    "missing": ({}, "agency", None, {"act-1": ACT}, ("attachment-missing", AT + "[2]")),
    "extra": ({}, "agency", None, {**FILES, "act-3": ACT}, ("attachment-unexpected", None)),
    "infected": ({"files": INFECTED}, "agency", None, INFECTED, ("attachment-infected", AT + "[2]")),
}  # fmt: skip


def _answer_at_fault(case: str, appeal_id: str, number: str, signer, dev_pki) -> bytes:
    changes, by, then, _, _ = ANSWER_AT_FAULT[case]
    document = sample_answer(
        **{"appeal_id": appeal_id, "registration_number": number, "files": FILES, **changes}
    )
    keys = {
        "agency": signer,
        "hub": (dev_pki.hub_key.read_bytes(), dev_pki.hub_cert.read_bytes()),
        "portal": (dev_pki.portal_rsa_key.read_bytes(), dev_pki.portal_rsa_cert.read_bytes()),
    }
    answer = build_answer(document) if by is None else signed_answer(document, *keys[by])
    return then(answer) if then else answer


@pytest.mark.parametrize("case", list(ANSWER_AT_FAULT))
def test_an_answer_at_fault_is_refused_and_changes_nothing(client, hub, portal, edms, signer, dev_pki, case):
    *_, files, refusal = ANSWER_AT_FAULT[case]
    appeal_id = _registered(client, portal, edms, "ОГ-11")
    answer = _answer_at_fault(case, appeal_id, "ОГ-11", signer, dev_pki)
    assert _refusal(lambda: edms.send_answer(appeal_id, "ans-1", answer, files)) == refusal
    assert _state(hub, appeal_id) == "registered"
    rows = _answer_rows(hub, appeal_id)
    assert rows["appeal_answer"] == []
    assert [o["seq"] for o in rows["outbox_message"]] == [1]  # the registration's update only
    assert "answered" not in _audit(hub, appeal_id)
    # Nothing is left half done: the right answer goes through under the same event id.
    document = sample_answer(appeal_id, "ОГ-11", files=FILES)
    assert edms.answer(appeal_id, "ans-1", document, *signer, files=FILES)["state"] == "answered"


def test_an_agency_without_a_registered_answer_certificate_cannot_answer(client, hub, portal, face, signer):
    minstroy = face(MINSTROY)  # the example registry holds no answer certificate for it
    appeal_id = _registered(client, portal, minstroy, "МС-1", topic_code="0005.0001.0001.0001")
    document = sample_answer(appeal_id, "МС-1", agency_code=MINSTROY)
    refused = _refusal(lambda: minstroy.answer(appeal_id, "m-1", document, *signer))
    assert refused == ("answer-certificate-not-registered", None)
    assert _state(hub, appeal_id) == "registered"


@pytest.fixture
def early_certificate(hub, root_ca) -> Iterator[tuple[bytes, bytes]]:
    """MINSTROY-21 registers an answer certificate valid only from tomorrow (a CA's clock running
    ahead): its key and certificate. The registry row is put back afterwards."""
    now = datetime.now(UTC)
    key, cert = issue_certificate(
        *root_ca,
        "MINSTROY-21 answers (tests)",
        not_before=now + timedelta(days=1),
        not_after=now + timedelta(days=365),
    )
    with hub.pool.connection() as conn:
        before = conn.execute("SELECT answer_certificate FROM agency WHERE code = %s", (MINSTROY,)).fetchone()
        conn.execute("UPDATE agency SET answer_certificate = %s WHERE code = %s", (cert.decode(), MINSTROY))
    try:
        yield key, cert
    finally:
        with hub.pool.connection() as conn:
            conn.execute(
                "UPDATE agency SET answer_certificate = %s WHERE code = %s",
                (before["answer_certificate"], MINSTROY),
            )


def test_an_answer_signed_with_a_certificate_not_yet_valid_is_told_so(
    client, hub, portal, face, early_certificate
):
    minstroy = face(MINSTROY)
    appeal_id = _registered(client, portal, minstroy, "МС-2", topic_code="0005.0001.0001.0001")
    document = sample_answer(appeal_id, "МС-2", agency_code=MINSTROY)
    refused = _refusal(lambda: minstroy.answer(appeal_id, "m-1", document, *early_certificate))
    assert refused == ("certificate-not-yet-valid", "/answer/AgencySignature")
    assert _state(hub, appeal_id) == "registered"
    assert _answer_rows(hub, appeal_id)["appeal_answer"] == []


def test_an_answer_before_registration_or_after_a_decline_is_an_illegal_transition(
    client, hub, portal, edms, signer
):
    (appeal_id,) = _push(client, portal)
    document = sample_answer(appeal_id, "ОГ-12")
    assert _refusal(lambda: edms.answer(appeal_id, "ans-1", document, *signer)) == (
        "illegal-transition",
        "/type",
    )
    edms.register(appeal_id, "ОГ-12", date.today(), "reg-1")
    edms.send_event(appeal_id, "declined", "dec-1", ground="repeated")
    assert _refusal(lambda: edms.answer(appeal_id, "ans-1", document, *signer)) == (
        "illegal-transition",
        "/type",
    )
    assert _answer_rows(hub, appeal_id)["appeal_answer"] == []


def test_another_agency_cannot_answer_an_appeal_it_does_not_hold(client, portal, face, edms, signer):
    appeal_id = _registered(client, portal, edms, "ОГ-13")
    document = sample_answer(appeal_id, "ОГ-13")
    assert _refusal(lambda: face(MINSTROY).answer(appeal_id, "x-1", document, *signer)) == (
        "not-found",
        "/appeal_id",
    )


def test_the_portal_that_sent_the_appeal_fetches_the_answers_attachments(
    client, hub, portal, edms, signer, registry
):
    appeal_id = _registered(client, portal, edms, "ОГ-14")
    document = sample_answer(appeal_id, "ОГ-14", files=FILES)
    edms.answer(appeal_id, "ans-1", document, *signer, files=FILES)
    tokens = registry[1]
    for header, data in zip(document.attachments, FILES.values(), strict=True):
        response = answer_attachment(client, tokens["EPGU"], appeal_id, header.content_id)
        assert response.status_code == 200, response.text
        assert response.content == data
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-length"] == str(len(data))
        assert (
            response.headers["repr-digest"]
            == f"sha-256=:{base64.b64encode(bytes.fromhex(header.sha256)).decode()}:"
        )
        assert f"filename*=UTF-8''{header.file_name}" in response.headers["content-disposition"]
    for token, target, content_id, status, code in (
        (tokens["OBRASHCHENIYA-BEL"], appeal_id, "act-1", 404, "not-found"),  # not the sender
        (tokens["EPGU"], appeal_id, "act-9", 404, "not-found"),
        (tokens["EPGU"], str(uuid.uuid4()), "act-1", 404, "not-found"),
        (tokens[CHEBOKSARY], appeal_id, "act-1", 401, "unauthenticated"),  # agencies are not portals
        ("not-a-token", appeal_id, "act-1", 401, "unauthenticated"),
    ):
        response = answer_attachment(client, token, target, content_id)
        assert (response.status_code, response.json()["code"]) == (status, code)
    with hub.pool.connection() as conn:
        recorded = conn.execute("SELECT face, code FROM request_refusal ORDER BY id").fetchall()
    assert [(r["face"], r["code"]) for r in recorded] == [("portal", "not-found")] * 3 + [
        ("portal", "unauthenticated")
    ] * 2


# --- notices: the applicant withdrew an appeal, or rated its answer -------------------------------


def test_withdrawal_and_feedback_notices_are_pulled_and_acknowledged_like_appeals(
    client, hub, portal, edms, signer, registry
):
    answered = _registered(client, portal, edms, "ОГ-21")
    edms.answer(answered, "ans-1", sample_answer(answered, "ОГ-21"), *signer)
    withdrawn = _registered(client, portal, edms, "ОГ-22")
    token = registry[1]["EPGU"]
    assert give_feedback(client, token, answered, "f-1", 4, "Спасибо за ответ").status_code == 201
    assert withdraw(client, token, withdrawn, "w-1", "Вопрос решён").status_code == 201

    pulled = edms.pull(limit=10)
    notices = {m["kind"]: m for m in pulled if m["kind"] != "appeal"}
    assert sorted(notices) == ["feedback", "withdrawal"]
    feedback, withdrawal = notices["feedback"], notices["withdrawal"]
    assert feedback["appeal_id"] == answered and "withdrawal" not in feedback
    assert (feedback["feedback"]["rating"], feedback["feedback"]["comment"]) == (4, "Спасибо за ответ")
    assert withdrawal["appeal_id"] == withdrawn and "feedback" not in withdrawal
    assert (withdrawal["withdrawal"]["seq"], withdrawal["withdrawal"]["reason"]) == (2, "Вопрос решён")
    assert withdrawal["appeal"]["topic_code"] == "0005.0005.0056.1149"
    assert {r["status"] for r in edms.ack(pulled)} == {"acknowledged"}
    assert edms.statistics()["pending"] == 0
    assert (_state(hub, answered), _state(hub, withdrawn)) == ("answered", "withdrawn")
    assert _refusal(lambda: edms.send_event(withdrawn, "assigned", "asg-1", executor="Отдел ЖКХ")) == (
        "illegal-transition",
        "/type",
    )
