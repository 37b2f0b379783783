"""An agency's EDMS (СЭД) over SOAP, played with zeep from the hub's published WSDL.

It answers exactly like :class:`gateway.simulators.edms.Edms` (same methods, same dictionaries,
the same :class:`Refused` with the Fault's stable code), so one table of scenarios drives both
faces and they cannot drift. A Fault's HTTP status is always 500, so compare ``code``, not
``status``. Nothing here knows the hub's code: it reads only the WSDL and what comes over the wire.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import requests
import zeep
from zeep.exceptions import Fault
from zeep.helpers import serialize_object
from zeep.wsse.username import UsernameToken

from gateway.simulators.edms import AnsweringEdms, Refused

NS = "urn:appeals-gateway:sed:1"
ENDPOINT = "/sed/soap/v1"
FAULT_STATUS = 500
_UPPER = re.compile(r"(?<!^)(?=[A-Z])")
# Wrappers of repeated items: zeep reads an empty one (<Attachments/>) as None, REST says [].
_LISTS = frozenset({"Attachments", "NotificationChannels", "CoApplicants", "EarlierAppeals"})


def _snake(name: str) -> str:
    return _UPPER.sub("_", name).lower()


def _plain(value: Any) -> Any:
    """zeep's objects as the REST face's JSON: snake_case keys, item wrappers as plain lists."""
    if isinstance(value, dict):
        items = list(value.values())
        if len(items) == 1 and isinstance(items[0], list):  # <Channels><Channel/>…</Channels>
            return [_plain(item) for item in items[0]]
        return {
            _snake(key): [] if item is None and key in _LISTS else _plain(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _refused(fault: Fault) -> Exception:
    error = fault.detail.find(f"{{{NS}}}Error") if fault.detail is not None else None
    if error is None:
        return fault
    return Refused(FAULT_STATUS, error.findtext(f"{{{NS}}}Code") or "", error.findtext(f"{{{NS}}}Pointer"))


class SoapEdms(AnsweringEdms):
    """The agency ``agency_code`` with its ``token``, sent as a WS-Security UsernameToken (PasswordText)
    or, with ``wsse=False``, as an ``Authorization: Bearer`` header."""

    def __init__(self, hub_url: str, agency_code: str, token: str, *, wsse: bool = True) -> None:
        self.token = token
        self.session = requests.Session()
        if not wsse:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.client = zeep.Client(
            hub_url + ENDPOINT + "?wsdl",
            transport=zeep.Transport(session=self.session, timeout=30, operation_timeout=30),
            wsse=UsernameToken(agency_code, token) if wsse else None,
        )

    def close(self) -> None:
        self.session.close()

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client.service, operation)(**kwargs)
        except Fault as fault:
            raise _refused(fault) from None

    def pull(self, limit: int = 10, lease_seconds: int | None = None) -> list[dict[str, Any]]:
        messages = self._call("GetMessages", Limit=limit, LeaseSeconds=lease_seconds) or []
        return [self._message(serialize_object(m, dict)) for m in messages]

    @staticmethod
    def _message(m: dict[str, Any]) -> dict[str, Any]:
        appeal_id = m["AppealId"]
        attachments = _plain(m["Attachments"]) or []
        for ref in attachments:  # where the REST face would stream it; download() takes either
            ref["href"] = f"/sed/v1/appeals/{appeal_id}/attachments/{ref['n']}"
        return {
            "message_id": m["MessageId"],
            "kind": m["Kind"],
            "appeal_id": appeal_id,
            "lease_token": m["LeaseToken"],
            "lease_expires_at": m["LeaseExpiresAt"].isoformat(),
            "delivery_count": m["DeliveryCount"],
            "received_at": m["ReceivedAt"].isoformat(),
            "appeal": _plain(m["Appeal"]),
            "signed_xml_base64": base64.b64encode(m["SignedXml"]).decode("ascii"),
            "attachments": attachments,
            **{  # a notice's members as REST gives them: absent ones left out
                _snake(k): {name: v for name, v in _plain(m[k]).items() if v is not None}
                for k in ("Withdrawal", "Feedback")
                if m.get(k) is not None
            },
        }

    def ack(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Acknowledge leased messages in one batch; one result per message."""
        acks = [{"MessageId": m["message_id"], "LeaseToken": m["lease_token"]} for m in messages]
        results = self._call("AckBatch", Ack=acks)
        return [{"message_id": r.MessageId, "status": r.Status} for r in results]

    def ack_one(
        self, message_id: str, lease_token: str, accepted: bool = True, reason: str | None = None
    ) -> str:
        response = self._call(
            "Ack", MessageId=message_id, LeaseToken=lease_token, Accepted=accepted, Reason=reason
        )
        return response.Status

    def statistics(self) -> dict[str, Any]:
        stats = self._call("GetQueueStatistics")
        return {
            "pending": stats.Pending,
            "leased": stats.Leased,
            "refused": stats.Refused,
            "oldest_pending_age_s": round(stats.OldestPendingAgeSeconds, 3),
        }

    def download(self, target: str | tuple[str, int]) -> tuple[int, str]:
        """One attachment, by REST-style href or ``(appeal_id, n)``: its size and SHA-256 hex."""
        if isinstance(target, str):
            *_, appeal_id, _, n = target.rstrip("/").split("/")
            target = (appeal_id, int(n))
        response = self._call("GetAttachment", AppealId=target[0], N=target[1])
        return len(response.Content), hashlib.sha256(response.Content).hexdigest()

    def send_event(self, appeal_id: str, type_: str, event_id: str, **fields: Any) -> dict[str, Any]:
        """``type_`` and ``fields`` as on REST (``new_due_date``); sent as ``Extended/NewDueDate``."""
        choice = {"EventId": event_id, **{_camel(k): v for k, v in fields.items()}}
        receipt = self._call("SendEvent", AppealId=appeal_id, Event={_camel(type_): choice})
        return _plain(serialize_object(receipt, dict))

    def register(self, appeal_id: str, number: str, registered_on: date, event_id: str) -> dict[str, Any]:
        return self.send_event(
            appeal_id, "registered", event_id, registration_number=number, registered_on=registered_on
        )

    def upload_statuses(self, records: list[dict[str, str]]) -> list[dict[str, Any]]:
        """The records as ``UploadStatuses/Record`` (``answer_by`` → ``AnswerBy``); results as REST's."""
        results = self._call("UploadStatuses", Record=[{_camel(k): v for k, v in r.items()} for r in records])
        plain = (_plain(serialize_object(result, dict)) for result in results)
        return [{k: v for k, v in result.items() if v is not None} for result in plain]

    def reissue_access_code(self, registration_number: str) -> dict[str, Any]:
        result = self._call("ReissueAccessCode", RegistrationNumber=registration_number)
        return {"registration_number": result.RegistrationNumber, "access_code": result.AccessCode}

    def send_answer(
        self,
        appeal_id: str,
        event_id: str,
        answer: bytes,
        files: Mapping[str, bytes] | None = None,
        result: str | None = None,
    ) -> dict[str, Any]:
        """An ``Answered`` event: the signed ``answer`` and ``files`` (ContentId → bytes), inline."""
        attachments = [{"ContentId": cid, "Content": data} for cid, data in (files or {}).items()]
        choice = {
            "EventId": event_id,
            "AnswerDocument": answer,
            "Attachments": {"Attachment": attachments} if attachments else None,
            "Result": result,
        }
        receipt = self._call("SendEvent", AppealId=appeal_id, Event={"Answered": choice})
        return _plain(serialize_object(receipt, dict))


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
