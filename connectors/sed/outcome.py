"""Reading the EDMS's answer to DeliverAppeal: a receipt, or a failure classified for the retry policy.

The contract (``schemas/sed-push-1.wsdl``) tells the agency how the hub takes each answer:
``soap:Client`` means the message itself was refused, so sending it again cannot help (permanent);
``soap:Server`` means the EDMS failed and stored nothing (retry, not before RetryAfterSeconds or an
HTTP ``Retry-After``). Reasons carry the fault class and the agency's stable code only: a
faultstring is the agency's free text and may quote the appeal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree
from zeep.exceptions import Fault

from connectors.http_outcome import retry_after_seconds
from gateway.domain.delivery import DeliveryError

NS = "urn:appeals-gateway:sed-push:1"
RECEIVER = "the EDMS"
# SOAP 1.1 fault classes that blame the request: the same bytes will be refused again.
_REQUEST_FAULTS = frozenset({"Client", "VersionMismatch", "MustUnderstand"})
_CODE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True, slots=True)
class PushReceipt:
    """The EDMS's DeliveryAccepted: its own receipt id, and a registration hint when it gave one."""

    message_id: str
    receipt_id: str
    duplicate: bool = False
    registration_number: str | None = None
    registered_on: date | None = None


def _fault_class(faultcode: str | None) -> str:
    """``soap:Client.Auth`` → ``Client`` (SOAP 1.1 faultcodes are QNames, refined after dots)."""
    local = (faultcode or "").rsplit(":", 1)[-1]
    return local.split(".", 1)[0]


def _detail_error(fault: Fault) -> etree._Element | None:
    detail = fault.detail
    return detail.find(f"{{{NS}}}Error") if isinstance(detail, etree._Element) else None


def fault_failure(fault: Fault, headers: Mapping[str, str]) -> DeliveryError:
    """A SOAP Fault from the EDMS as a :class:`DeliveryError` the retry policy understands."""
    error = _detail_error(fault)
    code = (error.findtext(f"{{{NS}}}Code") or "").strip() if error is not None else ""
    code = code if _CODE.fullmatch(code) else "no code"
    kind = _fault_class(fault.code)
    label = kind if _CODE.fullmatch(kind) else "unknown"
    if kind in _REQUEST_FAULTS:
        return DeliveryError(f"{RECEIVER} refused the delivery (soap:{label}, {code})", permanent=True)
    retry_after = None
    seconds = error.findtext(f"{{{NS}}}RetryAfterSeconds") if error is not None else None
    if seconds and seconds.strip().isdigit():
        retry_after = float(seconds.strip())
    if retry_after is None:
        retry_after = retry_after_seconds(headers.get("Retry-After"))
    return DeliveryError(
        f"{RECEIVER} failed to take the delivery (soap:{label}, {code})", retry_after=retry_after
    )


def receipt(result: Any, message_id: str) -> PushReceipt:
    """zeep's DeliveryAccepted, checked to be about the message sent; else a permanent failure.

    A receipt for another message means something between the hub and the EDMS (a proxy, a
    cache, the EDMS itself) mixes up calls: retrying would not show whether ours was stored.
    """
    answered = str(getattr(result, "MessageId", "") or "").lower()
    receipt_id = getattr(result, "ReceiptId", None)
    if answered != message_id or not receipt_id:
        raise DeliveryError(f"{RECEIVER} answered with a receipt for another message", permanent=True)
    hint = getattr(result, "RegistrationHint", None)
    return PushReceipt(
        message_id=message_id,
        receipt_id=str(receipt_id),
        duplicate=bool(getattr(result, "Duplicate", False)),
        registration_number=getattr(hint, "RegistrationNumber", None) if hint is not None else None,
        registered_on=getattr(hint, "RegisteredOn", None) if hint is not None else None,
    )
