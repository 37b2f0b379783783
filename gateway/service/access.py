"""Who is calling: agencies by bearer token or by the client certificate a TLS terminator vouches for."""

from __future__ import annotations

import hmac

from gateway.adapters.db import agencies as agencies_db
from gateway.domain.errors import Code, Rejection
from gateway.service.hub import Hub
from gateway.service.registry import hash_secret


def authenticate_agency(hub: Hub, *, bearer: str | None, client_cert_sha256: str | None) -> str:
    """The calling agency's code, or a ``Rejection(UNAUTHENTICATED)`` that says nothing of why.

    The certificate fingerprint is honoured only when the deployment says a TLS terminator sets
    it (``GATEWAY_TRUST_CLIENT_CERT_HEADER``); otherwise any client could claim one.
    """
    with hub.pool.connection() as conn:
        if bearer:
            agency = agencies_db.agency_by_credential(conn, "token", hash_secret(bearer))
            if agency:
                return agency
        if client_cert_sha256 and hub.settings.trust_client_cert_header:
            fingerprint = client_cert_sha256.replace(":", "").lower()
            agency = agencies_db.agency_by_credential(conn, "cert-fingerprint", fingerprint)
            if agency:
                return agency
    raise Rejection(Code.UNAUTHENTICATED, "valid agency credentials are required")


def authenticate_operator(hub: Hub, bearer: str | None) -> str:
    """Operators hold their own tokens (hashes in ``GATEWAY_OPERATOR_TOKENS_SHA256``)."""
    if bearer:
        digest = hash_secret(bearer)
        for allowed in hub.settings.operator_tokens_sha256:
            if hmac.compare_digest(digest, allowed):
                return "operator:" + digest[:8]
    raise Rejection(Code.UNAUTHENTICATED, "valid operator credentials are required")
