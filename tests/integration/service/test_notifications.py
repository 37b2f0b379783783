"""Which events queue an e-mail to the applicant, on the real database: the lifecycle events the
applicant must hear of, only for applicants who asked for e-mail and gave an address, only when
the hub has SMTP, in the agency's language, once per event whatever repeats it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest

from gateway.domain.applicant_requests import parse_withdrawal
from gateway.domain.deadlines import clock_for
from gateway.domain.events import parse_event
from gateway.domain.model import IdentityProvider
from gateway.service import applicant_requests, events, intake, mailbox, status
from gateway.service.notifications import APPLICANT_MAIL, APPLICANT_SMS
from gateway.simulators.edms import signed_answer
from gateway.simulators.samples import sample_answer, sample_appeal, sample_co_applicants

AGENCY = "ADM-CHEBOKSARY"
OTHER = "MINSTROY-21"
BY_AGENCY = "MINGORISPOLKOM"
PUBLIC_URL = "https://appeals.example.ru"


@pytest.fixture
def mailing(hub, monkeypatch):
    """The hub with SMTP configured (nothing is sent here: only the outbox is looked at)."""
    settings = hub.settings.model_copy(update={"smtp_host": "127.0.0.1", "public_url": PUBLIC_URL + "/"})
    monkeypatch.setattr(hub, "settings", settings)
    return hub


def _today(profile: str = "RU-59FZ", tz: str = "Europe/Moscow") -> str:
    return clock_for(profile, tz).local_date(datetime.now(UTC)).isoformat()


def _later(days: int) -> str:
    return (date.fromisoformat(_today()) + timedelta(days=days)).isoformat()


def _register(hub, appeal_id: UUID, number: str) -> None:
    _event(hub, AGENCY, appeal_id, "reg", "registered", registration_number=number, registered_on=_today())


def _pushed(hub, portal, agency: str = AGENCY, **kwargs) -> UUID:
    receipt = intake.accept(hub, portal.envelope(sample_appeal(0, **kwargs)))
    (leased,) = mailbox.lease(hub, agency, 1)
    mailbox.acknowledge_one(hub, agency, mailbox.Ack(leased.message_id, leased.lease_token))
    return receipt.appeal_id


def _event(hub, agency: str, appeal_id: UUID, event_id: str, kind: str, **fields: str) -> None:
    events.record(hub, agency, appeal_id, parse_event(event_id, kind, fields))


def _mails(hub, appeal_id: UUID) -> list[dict]:
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT seq, idempotency_key, payload FROM outbox_message WHERE appeal_id = %s AND connector = %s"
            " ORDER BY seq",
            (appeal_id, APPLICANT_MAIL),
        ).fetchall()
    return rows


def test_each_lifecycle_event_the_applicant_must_hear_of_queues_one_email(mailing, portal, dev_pki):
    hub = mailing
    appeal_id = _pushed(hub, portal)
    _event(hub, AGENCY, appeal_id, "reg", "registered", registration_number="ОГ-1", registered_on=_today())
    _event(hub, AGENCY, appeal_id, "asg", "assigned", executor="Исполнитель Отдела-Писем")
    _event(hub, AGENCY, appeal_id, "ext", "extended", new_due_date=_later(45), reason="выездная проверка")
    answer = signed_answer(
        sample_answer(appeal_id, "ОГ-1"), dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    )
    events.record(hub, AGENCY, appeal_id, parse_event("ans", "answered", {}, answer=answer))
    _event(hub, AGENCY, appeal_id, "cls", "closed")
    _event(hub, AGENCY, appeal_id, "cls", "closed")  # a repeat: no second e-mail

    mails = _mails(hub, appeal_id)
    assert [(m["seq"], m["payload"]["type"]) for m in mails] == [
        (1, "registered"),
        (3, "extended"),
        (4, "answered"),
        (5, "closed"),
    ]  # fmt: skip  (no e-mail for "assigned": its only fact, the executor, is not public)
    assert [m["idempotency_key"] for m in mails] == [
        f"{APPLICANT_MAIL}:{appeal_id}:{s}" for s in (1, 3, 4, 5)
    ]
    first = mails[0]["payload"]
    assert first["to"] == "applicant@example.org"
    assert first["language"] == "ru"
    code = first["access_code"]
    assert len(code) == 10 and all(m["payload"]["access_code"] == code for m in mails)
    assert first["appeal"]["registration"]["registration_number"] == "ОГ-1"
    assert first["details"]["registration_number"] == "ОГ-1"
    assert mails[1]["payload"]["details"]["reason"] == "выездная проверка"
    # the link opens the public lookup with the number and code the applicant holds
    url = urlsplit(first["lookup_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == PUBLIC_URL + "/public/v1/status"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == {"number": "ОГ-1", "code": code}
    assert status.lookup(hub, query["number"], query["code"])["state"] == "closed"
    everything = str([m["payload"] for m in mails])
    assert "Исполнитель" not in everything  # no executor
    assert "Петрова" not in everything and "коммунальные" not in everything  # no name, no appeal text
    assert "answer" not in mails[2]["payload"]  # the answer itself is the cabinet's (or item 2's)


def test_a_redirect_names_the_new_agency_and_a_decline_its_ground(mailing, portal):
    hub = mailing
    appeal_id = _pushed(hub, portal)
    _event(hub, AGENCY, appeal_id, "reg", "registered", registration_number="ОГ-2", registered_on=_today())
    _event(hub, AGENCY, appeal_id, "red", "redirected", target_agency=OTHER, reason="не по компетенции")
    (leased,) = mailbox.lease(hub, OTHER, 1)
    mailbox.acknowledge_one(hub, OTHER, mailbox.Ack(leased.message_id, leased.lease_token))
    _event(hub, OTHER, appeal_id, "reg2", "registered", registration_number="МС-7", registered_on=_today())
    _event(hub, OTHER, appeal_id, "dec", "declined", ground="no-question")

    mails = [m["payload"] for m in _mails(hub, appeal_id)]
    assert [m["type"] for m in mails] == ["registered", "redirected", "registered", "declined"]
    redirected = mails[1]
    assert redirected["details"]["target_agency"] == OTHER
    assert redirected["appeal"]["agency"]["code"] == OTHER
    assert mails[3]["details"]["ground"] == "no-question"
    # one code for the appeal's whole life; the link keeps the first number the applicant was told
    assert len({m["access_code"] for m in mails}) == 1
    assert all("number=%D0%9E%D0%93-2" in m["lookup_url"] for m in mails)


def test_a_belarusian_agency_writes_in_belarusian(mailing, portal_by):
    hub = mailing
    appeal_id = _pushed(
        hub, portal_by, BY_AGENCY, provider=IdentityProvider.BY_PASSWORD_PHONE, territory_code="5000000000"
    )
    today = _today("BY-300Z", "Europe/Minsk")
    _event(hub, BY_AGENCY, appeal_id, "reg", "registered", registration_number="Б-1", registered_on=today)
    (mail,) = _mails(hub, appeal_id)
    assert mail["payload"]["language"] == "be"


@pytest.mark.parametrize(
    "channels", [("cabinet",), ("cabinet", "sms")], ids=["cabinet-only", "cabinet-and-sms"]
)
def test_no_email_for_an_applicant_who_did_not_ask_for_it(mailing, portal, channels):
    appeal_id = _pushed(mailing, portal, notification_channels=channels)
    _event(
        mailing, AGENCY, appeal_id, "reg", "registered", registration_number="ОГ-3", registered_on=_today()
    )
    assert _mails(mailing, appeal_id) == []


def test_no_email_without_an_address(mailing, portal):
    appeal = sample_appeal(0)
    appeal = replace(appeal, applicant=replace(appeal.applicant, email=None))
    receipt = intake.accept(mailing, portal.envelope(appeal))
    (leased,) = mailbox.lease(mailing, AGENCY, 1)
    mailbox.acknowledge_one(mailing, AGENCY, mailbox.Ack(leased.message_id, leased.lease_token))
    _event(
        mailing,
        AGENCY,
        receipt.appeal_id,
        "reg",
        "registered",
        registration_number="ОГ-4",
        registered_on=_today(),
    )
    assert _mails(mailing, receipt.appeal_id) == []


def test_no_email_queued_by_a_hub_without_smtp(hub, portal):
    appeal_id = _pushed(hub, portal)
    _event(hub, AGENCY, appeal_id, "reg", "registered", registration_number="ОГ-5", registered_on=_today())
    assert _mails(hub, appeal_id) == []


def test_the_applicants_own_withdrawal_is_not_mailed(mailing, portal):
    appeal_id = _pushed(mailing, portal)
    applicant_requests.withdraw(mailing, portal.sender_id, appeal_id, parse_withdrawal("w-1"))
    assert _mails(mailing, appeal_id) == []


def test_an_applicant_who_asked_for_sms_gets_one_per_event_to_their_phone(hub, portal, monkeypatch):
    """The SMS channel is a row of the same table: on when the hub has an SMSC, for applicants who
    list ``sms``, with the same payload as the e-mail plus the phone (E.164, as the envelope has it)."""
    settings = hub.settings.model_copy(update={"smpp_host": "127.0.0.1", "public_url": PUBLIC_URL})
    monkeypatch.setattr(hub, "settings", settings)
    texting = _pushed(hub, portal, notification_channels=("cabinet", "sms"))
    _event(hub, AGENCY, texting, "reg", "registered", registration_number="ОГ-3", registered_on=_today())
    _event(hub, AGENCY, texting, "dec", "declined", ground="no-question")
    with hub.pool.connection() as conn:
        rows = conn.execute(
            "SELECT connector, seq, payload FROM outbox_message"
            " WHERE appeal_id = %s AND connector <> 'cabinet' ORDER BY seq",
            (texting,),
        ).fetchall()
    assert [(r["connector"], r["seq"]) for r in rows] == [(APPLICANT_SMS, 1), (APPLICANT_SMS, 2)]
    first, last = rows[0]["payload"], rows[1]["payload"]
    assert first["to"] == "+79000000000"
    assert len(first["access_code"]) == 10 and last["access_code"] == first["access_code"]
    assert parse_qs(urlsplit(last["lookup_url"]).query)["number"] == ["ОГ-3"]


def test_a_collective_appeals_mail_goes_to_the_co_applicant_who_is_the_contact(mailing, portal):
    contact_second = _pushed(mailing, portal, co_applicants=sample_co_applicants(3, contact=1))
    _register(mailing, contact_second, "ОГ-10")
    applicant_stays = _pushed(mailing, portal, co_applicants=sample_co_applicants(2))
    _register(mailing, applicant_stays, "ОГ-11")
    assert [m["payload"]["to"] for m in _mails(mailing, contact_second)] == ["co-applicant-2@example.org"]
    assert [m["payload"]["to"] for m in _mails(mailing, applicant_stays)] == ["applicant@example.org"]
