"""Outbox messages for the cabinet, as ``gateway.service.cabinet_updates.tell_the_cabinet`` writes them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from gateway.domain.delivery import OutgoingMessage

ANSWER_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Answer xmlns="urn:appeals-gateway:answer:1">'
    '<Document Id="document"><Text>Ответ по существу: «доводы подтвердились»</Text></Document>'
    "<AgencySignature/></Answer>\n"
).encode()


ACCESS_CODE = "7KQ2MX9PRT"


def message(
    appeal_id: UUID,
    seq: int,
    kind: str = "registered",
    /,
    *,
    state: str | None = None,
    attempt: int = 1,
    **payload: Any,
) -> OutgoingMessage:
    """An outbox message as ``tell_the_cabinet`` writes it (answered: with its document), with the
    appeal's public state (a short one: this event alone) and, from a registration on, its access code.

    ``payload`` replaces members of the payload (even ``appeal_id`` and ``seq``, to make it disagree
    with the outbox row).
    """
    body: dict[str, Any] = {
        "appeal_id": str(appeal_id),
        "seq": seq,
        "type": kind,
        "state": state or {"assigned": "in-progress"}.get(kind, kind),
        "at": datetime(2026, 11, 25, 10, seq, tzinfo=UTC).isoformat(),
        "details": {},
    }
    documents: dict[str, bytes] = {}
    if kind == "registered":
        body["details"] = {
            "registration_number": "ОГ-2026/118",
            "registered_on": "2026-11-25",
            "answer_by": "2026-12-25",
        }
        body["access_code"] = ACCESS_CODE
    if kind == "answered":
        body["details"] = {"answered_on": "2026-12-10"}
        body["answer"] = {
            "answer_id": str(uuid4()),
            "answered_on": "2026-12-10",
            "signatory": {"name": "Иванов Иван Иванович", "position": "Глава администрации"},
            "attachments": [
                {
                    "content_id": "reply-1",
                    "file_name": "ответ.pdf",
                    "media_type": "application/pdf",
                    "size": 38000,
                    "sha256": "36d2" * 16,
                }
            ],
        }
        body["documents"] = {"answer": hashlib.sha256(ANSWER_XML).hexdigest()}
        documents["answer"] = ANSWER_XML
    if kind != "withdrawn" and seq > 1:
        body["access_code"] = ACCESS_CODE  # an earlier update brought it; contract 2 repeats it
    entry = {k: body[k] for k in ("seq", "type", "at", "state", "details")}
    body["appeal"] = {
        "state": body["state"],
        "agency": {"code": "ADM-CHEBOKSARY", "name": "Администрация г. Чебоксары"},
        "registrations": [],
        "history": [{**entry, "agency": "ADM-CHEBOKSARY"}],
    }
    body.update(payload)
    return OutgoingMessage(
        id=seq,
        connector="cabinet",
        appeal_id=appeal_id,
        seq=seq,
        idempotency_key=f"cabinet:{appeal_id}:{seq}",
        payload=body,
        created_at=datetime.now(UTC),
        attempt=attempt,
        documents=documents,
    )
