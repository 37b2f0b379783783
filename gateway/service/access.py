"""Who is calling: agencies and portals by bearer token or by the client certificate a TLS terminator
vouches for; operators by their own tokens."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from psycopg import Connection

from gateway.adapters.db import agencies as agencies_db
from gateway.adapters.db.outage import read as db_read
from gateway.domain.errors import Code, Rejection
from gateway.service.hub import Hub
from gateway.service.registry import hash_secret


def authenticate_agency(hub: Hub, *, bearer: str | None, client_cert_sha256: str | None) -> str:
    """The calling agency's code, or a ``Rejection(UNAUTHENTICATED)`` that says nothing of why.

    The certificate fingerprint is honoured only when the deployment says a TLS terminator sets
    it (``GATEWAY_TRUST_CLIENT_CERT_HEADER``); otherwise any client could claim one.
    """
    found = _by_credential(hub, agencies_db.agency_by_credential, bearer, client_cert_sha256)
    if found is None:
        raise Rejection(Code.UNAUTHENTICATED, "valid agency credentials are required")
    return found


def authenticate_portal(hub: Hub, *, bearer: str | None, client_cert_sha256: str | None) -> str:
    """The calling portal's sender id, by the same kinds of credentials as agencies (registered per
    portal sender); a portal's pushes need none, their signature says who sent them."""
    found = _by_credential(hub, agencies_db.portal_by_credential, bearer, client_cert_sha256)
    if found is None:
        raise Rejection(Code.UNAUTHENTICATED, "valid portal credentials are required")
    return found


def _by_credential(
    hub: Hub,
    lookup: Callable[[Connection, str, str], str | None],
    bearer: str | None,
    client_cert_sha256: str | None,
) -> str | None:
    """Authentication only reads, so it survives a lost connection even when the call then writes."""

    def read(conn: Connection) -> str | None:
        if bearer:
            found = lookup(conn, "token", hash_secret(bearer))
            if found:
                return found
        if client_cert_sha256 and hub.settings.trust_client_cert_header:
            fingerprint = client_cert_sha256.replace(":", "").lower()
            return lookup(conn, "cert-fingerprint", fingerprint)
        return None

    return db_read(hub.pool, read)


def authenticate_operator(hub: Hub, bearer: str | None) -> str:
    """Operators hold their own tokens (hashes in ``GATEWAY_OPERATOR_TOKENS_SHA256``)."""
    if bearer:
        digest = hash_secret(bearer)
        for allowed in hub.settings.operator_tokens_sha256:
            if hmac.compare_digest(digest, allowed):
                return "operator:" + digest[:8]
    raise Rejection(Code.UNAUTHENTICATED, "valid operator credentials are required")


def authenticate_analyst(hub: Hub, bearer: str | None) -> str:
    """Analysts hold their own tokens (``GATEWAY_ANALYST_TOKENS_SHA256``): an agency's or an
    operator's token opens no report, and an analyst's opens nothing else."""
    if bearer:
        digest = hash_secret(bearer)
        for allowed in hub.settings.analyst_tokens_sha256:
            if hmac.compare_digest(digest, allowed):
                return "analyst:" + digest[:8]
    raise Rejection(Code.UNAUTHENTICATED, "valid analyst credentials are required")
