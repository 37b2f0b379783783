"""Signing one element of an outgoing SOAP request as the last step before it goes on the wire.

zeep builds the envelope from the WSDL's types; a signature made before that would not survive,
since zeep re-creates every element from the values it is given. A zeep egress plugin runs on the
finished envelope tree, after which zeep only adds its WS-Security header (a UsernameToken, which
signs nothing) and serialises the tree once (``etree.tostring``, no pretty printing): the signed
element reaches the wire exactly as signed. The payload is validated against the contract's XSD
first, so a message the receiver would refuse as malformed is never sent.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from lxml import etree
from zeep import Plugin

from gateway.adapters.xmlsec.envelope import load_schema, validate
from gateway.adapters.xmlsec.signing import detached_signature
from gateway.domain.errors import Rejection

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


class RequestInvalid(Exception):
    """The request built from an outbox message is not valid against the contract: the hub's fault.

    ``pointer`` names the element at fault; like the schema validation it comes from, it never
    carries a value of the message.
    """

    def __init__(self, detail: str, pointer: str | None = None) -> None:
        super().__init__(detail if pointer is None else f"{detail} at {pointer}")
        self.detail = detail
        self.pointer = pointer


class SignElement(Plugin):
    """Validate the Body's payload against the XSD at ``schema``, then sign ``target`` into
    ``container`` (both ElementPaths relative to the payload) with detached XMLDSig by its ``Id``.

    The compiled schema is looked up per call (``load_schema`` keeps one per thread): one plugin
    serves every delivery thread, and an ``XMLSchema``'s error log must not be shared between them.
    """

    def __init__(
        self,
        *,
        target: str,
        container: str,
        key_pem: bytes,
        cert_pem: bytes,
        schema: Path | None = None,
    ) -> None:
        self._target = target
        self._container = container
        self._key_pem = key_pem
        self._cert_pem = cert_pem
        self._schema = schema

    def egress(
        self, envelope: etree._Element, http_headers: dict[str, str], operation: Any, binding_options: Any
    ) -> tuple[etree._Element, dict[str, str]]:
        body = envelope.find(f"{{{SOAP11_ENV}}}Body")
        payload = body[0] if body is not None and len(body) else None
        if payload is None:
            raise RequestInvalid("the envelope has no payload")
        if self._schema is not None:
            try:  # on a copy rooted at the payload, so the pointer names the payload's own path
                validate(copy.deepcopy(payload), load_schema(self._schema))
            except Rejection as refusal:
                raise RequestInvalid(refusal.detail, refusal.pointer) from None
        target = payload.find(self._target)
        container = payload.find(self._container)
        if target is None or container is None or not target.get("Id"):
            raise RequestInvalid("the payload lacks the element to sign, its Id or its signature container")
        container[:] = [detached_signature(target, self._key_pem, self._cert_pem)]
        return envelope, http_headers
