"""The operators' REST face (its own credentials; agencies' tokens do not open it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter

from gateway.faces.rest.auth import calling_operator
from gateway.service import manual_routing
from gateway.service.hub import Hub


@dataclass
class AssignBody:
    agency_code: str


class OpsController(Controller):
    path = "/ops/v1"
    tags = ["Operators"]
    dependencies = {"operator": Provide(calling_operator, sync_to_thread=True)}

    @get("/manual-routing", summary="Appeals no rule could route, oldest first")
    async def manual_routing_queue(
        self, hub: Hub, operator: str, limit: int = Parameter(default=100, ge=1, le=1000)
    ) -> dict[str, Any]:
        rows = await anyio.to_thread.run_sync(manual_routing.waiting, hub, limit)
        return {
            "appeals": [
                {**row, "id": str(row["id"]), "received_at": row["received_at"].isoformat()} for row in rows
            ]
        }

    @post("/appeals/{appeal_id:uuid}/assign", status_code=200, summary="Route an unrouted appeal")
    async def assign(self, hub: Hub, operator: str, appeal_id: UUID, data: AssignBody) -> dict[str, str]:
        message_id = await anyio.to_thread.run_sync(
            manual_routing.assign, hub, operator, appeal_id, data.agency_code
        )
        return {
            "appeal_id": str(appeal_id),
            "routed_to": data.agency_code,
            "mailbox_message": str(message_id),
        }
