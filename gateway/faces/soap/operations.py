"""The EDMS service's operations: read the payload, call the service layer, write the response.

Each runs in a worker thread (the service layer is synchronous) with the agency authenticated
and the payload already valid against the schema.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from gateway.domain.errors import Code, Rejection
from gateway.domain.status_upload import parse_records
from gateway.faces.soap import codec
from gateway.service import attachments, events, mailbox, status_upload
from gateway.service.hub import Hub

# Inline base64 holds the whole file in memory on both sides and grows it by a third; larger
# files are for the REST face, which streams them. The same cap bounds the attachments an
# answer brings inline (together), so a SendEvent may be that much (base64) over the usual size.
MAX_INLINE_ATTACHMENT_BYTES = 20 * 1024 * 1024
INLINE_REQUESTS = frozenset({codec.q("SendEvent")})


def max_request_bytes(max_envelope_bytes: int) -> int:
    """The largest request body read: the answer document (up to ``max_envelope_bytes``) and the
    inline attachments, both base64, on top of the usual envelope size."""
    return max_envelope_bytes + _base64_size(max_envelope_bytes) + _base64_size(MAX_INLINE_ATTACHMENT_BYTES)


def _base64_size(n: int) -> int:
    return 4 * -(-n // 3)


# A response is an element, or one written as text already (UTF-8): see ``soapenv.write``.
Operation = Callable[[Hub, str, etree._Element], etree._Element | bytes]


def get_messages(hub: Hub, agency: str, payload: etree._Element) -> bytes:
    limit, lease_seconds = codec.lease_args(payload)
    return codec.messages_response(mailbox.lease_documents(hub, agency, limit, lease_seconds))


def ack(hub: Hub, agency: str, payload: etree._Element) -> etree._Element:
    return codec.ack_response(mailbox.acknowledge_one(hub, agency, codec.ack_of(payload)))


def ack_batch(hub: Hub, agency: str, payload: etree._Element) -> etree._Element:
    return codec.ack_batch_response(mailbox.acknowledge(hub, agency, codec.acks_of(payload)))


def get_queue_statistics(hub: Hub, agency: str, payload: etree._Element) -> etree._Element:
    return codec.statistics_response(mailbox.statistics(hub, agency))


def get_attachment(hub: Hub, agency: str, payload: etree._Element) -> etree._Element:
    appeal_id, n = codec.attachment_args(payload)
    found = attachments.find(hub, agency, appeal_id, n)
    if found.size > MAX_INLINE_ATTACHMENT_BYTES:
        raise Rejection(
            Code.ATTACHMENT_TOO_LARGE,
            f"attachments over {MAX_INLINE_ATTACHMENT_BYTES} bytes are not sent inline; stream this one "
            f"over REST: GET /sed/v1/appeals/{appeal_id}/attachments/{n}",
            "/n",
        )
    return codec.attachment_response(found, b"".join(attachments.stream(hub, found)))


def send_event(hub: Hub, agency: str, payload: etree._Element) -> etree._Element:
    appeal_id, event = codec.event_of(payload, max_inline=MAX_INLINE_ATTACHMENT_BYTES)
    return codec.receipt_response(events.record(hub, agency, appeal_id, event))


def upload_statuses(hub: Hub, agency: str, payload: etree._Element) -> etree._Element:
    records = parse_records(codec.status_records_of(payload))
    return codec.upload_statuses_response(status_upload.upload(hub, agency, records))


def reissue_access_code(hub: Hub, agency: str, payload: etree._Element) -> etree._Element:
    number, code = status_upload.reissue_access_code(hub, agency, codec.registration_number_of(payload))
    return codec.access_code_response(number, code)


OPERATIONS: dict[str, Operation] = {
    codec.q("GetMessages"): get_messages,
    codec.q("Ack"): ack,
    codec.q("AckBatch"): ack_batch,
    codec.q("GetQueueStatistics"): get_queue_statistics,
    codec.q("GetAttachment"): get_attachment,
    codec.q("SendEvent"): send_event,
    codec.q("UploadStatuses"): upload_statuses,
    codec.q("ReissueAccessCode"): reissue_access_code,
}
