"""The REST face's contract as Litestar publishes it at ``/schema/openapi.json``.

The handlers return plain JSON built by hand (their wording is tested byte for byte), so what
each answer looks like is declared here once, as dataclasses Litestar turns into JSON Schema:
the 2xx bodies, the one problem document every refusal is (``application/problem+json``, its
``code`` enumerated from :class:`~gateway.domain.errors.Code`), the bearer schemes of the three
kinds of callers. Each handler names its own answers with :func:`answers`; schemathesis, run
against a live hub by the e2e tests, holds every real answer to what is declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    SecurityScheme,
)
from litestar.openapi.spec import Schema as OpenAPISchema
from litestar.openapi.spec.open_api import OpenAPI

from gateway.domain.applicant_requests import MAX_RATING, MIN_RATING
from gateway.domain.errors import Code
from gateway.domain.events import MAX_EVENT_ID, MAX_TEXT

PROBLEM_JSON = "application/problem+json"

# --- who calls: one bearer scheme per kind of caller ---------------------------------------------

AGENCY = "agencyBearer"
PORTAL = "portalBearer"
OPERATOR = "operatorBearer"
ANALYST = "analystBearer"
AS_AGENCY: list[dict[str, list[str]]] = [{AGENCY: []}]
AS_PORTAL: list[dict[str, list[str]]] = [{PORTAL: []}]
AS_OPERATOR: list[dict[str, list[str]]] = [{OPERATOR: []}]
AS_ANALYST: list[dict[str, list[str]]] = [{ANALYST: []}]
PUBLIC: list[dict[str, list[str]]] = []  # no credentials

SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    AGENCY: SecurityScheme(
        type="http",
        scheme="bearer",
        description="An agency's EDMS: the token issued with the registry (or, behind the TLS "
        "terminator, the client certificate it vouches for). Opens `/sed/v1/…` and the SOAP face.",
    ),
    PORTAL: SecurityScheme(
        type="http",
        scheme="bearer",
        description="A portal (EPGU, the Belarusian portal): its token from the registry. Opens "
        "`/portal/v1/…` except the push of a signed envelope, whose signature is the credential.",
    ),
    OPERATOR: SecurityScheme(
        type="http",
        scheme="bearer",
        description="The hub's operators: a token whose SHA-256 is in `GATEWAY_OPERATOR_TOKENS_SHA256`. "
        "Agencies' and portals' tokens do not open `/ops/v1/…`.",
    ),
    ANALYST: SecurityScheme(
        type="http",
        scheme="bearer",
        description="The region's analysts: a token whose SHA-256 is in `GATEWAY_ANALYST_TOKENS_SHA256`. "
        "Opens `/analytics/v1/…` only; no agency's or operator's token does.",
    ),
}


# --- refusals --------------------------------------------------------------------------------


@dataclass
class ProblemDocument:
    """RFC 9457 problem details. Branch on ``code`` (the same vocabulary as the SOAP faults);
    ``pointer`` names the field at fault when there is one."""

    type: str
    title: str
    status: int
    code: Code
    detail: str
    pointer: str | None = None


# What each status means here, whatever the operation (the code says which case it is).
_PROBLEM_MEANING = {
    400: "The request is malformed or a field is invalid (`invalid-request`, `malformed-xml`, …)",
    401: "No valid credentials for this face (`unauthenticated`)",
    404: "No such resource for this caller (`not-found`)",
    409: "The request conflicts with the resource's state (`illegal-transition`, `lease-invalid`, …)",
    413: "The body or an attachment is too large (`body-too-large`, `attachment-too-large`)",
    415: "The body's media type is not one this operation takes (`unsupported-media-type`)",
    422: "Understood but refused by the rules (a signature, a certificate, the identity policy, …)",
    429: "Too many requests from this address (`too-many-requests`); retry after `Retry-After` seconds",
    503: "The hub's database is away for a moment (`service-unavailable`); retry after `Retry-After`",
}
_EXAMPLE = {
    "type": "urn:appeals-gateway:problem:not-found",
    "title": "not found",
    "status": 404,
    "code": "not-found",
    "detail": "no such message in this agency's mailbox",
    "pointer": "/message_id",
}


def _problem(status: int) -> ResponseSpec:
    example = {**_EXAMPLE, "status": status} if status == 404 else None
    return ResponseSpec(
        data_container=ProblemDocument,
        generate_examples=False,
        description=_PROBLEM_MEANING[status],
        media_type=PROBLEM_JSON,
        examples=[Example(summary="a refusal", value=example)] if example else None,
    )


def answers(
    body: Any,
    *problems: int,
    status: int = 200,
    also: tuple[int, ...] = (),
    media_type: str | None = None,
    example: dict[str, Any] | None = None,
) -> dict[int, ResponseSpec]:
    """An operation's answers: its 2xx ``body`` under ``status`` (and each status of ``also``: a
    repeat answered 200 where the first call is 201), and one problem document per refusal status.
    Every operation may also answer 503 (its database away) and, being checked by
    :mod:`gateway.faces.boundary`, 400 (a parameter breaking the text rule)."""
    media = media_type or "application/json"
    examples = [Example(summary="as the demo gets it", value=example)] if example else None
    spec: dict[int, ResponseSpec] = {
        s: ResponseSpec(
            data_container=body,
            generate_examples=False,
            description="Done" if s == status else "The same request again: the first answer",
            media_type=media,
            examples=examples,
        )
        for s in (status, *also)
    }
    for p in sorted({400, 503, *problems}):
        spec[p] = _problem(p)
    return spec


def _header(description: str, type_: OpenAPIType = OpenAPIType.INTEGER) -> OpenAPIHeader:
    return OpenAPIHeader(schema=OpenAPISchema(type=type_), description=description)


# The IETF httpapi draft's names (draft 07), as Litestar's limiter writes them.
_RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": _header("Requests allowed in the window"),
    "RateLimit-Remaining": _header("Requests left in the window (0 on a refusal)"),
    "RateLimit-Reset": _header("Seconds until the window resets"),
    "RateLimit-Policy": _header("The quota and its window, e.g. `30; w=60`", OpenAPIType.STRING),
}


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PARQUET = "application/vnd.apache.parquet"
# Operations whose `format` parameter turns the JSON answer into a download of another type.
_ALSO_AS: dict[str, tuple[str, ...]] = {
    "/analytics/v1/reports": ("text/csv", XLSX),
    "/analytics/v1/overview": (XLSX,),
    "/public/v1/open-data": ("text/csv",),
}


def complete(openapi: OpenAPI) -> OpenAPI:
    """What the handlers cannot say: the security schemes, ``Retry-After`` on 429 and 503, binary
    bodies as binary."""
    openapi.components = openapi.components or Components()
    openapi.components.security_schemes = dict(SECURITY_SCHEMES)
    retry_after = OpenAPIHeader(
        schema=OpenAPISchema(type=OpenAPIType.INTEGER), description="Seconds to wait before retrying"
    )
    for item in (openapi.paths or {}).values():
        for method in ("get", "post"):
            operation = getattr(item, method, None)
            if operation is None or not operation.responses:
                continue
            for status, response in operation.responses.items():
                if not isinstance(response, OpenAPIResponse):
                    continue
                if status in ("429", "503"):
                    response.headers = {**(response.headers or {}), "Retry-After": retry_after}
                if status == "429":
                    response.headers = {**(response.headers or {}), **_RATE_LIMIT_HEADERS}
                for media in (response.content or {}).values():
                    schema = media.schema
                    if _is_plain_string(schema) and status.startswith("2"):
                        schema.format = OpenAPIFormat.BINARY  # type: ignore[union-attr]
    for path, media_types in _ALSO_AS.items():
        item = (openapi.paths or {}).get(path)
        done = item.get.responses.get("200") if item and item.get and item.get.responses else None
        if isinstance(done, OpenAPIResponse) and done.content is not None:
            for media in media_types:
                done.content[media] = OpenAPIMediaType(schema=_binary(f"the answer as {media}"))
    return openapi


def _is_plain_string(schema: object) -> bool:
    return (
        isinstance(schema, OpenAPISchema)
        and schema.type == OpenAPIType.STRING
        and schema.format is None
        and not schema.enum
    )


# --- 2xx bodies ------------------------------------------------------------------------------


@dataclass
class PortalReceipt:
    """The hub has the appeal (``duplicate``: these very bytes were pushed before)."""

    appeal_id: UUID
    received_at: datetime
    routed_to: str | None
    duplicate: bool


@dataclass
class WithdrawalReceipt:
    appeal_id: UUID
    withdrawal_id: str
    state: str
    at: datetime
    repeated: bool


@dataclass
class FeedbackReceipt:
    appeal_id: UUID
    feedback_id: str
    state: str
    at: datetime
    repeated: bool


@dataclass
class AttachmentRef:
    n: int
    file_name: str
    media_type: str
    size: int
    sha256: str
    href: str


@dataclass
class LeasedMessage:
    """A leased message: the appeal as JSON and as the portal signed it (base64), its attachments
    to fetch by ``href``; a withdrawal or feedback notice when that is what the message is."""

    message_id: UUID
    kind: str
    appeal_id: UUID
    lease_token: UUID
    lease_expires_at: datetime
    delivery_count: int
    received_at: datetime
    appeal: dict[str, Any]
    signed_xml_base64: str
    attachments: list[AttachmentRef]
    withdrawal: dict[str, Any] | None = None
    feedback: dict[str, Any] | None = None


@dataclass
class LeasedMessages:
    messages: list[LeasedMessage]


class AckStatus(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    REFUSED = "refused"
    LEASE_INVALID = "lease-invalid"
    NOT_FOUND = "not-found"


@dataclass
class AckResult:
    message_id: UUID
    status: AckStatus


@dataclass
class AckResults:
    results: list[AckResult]


@dataclass
class MailboxStatistics:
    pending: int
    leased: int
    refused: int
    oldest_pending_age_s: float


@dataclass
class AgencyFeedback:
    """How applicants rated the agency's answers."""

    agency_code: str
    count: int
    mean: float | None
    by_rating: dict[str, int]


@dataclass
class EventReceipt:
    appeal_id: UUID
    event_id: str
    seq: int
    type: str
    recorded_at: datetime
    state: str
    repeated: bool


class RecordOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    REPEATED = "repeated"
    STALE = "stale"


@dataclass
class RecordResult:
    registration_number: str
    outcome: RecordOutcome
    access_code: str | None = None  # the first record of a number only


@dataclass
class StatusesResult:
    records: list[RecordResult]


@dataclass
class AccessCode:
    registration_number: str
    access_code: str


@dataclass
class PublicStatus:
    """The appeal's public state: no personal data, no executors, no internal ids (the agency, the
    due dates, the registrations and the posted answer's tracking number when there are)."""

    registration_number: str
    registered_on: date
    channel: str
    state: str
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Live:
    status: str


@dataclass
class Ready:
    status: str
    checks: dict[str, dict[str, Any]]


@dataclass
class AppealRows:
    """Rows as the operators' screens show them (columns as stored)."""

    appeals: list[dict[str, Any]]


@dataclass
class AgencyRows:
    agencies: list[dict[str, Any]]


@dataclass
class MessageRows:
    messages: list[dict[str, Any]]


@dataclass
class AnswerRows:
    answers: list[dict[str, Any]]


@dataclass
class Assigned:
    appeal_id: UUID
    routed_to: str
    mailbox_message: UUID


@dataclass
class DeliveriesView:
    connectors: list[dict[str, Any]]
    stuck: list[dict[str, Any]]
    undelivered_sms: list[dict[str, Any]]


@dataclass
class HeldAppeals:
    held: list[dict[str, Any]]


@dataclass
class HeldReleased:
    released: int
    infected: int
    still_held: int


@dataclass
class Replayed:
    replayed: list[int]


@dataclass
class MessageState:
    message_id: UUID
    appeal_id: UUID
    status: str


@dataclass
class MailRegistered:
    incoming_mail: UUID
    appeal_id: UUID
    routed_to: str


@dataclass
class MailRejected:
    incoming_mail: UUID
    state: str
    reason: str


@dataclass
class PostalDispatch:
    appeal_id: UUID
    seq: int
    dispatched_on: date
    tracking_number: str
    at: datetime


# --- request bodies ---------------------------------------------------------------------------
# The domain checks every field again (and more: printable text); these say what a client sends.

_RequestId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_EVENT_ID)]
_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


class WithdrawalBody(msgspec.Struct):
    """The applicant's withdrawal; a repeat of the same ``withdrawal_id`` is answered 200."""

    withdrawal_id: _RequestId
    reason: _Text | None = None


class FeedbackBody(msgspec.Struct):
    """The applicant's rating of the answer; a repeat of the same ``feedback_id`` is answered 200."""

    feedback_id: _RequestId
    rating: Annotated[int, msgspec.Meta(ge=MIN_RATING, le=MAX_RATING)]
    comment: _Text | None = None


# --- bodies the handlers read themselves ------------------------------------------------------


def _binary(description: str) -> OpenAPISchema:
    return OpenAPISchema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, description=description)


@dataclass
class EnvelopeOperation(Operation):
    """The push reads its own body (XML, or multipart with the attachments), so it is described here."""

    def __post_init__(self) -> None:
        envelope = "the signed envelope (schemas/envelope-1.xsd), byte for byte"
        multipart = OpenAPISchema(
            type=OpenAPIType.OBJECT,
            properties={"envelope": _binary(envelope)},
            required=["envelope"],
            additional_properties=_binary("an attachment, named by its ContentId in the envelope"),
        )
        self.request_body = RequestBody(
            required=True,
            description="The envelope alone as XML, or multipart/form-data: the part `envelope` and one "
            "part per attachment the envelope lists (their digests are signed).",
            content={
                "application/xml": OpenAPIMediaType(schema=_binary(envelope)),
                "multipart/form-data": OpenAPIMediaType(schema=multipart),
            },
        )


# --- examples, as the demo (`appeals-gateway demo`) sees them ------------------------------------

APPEAL_ID = "5d0c1f0e-8a47-4c1b-9f5e-2b7d3c9a6e01"
MESSAGE_ID = "0b6f3a52-1c9d-4e8f-a2d4-7e5b9c1f3a10"
LEASE_TOKEN = "9e2d7c41-5a3b-4f6e-8d1c-0a9b8c7d6e21"  # noqa: S105 (an example id, no secret)


def body_example(value: dict[str, Any]) -> list[Example]:
    return [Example(summary="as the demo sends it", value=value)]


PORTAL_RECEIPT = {
    "appeal_id": APPEAL_ID,
    "received_at": "2026-03-02T07:15:04.118+00:00",
    "routed_to": "ADM-CHEBOKSARY",
    "duplicate": False,
}
ACK = {"lease_token": LEASE_TOKEN, "accepted": True}
ACK_RESULT = {"message_id": MESSAGE_ID, "status": "acknowledged"}
BATCH_ACK = {
    "acks": [
        {"message_id": MESSAGE_ID, "lease_token": LEASE_TOKEN, "accepted": False,
         "reason": "Не относится к компетенции органа"}
    ]
}  # fmt: skip
BATCH_RESULT = {"results": [{"message_id": MESSAGE_ID, "status": "refused"}]}
STATISTICS = {"pending": 3, "leased": 1, "refused": 0, "oldest_pending_age_s": 42.5}
EVENT = {
    "event_id": "reg-2026-000123",
    "type": "registered",
    "registration_number": "ОГ-2026-000123",
    "registered_on": "2026-03-02",
}
EVENT_RECEIPT = {
    "appeal_id": APPEAL_ID,
    "event_id": "reg-2026-000123",
    "seq": 1,
    "type": "registered",
    "recorded_at": "2026-03-02T07:20:11.502+00:00",
    "state": "registered",
    "repeated": False,
}
STATUSES = {
    "records": [
        {"registration_number": "П-2026-000457", "registered_on": "2026-03-02", "channel": "post",
         "state": "registered", "at": "2026-03-02T10:15:00+03:00"}
    ]
}  # fmt: skip
STATUSES_RESULT = {
    "records": [{"registration_number": "П-2026-000457", "outcome": "created", "access_code": "BYCBV2Q9S9"}]
}
ACCESS_CODE_REQUEST = {"registration_number": "П-2026-000457"}
ACCESS_CODE = {"registration_number": "П-2026-000457", "access_code": "K7M2Q9X4TB"}
WITHDRAWAL = {"withdrawal_id": "w-1", "reason": "Вопрос решён"}
WITHDRAWAL_RECEIPT = {
    "appeal_id": APPEAL_ID,
    "withdrawal_id": "w-1",
    "state": "withdrawn",
    "at": "2026-03-03T09:00:00+00:00",
    "repeated": False,
}
FEEDBACK = {"feedback_id": "f-1", "rating": 5, "comment": "Спасибо за ответ"}
FEEDBACK_RECEIPT = {
    "appeal_id": APPEAL_ID,
    "feedback_id": "f-1",
    "state": "answered",
    "at": "2026-03-20T12:00:00+00:00",
    "repeated": False,
}
