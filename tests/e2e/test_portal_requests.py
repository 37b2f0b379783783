"""The portal's requests for the applicant over a real socket: withdrawal and feedback, their HTTP
statuses and problem documents, and the feedback counts agencies and operators read."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from gateway.simulators.edms import Edms
from gateway.simulators.portal import give_feedback, push, withdraw
from gateway.simulators.samples import sample_answer, sample_appeal
from tests.conftest import OPERATOR_TOKEN

CHEBOKSARY = "ADM-CHEBOKSARY"


@pytest.fixture
def client(hub_url, hub):
    with httpx.Client(base_url=hub_url, timeout=30) as c:
        yield c


@pytest.fixture
def tokens(registry) -> dict[str, str]:
    return registry[1]


@pytest.fixture
def edms(client, tokens) -> Edms:
    return Edms(client, tokens[CHEBOKSARY])


def _registered(client, portal, edms, number: str) -> str:
    appeal_id = push(client, portal.envelope(sample_appeal(1))).json()["appeal_id"]
    edms.register(appeal_id, number, date.today(), "reg-1")
    return appeal_id


def _problem(response: httpx.Response) -> tuple[int, str, str | None]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    return response.status_code, body["code"], body.get("pointer")


def test_a_withdrawal_answers_201_then_200_and_then_refuses_further_events(client, portal, edms, tokens):
    appeal_id = _registered(client, portal, edms, "ОГ-31")
    first = withdraw(client, tokens["EPGU"], appeal_id, "w-1", "Вопрос решён")
    again = withdraw(client, tokens["EPGU"], appeal_id, "w-1", "Вопрос решён")
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.json() == {**again.json(), "repeated": False}
    assert (first.json()["state"], first.json()["withdrawal_id"]) == ("withdrawn", "w-1")
    assert _problem(withdraw(client, tokens["EPGU"], appeal_id, "w-2")) == (409, "illegal-transition", None)
    with pytest.raises(Exception, match="illegal-transition"):
        edms.send_event(appeal_id, "assigned", "asg-1", executor="Отдел ЖКХ")


def test_feedback_answers_with_http_statuses_and_is_counted(client, portal, edms, tokens, dev_pki, hub_url):
    appeal_id = _registered(client, portal, edms, "ОГ-32")
    portal_token = tokens["EPGU"]
    assert _problem(give_feedback(client, portal_token, appeal_id, "f-1", 5)) == (
        409,
        "not-answered",
        "/rating",
    )
    signer = dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    edms.answer(appeal_id, "ans-1", sample_answer(appeal_id, "ОГ-32"), *signer)

    first = give_feedback(client, portal_token, appeal_id, "f-1", 5, "Спасибо")
    again = give_feedback(client, portal_token, appeal_id, "f-1", 5, "Спасибо")
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.json()["state"] == "answered"
    for response, expected in (
        (
            give_feedback(client, portal_token, appeal_id, "f-2", 3),
            (409, "feedback-already-given", "/feedback_id"),
        ),
        (
            give_feedback(client, portal_token, appeal_id, "f-1", 1),
            (409, "request-id-reused", "/feedback_id"),
        ),
        (give_feedback(client, portal_token, appeal_id, "f-3", True), (400, "invalid-request", "/rating")),
        (give_feedback(client, portal_token, appeal_id, "f-3", 6), (400, "invalid-request", "/rating")),
    ):
        assert _problem(response) == expected

    expected = {
        "agency_code": CHEBOKSARY,
        "count": 1,
        "mean": 5.0,
        "by_rating": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
    }
    own = client.get("/sed/v1/feedback", headers={"Authorization": f"Bearer {tokens[CHEBOKSARY]}"})
    assert own.json() == expected
    other = client.get("/sed/v1/feedback", headers={"Authorization": f"Bearer {tokens['MINSTROY-21']}"})
    assert (other.json()["count"], other.json()["mean"]) == (0, None)
    ops = client.get("/ops/v1/feedback", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert ops.json() == {"agencies": [expected]}
    assert (
        client.get("/ops/v1/feedback", headers={"Authorization": f"Bearer {tokens[CHEBOKSARY]}"}).status_code
        == 401
    )


def test_the_operators_cli_shows_the_feedback_table(client, portal, edms, tokens, dev_pki, settings):
    appeal_id = _registered(client, portal, edms, "ОГ-33")
    signer = dev_pki.agency_key.read_bytes(), dev_pki.agency_cert.read_bytes()
    edms.answer(appeal_id, "ans-1", sample_answer(appeal_id, "ОГ-33"), *signer)
    assert give_feedback(client, tokens["EPGU"], appeal_id, "f-1", 2).status_code == 201
    result = subprocess.run(
        [sys.executable, "-m", "gateway.faces.cli.main", "ops", "feedback"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": settings.database_url, "GATEWAY_DATA_DIR": str(settings.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["agency", "count", "mean", "1", "2", "3", "4", "5"]
    assert row.split() == [CHEBOKSARY, "1", "2.00", "0", "1", "0", "0", "0"]


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("withdrawal", {"reason": "x"}, (400, "invalid-request", "/withdrawal_id")),
        ("withdrawal", {"withdrawal_id": "w", "reason": "x" * 2001}, (400, "invalid-request", "/reason")),
        ("feedback", {"feedback_id": "f", "rating": "five"}, (400, "invalid-request", "/rating")),
        ("feedback", [1, 2], (400, "invalid-request", None)),
    ],
)
def test_bad_requests_are_refused_with_the_field_at_fault(client, portal, tokens, path, body, expected):
    appeal_id = push(client, portal.envelope(sample_appeal(1))).json()["appeal_id"]
    response = client.post(
        f"/portal/v1/appeals/{appeal_id}/{path}",
        json=body,
        headers={"Authorization": f"Bearer {tokens['EPGU']}"},
    )
    status, code, pointer = _problem(response)
    assert (status, code) == expected[:2]
    if expected[2] is not None:
        assert pointer == expected[2]


@pytest.mark.parametrize("path", ["withdrawal", "feedback"])
def test_only_the_sending_portal_reaches_its_appeals(client, portal, tokens, path):
    appeal_id = push(client, portal.envelope(sample_appeal(1))).json()["appeal_id"]
    body = {"withdrawal_id": "x", "feedback_id": "x", "rating": 5}
    url = f"/portal/v1/appeals/{appeal_id}/{path}"
    for token, expected in (
        (tokens["OBRASHCHENIYA-BEL"], (404, "not-found")),  # another portal: as if missing
        (tokens[CHEBOKSARY], (401, "unauthenticated")),  # an agency is not a portal
        ("not-a-token", (401, "unauthenticated")),
    ):
        response = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        assert _problem(response)[:2] == expected
    missing = client.post(
        f"/portal/v1/appeals/{uuid.uuid4()}/{path}",
        json=body,
        headers={"Authorization": f"Bearer {tokens['EPGU']}"},
    )
    assert _problem(missing)[:2] == (404, "not-found")
