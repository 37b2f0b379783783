"""Events an agency reports about its appeals, validated before they touch an appeal.

Each event carries the agency's own ``event_id``: repeating an event with the same id is a no-op
that answers as the first time did, so an EDMS may retry without fear of doubling. Faces hand the
event over as a type and a mapping of named text fields (JSON members, SOAP elements); the checks
live here once, with JSON-pointer-like names of the fields at fault.

An ``answered`` event is different: its content is the agency's signed answer, which only the
service layer can verify (it knows the agency's registered certificate and holds XML security).
The domain carries the signed bytes untouched and, once they are verified, holds what they say
to the appeal they claim to answer (:func:`check_answer`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from gateway.domain.attachments import AttachmentPart
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import AnswerDocument

MAX_EVENT_ID = 100
MAX_REGISTRATION_NUMBER = 64
MAX_TEXT = 2000


# What the applicant (and anyone with the access code) may see of each event, in the order the
# cabinet contract lists them: no executor names, no internal mailbox ids.
PUBLIC_DETAILS = (
    "registration_number",
    "registered_on",
    "answer_by",
    "new_due_date",
    "reason",
    "target_agency",
    "ground",
    "answered_on",
    "dispatched_on",  # an operator posted the answer (ReplyPreference=post): when, and
    "tracking_number",  # the post's number the applicant tracks the letter by
)


class EventType(StrEnum):
    REGISTERED = "registered"
    ASSIGNED = "assigned"
    EXTENDED = "extended"
    REDIRECTED = "redirected"
    ANSWERED = "answered"
    DECLINED = "declined"
    CLOSED = "closed"


class DeclineGround(StrEnum):
    """Why an appeal gets no answer on the merits (59-FZ art. 11; Law 300-З has similar grounds)."""

    ANONYMOUS = "anonymous"  # no name or no address for the answer (art. 11 p.1)
    OBSCENE_OR_THREATENING = "obscene-or-threatening"  # art. 11 p.3
    UNREADABLE = "unreadable"  # the text cannot be read (art. 11 p.4)
    NO_QUESTION = "no-question"  # the essence cannot be made out (art. 11 p.4.1)
    REPEATED = "repeated"  # answered on the merits several times already (art. 11 p.5)
    STATE_SECRET = "state-secret"  # noqa: S105 (a legal ground, not a password): an answer would disclose a secret protected by law (art. 11 p.6)


class ResultCategory(StrEnum):
    """How the appeal was resolved, in the result categories of the federal reporting on appeals
    (ССТУ.РФ, «Результаты рассмотрения»): the agency names one on ``answered`` or ``closed``.

    The same list serves ``BY-300Z`` agencies: Law 300-З and the seeds give Belarus no reporting
    list of its own, so the region counts both jurisdictions in one set of categories.
    """

    SUPPORTED = "supported"  # поддержано
    SUPPORTED_MEASURES_TAKEN = "supported-measures-taken"  # поддержано, в т.ч. меры приняты
    EXPLAINED = "explained"  # разъяснено
    NOT_SUPPORTED = "not-supported"  # не поддержано
    ANSWER_GIVEN = "answer-given"  # дан ответ автору
    LEFT_WITHOUT_ANSWER = "left-without-answer"  # оставлено без ответа автору
    FORWARDED_BY_COMPETENCE = "forwarded-by-competence"  # направлено по компетенции
    TERM_EXTENDED = "term-extended"  # продлён срок рассмотрения


@dataclass(frozen=True, slots=True)
class Registered:
    """The agency registered the appeal under its own number on its own date."""

    event_id: str
    registration_number: str
    registered_on: date
    type = EventType.REGISTERED


@dataclass(frozen=True, slots=True)
class Assigned:
    """An executor (a unit or an official of the agency) was put in charge."""

    event_id: str
    executor: str
    type = EventType.ASSIGNED


@dataclass(frozen=True, slots=True)
class Extended:
    """The answer's due date was moved, with the reason the applicant is told."""

    event_id: str
    new_due_date: date
    reason: str
    type = EventType.EXTENDED


@dataclass(frozen=True, slots=True)
class Redirected:
    """The appeal is not this agency's to answer: it goes to the competent one."""

    event_id: str
    target_agency: str
    reason: str
    type = EventType.REDIRECTED


@dataclass(frozen=True, slots=True)
class Answered:
    """The agency answered on the merits with its signed answer (``schemas/answer-1.xsd``).

    ``answer`` is the signed XML byte for byte: kept as it came (the applicant receives it, and it
    is the evidence), read only once its signature is verified. ``parts`` are the attachments'
    bytes by ContentId, as the face spooled them; the signed headers bind them.
    """

    event_id: str
    answer: bytes = field(repr=False)
    parts: Mapping[str, AttachmentPart] = field(default_factory=dict, repr=False)
    result: ResultCategory | None = None  # optional: EDMS written before the categories omit it
    type = EventType.ANSWERED

    @property
    def answer_sha256(self) -> str:
        return hashlib.sha256(self.answer).hexdigest()


@dataclass(frozen=True, slots=True)
class Declined:
    event_id: str
    ground: DeclineGround
    comment: str | None = None
    # With ground ``repeated``: the hub id of the earlier appeal of the same applicant that this one
    # repeats (the hub checks it is one); the public lookup then names its registration number.
    earlier_appeal_id: str | None = None
    type = EventType.DECLINED


@dataclass(frozen=True, slots=True)
class Closed:
    event_id: str
    result: ResultCategory | None = None
    type = EventType.CLOSED


AgencyEvent = Registered | Assigned | Extended | Redirected | Answered | Declined | Closed


def details(event: AgencyEvent) -> dict[str, Any]:
    """The event's own fields as JSON-ready values (stored with the event, sent to the cabinet).

    An answer is named by its digest: its text is the applicant's business and stays inside the
    signed document, and a repeat of the event is the same answer exactly when the digest is.
    """
    if isinstance(event, Answered):
        found = {"answer_sha256": event.answer_sha256}
        return found | {"result": event.result.value} if event.result else found
    fields = asdict(event)
    fields.pop("event_id")
    return {k: _plain(v) for k, v in fields.items() if v is not None}


def _plain(value: Any) -> Any:
    """A JSON value: dates as ISO text, categories and grounds as their codes."""
    if isinstance(value, date):
        return value.isoformat()
    return value.value if isinstance(value, StrEnum) else value


def check_event_id(event_id: str | None) -> str:
    event_id = (event_id or "").strip()
    if not 0 < len(event_id) <= MAX_EVENT_ID:
        raise Rejection(Code.INVALID_REQUEST, f"event_id must be 1 to {MAX_EVENT_ID} characters", "/event_id")
    return event_id


def _text(fields: Mapping[str, str | None], name: str, limit: int = MAX_TEXT) -> str:
    value = (fields.get(name) or "").strip()
    if not 0 < len(value) <= limit:
        raise Rejection(Code.INVALID_REQUEST, f"{name} must be 1 to {limit} characters", "/" + name)
    return value


def _date(fields: Mapping[str, str | None], name: str) -> date:
    try:
        return date.fromisoformat((fields.get(name) or "").strip())
    except ValueError:
        raise Rejection(Code.INVALID_REQUEST, f"{name} must be a date (YYYY-MM-DD)", "/" + name) from None


def check_registration_number(value: str | None, pointer: str = "/registration_number") -> str:
    """The agency's number as the lookup will be asked for it: 1 to 64 printable characters, trimmed.

    One rule for every way a number reaches the hub (a portal appeal's registration, an uploaded
    status of an appeal received otherwise), since both kinds share the agency's numbering.
    """
    number = (value or "").strip()
    if not 0 < len(number) <= MAX_REGISTRATION_NUMBER:
        raise Rejection(
            Code.INVALID_REQUEST,
            f"registration_number must be 1 to {MAX_REGISTRATION_NUMBER} characters",
            pointer,
        )
    if not number.isprintable():
        raise Rejection(Code.INVALID_REQUEST, "registration_number must be printable characters", pointer)
    return number


def _registered(event_id: str, fields: Mapping[str, str | None]) -> Registered:
    number = check_registration_number(fields.get("registration_number"))
    return Registered(event_id, number, _date(fields, "registered_on"))


def _declined(event_id: str, fields: Mapping[str, str | None]) -> Declined:
    try:
        ground = DeclineGround((fields.get("ground") or "").strip())
    except ValueError:
        known = ", ".join(g.value for g in DeclineGround)
        raise Rejection(Code.INVALID_REQUEST, f"ground must be one of: {known}", "/ground") from None
    comment = (fields.get("comment") or "").strip() or None
    if comment and len(comment) > MAX_TEXT:
        raise Rejection(Code.INVALID_REQUEST, f"comment is limited to {MAX_TEXT} characters", "/comment")
    return Declined(event_id, ground, comment, _earlier_appeal(fields.get("earlier_appeal_id"), ground))


def _earlier_appeal(value: str | None, ground: DeclineGround) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if ground is not DeclineGround.REPEATED:
        raise Rejection(
            Code.INVALID_REQUEST, "earlier_appeal_id goes only with the ground repeated", "/earlier_appeal_id"
        )
    try:
        return str(UUID(value))
    except ValueError:
        pointer = "/earlier_appeal_id"
        raise Rejection(Code.INVALID_REQUEST, "earlier_appeal_id must be a UUID", pointer) from None


def check_result(value: str | None) -> ResultCategory | None:
    """The optional result category: absent (or empty) for old clients, one of the list when given."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return ResultCategory(value)
    except ValueError:
        known = ", ".join(r.value for r in ResultCategory)
        raise Rejection(Code.INVALID_REQUEST, f"result must be one of: {known}", "/result") from None


_PARSERS: dict[EventType, Callable[[str, Mapping[str, str | None]], AgencyEvent]] = {
    EventType.REGISTERED: _registered,
    EventType.ASSIGNED: lambda e, f: Assigned(e, _text(f, "executor", 200)),
    EventType.EXTENDED: lambda e, f: Extended(e, _date(f, "new_due_date"), _text(f, "reason")),
    EventType.REDIRECTED: lambda e, f: Redirected(e, _text(f, "target_agency", 64), _text(f, "reason")),
    EventType.DECLINED: _declined,
    EventType.CLOSED: lambda e, f: Closed(e, check_result(f.get("result"))),
}


def parse_event(
    event_id: str | None,
    type_: str | None,
    fields: Mapping[str, str | None],
    *,
    answer: bytes | None = None,
    parts: Mapping[str, AttachmentPart] | None = None,
) -> AgencyEvent:
    """A validated event from a face's fields (dates are checked against the agency's calendar
    later, by :func:`check_dates`, where the agency's time zone is known).

    ``answer`` (the signed answer's bytes) and ``parts`` (its attachments by ContentId) belong to
    an ``answered`` event and to no other.
    """
    try:
        kind = EventType((type_ or "").strip())
    except ValueError:
        known = ", ".join(t.value for t in EventType)
        raise Rejection(Code.INVALID_REQUEST, f"unknown event type; known: {known}", "/type") from None
    event_id = check_event_id(event_id)
    if kind is EventType.ANSWERED:
        if not answer:
            raise Rejection(
                Code.INVALID_REQUEST,
                "an answered event carries the agency's signed answer: over REST as the part 'answer' of "
                "a multipart/form-data body, over SOAP as Answered/AnswerDocument",
                ANSWER_POINTER,
            )
        return Answered(event_id, bytes(answer), dict(parts or {}), check_result(fields.get("result")))
    if answer is not None or parts:
        raise Rejection(
            Code.INVALID_REQUEST, "only an answered event carries a signed answer and attachments", "/type"
        )
    return _PARSERS[kind](event_id, fields)


def check_dates(event: AgencyEvent, today: date) -> None:
    """Refuse a registration dated after the agency's tomorrow (a day of slack for time zones)."""
    if isinstance(event, Registered) and event.registered_on > today + timedelta(days=1):
        raise Rejection(Code.INVALID_REQUEST, "registered_on is in the future", "/registered_on")


# Where refusals of the signed answer point: the request's answer, then the path in its XML.
ANSWER_POINTER = "/answer"
SIGNED_DOCUMENT = ANSWER_POINTER + "/Document"


def check_answer(
    document: AnswerDocument,
    *,
    agency_code: str,
    appeal_id: UUID,
    registration_number: str | None,
    registered_on: date | None,
    today: date,
) -> None:
    """Hold a verified answer to the appeal it is sent for.

    A valid signature proves who signed, not what for: an answer signed for another appeal (or
    another agency's, or under a number the agency did not give this appeal) would otherwise be
    replayed here as this appeal's answer. Its date may be the agency's tomorrow at most (a day
    of slack for time zones, as for registration), and not before the registration.
    """
    for element, signed, expected, whose in (
        ("AgencyCode", document.agency_code, agency_code, "the calling agency's code"),
        ("AppealId", document.appeal_id, appeal_id, "the id of the appeal answered"),
        (
            "RegistrationNumber",
            document.registration_number,
            registration_number,
            "the number the agency registered this appeal under",
        ),
    ):
        if signed != expected:
            raise Rejection(
                Code.ANSWER_MISMATCH, f"the signed {element} is not {whose}", f"{SIGNED_DOCUMENT}/{element}"
            )
    pointer = SIGNED_DOCUMENT + "/AnsweredOn"
    if document.answered_on > today + timedelta(days=1):
        raise Rejection(Code.INVALID_REQUEST, "the signed AnsweredOn is in the future", pointer)
    if registered_on is not None and document.answered_on < registered_on:
        raise Rejection(Code.INVALID_REQUEST, "the signed AnsweredOn is before the registration", pointer)
