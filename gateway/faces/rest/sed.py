"""The agencies' EDMS face over REST: lease and acknowledge mailbox messages, fetch attachments,
report events. Only translation happens here; the rules live in the service layer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any
from uuid import UUID

import anyio
import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import Provide
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import Body, Parameter
from litestar.response import Stream

from gateway.domain import events as domain_events
from gateway.domain.errors import Code, Rejection
from gateway.faces.boundary import json_document
from gateway.faces.rest import contract
from gateway.faces.rest.auth import calling_agency
from gateway.faces.rest.download import attachment_stream
from gateway.faces.rest.upload import read_body, read_parts
from gateway.service import applicant_requests, attachments, events, mailbox
from gateway.service.hub import Hub
from gateway.service.intake import IncomingAttachment

# An answered event is multipart: the event's JSON, the signed answer, one part per attachment.
EVENT_PART = "event"
ANSWER_PART = "answer"
MAX_EVENT_BYTES = 64 * 1024  # an event's JSON (its longest field is 2000 characters)
# The lease rule as an integrator reads it (argued in gateway/service/mailbox.py and docs/edms-rest.md).
LEASE_RULE = (
    "The `lease_token` of the message's latest lease takes it until a pull leases the message again "
    "or an operator releases it, even after `lease_expires_at`; an earlier lease's token is "
    "`409 lease-invalid` (a batch reports it per message)."
)
_JSON_PATH = re.compile(r"at `\$((?:\.[^`.\[]+|\[[0-9]+\])*)`$")


@dataclass
class AckBody:
    lease_token: UUID
    accepted: bool = True
    reason: str | None = None


@dataclass
class BatchAckItem(AckBody):
    message_id: UUID | None = None


@dataclass
class BatchAckBody:
    acks: list[BatchAckItem]


@dataclass
class EventBody:
    """One event; which fields it needs depends on ``type`` (the domain checks them)."""

    event_id: str | None = None
    type: str | None = None
    registration_number: str | None = None
    registered_on: str | None = None
    executor: str | None = None
    new_due_date: str | None = None
    reason: str | None = None
    target_agency: str | None = None
    ground: str | None = None
    comment: str | None = None
    earlier_appeal_id: str | None = None  # declined, ground repeated: the appeal it repeats
    result: str | None = None  # answered, closed: the result category (optional; docs/analytics.md)


def _event_body(raw: bytes) -> EventBody:
    """The event's JSON, refused as Litestar refuses a bad body (``invalid-request``, the field)."""
    json_document(raw)
    try:
        return msgspec.json.decode(raw, type=EventBody)
    except msgspec.ValidationError as exc:
        path = _JSON_PATH.search(str(exc))
        pointer = path.group(1).replace(".", "/").replace("[", "/").replace("]", "") if path else None
        raise Rejection(Code.INVALID_REQUEST, "the request is not valid", pointer or None) from None
    except msgspec.DecodeError as exc:
        raise Rejection(Code.INVALID_REQUEST, str(exc)) from None


def _event(
    body: EventBody, answer: bytes | None = None, parts: Mapping[str, IncomingAttachment] | None = None
) -> domain_events.AgencyEvent:
    named = {k: v for k, v in asdict(body).items() if k not in ("event_id", "type")}
    return domain_events.parse_event(body.event_id, body.type, named, answer=answer, parts=parts)


def _string(description: str | None = None) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description)


@dataclass
class EventOperation(Operation):
    """The events call reads its own body (JSON, or multipart for an answer), so it is described here."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        json_event = Schema(
            type=OpenAPIType.OBJECT,
            properties={f.name: _string() for f in fields(EventBody)},
            required=["event_id", "type"],
        )
        answered = Schema(
            type=OpenAPIType.OBJECT,
            properties={
                EVENT_PART: _string('the event as JSON: {"event_id": …, "type": "answered", "result": …?}'),
                ANSWER_PART: Schema(
                    type=OpenAPIType.STRING,
                    format=OpenAPIFormat.BINARY,
                    description="the signed answer (schemas/answer-1.xsd), byte for byte",
                ),
            },
            required=[EVENT_PART, ANSWER_PART],
            additional_properties=binary,
            description="each further part is an attachment, named by its ContentId in the signed answer",
        )
        self.request_body = RequestBody(
            required=True,
            content={
                "application/json": OpenAPIMediaType(
                    schema=json_event, examples={"registered": contract.body_example(contract.EVENT)[0]}
                ),
                "multipart/form-data": OpenAPIMediaType(schema=answered),
            },
        )


class SedController(Controller):
    path = "/sed/v1"
    tags = ["EDMS (REST)"]
    security = contract.AS_AGENCY
    dependencies = {"agency": Provide(calling_agency, sync_to_thread=True)}

    @get(
        "/messages",
        summary="Lease up to `limit` pending messages, oldest first",
        responses=contract.answers(contract.LeasedMessages, 401),
    )
    async def lease(
        self,
        hub: Hub,
        agency: str,
        limit: int = Parameter(default=10, ge=1),
        lease_seconds: int | None = Parameter(default=None, ge=1),
    ) -> Response[bytes]:
        # The messages are PostgreSQL's documents, passed on as they are (adapters/db/mailbox.py).
        leased = await anyio.to_thread.run_sync(mailbox.lease_documents, hub, agency, limit, lease_seconds)
        return Response(b'{"messages":[' + b",".join(leased) + b"]}", media_type=MediaType.JSON)

    @post(
        "/messages/{message_id:uuid}/ack",
        status_code=200,
        summary="Acknowledge (or refuse) one message",
        description=LEASE_RULE,
        responses=contract.answers(contract.AckResult, 401, 404, 409, example=contract.ACK_RESULT),
    )
    async def ack(
        self,
        hub: Hub,
        agency: str,
        message_id: UUID,
        data: Annotated[AckBody, Body(examples=contract.body_example(contract.ACK))],
    ) -> dict[str, str]:
        ack = mailbox.Ack(message_id, data.lease_token, data.accepted, data.reason)
        result = await anyio.to_thread.run_sync(mailbox.acknowledge_one, hub, agency, ack)
        return {"message_id": str(result.message_id), "status": result.outcome.value}

    @post(
        "/messages/ack",
        status_code=200,
        summary="Acknowledge (or refuse) a batch; one result each",
        description=LEASE_RULE,
        responses=contract.answers(contract.AckResults, 401, example=contract.BATCH_RESULT),
    )
    async def ack_batch(
        self,
        hub: Hub,
        agency: str,
        data: Annotated[BatchAckBody, Body(examples=contract.body_example(contract.BATCH_ACK))],
    ) -> dict[str, Any]:
        acks = []
        for i, item in enumerate(data.acks):
            if item.message_id is None:
                raise Rejection(Code.INVALID_REQUEST, "message_id is required", f"/acks/{i}/message_id")
            acks.append(mailbox.Ack(item.message_id, item.lease_token, item.accepted, item.reason))
        results = await anyio.to_thread.run_sync(mailbox.acknowledge, hub, agency, acks)
        return {"results": [{"message_id": str(r.message_id), "status": r.outcome.value} for r in results]}

    @get(
        "/statistics",
        summary="Pending, leased and refused messages, and the oldest pending age",
        responses=contract.answers(contract.MailboxStatistics, 401, example=contract.STATISTICS),
    )
    async def statistics(self, hub: Hub, agency: str) -> dict[str, Any]:
        stats = await anyio.to_thread.run_sync(mailbox.statistics, hub, agency)
        return {
            "pending": stats.pending,
            "leased": stats.leased,
            "refused": stats.refused,
            "oldest_pending_age_s": round(stats.oldest_pending_age_s, 3),
        }

    @get(
        "/feedback",
        summary="How applicants rated this agency's answers",
        responses=contract.answers(contract.AgencyFeedback, 401),
    )
    async def feedback(self, hub: Hub, agency: str) -> dict[str, Any]:
        return asdict(await anyio.to_thread.run_sync(applicant_requests.agency_feedback, hub, agency))

    @get(
        "/appeals/{appeal_id:uuid}/attachments/{n:int}",
        summary="Stream one attachment's bytes",
        responses=contract.answers(bytes, 401, 404, media_type="*/*"),
    )
    async def attachment(self, hub: Hub, agency: str, appeal_id: UUID, n: int) -> Stream:
        found = await anyio.to_thread.run_sync(attachments.find, hub, agency, appeal_id, n)
        return attachment_stream(hub, found)

    @post(
        "/appeals/{appeal_id:uuid}/events",
        request_max_body_size=None,
        operation_class=EventOperation,
        summary="Report an event on one of the agency's appeals",
        description="JSON for every event but `answered`, which is `multipart/form-data`: the part "
        "`event` (its JSON), the part `answer` (the signed answer) and one part per attachment, named by "
        "its ContentId.",
        responses=contract.answers(
            contract.EventReceipt,
            401,
            404,
            409,
            413,
            415,
            422,
            status=201,
            also=(200,),
            example=contract.EVENT_RECEIPT,
        ),
    )
    async def event(
        self, request: Request, hub: Hub, agency: str, appeal_id: UUID
    ) -> Response[dict[str, Any]]:
        settings = hub.settings
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower().startswith("multipart/"):
            parts = await read_parts(
                request.stream(),
                content_type,
                documents={EVENT_PART: MAX_EVENT_BYTES, ANSWER_PART: settings.max_envelope_bytes},
                max_attachment=settings.max_attachment_bytes,
                max_parts=settings.max_attachments,
            )
            try:
                event = _event(
                    _event_body(parts.documents[EVENT_PART]), parts.documents[ANSWER_PART], parts.attachments
                )
                receipt = await anyio.to_thread.run_sync(events.record, hub, agency, appeal_id, event)
            finally:
                parts.close()
        else:
            event = _event(_event_body(await read_body(request.stream(), MAX_EVENT_BYTES, "event")))
            receipt = await anyio.to_thread.run_sync(events.record, hub, agency, appeal_id, event)
        body = {
            "appeal_id": str(receipt.appeal_id),
            "event_id": receipt.event_id,
            "seq": receipt.seq,
            "type": receipt.type,
            "recorded_at": receipt.recorded_at.isoformat(),
            "state": receipt.state,
            "repeated": receipt.repeated,
        }
        return Response(body, status_code=200 if receipt.repeated else 201)
