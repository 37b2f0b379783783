"""An agency's signed answer, taken in as its ``answered`` event: verified, held to the appeal, stored.

The answer is verified with the certificate the registry holds for the agency (pinned, not
chained: any other certificate the same CA issued must not answer in this agency's name), then
held to the appeal it claims to answer, then its attachment parts to the headers it signs, and
the parts are scanned by the antivirus as an appeal's are (``screening.scan_answer``). Only then
are the signed bytes and the attachments stored, content-addressed, in the event's own transaction
(see :func:`gateway.service.events.record`): either the appeal is answered with its whole answer,
or nothing changed.

The answer's text is the applicant's business: it travels inside the signed document only. What
the hub records of it (event details, audit) is ids, digests, sizes and the date.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from gateway.adapters import metrics
from gateway.adapters.db import answers as answers_db
from gateway.adapters.db import blobs
from gateway.adapters.xmlsec.answer import verify_answer
from gateway.adapters.xmlsec.suites import suites_named
from gateway.config import Settings
from gateway.domain import events as ev
from gateway.domain.attachments import check_parts
from gateway.domain.errors import Code, Rejection
from gateway.domain.model import Agency, AnswerDocument, AttachmentHeader
from gateway.service import attachments, screening

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AcceptedAnswer:
    """A verified answer whose bytes are stored, waiting for its event's sequence number."""

    document: AnswerDocument
    sha256: str  # hex, of the signed answer XML as received
    size: int

    @property
    def details(self) -> dict[str, Any]:
        """What the event record and the audit keep of the answer: ids, digests, sizes, the date."""
        return {
            "answer_sha256": self.sha256,
            "answer_size": self.size,
            "answer_id": str(self.document.answer_id),
            "answered_on": self.document.answered_on.isoformat(),
            "attachments": [
                {"content_id": a.content_id, "size": a.size, "sha256": a.sha256}
                for a in self.document.attachments
            ],
        }

    @property
    def for_applicant(self) -> dict[str, Any]:
        """The cabinet's part of the answer: what the applicant is shown beside the signed document
        (which the delivery resolves from ``documents``), and the attachments to fetch."""
        document = self.document
        return {
            "answer": {
                "answer_id": str(document.answer_id),
                "answered_on": document.answered_on.isoformat(),
                "signatory": {"name": document.signatory.name, "position": document.signatory.position},
                "attachments": [_header_json(a) for a in document.attachments],
            },
            "documents": {"answer": self.sha256},
        }


def _header_json(header: AttachmentHeader) -> dict[str, Any]:
    return {
        "content_id": header.content_id,
        "file_name": header.file_name,
        "media_type": header.media_type,
        "size": header.size,
        "sha256": header.sha256,
    }


def accept(
    conn: Connection,
    settings: Settings,
    agency: Agency,
    appeal: dict[str, Any],
    event: ev.Answered,
    today: date,
) -> AcceptedAnswer:
    """Verify and check ``event``'s answer for ``appeal`` and store its bytes (the caller's transaction).

    Refusals point into the request's answer (``/answer/...``, then the path in its XML), so an
    EDMS sees which signed element to fix whatever face it used.
    """
    if len(event.answer) > settings.max_envelope_bytes:
        raise Rejection(
            Code.BODY_TOO_LARGE, f"the answer exceeds {settings.max_envelope_bytes} bytes", ev.ANSWER_POINTER
        )
    if not agency.answer_certificate:
        raise Rejection(
            Code.ANSWER_CERTIFICATE_NOT_REGISTERED,
            "the registry holds no answer certificate for this agency; the hub's operators register it",
        )
    document = _verified(event.answer, agency, settings)
    ev.check_answer(
        document,
        agency_code=agency.code,
        appeal_id=appeal["id"],
        registration_number=appeal["registration_number"],
        registered_on=appeal["registered_on"],
        today=today,
    )
    pointer = ev.SIGNED_DOCUMENT + "/Attachments"
    check_parts(document.attachments, event.parts, settings.max_attachment_bytes, pointer)
    # Scanned here, after the signature and the parts are checked and before anything is stored:
    # the scan holds the appeal's row and one pooled connection for its length, which an answer
    # (one per appeal, rarely large) can afford and which keeps a repeated event free of a scan.
    screening.scan_answer(settings, document.attachments, event.parts, pointer)
    digest = hashlib.sha256(event.answer).digest()
    blobs.put(conn, digest, len(event.answer), io.BytesIO(event.answer))
    for header in document.attachments:
        attachments.store(conn, header, event.parts[header.content_id])
    return AcceptedAnswer(document, digest.hex(), len(event.answer))


def record(conn: Connection, appeal_id: UUID, seq: int, at: datetime, answer: AcceptedAnswer) -> None:
    """Tie the stored answer to its event (``seq``), in the event's transaction."""
    answers_db.insert(
        conn,
        appeal_id=appeal_id,
        seq=seq,
        answer_id=answer.document.answer_id,
        answered_on=answer.document.answered_on,
        document_sha256=bytes.fromhex(answer.sha256),
        attachments=[_header_json(a) for a in answer.document.attachments],
        received_at=at,
    )


def _verified(raw: bytes, agency: Agency, settings: Settings) -> AnswerDocument:
    assert agency.answer_certificate is not None
    try:
        with metrics.verifying("answer"):
            document, _ = verify_answer(
                raw,
                agency.answer_certificate,
                max_depth=settings.max_xml_depth,
                schemas_dir=settings.schemas_dir,
                suites=suites_named(settings.agency_signature_suites),
            )
    except Rejection as refusal:
        pointer = ev.ANSWER_POINTER + (refusal.pointer if refusal.pointer not in (None, "/") else "")
        raise Rejection(refusal.code, refusal.detail, pointer) from None
    except ValueError:
        # A registered certificate that cannot be read is the registry's fault, not the request's:
        # the hub fails (internal-error) and tells its operators.
        log.exception(
            "verifying an answer of %s failed: is its registered answer certificate readable?", agency.code
        )
        raise
    return document
