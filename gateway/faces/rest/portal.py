"""The portal's face: ``POST /portal/v1/appeals`` takes a signed envelope and answers with a receipt;
``GET /portal/v1/appeals/{id}/answer/attachments/{content_id}`` gives an answer's attachment;
``POST /portal/v1/appeals/{id}/withdrawal`` and ``…/feedback`` relay the applicant's requests."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import anyio
from litestar import Request, Response, get, post
from litestar.di import Provide
from litestar.params import Body
from litestar.response import Stream

from gateway.domain.applicant_requests import parse_feedback, parse_withdrawal
from gateway.domain.errors import Code, Rejection
from gateway.faces.rest import contract
from gateway.faces.rest.auth import calling_portal
from gateway.faces.rest.download import attachment_stream
from gateway.faces.rest.upload import Upload, read_multipart, read_xml
from gateway.service import applicant_requests, attachments, intake
from gateway.service.hub import Hub

XML_TYPES = {"application/xml", "text/xml"}
_AS_PORTAL = {"portal": Provide(calling_portal, sync_to_thread=True)}


async def _read_upload(request: Request, hub: Hub) -> Upload:
    settings = hub.settings
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in XML_TYPES:
        return Upload(await read_xml(request.stream(), settings.max_envelope_bytes), {})
    if media_type.startswith("multipart/"):
        return await read_multipart(
            request.stream(),
            content_type,
            max_envelope=settings.max_envelope_bytes,
            max_attachment=settings.max_attachment_bytes,
            max_parts=settings.max_attachments,
        )
    raise Rejection(
        Code.UNSUPPORTED_MEDIA_TYPE, "send application/xml, or multipart/form-data with an 'envelope' part"
    )


@post(
    "/portal/v1/appeals",
    request_max_body_size=None,
    summary="Push one signed appeal envelope",
    tags=["Portal"],
    security=contract.PUBLIC,  # the portal's signature on the envelope is its credential
    operation_class=contract.EnvelopeOperation,
    responses=contract.answers(
        contract.PortalReceipt, 409, 413, 415, 422, status=201, also=(200,), example=contract.PORTAL_RECEIPT
    ),
)
async def push_appeal(request: Request, hub: Hub) -> Response[dict[str, Any]]:
    """201 with a receipt for a new appeal; 200 with the same receipt for a repeat of the same bytes."""
    try:
        upload = await _read_upload(request, hub)
    except Rejection as rejection:
        await anyio.to_thread.run_sync(intake.record_rejection, hub, rejection, intake.IntakeContext())
        raise
    try:
        receipt = await anyio.to_thread.run_sync(intake.accept, hub, upload.envelope, upload.attachments)
    finally:
        upload.close()
    body = {
        "appeal_id": str(receipt.appeal_id),
        "received_at": receipt.received_at.isoformat(),
        "routed_to": receipt.routed_to,
        "duplicate": receipt.duplicate,
    }
    return Response(body, status_code=200 if receipt.duplicate else 201)


@get(
    "/portal/v1/appeals/{appeal_id:uuid}/answer/attachments/{content_id:str}",
    dependencies=_AS_PORTAL,
    summary="Stream an attachment of the agency's answer (to the portal that sent the appeal)",
    tags=["Portal"],
    security=contract.AS_PORTAL,
    responses=contract.answers(bytes, 401, 404, media_type="*/*"),
)
async def answer_attachment(hub: Hub, portal: str, appeal_id: UUID, content_id: str) -> Stream:
    """The answer's cabinet update names its attachments; the portal fetches each here, with the
    digest the agency signed. Another portal's appeal is not found, as a missing one is."""
    found = await anyio.to_thread.run_sync(attachments.find_in_answer, hub, portal, appeal_id, content_id)
    return attachment_stream(hub, found)


def _receipt(receipt: applicant_requests.RequestReceipt, id_name: str) -> Response[dict[str, Any]]:
    body = {
        "appeal_id": str(receipt.appeal_id),
        id_name: receipt.request_id,
        "state": receipt.state,
        "at": receipt.at.isoformat(),
        "repeated": receipt.repeated,
    }
    return Response(body, status_code=200 if receipt.repeated else 201)


@post(
    "/portal/v1/appeals/{appeal_id:uuid}/withdrawal",
    dependencies=_AS_PORTAL,
    summary="The applicant withdraws the appeal",
    tags=["Portal"],
    security=contract.AS_PORTAL,
    responses=contract.answers(
        contract.WithdrawalReceipt,
        401,
        404,
        409,
        422,
        status=201,
        also=(200,),
        example=contract.WITHDRAWAL_RECEIPT,
    ),
)
async def withdraw(
    hub: Hub,
    portal: str,
    appeal_id: UUID,
    data: Annotated[contract.WithdrawalBody, Body(examples=contract.body_example(contract.WITHDRAWAL))],
) -> Response[dict[str, Any]]:
    """201 when withdrawn now, 200 for a repeat of the same ``withdrawal_id``; 409
    ``illegal-transition`` once the appeal is answered, declined, closed or withdrawn otherwise."""
    withdrawal = parse_withdrawal(data.withdrawal_id, data.reason)
    receipt = await anyio.to_thread.run_sync(applicant_requests.withdraw, hub, portal, appeal_id, withdrawal)
    return _receipt(receipt, "withdrawal_id")


@post(
    "/portal/v1/appeals/{appeal_id:uuid}/feedback",
    dependencies=_AS_PORTAL,
    summary="The applicant rates the agency's answer (1 to 5, with an optional comment)",
    tags=["Portal"],
    security=contract.AS_PORTAL,
    responses=contract.answers(
        contract.FeedbackReceipt,
        401,
        404,
        409,
        422,
        status=201,
        also=(200,),
        example=contract.FEEDBACK_RECEIPT,
    ),
)
async def give_feedback(
    hub: Hub,
    portal: str,
    appeal_id: UUID,
    data: Annotated[contract.FeedbackBody, Body(examples=contract.body_example(contract.FEEDBACK))],
) -> Response[dict[str, Any]]:
    """201 when stored now, 200 for a repeat of the same ``feedback_id``; 409 ``not-answered``
    before the answer, ``feedback-already-given`` for a second rating of the same answer."""
    feedback = parse_feedback(data.feedback_id, data.rating, data.comment)
    receipt = await anyio.to_thread.run_sync(
        applicant_requests.give_feedback, hub, portal, appeal_id, feedback
    )
    return _receipt(receipt, "feedback_id")
