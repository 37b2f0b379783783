"""An agency's EDMS (СЭД), played: pulls its mailbox over REST, acknowledges, registers appeals,
answers them with a signed answer.

The hub's refusals come back as :class:`Refused` carrying the stable code, so the same
scenarios can drive any face of the hub and compare what it answered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from gateway.adapters.xmlsec.answer import build_answer
from gateway.adapters.xmlsec.signing import sign_answer
from gateway.domain.model import AnswerDocument


class Refused(Exception):
    """The hub refused a request: ``code`` is the stable machine code, ``status`` the HTTP status."""

    def __init__(self, status: int, code: str, pointer: str | None = None) -> None:
        super().__init__(f"{status} {code} {pointer or ''}".strip())
        self.status = status
        self.code = code
        self.pointer = pointer


def signed_answer(document: AnswerDocument, key_pem: bytes, cert_pem: bytes) -> bytes:
    """The answer as the agency's EDMS makes it: built per ``schemas/answer-1.xsd`` and signed with
    the agency's key (the certificate must be the one the hub's registry holds for the agency)."""
    return sign_answer(build_answer(document), key_pem, cert_pem)


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            body = response.json()
            raise Refused(response.status_code, body["code"], body.get("pointer"))
        response.raise_for_status()
    return response.json()


class AnsweringEdms:
    """What an EDMS does alike on every face: sign the answer, then send it (``send_answer``, the
    face's own way)."""

    def send_answer(
        self,
        appeal_id: str,
        event_id: str,
        answer: bytes,
        files: Mapping[str, bytes] | None = None,
        result: str | None = None,
    ) -> dict[str, Any]:
        raise NotImplementedError

    def answer(
        self,
        appeal_id: str,
        event_id: str,
        document: AnswerDocument,
        key_pem: bytes,
        cert_pem: bytes,
        files: Mapping[str, bytes] | None = None,
        result: str | None = None,
    ) -> dict[str, Any]:
        """Sign ``document`` with the agency's key and send it with its attachments' bytes (and the
        result category, when given)."""
        signed = signed_answer(document, key_pem, cert_pem)
        return self.send_answer(appeal_id, event_id, signed, files, result)


@dataclass
class Edms(AnsweringEdms):
    """``client`` carries the hub's base URL; ``token`` is the agency's bearer token."""

    client: httpx.Client
    token: str

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def pull(self, limit: int = 10, lease_seconds: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if lease_seconds is not None:
            params["lease_seconds"] = lease_seconds
        return _checked(self.client.get("/sed/v1/messages", params=params, headers=self._auth))["messages"]

    def ack(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Acknowledge leased messages in one batch; one result per message."""
        acks = [{"message_id": m["message_id"], "lease_token": m["lease_token"]} for m in messages]
        return _checked(self.client.post("/sed/v1/messages/ack", json={"acks": acks}, headers=self._auth))[
            "results"
        ]

    def ack_one(
        self, message_id: str, lease_token: str, accepted: bool = True, reason: str | None = None
    ) -> str:
        body = {"lease_token": lease_token, "accepted": accepted, "reason": reason}
        url = f"/sed/v1/messages/{message_id}/ack"
        return _checked(self.client.post(url, json=body, headers=self._auth))["status"]

    def statistics(self) -> dict[str, Any]:
        return _checked(self.client.get("/sed/v1/statistics", headers=self._auth))

    def download(self, href: str) -> tuple[int, str]:
        """Stream one attachment; returns its size and SHA-256 hex without keeping the bytes."""
        digest, size = hashlib.sha256(), 0
        with self.client.stream("GET", href, headers=self._auth) as response:
            if response.status_code >= 400:
                response.read()
                _checked(response)
            for chunk in response.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def send_event(self, appeal_id: str, type_: str, event_id: str, **fields: Any) -> dict[str, Any]:
        """One event; ``fields`` by their REST names (dates may be ``date`` objects)."""
        body = {"event_id": event_id, "type": type_}
        body.update({k: v.isoformat() if isinstance(v, date) else v for k, v in fields.items()})
        url = f"/sed/v1/appeals/{appeal_id}/events"
        return _checked(self.client.post(url, json=body, headers=self._auth))

    def register(self, appeal_id: str, number: str, registered_on: date, event_id: str) -> dict[str, Any]:
        return self.send_event(
            appeal_id, "registered", event_id, registration_number=number, registered_on=registered_on
        )

    def upload_statuses(self, records: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Statuses of appeals received through other channels, by their REST field names; one
        result per record (``access_code`` only for a record that made its appeal known)."""
        body = {"records": records}
        return _checked(self.client.post("/sed/v1/statuses", json=body, headers=self._auth))["records"]

    def reissue_access_code(self, registration_number: str) -> dict[str, Any]:
        """A new access code for an uploaded appeal (the old one stops working)."""
        body = {"registration_number": registration_number}
        return _checked(self.client.post("/sed/v1/statuses/access-code", json=body, headers=self._auth))

    def send_answer(
        self,
        appeal_id: str,
        event_id: str,
        answer: bytes,
        files: Mapping[str, bytes] | None = None,
        result: str | None = None,
    ) -> dict[str, Any]:
        """An ``answered`` event with the signed ``answer`` as given and ``files`` (ContentId → bytes)
        as its attachment parts: multipart/form-data, each attachment streamed as its own part."""
        event = {"event_id": event_id, "type": "answered", **({"result": result} if result else {})}
        parts: dict[str, Any] = {
            "event": (None, json.dumps(event), "application/json"),
            "answer": ("answer.xml", answer, "application/xml"),
        }
        parts.update({cid: (cid, data, "application/octet-stream") for cid, data in (files or {}).items()})
        url = f"/sed/v1/appeals/{appeal_id}/events"
        return _checked(self.client.post(url, files=parts, headers=self._auth))
