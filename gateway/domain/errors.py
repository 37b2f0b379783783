"""Rejections: every refusal the hub gives a client carries a stable machine code.

The codes are part of the public contract (REST problem documents and SOAP faults carry
the same ones); never rename one, add a new one instead.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # intake: transport and parsing
    BODY_TOO_LARGE = "body-too-large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    MALFORMED_MULTIPART = "malformed-multipart"
    MALFORMED_XML = "malformed-xml"
    FORBIDDEN_XML_CONSTRUCT = "forbidden-xml-construct"
    XML_TOO_DEEP = "xml-too-deep"
    SCHEMA_VIOLATION = "schema-violation"
    # intake: signatures
    SIGNATURE_MISSING = "signature-missing"
    SIGNATURE_INVALID = "signature-invalid"
    SIGNATURE_REFERENCE_INVALID = "signature-reference-invalid"
    SIGNATURE_AMBIGUOUS = "signature-ambiguous"
    SIGNATURE_ALGORITHM_NOT_ALLOWED = "signature-algorithm-not-allowed"
    CERTIFICATE_UNTRUSTED = "certificate-untrusted"
    CERTIFICATE_EXPIRED = "certificate-expired"
    CERTIFICATE_NOT_YET_VALID = "certificate-not-yet-valid"  # its notBefore is ahead: often a clock
    CERTIFICATE_KEY_USAGE = "certificate-key-usage"
    SENDER_UNKNOWN = "sender-unknown"
    SENDER_CERTIFICATE_MISMATCH = "sender-certificate-mismatch"
    # intake: identity policy
    IDENTITY_PROVIDER_NOT_ALLOWED = "identity-provider-not-allowed"
    IDENTITY_ASSURANCE_TOO_LOW = "identity-assurance-too-low"
    APPLICANT_SIGNATURE_REQUIRED = "applicant-signature-required"
    APPLICANT_ORGANISATION_MISMATCH = "applicant-organisation-mismatch"
    ORGANISATION_REQUIRED = "organisation-required"
    CONSENT_MISSING = "consent-missing"
    # intake: replay, duplicates, attachments
    SENT_AT_OUT_OF_WINDOW = "sent-at-out-of-window"
    MESSAGE_ID_REUSED = "message-id-reused"
    APPEAL_ALREADY_RECEIVED = "appeal-already-received"
    ATTACHMENT_MISSING = "attachment-missing"
    ATTACHMENT_UNEXPECTED = "attachment-unexpected"
    ATTACHMENT_DIGEST_MISMATCH = "attachment-digest-mismatch"
    ATTACHMENT_SIZE_MISMATCH = "attachment-size-mismatch"
    ATTACHMENT_TOO_LARGE = "attachment-too-large"
    # intake: attachments screened (antivirus, type by content, archives' bounds)
    ATTACHMENT_INFECTED = "attachment-infected"
    ATTACHMENT_TYPE_NOT_ALLOWED = "attachment-type-not-allowed"
    ATTACHMENT_ARCHIVE_LIMIT = "attachment-archive-limit"
    ANTIVIRUS_UNAVAILABLE = "antivirus-unavailable"  # the scanner is away; retry later (503)
    # agency faces
    UNAUTHENTICATED = "unauthenticated"
    NOT_FOUND = "not-found"
    LEASE_INVALID = "lease-invalid"
    INVALID_REQUEST = "invalid-request"
    ILLEGAL_TRANSITION = "illegal-transition"
    EVENT_ID_REUSED = "event-id-reused"
    REGISTRATION_NUMBER_TAKEN = "registration-number-taken"
    # agencies' signed answers
    ANSWER_CERTIFICATE_NOT_REGISTERED = "answer-certificate-not-registered"
    ANSWER_MISMATCH = "answer-mismatch"
    # applicants' requests through the portal (withdrawal, feedback)
    REQUEST_ID_REUSED = "request-id-reused"
    NOT_ANSWERED = "not-answered"
    FEEDBACK_ALREADY_GIVEN = "feedback-already-given"
    # answers sent by post
    NOT_BY_POST = "not-by-post"
    ALREADY_DISPATCHED = "already-dispatched"
    # operators
    AGENCY_UNKNOWN = "agency-unknown"
    # everyone
    TOO_MANY_REQUESTS = "too-many-requests"
    # the hub's side: its database is away for a moment (a failover, a restart); retry later
    SERVICE_UNAVAILABLE = "service-unavailable"


# HTTP status per code; anything not listed is a 422 (understood, but refused).
HTTP_STATUS: dict[Code, int] = {
    Code.BODY_TOO_LARGE: 413,
    Code.ATTACHMENT_TOO_LARGE: 413,
    Code.UNSUPPORTED_MEDIA_TYPE: 415,
    Code.MALFORMED_MULTIPART: 400,
    Code.MALFORMED_XML: 400,
    Code.FORBIDDEN_XML_CONSTRUCT: 400,
    Code.XML_TOO_DEEP: 400,
    Code.SCHEMA_VIOLATION: 400,
    Code.INVALID_REQUEST: 400,
    Code.TOO_MANY_REQUESTS: 429,
    Code.SERVICE_UNAVAILABLE: 503,
    Code.ANTIVIRUS_UNAVAILABLE: 503,
    Code.UNAUTHENTICATED: 401,
    Code.NOT_FOUND: 404,
    Code.MESSAGE_ID_REUSED: 409,
    Code.APPEAL_ALREADY_RECEIVED: 409,
    Code.LEASE_INVALID: 409,
    Code.ILLEGAL_TRANSITION: 409,
    Code.EVENT_ID_REUSED: 409,
    Code.REGISTRATION_NUMBER_TAKEN: 409,
    Code.REQUEST_ID_REUSED: 409,
    Code.NOT_ANSWERED: 409,
    Code.FEEDBACK_ALREADY_GIVEN: 409,
    Code.NOT_BY_POST: 409,
    Code.ALREADY_DISPATCHED: 409,
}


class Rejection(Exception):
    """A client's input refused, with the field at fault as a JSON-pointer-like path."""

    def __init__(self, code: Code, detail: str, pointer: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.pointer = pointer

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 422)
