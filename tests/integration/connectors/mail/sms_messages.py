"""Outbox messages for ``applicant-sms``, shaped as the notification hook writes them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from gateway.domain.delivery import OutgoingMessage

NUMBER = "01-23/4567"
PHONE = "+79001234567"
ACCESS_CODE = "AB3K7M2QXP"
LOOKUP_URL = "https://hub.example.ru/status?number=01-23%2F4567"
_ids = itertools.count(1000)


def payload(kind: str = "registered", *, language: str = "ru", **overrides: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "registered": {
            "registration_number": NUMBER,
            "registered_on": "2026-12-01",
            "answer_by": "2026-12-31",
        },
        "extended": {
            "answer_by": "2027-01-30",
            "new_due_date": "2027-01-30",
            "reason": "запрос в другой орган",
        },
        "redirected": {"target_agency": "MINZDRAV-21", "reason": "не в компетенции"},
        "declined": {"ground": "obscene"},
        "answered": {"answered_on": "2026-12-20"},
    }.get(kind, {})
    body: dict[str, Any] = {
        "appeal_id": str(uuid4()),
        "seq": 1,
        "type": kind,
        "state": kind,
        "at": datetime.now(UTC).isoformat(),
        "details": details,
        "appeal": {
            "state": kind,
            "agency": {"code": "ADM-CHEBOKSARY", "name": "Администрация города Чебоксары"},
            "registration": {"registration_number": NUMBER, "registered_on": "2026-12-01"},
            "registrations": [{"registration_number": NUMBER, "registered_on": "2026-12-01"}],
            "history": [],
        },
        "to": PHONE,
        "language": language,
        "lookup_url": LOOKUP_URL,
    }
    if kind == "registered":
        body["access_code"] = ACCESS_CODE
    body.update(overrides)
    return body


def message(kind: str = "registered", *, outbox_id: int | None = None, attempt: int = 1, **overrides: Any):
    body = payload(kind, **overrides)
    return OutgoingMessage(
        id=next(_ids) if outbox_id is None else outbox_id,
        connector="applicant-sms",
        appeal_id=body["appeal_id"],
        seq=body["seq"],
        idempotency_key=f"applicant-sms:{body['appeal_id']}:{body['seq']}",
        payload=body,
        created_at=datetime.now(UTC),
        attempt=attempt,
    )
