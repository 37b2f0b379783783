"""The Delivery of ``schemas/sed-push-1.xsd``, as zeep's values, from one outbox message.

The payload is the hub's own JSON (``gateway.service.push.prepare``): it names the agency, the
mailbox message, the appeal, the portal's message and appeal ids, the receipt time, the routing
facts and the attachment headers; the portal's signed envelope comes as the document
``envelope`` (checked against ``payload["documents"]["envelope"]`` when the payload names it).
Anything missing or inconsistent is the hub's fault, not the agency's, and no retry can mend it:
:class:`DeliveryError` with ``permanent=True``, naming the field, never its value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from gateway.domain.delivery import DeliveryError, OutgoingMessage

ENVELOPE_DOCUMENT = "envelope"
# payload["routing"] key → Routing child; other keys are the hub's own and are not sent.
_ROUTING = {"topic_code": "TopicCode", "territory_code": "TerritoryCode", "addressee_code": "AddresseeCode"}
_ATTACHMENT = {
    "content_id": "ContentId",
    "file_name": "FileName",
    "media_type": "MediaType",
    "size": "Size",
    "sha256": "Sha256",
}


def _bad(field: str, what: str = "is missing or malformed") -> DeliveryError:
    return DeliveryError(f"the outbox payload's {field} {what}", permanent=True)


def _uuid(payload: Mapping[str, Any], key: str) -> str:
    try:
        return str(UUID(str(payload[key])))
    except (KeyError, ValueError):
        raise _bad(key) from None


def _instant(payload: Mapping[str, Any], key: str) -> datetime:
    value = payload.get(key)
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise _bad(key) from None
    if when.tzinfo is None:
        raise _bad(key, "has no time zone")
    return when


def _attachments(items: Any) -> list[dict[str, Any]]:
    """``N`` is the attachment's number for GetAttachment (its place in the portal's signed list)."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise _bad("attachments")
    result = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, Mapping) or any(key not in item for key in _ATTACHMENT):
            raise _bad(f"attachments[{n - 1}]")
        number = item.get("n", n)
        if not isinstance(number, int):
            raise _bad(f"attachments[{n - 1}].n")
        result.append({"N": number, **{name: item[key] for key, name in _ATTACHMENT.items()}})
    return result


def _optional(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return str(value) if value not in (None, "") else None


def _routing(routing: Any) -> dict[str, str] | None:
    if not isinstance(routing, Mapping):
        return None
    values = {name: str(routing[key]) for key, name in _ROUTING.items() if routing.get(key)}
    return values or None


def delivery_id(message_id: str) -> str:
    """The Delivery's XML Id (an NCName, so it cannot start with the UUID's possible digit)."""
    return f"delivery-{message_id}"


def delivery_values(message: OutgoingMessage, sent_at: datetime) -> dict[str, Any]:
    """The ``Delivery`` element's values for zeep; raises a permanent :class:`DeliveryError`."""
    payload = message.payload
    envelope = message.documents.get(ENVELOPE_DOCUMENT)
    if not envelope:
        raise DeliveryError("the outbox message lacks the portal's envelope document", permanent=True)
    digest = hashlib.sha256(envelope).hexdigest()
    named = (payload.get("documents") or {}).get(ENVELOPE_DOCUMENT)
    if named is not None and named != digest:
        raise DeliveryError("the envelope document does not match its SHA-256 in the payload", permanent=True)
    agency_code = payload.get("agency_code")
    if not isinstance(agency_code, str) or not agency_code:
        raise _bad("agency_code")
    message_id = _uuid(payload, "message_id")
    values: dict[str, Any] = {
        "Id": delivery_id(message_id),
        "MessageId": message_id,
        "AgencyCode": agency_code,
        "AppealId": _uuid({"appeal_id": payload.get("appeal_id", message.appeal_id)}, "appeal_id"),
        "PortalMessageId": _uuid(payload, "portal_message_id"),
        "SenderId": _optional(payload, "sender_id"),
        "PortalAppealId": _optional(payload, "portal_appeal_id"),
        "ReceivedAt": _instant(payload, "received_at"),
        "SentAt": sent_at,
        "Routing": _routing(payload.get("routing")),
        "Attachments": {"Attachment": _attachments(payload.get("attachments"))},
        "SignedXml": envelope,
        "SignedXmlSha256": digest,
    }
    return values
