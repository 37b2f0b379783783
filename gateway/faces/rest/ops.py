"""The operators' REST face (its own credentials; agencies' tokens do not open it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import anyio
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter, QueryParameter

from gateway.domain.errors import Code, Rejection
from gateway.faces.rest import contract
from gateway.faces.rest.auth import calling_operator
from gateway.service import (
    applicant_requests,
    delivery,
    holds,
    incoming_mail,
    mailbox,
    manual_routing,
    monitoring,
    postal_answers,
)
from gateway.service.hub import Hub

# outbox_message.id is a bigserial: a larger id is refused as a bad parameter, not sent to PostgreSQL.
MAX_BIGSERIAL = 2**63 - 1


@dataclass
class AssignBody:
    agency_code: str


@dataclass
class RegisterMailBody:
    agency_code: str
    topic_code: str
    territory_code: str
    kind: str = "statement"


@dataclass
class RejectMailBody:
    reason: str
    comment: str | None = None


@dataclass
class DispatchBody:
    dispatched_on: str
    tracking_number: str


def _plain(value: Any) -> Any:
    """Ids, dates and times as JSON strings; the rest (the applicant's name and address) as stored."""
    return (
        value.isoformat()
        if isinstance(value, date | datetime)
        else str(value)
        if isinstance(value, UUID)
        else value
    )


def _mail_json(row: dict[str, Any]) -> dict[str, Any]:
    """A queue row for JSON: digests as hex, the raw message's digest named, nothing else renamed."""
    out = {k: v for k, v in row.items() if not k.startswith("reply_") and k != "raw_sha256"}
    if "raw_sha256" in row:
        out["raw_sha256"] = bytes(row["raw_sha256"]).hex() if row["raw_sha256"] is not None else None
    if row.get("reply_template"):
        # its delivery: the outbox row (None when the hub has no SMTP server and queued nothing)
        out["reply"] = {"template": row["reply_template"], "recipient": row["reply_recipient"],
                        "params": row["reply_params"], "outbox_id": row["reply_outbox_id"],
                        "status": row["reply_status"], "error": row["reply_error"],
                        "delivered_at": row["reply_delivered_at"]}  # fmt: skip
    return out


class OpsController(Controller):
    path = "/ops/v1"
    tags = ["Operators"]
    security = contract.AS_OPERATOR
    dependencies = {"operator": Provide(calling_operator, sync_to_thread=True)}

    @get(
        "/manual-routing",
        summary="Appeals no rule could route, oldest first",
        responses=contract.answers(contract.AppealRows, 401),
    )
    async def manual_routing_queue(
        self, hub: Hub, operator: str, limit: int = Parameter(default=100, ge=1, le=1000)
    ) -> dict[str, Any]:
        rows = await anyio.to_thread.run_sync(manual_routing.waiting, hub, limit)
        return {
            "appeals": [
                {**row, "id": str(row["id"]), "received_at": row["received_at"].isoformat()} for row in rows
            ]
        }

    @post(
        "/appeals/{appeal_id:uuid}/assign",
        status_code=200,
        summary="Route an unrouted appeal",
        responses=contract.answers(contract.Assigned, 401, 404, 409, 422),
    )
    async def assign(self, hub: Hub, operator: str, appeal_id: UUID, data: AssignBody) -> dict[str, str]:
        message_id = await anyio.to_thread.run_sync(
            manual_routing.assign, hub, operator, appeal_id, data.agency_code
        )
        return {
            "appeal_id": str(appeal_id),
            "routed_to": data.agency_code,
            "mailbox_message": str(message_id),
        }

    @get(
        "/feedback",
        summary="How applicants rated each agency's answers",
        responses=contract.answers(contract.AgencyRows, 401),
    )
    async def feedback(self, hub: Hub, operator: str) -> dict[str, Any]:
        summaries = await anyio.to_thread.run_sync(applicant_requests.feedback_summary, hub)
        return {"agencies": [asdict(s) for s in summaries]}

    @get(
        "/mailboxes",
        summary="Every agency's mailbox: pending, leased, redelivered, refused, last pull",
        responses=contract.answers(contract.AgencyRows, 401),
    )
    async def mailboxes(self, hub: Hub, operator: str) -> dict[str, Any]:
        views = await anyio.to_thread.run_sync(monitoring.mailboxes, hub)
        return {"agencies": [asdict(v) for v in views]}

    @get(
        "/deliveries",
        summary="Open deliveries per connector; retrying and dead ones with their errors; SMS the handset "
        "did not get, by their delivery receipts",
        responses=contract.answers(contract.DeliveriesView, 401),
    )
    async def deliveries(
        self,
        hub: Hub,
        operator: str,
        connector: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=1000),
    ) -> dict[str, Any]:
        view = await anyio.to_thread.run_sync(
            lambda: monitoring.deliveries(hub, connector=connector, limit=limit)
        )
        return {"connectors": view.by_connector, "stuck": view.stuck, "undelivered_sms": view.undelivered_sms}

    @post(
        "/deliveries/{outbox_id:int}/replay",
        status_code=200,
        summary="Send a dead delivery again",
        responses=contract.answers(contract.Replayed, 401, 404, 409),
    )
    async def replay(
        self,
        hub: Hub,
        operator: str,
        outbox_id: Annotated[int, Parameter(ge=1, le=MAX_BIGSERIAL, schema_extra={"maximum": MAX_BIGSERIAL})],
    ) -> dict[str, Any]:
        revived = await anyio.to_thread.run_sync(lambda: delivery.replay(hub, operator, ids=[outbox_id]))
        if not revived:
            raise Rejection(Code.ILLEGAL_TRANSITION, "no dead delivery with this id", "/outbox_id")
        return {"replayed": [row["id"] for row in revived]}

    @get(
        "/broker",
        summary="Delivery queue depths and consumers, and the workers alive",
        responses=contract.answers(dict[str, Any], 401),
    )
    async def broker(self, hub: Hub, operator: str) -> dict[str, Any]:
        return asdict(await anyio.to_thread.run_sync(monitoring.broker, hub))

    @post(
        "/messages/{message_id:uuid}/release",
        status_code=200,
        summary="Release a lease: pending again now",
        responses=contract.answers(contract.MessageState, 401, 404, 409),
    )
    async def release(self, hub: Hub, operator: str, message_id: UUID) -> dict[str, str]:
        appeal_id = await anyio.to_thread.run_sync(mailbox.release_lease, hub, operator, message_id)
        return {"message_id": str(message_id), "appeal_id": str(appeal_id), "status": "pending"}

    @post(
        "/messages/{message_id:uuid}/requeue",
        status_code=200,
        summary="Offer a refused message again",
        responses=contract.answers(contract.MessageState, 401, 404, 409),
    )
    async def requeue(self, hub: Hub, operator: str, message_id: UUID) -> dict[str, str]:
        appeal_id = await anyio.to_thread.run_sync(mailbox.requeue_refused, hub, operator, message_id)
        return {"message_id": str(message_id), "appeal_id": str(appeal_id), "status": "pending"}

    @get(
        "/timeline",
        summary="An appeal's story by hub id, portal id or registration number",
        responses=contract.answers(contract.AppealRows, 401, 404),
    )
    async def timeline(self, hub: Hub, operator: str, ref: str) -> dict[str, Any]:
        return {"appeals": await anyio.to_thread.run_sync(monitoring.timeline, hub, ref)}

    @get(
        "/held-appeals",
        summary="Appeals held from their agency until their attachments are scanned",
        responses=contract.answers(contract.HeldAppeals, 401),
    )
    async def held_appeals(self, hub: Hub, operator: str) -> dict[str, Any]:
        rows = await anyio.to_thread.run_sync(holds.listing, hub)
        return {"held": [{k: _plain(v) for k, v in row.items()} for row in rows]}

    @post(
        "/held-appeals/release",
        status_code=200,
        summary="Scan held appeals now; release the clean ones",
        responses=contract.answers(contract.HeldReleased, 401),
    )
    async def release_held(self, hub: Hub, operator: str) -> dict[str, int]:
        return (await anyio.to_thread.run_sync(holds.release, hub)).as_dict()

    @get(
        "/incoming-mail",
        summary="E-mailed appeals waiting for moderation, and quarantined mail",
        responses=contract.answers(contract.MessageRows, 401),
    )
    async def incoming_mail_queue(
        self,
        hub: Hub,
        operator: str,
        mail_state: Annotated[str | None, QueryParameter(name="state")] = None,
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> dict[str, Any]:
        rows = await anyio.to_thread.run_sync(incoming_mail.queue, hub, mail_state, limit)
        return {"messages": [_mail_json(r) for r in rows]}

    @get(
        "/incoming-mail/{mail_id:uuid}",
        summary="One e-mail: headers, text, attachments, decision",
        responses=contract.answers(dict[str, Any], 401, 404),
    )
    async def incoming_mail_show(self, hub: Hub, operator: str, mail_id: UUID) -> dict[str, Any]:
        return _mail_json(await anyio.to_thread.run_sync(incoming_mail.show, hub, mail_id))

    @post(
        "/incoming-mail/{mail_id:uuid}/register", status_code=200,
        summary="Register an e-mail as an appeal (channel e-mail) in the chosen agency's mailbox",
        responses=contract.answers(contract.MailRegistered, 401, 404, 409, 422),
    )  # fmt: skip
    async def incoming_mail_register(
        self, hub: Hub, operator: str, mail_id: UUID, data: RegisterMailBody
    ) -> dict[str, str]:
        reg = incoming_mail.Registration(data.agency_code, data.topic_code, data.territory_code, data.kind)
        appeal_id = await anyio.to_thread.run_sync(incoming_mail.register, hub, operator, mail_id, reg)
        return {"incoming_mail": str(mail_id), "appeal_id": str(appeal_id), "routed_to": data.agency_code}

    @post(
        "/incoming-mail/{mail_id:uuid}/reject",
        status_code=200,
        summary="Reject an e-mail with a reason",
        responses=contract.answers(contract.MailRejected, 401, 404, 409),
    )
    async def incoming_mail_reject(
        self, hub: Hub, operator: str, mail_id: UUID, data: RejectMailBody
    ) -> dict[str, str]:
        await anyio.to_thread.run_sync(
            incoming_mail.reject, hub, operator, mail_id, data.reason, data.comment
        )
        return {"incoming_mail": str(mail_id), "state": "rejected", "reason": data.reason}

    @get(
        "/postal-answers",
        summary="Answers to send by post (ReplyPreference=post): pending or dispatched",
        responses=contract.answers(contract.AnswerRows, 401),
    )
    async def postal_answers_list(
        self,
        hub: Hub,
        operator: str,
        postal_state: Annotated[str, QueryParameter(name="state")] = postal_answers.PENDING,
        limit: int = Parameter(default=500, ge=1, le=1000),
    ) -> dict[str, Any]:
        rows = await anyio.to_thread.run_sync(postal_answers.answers_to_post, hub, postal_state, limit)
        return {"answers": [{k: _plain(v) for k, v in row.items()} for row in rows]}

    @post(
        "/postal-answers/{appeal_id:uuid}/dispatch", status_code=200,
        summary="Mark a posted answer dispatched, with its date and tracking number",
        responses=contract.answers(contract.PostalDispatch, 401, 404, 409),
    )  # fmt: skip
    async def postal_answer_dispatch(
        self, hub: Hub, operator: str, appeal_id: UUID, data: DispatchBody
    ) -> dict[str, Any]:
        posted = await anyio.to_thread.run_sync(
            postal_answers.dispatch, hub, operator, appeal_id, data.dispatched_on, data.tracking_number
        )
        return {k: _plain(v) for k, v in asdict(posted).items()}
