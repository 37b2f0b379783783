"""Who is calling the REST face: Litestar dependencies that resolve an agency, a portal or an operator."""

from __future__ import annotations

from litestar import Request

from gateway.faces.rest.request_log import note
from gateway.service.access import (
    authenticate_agency,
    authenticate_analyst,
    authenticate_operator,
    authenticate_portal,
)
from gateway.service.hub import Hub


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def calling_agency(request: Request, hub: Hub) -> str:
    """The agency code of the caller (bearer token, or the TLS terminator's certificate header)."""
    agency = authenticate_agency(
        hub,
        bearer=bearer_token(request),
        client_cert_sha256=request.headers.get(hub.settings.client_cert_header),
    )
    note(caller=agency)
    return agency


def calling_portal(request: Request, hub: Hub) -> str:
    """The portal sender id of the caller, by the same kinds of credentials as agencies."""
    portal = authenticate_portal(
        hub,
        bearer=bearer_token(request),
        client_cert_sha256=request.headers.get(hub.settings.client_cert_header),
    )
    note(caller=portal)
    return portal


def calling_operator(request: Request, hub: Hub) -> str:
    operator = authenticate_operator(hub, bearer_token(request))
    note(caller=operator)
    return operator


def calling_analyst(request: Request, hub: Hub) -> str:
    analyst = authenticate_analyst(hub, bearer_token(request))
    note(caller=analyst)
    return analyst
