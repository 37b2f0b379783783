"""Both cabinet connectors (REST and SOAP) against the fake cabinet over real sockets: what is
delivered, what is retried (and when), what is refused for good, and what the cabinet ends up holding."""

from __future__ import annotations

import base64

import pytest

from gateway.domain.delivery import DeliveryError
from tests.integration.connectors.portal.cabinet_messages import ANSWER_XML, message


def _fails(connector, msg) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        connector.deliver(msg)
    return caught.value


def test_an_update_is_delivered_and_becomes_the_current_state(connector, cabinet, appeal_id, variant):
    connector.deliver(message(appeal_id, 1, "registered"))

    state = cabinet.state(appeal_id)
    assert (state["state"], state["seq"]) == ("registered", 1)
    current = state["current"]
    assert current["details"] == {
        "registration_number": "ОГ-2026/118",
        "registered_on": "2026-11-25",
        "answer_by": "2026-12-25",
    }
    assert current["access_code"] == "7KQ2MX9PRT"
    assert [(r["via"], r["outcome"]) for r in state["history"]] == [(variant, "applied")]
    assert cabinet.stats()["refusals"] == []


def test_a_repeated_update_is_absorbed_by_its_idempotency_key(connector, cabinet, appeal_id):
    connector.deliver(message(appeal_id, 1))
    connector.deliver(message(appeal_id, 1, attempt=2))  # the worker's retry after a lost answer

    assert cabinet.stats()["duplicates"] == 1
    assert len(cabinet.history(appeal_id)) == 1


def test_a_stale_update_is_kept_in_history_but_never_moves_the_state_back(connector, cabinet, appeal_id):
    connector.deliver(message(appeal_id, 1, "registered"))
    connector.deliver(message(appeal_id, 3, "extended", details={"new_due_date": "2027-01-25"}))
    connector.deliver(message(appeal_id, 2, "assigned"))  # overtaken by #3: delivered, not applied

    state = cabinet.state(appeal_id)
    assert (state["state"], state["seq"]) == ("extended", 3)
    assert [(r["update"]["seq"], r["outcome"]) for r in state["history"]] == [
        (1, "applied"),
        (3, "applied"),
        (2, "stale"),
    ]


def test_the_answer_reaches_the_cabinet_with_its_signed_document_intact(connector, cabinet, appeal_id):
    connector.deliver(message(appeal_id, 4, "answered"))

    current = cabinet.current(appeal_id)
    assert current["state"] == "answered"
    assert current["details"] == {"answered_on": "2026-12-10"}
    answer = current["answer"]
    assert base64.b64decode(answer["document"]) == ANSWER_XML  # byte for byte: its signature still holds
    assert cabinet.answer_document(appeal_id) == ANSWER_XML
    assert answer["signatory"] == {"name": "Иванов Иван Иванович", "position": "Глава администрации"}
    assert answer["attachments"][0]["file_name"] == "ответ.pdf"
    assert answer["attachments"][0]["sha256"] == "36d2" * 16


def test_busy_with_retry_after_is_retried_not_before_it(connector, cabinet, appeal_id):
    cabinet.fail_next(1, status=503, retry_after=120)

    error = _fails(connector, message(appeal_id, 1))
    assert not error.permanent
    assert error.retry_after == 120
    assert "503" in error.reason

    connector.deliver(message(appeal_id, 1, attempt=2))
    assert cabinet.current(appeal_id)["seq"] == 1


def test_too_many_requests_is_retried_after_the_given_time(connector, cabinet, appeal_id):
    cabinet.fail_next(1, status=429, retry_after=30)

    error = _fails(connector, message(appeal_id, 1))
    assert (error.permanent, error.retry_after) == (False, 30)


def test_a_server_error_is_retried(connector, cabinet, appeal_id):
    cabinet.fail_next(1, status=500)

    error = _fails(connector, message(appeal_id, 1))
    assert not error.permanent
    assert error.retry_after is None
    assert cabinet.history(appeal_id) == []


def test_a_refusal_is_permanent_and_names_the_cabinets_code(connector, cabinet, appeal_id):
    cabinet.fail_next(1, status=422, code="unknown-appeal")

    error = _fails(connector, message(appeal_id, 1))
    assert error.permanent
    assert "unknown-appeal" in error.reason


def test_a_foreign_key_is_refused_by_the_cabinet_for_good(connect, cabinet, impostor, appeal_id):
    connector = connect(cabinet, impostor)

    error = _fails(connector, message(appeal_id, 1))
    assert error.permanent
    assert "signature" in error.reason or "certificate" in error.reason
    assert cabinet.history(appeal_id) == []
    assert [status for status, _ in cabinet.stats()["refusals"]] == [401]


def test_no_cabinet_listening_is_retried(connect, closed_port, appeal_id):
    error = _fails(connect(closed_port), message(appeal_id, 1))
    assert not error.permanent
    assert "connect" in error.reason


def test_a_cabinet_too_slow_to_answer_is_retried(connect, cabinet, appeal_id):
    cabinet.set_delay(1.5)
    connector = connect(cabinet, timeout=0.3)

    error = _fails(connector, message(appeal_id, 1))
    assert not error.permanent
    assert "0.3 s" in error.reason


def test_a_slow_cabinet_within_the_timeout_is_fine(connect, cabinet, appeal_id):
    cabinet.set_delay(0.2)
    connect(cabinet, timeout=3).deliver(message(appeal_id, 1))
    assert cabinet.current(appeal_id)["seq"] == 1


def test_reasons_carry_no_personal_data(connector, cabinet, appeal_id):
    """The cabinet's refusal text may echo the update; only its code reaches the stored reason."""
    cabinet.fail_next(1, status=422, code="refused")
    error = _fails(connector, message(appeal_id, 4, "answered"))
    for secret in ("Иванов", "7KQ2MX9PRT", "ответ", "scripted failure"):
        assert secret not in error.reason
