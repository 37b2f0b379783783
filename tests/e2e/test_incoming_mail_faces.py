"""E-mailed appeals end to end: ``appeals-gateway mail poll`` reads a real Dovecot, operators
moderate over ``/ops/v1/incoming-mail`` and ``appeals-gateway ops mail``, and the agency's EDMS
pulls the registered appeal over REST, its e-mail and attachment included."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from datetime import date

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from gateway.simulators.edms import Edms
from tests import mail_samples as samples
from tests.conftest import OPERATOR_TOKEN
from tests.dovecot import PASSWORD

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
AGENCY = "MINSTROY-21"
TOPIC, TERRITORY = "0005.0005.0056.1149", "97701000"


@pytest.fixture
def client(hub_url, hub):
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


def _cli(settings, dovecot, *args: str) -> subprocess.CompletedProcess:
    box = {**dovecot.mailbox().model_dump(mode="json"), "password": PASSWORD}  # dumped as ******
    env = {
        **os.environ, "DATABASE_URL": settings.database_url, "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_MAIL_MAILBOXES": json.dumps([box]), "GATEWAY_LOG_FORMAT": "json",
    }  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "gateway.faces.cli.main", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _queue(client, **params) -> list[dict]:
    response = client.get("/ops/v1/incoming-mail", params=params, headers=OPERATOR)
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def test_a_polled_e_mail_is_registered_over_rest_and_pulled_by_the_agency(
    client, settings, dovecot, registry
):
    raw = samples.with_attachment()
    dovecot.deliver(raw, samples.zip_bomb())
    polled = _cli(settings, dovecot, "mail", "poll")
    assert polled.returncode == 0, polled.stderr
    assert json.loads(polled.stdout)["filed"] == 1 and json.loads(polled.stdout)["quarantined"] == 1
    # The poller's own log lines name sizes and reasons, never the content or the sender.
    for secret in ("petrova", "Петрова", "Обращение с фото", "отремонтировать", "акт осмотра", "docs.zip"):
        assert secret not in polled.stderr
    assert "mail quarantined" in polled.stderr and "zip-bomb" in polled.stderr

    waiting, quarantined = sorted(_queue(client), key=lambda m: m["state"] == "quarantined")
    assert (waiting["state"], quarantined["quarantine_reason"]) == ("waiting", "zip-bomb")
    shown = client.get(f"/ops/v1/incoming-mail/{waiting['id']}", headers=OPERATOR).json()
    assert shown["text"] == samples.TEXT_RU and shown["sender"] == "petrova@example.ru"
    assert ["Subject", "Обращение с фото"] in shown["headers"]
    assert shown["attachments"][0]["file_name"] == "акт осмотра.pdf"

    registered = client.post(
        f"/ops/v1/incoming-mail/{waiting['id']}/register",
        json={"agency_code": AGENCY, "topic_code": TOPIC, "territory_code": TERRITORY}, headers=OPERATOR,
    )  # fmt: skip
    assert registered.status_code == 200, registered.text
    appeal_id = registered.json()["appeal_id"]

    edms = Edms(client, registry[1][AGENCY])
    (message,) = edms.pull()
    assert message["appeal_id"] == appeal_id
    assert base64.b64decode(message["signed_xml_base64"]) == raw.replace(b"\n", b"\r\n")
    assert message["appeal"]["identity"]["provider"] == "e-mail"
    (attachment,) = message["attachments"]
    assert edms.download(attachment["href"]) == (len(samples.PDF), hashlib.sha256(samples.PDF).hexdigest())
    edms.register(appeal_id, "МС-1/2026", date.today(), "reg-1")
    # Found by its number, with the legal clock running from the registration.
    (story,) = client.get("/ops/v1/timeline", params={"ref": "МС-1/2026"}, headers=OPERATOR).json()["appeals"]
    assert story["appeal"]["id"] == appeal_id
    assert story["appeal"]["register_by"] and story["appeal"]["answer_by"], story["appeal"]


def test_moderation_refusals_over_rest(client, settings, dovecot, registry):
    dovecot.deliver(samples.plain())
    assert _cli(settings, dovecot, "mail", "poll").returncode == 0
    (waiting,) = _queue(client)
    url = f"/ops/v1/incoming-mail/{waiting['id']}"

    bad_reason = client.post(url + "/reject", json={"reason": "rude"}, headers=OPERATOR)
    assert bad_reason.status_code == 400 and bad_reason.json()["code"] == "invalid-request"
    assert bad_reason.json()["pointer"] == "/reason"
    bad_topic = client.post(
        url + "/register", json={"agency_code": AGENCY, "topic_code": "1", "territory_code": TERRITORY},
        headers=OPERATOR,
    )  # fmt: skip
    assert (bad_topic.status_code, bad_topic.json()["pointer"]) == (400, "/topic_code")
    unknown = client.get("/ops/v1/incoming-mail/00000000-0000-4000-8000-000000000000", headers=OPERATOR)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not-found")
    bad_state = client.get("/ops/v1/incoming-mail", params={"state": "lost"}, headers=OPERATOR)
    assert (bad_state.status_code, bad_state.json()["pointer"]) == (400, "/state")
    as_agency = client.get(
        "/ops/v1/incoming-mail", headers={"Authorization": f"Bearer {registry[1][AGENCY]}"}
    )
    assert as_agency.status_code == 401

    rejected = client.post(url + "/reject", json={"reason": "not-an-appeal"}, headers=OPERATOR)
    assert rejected.status_code == 200, rejected.text
    again = client.post(url + "/reject", json={"reason": "not-an-appeal"}, headers=OPERATOR)
    assert (again.status_code, again.json()["code"]) == (409, "illegal-transition")
    shown = client.get(url, headers=OPERATOR).json()
    assert (shown["state"], shown["rejection_reason"], shown["reply"]["template"]) == (
        "rejected", "not-an-appeal", "mail-rejected",
    )  # fmt: skip


def test_operators_moderate_from_the_cli(hub, settings, dovecot, registry):
    dovecot.deliver(samples.windows_1251_qp(), samples.koi8r_base64())
    assert _cli(settings, dovecot, "mail", "poll", "--mailbox", "appeals").returncode == 0
    listed = _cli(settings, dovecot, "ops", "mail", "list")
    assert listed.returncode == 0, listed.stderr
    ids = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert len(ids) == 2 and "Жалоба" in listed.stdout and "Обращение" in listed.stdout

    shown = _cli(settings, dovecot, "ops", "mail", "show", ids[0])
    assert shown.returncode == 0 and samples.TEXT_RU in shown.stdout

    registered = _cli(settings, dovecot, "ops", "mail", "register", ids[0], "--agency", AGENCY,
                      "--topic", TOPIC, "--territory", TERRITORY)  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["routed_to"] == AGENCY
    refused = _cli(settings, dovecot, "ops", "mail", "reject", ids[1], "--reason", "other")
    assert refused.returncode == 1 and "invalid-request" in refused.stderr and "/comment" in refused.stderr
    rejected = _cli(settings, dovecot, "ops", "mail", "reject", ids[1], "--reason", "channel-not-allowed")
    assert rejected.returncode == 0, rejected.stderr

    assert _cli(settings, dovecot, "ops", "mail", "list").stdout.count("\n") == 1  # the header only
    with hub.pool.connection() as conn:
        audit = conn.execute(
            "SELECT actor, action FROM audit_record WHERE actor = 'operator:cli' ORDER BY id"
        ).fetchall()
    assert [a["action"] for a in audit] == ["routed", "mail-rejected"]
    unknown_mailbox = _cli(settings, dovecot, "mail", "poll", "--mailbox", "nope")
    assert unknown_mailbox.returncode == 1 and "not-found" in unknown_mailbox.stderr
