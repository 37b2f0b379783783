"""The EDMS service's payloads (``schemas/sed-service-1.xsd``) ⇄ the service layer's calls and results.

Requests reach the readers here only after they passed the schema, so a reader may trust element
presence and lexical forms; the rules (limits, lease checks, event validation) stay in the service
and domain layers. Every string handed on is first held to the hub's text rule
(``gateway.domain.text``) with the pointer the REST face gives the same field (``/acks/0/reason``):
XML already refuses the characters, so here it is the length that can be refused. Responses are
written from declarative field lists in the schema's element order, so one list per type is all
that has to follow the XSD.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec
from lxml import etree

from gateway.domain import events as domain_events
from gateway.domain import text as text_rule
from gateway.domain.errors import Code, Rejection
from gateway.service import mailbox
from gateway.service.attachments import AttachmentFile
from gateway.service.events import EventReceipt
from gateway.service.intake import IncomingAttachment
from gateway.service.status_upload import RecordResult

NS = "urn:appeals-gateway:sed:1"
_XS_DATE = re.compile(r"\s*([0-9]{4})-([0-9]{2})-([0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?\s*")


def q(local: str) -> str:
    """Clark notation for an element of the service namespace."""
    return f"{{{NS}}}{local}"


# --- requests ---------------------------------------------------------------------------------


def standalone(payload: etree._Element) -> etree._Element:
    """A copy of ``payload`` as its own document, the service namespace unprefixed.

    Schema errors then name their element by a path from the operation element that resolves
    without a namespace map (libxml2 writes ``/*/*[2]`` there, but ``/ns0:X/ns0:Y`` under a
    prefix), so the Fault's pointer can say ``/Limit`` whatever prefix the client chose.
    """
    copy = etree.Element(payload.tag, payload.attrib, nsmap={None: NS})
    _copy_children(payload, copy)
    return copy


def _copy_children(source: etree._Element, target: etree._Element) -> None:
    target.text = source.text
    for child in source:
        if isinstance(child.tag, str):
            copy = etree.SubElement(target, child.tag, child.attrib)
            _copy_children(child, copy)
            copy.tail = child.tail


def _text(parent: etree._Element, local: str, pointer: str | None = None) -> str | None:
    """An optional element's text; with a ``pointer``, held to the text rule as a field."""
    child = parent.find(q(local))
    if child is None:
        return None
    return _field(child.text or "", pointer) if pointer else child.text or ""


def _field(value: str, pointer: str) -> str:
    return text_rule.check(value, pointer)


def _required(parent: etree._Element, local: str) -> str:
    return parent.findtext(q(local), default="")


def _boolean(lexical: str) -> bool:
    return lexical.strip() in ("true", "1")


def _date(lexical: str, pointer: str) -> date:
    """An ``xs:date`` (its zone, if any, dropped: a registration date is a calendar day)."""
    match = _XS_DATE.fullmatch(lexical)
    try:
        if match:
            return date(*(int(part) for part in match.groups()))
    except ValueError:
        pass
    raise Rejection(Code.INVALID_REQUEST, "not a date this hub can represent", pointer)


def lease_args(payload: etree._Element) -> tuple[int, int | None]:
    lease_seconds = _text(payload, "LeaseSeconds")
    return int(_required(payload, "Limit")), None if lease_seconds is None else int(lease_seconds)


def ack_of(element: etree._Element, pointer: str = "") -> mailbox.Ack:
    accepted = _text(element, "Accepted")
    return mailbox.Ack(
        message_id=UUID(_required(element, "MessageId").strip()),
        lease_token=UUID(_required(element, "LeaseToken").strip()),
        accepted=True if accepted is None else _boolean(accepted),
        reason=_text(element, "Reason", f"{pointer}/reason"),
    )


def acks_of(payload: etree._Element) -> list[mailbox.Ack]:
    return [ack_of(element, f"/acks/{i}") for i, element in enumerate(payload.iterfind(q("Ack")))]


def attachment_args(payload: etree._Element) -> tuple[UUID, int]:
    return UUID(_required(payload, "AppealId").strip()), int(_required(payload, "N"))


_DATE_FIELDS = frozenset({"registered_on", "new_due_date"})


def _snake(local: str) -> str:
    """``RegistrationNumber`` → ``registration_number``: the domain's (and REST's) field names."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", local).lower()


def event_of(payload: etree._Element, *, max_inline: int) -> tuple[UUID, domain_events.AgencyEvent]:
    """The Event choice element names the type (``Registered`` → ``registered``); its children
    are the event's fields, checked by the domain exactly as the REST face's JSON members are.
    ``Answered`` carries files instead (see :func:`_answered`)."""
    appeal_id = UUID(_required(payload, "AppealId").strip())
    (choice,) = (child for child in payload.find(q("Event")) if isinstance(child.tag, str))
    if choice.tag == q("Answered"):
        return appeal_id, _answered(choice, max_inline)
    fields: dict[str, str | None] = {}
    for child in choice:
        if isinstance(child.tag, str):
            name = _snake(etree.QName(child).localname)
            text = _field(child.text or "", "/" + name)
            fields[name] = _date(text, "/" + name).isoformat() if name in _DATE_FIELDS else text
    event_id = fields.pop("event_id", None)
    event = domain_events.parse_event(event_id, _snake(etree.QName(choice).localname), fields)
    return appeal_id, event


def _answered(choice: etree._Element, max_inline: int) -> domain_events.AgencyEvent:
    """The signed answer's bytes and its attachments, decoded from inline base64, as the REST face's
    multipart parts are: each attachment with its size and SHA-256, by ContentId.

    ``max_inline`` bounds the attachments' contents together: they are all in memory at once.
    """
    answer = base64.b64decode(_required(choice, "AnswerDocument"))
    parts: dict[str, IncomingAttachment] = {}
    inline = 0
    for i, item in enumerate(choice.iterfind(f"{q('Attachments')}/{q('Attachment')}")):
        content_id = _field(_required(item, "ContentId"), f"/attachments/{i}/content_id").strip()
        if content_id in parts:
            raise Rejection(
                Code.INVALID_REQUEST, f"two attachments have the ContentId {content_id}", f"/attachments/{i}"
            )
        content = base64.b64decode(_required(item, "Content"))
        inline += len(content)
        if inline > max_inline:
            raise Rejection(
                Code.ATTACHMENT_TOO_LARGE,
                f"attachments inline are limited to {max_inline} bytes together; send larger answers "
                "over REST (multipart/form-data), which streams them",
                f"/attachments/{i}",
            )
        digest = hashlib.sha256(content).hexdigest()
        parts[content_id] = IncomingAttachment(content_id, io.BytesIO(content), len(content), digest)
    event_id = _text(choice, "EventId", "/event_id")
    fields = {"result": _text(choice, "Result", "/result")}
    return domain_events.parse_event(
        event_id, domain_events.EventType.ANSWERED, fields, answer=answer, parts=parts
    )


# --- responses --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    """One element: ``key`` names the attribute (or mapping key) it is written from.

    With ``children`` the value is written as a nested element; with ``item`` the value is a
    sequence, written as one ``item`` element per value inside this (wrapper) element.
    """

    element: str
    key: str
    children: tuple[_Field, ...] = ()
    item: str | None = None
    omit_empty: bool = False  # a sequence added to the contract later: left out when empty


_PERSON = (
    _Field("LastName", "last_name"),
    _Field("FirstName", "first_name"),
    _Field("MiddleName", "middle_name"),
)
_ORGANISATION = (
    _Field("Name", "name"),
    _Field("OrganisationId", "organisation_id"),
    _Field("Scheme", "scheme"),
)
_APPLICANT = (
    _Field("Type", "type"),
    _Field("Person", "person", _PERSON),
    _Field("Organisation", "organisation", _ORGANISATION),
    _Field("Email", "email"),
    _Field("Phone", "phone"),
    _Field("PostalAddress", "postal_address", (_Field("Text", "text"), _Field("Postcode", "postcode"))),
)
_IDENTITY = (
    _Field("Provider", "provider"),
    _Field("SubjectId", "subject_id"),
    _Field("AssuranceLevel", "assurance_level"),
)
_ATTACHMENT_HEADER = (
    _Field("ContentId", "content_id"),
    _Field("FileName", "file_name"),
    _Field("MediaType", "media_type"),
    _Field("Size", "size"),
    _Field("Sha256", "sha256"),
)
_EARLIER_APPEAL = (
    _Field("AppealId", "appeal_id"),
    _Field("ReceivedAt", "received_at"),
    _Field("RegistrationNumber", "registration_number"),
    _Field("State", "state"),
)
_CO_APPLICANT = (
    _Field("Person", "person", _PERSON),
    _Field("IdentityProvider", "identity_provider"),
    _Field("SubjectId", "subject_id"),
    _Field("Email", "email"),
    _Field("Phone", "phone"),
    _Field("PostalAddress", "postal_address", (_Field("Text", "text"), _Field("Postcode", "postcode"))),
    _Field("Contact", "contact"),
)
_APPEAL = (
    _Field("PortalAppealId", "portal_appeal_id"),
    _Field("Kind", "kind"),
    _Field("Applicant", "applicant", _APPLICANT),
    _Field("Identity", "identity", _IDENTITY),
    _Field("TopicCode", "topic_code"),
    _Field("TerritoryCode", "territory_code"),
    _Field("Subject", "subject"),
    _Field("Text", "text"),
    _Field("ReplyPreference", "reply_preference"),
    _Field("NotificationChannels", "notification_channels", item="Channel"),
    _Field("Consent", "consent"),
    _Field("AddresseeCode", "addressee_code"),
    _Field("Attachments", "attachments", _ATTACHMENT_HEADER, item="Attachment"),
    _Field("EarlierAppeals", "earlier_appeals", _EARLIER_APPEAL, item="EarlierAppeal", omit_empty=True),
    _Field("CoApplicants", "co_applicants", _CO_APPLICANT, item="CoApplicant", omit_empty=True),
)
_ATTACHMENT_REF = (
    _Field("N", "n"),
    _Field("FileName", "file_name"),
    _Field("MediaType", "media_type"),
    _Field("Size", "size"),
    _Field("Sha256", "sha256"),
)
_WITHDRAWAL = (_Field("Seq", "seq"), _Field("WithdrawnAt", "withdrawn_at"), _Field("Reason", "reason"))
_FEEDBACK = (_Field("Rating", "rating"), _Field("Comment", "comment"), _Field("GivenAt", "given_at"))
_MESSAGE = (
    _Field("MessageId", "message_id"),
    _Field("Kind", "kind"),
    _Field("AppealId", "appeal_id"),
    _Field("LeaseToken", "lease_token"),
    _Field("LeaseExpiresAt", "lease_expires_at"),
    _Field("DeliveryCount", "delivery_count"),
    _Field("ReceivedAt", "received_at"),
    _Field("Appeal", "appeal", _APPEAL),
    _Field("SignedXml", "signed_xml_base64"),
    _Field("Attachments", "attachments", _ATTACHMENT_REF, item="Attachment"),
    _Field("Withdrawal", "withdrawal", _WITHDRAWAL),
    _Field("Feedback", "feedback", _FEEDBACK),
)
_ACK_RESULT = (_Field("MessageId", "message_id"), _Field("Status", "outcome"))
_STATISTICS = (
    _Field("Pending", "pending"),
    _Field("Leased", "leased"),
    _Field("Refused", "refused"),
    _Field("OldestPendingAgeSeconds", "oldest_pending_age_s"),
)
_ATTACHMENT_CONTENT = (*_ATTACHMENT_REF, _Field("Content", "content"))
_RECEIPT = (
    _Field("AppealId", "appeal_id"),
    _Field("EventId", "event_id"),
    _Field("Seq", "seq"),
    _Field("Type", "type"),
    _Field("RecordedAt", "recorded_at"),
    _Field("State", "state"),
    _Field("Repeated", "repeated"),
)


def _lexical(value: Any) -> str:
    """The XSD lexical form of a Python value (``bool`` before ``int``: it is one)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, Mapping) else getattr(data, key)


def _write(parent: etree._Element, fields: Sequence[_Field], data: Any) -> None:
    """Append ``fields`` of ``data`` to ``parent``; a ``None`` is an optional element left out."""
    for field in fields:
        value = _get(data, field.key)
        if value is None or (field.omit_empty and not value):
            continue
        node = etree.SubElement(parent, q(field.element))
        if field.item is not None:
            _write_items(node, field.item, field.children, value)
        elif field.children:
            _write(node, field.children, value)
        else:
            node.text = _lexical(value)


def _write_items(
    parent: etree._Element, item: str, children: Sequence[_Field], values: Iterable[Any]
) -> None:
    for value in values:
        node = etree.SubElement(parent, q(item))
        if children:
            _write(node, children, value)
        else:
            node.text = _lexical(value)


def _response(local: str, fields: Sequence[_Field] = (), data: Any = None) -> etree._Element:
    root = etree.Element(q(local), nsmap={"sed": NS})
    _write(root, fields, data)
    return root


def messages_response(documents: Sequence[bytes]) -> bytes:
    """``GetMessagesResponse`` for the leased messages' JSON documents (``service.mailbox``), written
    as text in one pass: an element per field through lxml was most of what the hub spent on a
    message between PostgreSQL and the wire. The same bytes lxml writes (``tests/unit/faces``)."""
    out = [f'<sed:GetMessagesResponse xmlns:sed="{NS}">']
    for message in msgspec.json.decode(b"[" + b",".join(documents) + b"]"):
        out.append("<sed:Message>")
        _write_text(out, _MESSAGE, message)
        out.append("</sed:Message>")
    if len(out) == 1:
        return f'<sed:GetMessagesResponse xmlns:sed="{NS}"/>'.encode()
    out.append("</sed:GetMessagesResponse>")
    return "".join(out).encode()


def _escape(text: str) -> str:
    """Character data as libxml2 writes it: ``&``, ``<``, ``>`` and carriage returns escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _write_text(out: list[str], fields: Sequence[_Field], data: Mapping[str, Any]) -> None:
    """:func:`_write` as text into ``out``, for mappings; an empty element is written ``<x/>``."""
    for field in fields:
        value = data.get(field.key)
        if value is None or (field.omit_empty and not value):
            continue
        tag = "sed:" + field.element
        if field.item is None and not field.children:
            text = value if type(value) is str else _lexical(value)
            out.append(f"<{tag}>{_escape(text)}</{tag}>")
            continue
        out.append(f"<{tag}>")
        opened = len(out)
        if field.item is not None:
            item = "sed:" + field.item
            for each in value:
                if field.children:
                    out.append(f"<{item}>")
                    opened_item = len(out)
                    _write_text(out, field.children, each)
                    _close(out, opened_item, item)
                else:
                    out.append(f"<{item}>{_escape(_lexical(each))}</{item}>")
        else:
            _write_text(out, field.children, value)
        _close(out, opened, tag)


def _close(out: list[str], opened: int, tag: str) -> None:
    """End the element opened just before ``out[opened]``: ``<x/>`` when nothing was written in it."""
    if len(out) == opened:
        out[-1] = f"<{tag}/>"
    else:
        out.append(f"</{tag}>")


def ack_response(result: mailbox.AckResult) -> etree._Element:
    return _response("AckResponse", _ACK_RESULT, result)


def ack_batch_response(results: Iterable[mailbox.AckResult]) -> etree._Element:
    root = _response("AckBatchResponse")
    for result in results:
        _write(etree.SubElement(root, q("Result")), _ACK_RESULT, result)
    return root


def statistics_response(stats: mailbox.QueueStatistics) -> etree._Element:
    return _response("GetQueueStatisticsResponse", _STATISTICS, stats)


def attachment_response(found: AttachmentFile, content: bytes) -> etree._Element:
    data = {
        "n": found.n,
        "file_name": found.file_name,
        "media_type": found.media_type,
        "size": found.size,
        "sha256": found.sha256.hex(),
        "content": content,
    }
    return _response("GetAttachmentResponse", _ATTACHMENT_CONTENT, data)


def receipt_response(receipt: EventReceipt) -> etree._Element:
    return _response("SendEventResponse", _RECEIPT, receipt)


# --- status upload ------------------------------------------------------------------------------

_STATUS_DATES = frozenset({"registered_on", "answer_by"})
_STATUS_RESULT = (
    _Field("RegistrationNumber", "registration_number"),
    _Field("Outcome", "outcome"),
    _Field("AccessCode", "access_code"),
)


def status_records_of(payload: etree._Element) -> list[dict[str, str | None]]:
    """Each ``Record``'s fields by the REST face's names (``AnswerBy`` → ``answer_by``), as text for
    the domain to check, so refusals point at ``/records/{i}/{field}`` on both faces."""
    records = []
    for index, record in enumerate(payload.iterfind(q("Record"))):
        fields: dict[str, str | None] = {}
        for child in record.iterchildren(tag=etree.Element):
            name = _snake(etree.QName(child).localname)
            text = _field(child.text or "", f"/records/{index}/{name}")
            if name in _STATUS_DATES:
                text = _date(text, f"/records/{index}/{name}").isoformat()
            fields[name] = text
        records.append(fields)
    return records


def upload_statuses_response(results: Iterable[RecordResult]) -> etree._Element:
    root = _response("UploadStatusesResponse")
    for result in results:
        _write(etree.SubElement(root, q("Result")), _STATUS_RESULT, result)
    return root


def registration_number_of(payload: etree._Element) -> str:
    return _field(_required(payload, "RegistrationNumber"), "/registration_number")


def access_code_response(number: str, code: str) -> etree._Element:
    return _response(
        "ReissueAccessCodeResponse",
        (_Field("RegistrationNumber", "number"), _Field("AccessCode", "code")),
        {"number": number, "code": code},
    )
