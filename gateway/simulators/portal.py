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
