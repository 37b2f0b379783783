"""An agency's EDMS (СЭД), played: pulls its mailbox over REST, acknowledges, registers appeals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx


@dataclass
class Edms:
    """``client`` carries the hub's base URL; ``token`` is the agency's bearer token."""

    client: httpx.Client
    token: str

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def pull(self, limit: int = 10, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get("/sed/v1/messages", params={"limit": limit, **params}, headers=self._auth)
        response.raise_for_status()
        return response.json()["messages"]

    def ack(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        acks = [{"message_id": m["message_id"], "lease_token": m["lease_token"]} for m in messages]
        response = self.client.post("/sed/v1/messages/ack", json={"acks": acks}, headers=self._auth)
        response.raise_for_status()
        return response.json()["results"]

    def download(self, href: str) -> tuple[int, str]:
        """Stream one attachment; returns its size and SHA-256 hex without keeping the bytes."""
        digest, size = hashlib.sha256(), 0
        with self.client.stream("GET", href, headers=self._auth) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def register(self, appeal_id: str, number: str, registered_on: date, event_id: str) -> dict[str, Any]:
        body = {
            "event_id": event_id,
            "type": "registered",
            "registration_number": number,
            "registered_on": registered_on.isoformat(),
        }
        response = self.client.post(f"/sed/v1/appeals/{appeal_id}/events", json=body, headers=self._auth)
        response.raise_for_status()
        return response.json()
