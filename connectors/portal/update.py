"""The cabinet's status update, read once from the outbox message, and how the cabinet's reply is judged.

Both callback variants (REST, SOAP) send the same :class:`CabinetUpdate` and turn the cabinet's
reply into the same decision, so the two cannot drift: delivered (return), retry later
(``DeliveryError``), or refused for good (``DeliveryError(permanent=True)``). Every reason built
here names only HTTP statuses, the cabinet's machine codes and field names, never a value from the
update: reasons are stored and shown to operators, and the update carries the applicant's access
code and the answer.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from connectors.http_outcome import retry_after_seconds
from gateway.domain.delivery import DeliveryError, OutgoingMessage
from gateway.domain.events import PUBLIC_DETAILS

ANSWER_DOCUMENT = "answer"
_WORD = re.compile(r"[a-z][a-z0-9-]{0,63}")
_CODE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Details contract 2 added (an answer posted by an operator): contract 1's Details allows none of
# them, so its cabinets get the dispatched update with its type and state alone.
DETAILS_SINCE_CONTRACT_2 = ("dispatched_on", "tracking_number")
PROBLEM_BYTES = 64 * 1024  # read no more of a refusal than a problem document needs


class _Invalid(ValueError):
    """A payload problem described in our own words (safe to store, unlike a parser's message)."""


@dataclass(frozen=True, slots=True)
class AnswerAttachment:
    content_id: str
    file_name: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer's summary for display and the agency's signed answer, byte for byte."""

    answer_id: str
    answered_on: str
    signatory_name: str
    signatory_position: str
    attachments: tuple[AnswerAttachment, ...]
    document: bytes

    def to_json(self) -> dict[str, Any]:
        """The REST contract's ``Answer``: the summary and the signed document, base64."""
        return {
            "answer_id": self.answer_id,
            "answered_on": self.answered_on,
            "signatory": {"name": self.signatory_name, "position": self.signatory_position},
            "attachments": [
                {
                    "content_id": a.content_id,
                    "file_name": a.file_name,
                    "media_type": a.media_type,
                    "size": a.size,
                    "sha256": a.sha256,
                }
                for a in self.attachments
            ],
            "document": base64.b64encode(self.document).decode("ascii"),
        }


@dataclass(frozen=True, slots=True)
class CabinetUpdate:
    """One status update of one appeal, as both callback contracts carry it."""

    appeal_id: UUID
    seq: int
    idempotency_key: str
    type: str
    state: str
    at: datetime
    details: Mapping[str, str]
    access_code: str | None = None
    answer: Answer | None = None
    appeal: Mapping[str, Any] | None = None  # the appeal's public state as of ``seq`` (contract 2)

    @classmethod
    def from_message(cls, message: OutgoingMessage) -> CabinetUpdate:
        """Read the outbox payload; a payload the contract cannot carry is a permanent failure.

        It can only come from a bug in the hub, so retrying would not help, and sending it would
        only make the cabinet refuse it: the operator sees the reason and replays after the fix.
        """
        try:
            return cls._read(message)
        except _Invalid as exc:
            problem = str(exc)
        except KeyError as exc:
            problem = f"{exc.args[0]} is missing"
        except (TypeError, ValueError, AttributeError):  # their messages may quote the value: not kept
            problem = "a field has the wrong type or format"
        raise DeliveryError(f"the outbox payload is not a valid cabinet update: {problem}", permanent=True)

    @classmethod
    def _read(cls, message: OutgoingMessage) -> CabinetUpdate:
        payload = message.payload
        appeal_id, seq = UUID(str(payload["appeal_id"])), int(payload["seq"])
        if appeal_id != message.appeal_id or seq != message.seq or seq < 1:
            raise _Invalid("appeal_id or seq differ from the outbox row's")
        kind, state = str(payload["type"]), str(payload["state"])
        if not (_WORD.fullmatch(kind) and _WORD.fullmatch(state)):
            raise _Invalid("type and state must be lower-case words")
        at = datetime.fromisoformat(str(payload["at"]))
        if at.tzinfo is None:
            raise _Invalid("at has no UTC offset")
        details = dict(payload.get("details") or {})
        unknown = sorted(set(details) - set(PUBLIC_DETAILS))
        if unknown:
            raise _Invalid(f"details the contract does not define: {', '.join(unknown)}")
        access_code = payload.get("access_code")
        appeal = payload.get("appeal")
        if appeal is not None and not (
            isinstance(appeal, dict) and isinstance(appeal.get("history"), list) and appeal.get("state")
        ):
            raise _Invalid("appeal is not the appeal's public state")
        return cls(
            appeal_id=appeal_id,
            seq=seq,
            idempotency_key=message.idempotency_key,
            type=kind,
            state=state,
            at=at,
            details={k: str(details[k]) for k in PUBLIC_DETAILS if details.get(k) is not None},
            access_code=str(access_code) if access_code is not None else None,
            answer=_answer(payload, message.documents) if "answer" in payload or kind == "answered" else None,
            appeal=appeal,
        )

    def as_of_contract(self, version: int) -> CabinetUpdate:
        """The update as a contract version carries it. Version 2 repeats the access code and the
        answer on every update after the one that brought them, with the appeal's public state;
        version 1 carries each only on its own event's update and has no state (an update that
        loses a race to a newer one loses them there: why version 2 exists)."""
        if version == 2:
            if self.appeal is None:
                raise DeliveryError(
                    "the outbox payload lacks the appeal's public state that contract 2 requires",
                    permanent=True,
                )
            return self
        return dataclasses.replace(
            self,
            access_code=self.access_code if self.type == "registered" else None,
            answer=self.answer if self.type == "answered" else None,
            appeal=None,
            details={k: v for k, v in self.details.items() if k not in DETAILS_SINCE_CONTRACT_2},
        )

    def to_json(self) -> dict[str, Any]:
        """The REST body (``CabinetUpdate`` in the OpenAPI contract)."""
        body: dict[str, Any] = {
            "appeal_id": str(self.appeal_id),
            "seq": self.seq,
            "type": self.type,
            "state": self.state,
            "at": self.at.isoformat(),
            "details": dict(self.details),
        }
        if self.access_code is not None:
            body["access_code"] = self.access_code
        if self.answer is not None:
            body["answer"] = self.answer.to_json()
        if self.appeal is not None:
            body["appeal"] = self.appeal
        return body

    def json_bytes(self) -> bytes:
        """The exact bytes sent and digested: compact, UTF-8, stable across retries."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _answer(payload: Mapping[str, Any], documents: Mapping[str, bytes]) -> Answer:
    """The answer's summary and its signed document, which must be the one the outbox names."""
    summary = payload["answer"]
    document = documents.get(ANSWER_DOCUMENT)
    if document is None:
        raise _Invalid("the answered update lacks its signed answer document")
    expected = (payload.get("documents") or {}).get(ANSWER_DOCUMENT)
    if expected is not None and hashlib.sha256(document).hexdigest() != expected:
        raise _Invalid("the answer document does not match the digest the outbox recorded")
    signatory = summary["signatory"]
    return Answer(
        answer_id=str(UUID(str(summary["answer_id"]))),
        answered_on=str(summary["answered_on"]),
        signatory_name=str(signatory["name"]),
        signatory_position=str(signatory["position"]),
        attachments=tuple(
            AnswerAttachment(
                content_id=str(a["content_id"]),
                file_name=str(a["file_name"]),
                media_type=str(a["media_type"]),
                size=int(a["size"]),
                sha256=str(a["sha256"]),
            )
            for a in summary.get("attachments") or ()
        ),
        document=bytes(document),
    )


# --- the cabinet's reply ------------------------------------------------------------------------


def safe_code(value: object) -> str | None:
    """A machine code fit for a stored reason: a short token, or nothing (never free text)."""
    return value if isinstance(value, str) and _CODE.fullmatch(value) else None


def problem_code(body: bytes, content_type: str | None) -> str | None:
    """The RFC 9457 problem document's ``code`` (or the last segment of its ``type``), if any."""
    if not body or "json" not in (content_type or ""):
        return None
    try:
        problem = json.loads(body[:PROBLEM_BYTES])
    except ValueError:
        return None
    if not isinstance(problem, dict):
        return None
    code = safe_code(problem.get("code"))
    if code is None and isinstance(problem.get("type"), str):
        code = safe_code(re.split(r"[:/]", problem["type"].rstrip("/"))[-1])
    return code


def judge_status(status: int, headers: Mapping[str, str], code: str | None) -> DeliveryError | None:
    """None when the cabinet has the update, else the error that says whether to try again.

    409 means the cabinet already has this update or a newer one: delivered, as FixMyStreet
    treats an update older than the last applied. 408, 429, 5xx: the cabinet may take it later.
    Any other 4xx (and an unexpected 3xx: the configured URL is wrong) will not change by
    retrying, so the delivery goes to the operators with the cabinet's code.
    """
    if 200 <= status < 300 or status == 409:
        return None
    suffix = f", {code}" if code else ""
    if status in (429, 503):
        wait = retry_after_seconds(headers.get("retry-after"))
        return DeliveryError(f"the cabinet is unavailable (HTTP {status}{suffix})", retry_after=wait)
    if status == 408 or status >= 500:
        return DeliveryError(f"the cabinet failed (HTTP {status}{suffix})")
    if 300 <= status < 400:
        return DeliveryError(
            f"the cabinet redirected (HTTP {status}): check its configured URL", permanent=True
        )
    return DeliveryError(f"the cabinet refused the update (HTTP {status}{suffix})", permanent=True)


def transport_failure(kind: str, timeout: float) -> DeliveryError:
    """A call that got no HTTP answer: the cabinet may or may not have the update, so try again."""
    if kind == "timeout":
        return DeliveryError(f"the cabinet did not answer within {timeout:g} s")
    if kind == "connect":
        return DeliveryError("cannot connect to the cabinet")
    if kind == "address":  # configuration, not the cabinet: no retry helps until it is fixed
        return DeliveryError("the cabinet's configured address is not a usable URL", permanent=True)
    return DeliveryError(f"the exchange with the cabinet broke off ({kind})")
