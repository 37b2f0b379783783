"""The REST face's contract as Litestar publishes it at ``/schema/openapi.json``.

The handlers return plain JSON built by hand (their wording is tested byte for byte), so what
each answer looks like is declared here once, as dataclasses Litestar turns into JSON Schema:
the 2xx bodies, the one problem document every refusal is (``application/problem+json``, its
``code`` enumerated from :class:`~gateway.domain.errors.Code`), the bearer schemes of the three
kinds of callers. Each handler names its own answers with :func:`answers`; schemathesis, run
against a live hub by the e2e tests, holds every real answer to what is declared.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import cache
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
    Parameter,
    Reference,
    RequestBody,
    SecurityScheme,
)
from litestar.openapi.spec import Schema as OpenAPISchema
from litestar.openapi.spec.open_api import OpenAPI

from gateway.config import Settings
from gateway.domain.analytics import MAX_DIMENSIONS, Dimension
from gateway.domain.applicant_requests import MAX_RATING, MIN_RATING
from gateway.domain.errors import Code
from gateway.domain.events import MAX_EVENT_ID, MAX_REGISTRATION_NUMBER, MAX_TEXT
from gateway.domain.lifecycle import AppealState
from gateway.domain.model import AppealKind
from gateway.domain.status_upload import UPLOADABLE_STATES, Channel
from gateway.domain.text import MAX_CHARS, REFUSED_RANGES, refused_character
from gateway.service.incoming_mail import (
    MAX_COMMENT,
    OTHER_REASON,
    REJECTION_REASONS,
    TERRITORY_CODE,
    TOPIC_CODE,
)
from gateway.service.incoming_mail import STATES as INCOMING_MAIL_STATES
from gateway.service.mailbox import MAX_REFUSAL_REASON
from gateway.service.monitoring import MAX_REF
from gateway.service.postal_answers import DISPATCHED as POSTAL_DISPATCHED
from gateway.service.postal_answers import PENDING as POSTAL_PENDING

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


def complete(openapi: OpenAPI, settings: Settings) -> OpenAPI:
    """What the handlers cannot say: the security schemes, ``Retry-After`` on 429 and 503, binary
    bodies as binary, and the request fields as strict as the hub checks them (some bounds are
    ``settings``)."""
    openapi.components = openapi.components or Components()
    _hold_requests(openapi, settings)
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


# --- what the hub takes: its rules for request fields, as JSON Schema ------------------------------
# A schema-valid request is one the hub accepts (schemathesis' positive_data_acceptance holds the
# document to that): every rule below is derived from the constant the hub checks against.
# Patterns are ECMA-262 as JSON Schema reads them, code point by code point: characters of the
# Basic Multilingual Plane escaped, the others (never in a class of a rule here but the printable
# one) written as themselves, which ECMA-262 (`u`), Python and Rust regexes all read alike.


def _char(code: int) -> str:
    return f"\\u{code:04X}" if code <= 0xFFFF else chr(code)


def _class(ranges: Iterable[tuple[int, int]]) -> str:
    """The members of a character class (no brackets) for inclusive ranges of code points."""
    return "".join(_char(low) if low == high else f"{_char(low)}-{_char(high)}" for low, high in ranges)


def _ranges(member: Callable[[str], bool]) -> tuple[tuple[int, int], ...]:
    """The code points for which ``member`` holds, as inclusive ranges (a pass over all of Unicode)."""
    out: list[tuple[int, int]] = []
    start = None
    for code in range(sys.maxunicode + 2):
        if code <= sys.maxunicode and member(chr(code)):
            start = code if start is None else start
        elif start is not None:
            out.append((start, code - 1))
            start = None
    return tuple(out)


def _allowed(char: str) -> bool:
    return refused_character(char) is None


# The text rule (gateway/domain/text.py) for every string a client sends. UTF-16 surrogates are left
# out of the published class: no JSON Schema string holds one (a string is Unicode characters), and a
# validator's regex engine may refuse to name them; the hub refuses a lone one's JSON escape all the same.
_REFUSED = _class((low, high) for low, high in REFUSED_RANGES if (low, high) != (0xD800, 0xDFFF))
TEXT_PATTERN = f"^[^{_REFUSED}]*$"
# What ``str.strip()`` takes off a field before its own rule is applied, among the characters the
# text rule lets through.
_SPACE = _class(_ranges(lambda c: c.isspace() and _allowed(c)))


def text(max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """Free text: the text rule, at most ``max_chars`` characters (``schema_extra`` of a field)."""
    return {"pattern": TEXT_PATTERN, "max_length": min(max_chars, MAX_CHARS)}


def nonblank(max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """Free text holding something besides white space (a refusal's reason, `other`'s comment)."""
    return {
        "pattern": f"^[^{_REFUSED}]*[^{_REFUSED}{_SPACE}][^{_REFUSED}]*$",
        "max_length": min(max_chars, MAX_CHARS),
    }


def stripped(max_chars: int) -> dict[str, Any]:
    """Text of 1 to ``max_chars`` characters once the white space around it is stripped (an
    operator's lookup): a first character that is not white space, the rest of the text rule."""
    body = f"[^{_REFUSED}{_SPACE}][^{_REFUSED}]{{0,{max_chars - 1}}}"
    return {"pattern": f"^[{_SPACE}]*{body}[{_SPACE}]*$"}


def printable(max_chars: int, description: str) -> OpenAPISchema:
    """Printable characters (``str.isprintable``), at least one once the white space around them is
    stripped (as the hub strips it), at most ``max_chars`` of them: an applicant's request id, a
    registration number. The class is Python's own Unicode database spelled out (about 700 ranges),
    so the document says exactly what the hub takes; it is published once, as a component."""
    body = f"[{_printable_class()}]{{1,{max_chars}}}"
    return OpenAPISchema(
        type=OpenAPIType.STRING,
        description=description,
        pattern=f"^[{_SPACE}]*{body}[{_SPACE}]*$",
        schema_not=OpenAPISchema(description="white space alone", pattern=f"^[{_SPACE}]*$"),
        max_length=MAX_CHARS,
    )


@cache
def _printable_class() -> str:
    return _class(_ranges(str.isprintable))


def one_of(values: Iterable[str]) -> dict[str, Any]:
    """A closed vocabulary (a StrEnum's values, a tuple of states)."""
    return {"enum": [str(v) for v in values]}


REQUEST_ID = "ApplicantRequestId"
REGISTRATION_NUMBER = "RegistrationNumber"


def _printable_components() -> dict[str, OpenAPISchema]:
    request_id = printable(
        MAX_EVENT_ID, "The portal's id of the applicant's request: a repeat is the same request"
    )
    request_id.max_length = MAX_EVENT_ID  # the body's own bound, before the white space is stripped
    number = printable(
        MAX_REGISTRATION_NUMBER, "The agency's registration number, as the lookup is asked for it"
    )
    return {REQUEST_ID: request_id, REGISTRATION_NUMBER: number}


def _ref(name: str) -> Reference:
    return Reference(ref=f"#/components/schemas/{name}")


def _rule(schema: OpenAPISchema | Reference | None, rule: dict[str, Any] | Reference) -> None:
    if isinstance(schema, OpenAPISchema) and isinstance(rule, dict):
        for key, value in rule.items():
            setattr(schema, key, value)


# A member the hub does not read is ignored, but its strings and names keep the text rule like any other.
TEXT_VALUE = "TextRuleValue"
_TEXT_VALUE_REF = Reference(ref=f"#/components/schemas/{TEXT_VALUE}")


def _text_value() -> OpenAPISchema:
    return OpenAPISchema(
        description="Any JSON value whose strings, member names included, keep the hub's text rule "
        "(no control characters but tab and line breaks, no NUL, no U+FFFE/U+FFFF, at most "
        f"{MAX_CHARS} characters): a member the hub does not read is ignored, not let through unchecked.",
        pattern=TEXT_PATTERN,
        max_length=MAX_CHARS,
        items=_TEXT_VALUE_REF,
        property_names=OpenAPISchema(pattern=TEXT_PATTERN, max_length=MAX_CHARS),
        additional_properties=_TEXT_VALUE_REF,
    )


class _TextRule:
    """Hold every string of a request (parameters, bodies, members' names) to the text rule, where no
    stricter rule of the field's own (a pattern, an enum, a format) already says more."""

    def __init__(self, components: dict[str, OpenAPISchema | Reference], *, bounded: bool = True) -> None:
        self.components = components
        self.bounded = bounded
        self.seen: set[str] = set()

    def __call__(self, schema: OpenAPISchema | Reference | bool | None) -> None:
        if isinstance(schema, Reference):
            name = schema.ref.rsplit("/", 1)[-1]
            if name not in self.seen and name != TEXT_VALUE:
                self.seen.add(name)
                self(self.components.get(name))
            return
        if not isinstance(schema, OpenAPISchema):
            return
        for branch in (*(schema.one_of or ()), *(schema.any_of or ()), *(schema.all_of or ())):
            self(branch)
        types = schema.type if isinstance(schema.type, Sequence) else (schema.type,)
        if (
            OpenAPIType.STRING in types
            and schema.format is None
            and schema.enum is None
            and schema.const is None
        ):
            schema.pattern = schema.pattern or TEXT_PATTERN
            if self.bounded:
                schema.max_length = min(schema.max_length or MAX_CHARS, MAX_CHARS)
        if OpenAPIType.ARRAY in types:
            self(schema.items)
        if OpenAPIType.OBJECT in types:
            for member in (schema.properties or {}).values():
                self(member)
            schema.property_names = schema.property_names or OpenAPISchema(
                pattern=TEXT_PATTERN, max_length=MAX_CHARS
            )
            if schema.additional_properties is None or schema.additional_properties is True:
                schema.additional_properties = _TEXT_VALUE_REF


def _string(rule: dict[str, Any], **more: Any) -> OpenAPISchema:
    return OpenAPISchema(type=OpenAPIType.STRING, **rule, **more)


_DATE = {"format": OpenAPIFormat.DATE}
_DATE_TIME = {"format": OpenAPIFormat.DATE_TIME}
# An analytics period (gateway/domain/analytics.py parse_period): a day, a month, a quarter, a year
# or FROM..TO, white space around them and the dots allowed. Years 0001 to 9998 (a period of 9999
# would end in year 10000, past what a date holds). That FROM is not after TO and the period spans at
# most MAX_PERIOD_DAYS cannot be said by a pattern: the e2e contract test does not hold these
# operations to positive_data_acceptance, for that reason alone.
_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])"
_MM = "(?:0[1-9]|1[0-2])"
_DAY = f"{_YEAR}-{_MM}-(?:0[1-9]|[12][0-9]|3[01])"


def _period() -> dict[str, Any]:
    space = f"[{_SPACE}]*"
    forms = f"{_DAY}{space}\\.\\.{space}{_DAY}|{_DAY}|{_YEAR}-{_MM}|{_YEAR}-[Qq][1-4]|{_YEAR}"
    return {"pattern": f"^{space}(?:{forms}){space}$"}


def _dimensions() -> dict[str, Any]:
    """``by``: 1 to MAX_DIMENSIONS dimensions, comma-separated, empty items skipped (that they differ,
    a pattern cannot say)."""
    name = "(?:" + "|".join(d.value for d in Dimension) + ")"
    joiner = f"[{_SPACE}]*,[{_SPACE},]*"
    return {"pattern": f"^[{_SPACE},]*{name}(?:{joiner}{name}){{0,{MAX_DIMENSIONS - 1}}}[{_SPACE},]*$"}


def _field_rules(settings: Settings) -> dict[str, dict[str, dict[str, Any] | Reference]]:
    """Each request body's fields (by component, then member), as the hub checks them."""
    request_id, number = _ref(REQUEST_ID), _ref(REGISTRATION_NUMBER)
    return {
        "BatchAckItem": {
            "message_id": {"type": OpenAPIType.STRING, "format": OpenAPIFormat.UUID, "one_of": None},
            "reason": {"max_length": MAX_REFUSAL_REASON},
        },
        "AckBody": {"reason": {"max_length": MAX_REFUSAL_REASON}},
        "BatchAckBody": {"acks": {"min_items": 1, "max_items": settings.max_pull_batch}},
        "StatusesBody": {"records": {"min_items": 1, "max_items": settings.max_status_batch}},
        "StatusRecordBody": {
            "registration_number": number,
            "registered_on": {"type": OpenAPIType.STRING, "one_of": None, **_DATE},
            "channel": {
                "type": OpenAPIType.STRING,
                "one_of": None,
                **one_of(c for c in Channel if c is not Channel.PORTAL),
            },
            "state": {"type": OpenAPIType.STRING, "one_of": None, **one_of(UPLOADABLE_STATES)},
            "at": {"type": OpenAPIType.STRING, "one_of": None, **_DATE_TIME},
            "answer_by": {
                "one_of": [
                    OpenAPISchema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE),
                    OpenAPISchema(
                        type=OpenAPIType.STRING, pattern=f"^[{_SPACE}]*$", description="blank: none"
                    ),
                    OpenAPISchema(type=OpenAPIType.NULL),
                ]
            },
            "reason": {"max_length": MAX_TEXT},
        },
        "AccessCodeBody": {"registration_number": number},
        "RegisterMailBody": {
            "topic_code": {"pattern": TOPIC_CODE},
            "territory_code": {"pattern": TERRITORY_CODE},
            "kind": one_of(AppealKind),
        },
        "RejectMailBody": {"reason": one_of(REJECTION_REASONS), "comment": {"max_length": MAX_COMMENT}},
        "DispatchBody": {
            "dispatched_on": {
                **_DATE,
                "description": "From the answer's date to tomorrow (the hub's clock): a date in the future "
                "or before the answer is refused",
            },
            "tracking_number": _tracking_number(),
        },
        "WithdrawalBody": {"withdrawal_id": request_id},
        "FeedbackBody": {"feedback_id": request_id},
    }


def _tracking_number() -> dict[str, Any]:
    """Почта России's 14 digits or an S10 number (gateway/domain/postal_dispatch.py), grouped by white
    space or dashes as a receipt prints it, letters in either case."""
    gap = f"[{_SPACE}-]*"
    digit, letter = f"(?:[0-9]{gap})", f"(?:[A-Za-z]{gap})"
    s10 = f"{letter}{{2}}{digit}{{9}}{letter}{{2}}"
    return {"pattern": f"^{gap}(?:{digit}{{14}}|{s10})$", "max_length": MAX_CHARS}


# Conditional requirements, as a oneOf of the two cases (Swagger UI shows each as a tab).
def _refusal_needs_reason() -> list[OpenAPISchema]:
    accepted = OpenAPISchema(
        description="accepted (the default)", properties={"accepted": OpenAPISchema(const=True)}
    )
    refused = OpenAPISchema(
        description="refused: the reason is required and not blank",
        required=["accepted", "reason"],
        properties={"accepted": OpenAPISchema(const=False), "reason": _string(nonblank(MAX_REFUSAL_REASON))},
    )
    return [accepted, refused]


def _other_needs_comment() -> list[OpenAPISchema]:
    listed = OpenAPISchema(
        description="a listed reason",
        properties={"reason": OpenAPISchema(enum=[r for r in REJECTION_REASONS if r != OTHER_REASON])},
    )
    other = OpenAPISchema(
        description="`other`: the comment says which, and is not blank",
        required=["reason", "comment"],
        properties={"reason": OpenAPISchema(const=OTHER_REASON), "comment": _string(nonblank(MAX_COMMENT))},
    )
    return [listed, other]


def _object_rules() -> dict[str, dict[str, Any]]:
    extended = OpenAPISchema(
        description="an extended status carries the new answer_by",
        schema_if=OpenAPISchema(properties={"state": OpenAPISchema(const=AppealState.EXTENDED.value)}),
        then=OpenAPISchema(
            required=["answer_by"], properties={"answer_by": OpenAPISchema(type=OpenAPIType.STRING)}
        ),
    )
    return {
        "AckBody": {"one_of": _refusal_needs_reason()},
        "BatchAckItem": {"one_of": _refusal_needs_reason(), "required": ["lease_token", "message_id"]},
        "StatusRecordBody": {
            "required": ["registration_number", "registered_on", "channel", "state", "at"],
            "all_of": [extended],
        },
        "AccessCodeBody": {"required": ["registration_number"]},
        "StatusesBody": {"required": ["records"]},
        "RejectMailBody": {"one_of": _other_needs_comment()},
    }


def _parameter_rules(settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    """Query and path parameters (by path, then name) the hub holds to more than their type."""
    period = _period()
    return {
        ("/sed/v1/messages", "limit"): {"maximum": settings.max_pull_batch},
        ("/sed/v1/messages", "lease_seconds"): {"maximum": settings.max_lease_seconds},
        ("/ops/v1/incoming-mail", "state"): one_of(INCOMING_MAIL_STATES),
        ("/ops/v1/postal-answers", "state"): one_of((POSTAL_PENDING, POSTAL_DISPATCHED)),
        ("/ops/v1/timeline", "ref"): stripped(MAX_REF),
        ("/analytics/v1/reports", "period"): period,
        ("/analytics/v1/reports", "by"): _dimensions(),
        ("/analytics/v1/reports", "format"): one_of(("json", "csv", "xlsx")),
        ("/analytics/v1/overview", "period"): period,
        ("/analytics/v1/overview", "format"): one_of(("json", "xlsx")),
        ("/analytics/v1/report.html", "period"): period,
        ("/analytics/v1/export.parquet", "period"): period,
        ("/public/v1/open-data", "period"): period,
        ("/public/v1/open-data", "format"): one_of(("json", "csv")),
    }


def _hold_requests(openapi: OpenAPI, settings: Settings) -> None:
    """The request side of the document as strict as the hub: each field's own rule, then the text
    rule on every string nothing stricter covers."""
    components = openapi.components.schemas if openapi.components and openapi.components.schemas else {}
    components.update(_printable_components())
    for name, members in _field_rules(settings).items():
        component = components.get(name)
        properties = component.properties if isinstance(component, OpenAPISchema) else None
        for member, rule in members.items():
            if properties is not None and isinstance(rule, Reference):
                properties[member] = rule
            elif properties is not None:
                _rule(properties.get(member), rule)
    for name, rule in _object_rules().items():
        _rule(components.get(name), rule)
    parameter_rules = _parameter_rules(settings)
    text_rule = _TextRule(components)
    # A query or path parameter is bounded by the HTTP head before the text rule's length could be
    # reached (uvicorn refuses a head past 16 KiB, 1,365 characters of 4 bytes percent-encoded): no
    # maxLength is declared for them, as no number of characters would say that bound truly.
    parameter_text_rule = _TextRule(components, bounded=False)
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            for parameter in operation.parameters or ():
                if isinstance(parameter, Parameter):
                    _rule(parameter.schema, parameter_rules.get((path, parameter.name), {}))
                    parameter_text_rule(parameter.schema)
            body = operation.request_body
            if isinstance(body, RequestBody):
                for media in body.content.values():
                    text_rule(media.schema)
    components[TEXT_VALUE] = _text_value()
