"""An agency's EDMS (СЭД), played: pulls its mailbox over REST, acknowledges, registers appeals.

The hub's refusals come back as :class:`Refused` carrying the stable code, so the same
scenarios can drive any face of the hub and compare what it answered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx


class Refused(Exception):
    """The hub refused a request: ``code`` is the stable machine code, ``status`` the HTTP status."""

    def __init__(self, status: int, code: str, pointer: str | None = None) -> None:
        super().__init__(f"{status} {code} {pointer or ''}".strip())
        self.status = status
        self.code = code
        self.pointer = pointer


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            body = response.json()
            raise Refused(response.status_code, body["code"], body.get("pointer"))
        response.raise_for_status()
    return response.json()


@dataclass
class Edms:
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
