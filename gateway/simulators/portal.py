"""The national portal, played: builds envelopes, signs them as the portal does, pushes them to the hub."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from gateway.adapters.xmlsec.envelope import build_envelope
from gateway.adapters.xmlsec.signing import sign_envelope
from gateway.domain.model import Appeal, MessageHeader
from gateway.simulators.samples import message_header


@dataclass(frozen=True)
class Signer:
    """A key and its certificate (PEM)."""

    key_pem: bytes
    cert_pem: bytes


@dataclass
class Portal:
    sender_id: str
    signer: Signer
    applicant: Signer | None = None  # a legal entity's representative, signing the Appeal

    def envelope(
        self, appeal: Appeal, header: MessageHeader | None = None, *, sign_as_applicant: bool = False
    ) -> bytes:
        """The signed envelope bytes for one appeal."""
        unsigned = build_envelope(header or message_header(self.sender_id), appeal)
        applicant = self.applicant if sign_as_applicant else None
        return sign_envelope(
            unsigned,
            self.signer.key_pem,
            self.signer.cert_pem,
            applicant_key_pem=applicant.key_pem if applicant else None,
            applicant_cert_pem=applicant.cert_pem if applicant else None,
        )


def push(
    client: httpx.Client,
    envelope: bytes,
    attachments: Mapping[str, tuple[str, bytes | BinaryIO, str]] | None = None,
) -> httpx.Response:
    """POST to ``/portal/v1/appeals``: plain XML, or multipart when there are attachments.

    ``attachments`` maps each ContentId to (file name, bytes or an open file, media type); httpx
    streams file objects, so a large scan is never read into memory whole.
    """
    if not attachments:
        return client.post(
            "/portal/v1/appeals", content=envelope, headers={"Content-Type": "application/xml"}
        )
    files = {"envelope": ("envelope.xml", envelope, "application/xml"), **attachments}
    return client.post("/portal/v1/appeals", files=files)


def answer_attachment(client: httpx.Client, token: str, appeal_id: str, content_id: str) -> httpx.Response:
    """GET an attachment of the agency's answer, as the portal that sent the appeal (``token`` is
    the portal's own credential in the hub's registry)."""
    return client.get(
        f"/portal/v1/appeals/{appeal_id}/answer/attachments/{content_id}",
        headers={"Authorization": f"Bearer {token}"},
    )


def withdraw(
    client: httpx.Client, token: str, appeal_id: str, withdrawal_id: str, reason: str | None = None
) -> httpx.Response:
    """The applicant withdraws the appeal: ``POST …/withdrawal`` with the portal's token."""
    body = {"withdrawal_id": withdrawal_id, **({"reason": reason} if reason is not None else {})}
    return client.post(
        f"/portal/v1/appeals/{appeal_id}/withdrawal", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def give_feedback(
    client: httpx.Client,
    token: str,
    appeal_id: str,
    feedback_id: str,
    rating: object,
    comment: str | None = None,
) -> httpx.Response:
    """The applicant rates the answer: ``POST …/feedback`` with the portal's token."""
    body = {
        "feedback_id": feedback_id,
        "rating": rating,
        **({"comment": comment} if comment is not None else {}),
    }
    return client.post(
        f"/portal/v1/appeals/{appeal_id}/feedback", json=body, headers={"Authorization": f"Bearer {token}"}
    )
