"""Who is calling the SOAP face: a WS-Security UsernameToken, or the same HTTP credentials as REST.

UsernameToken carries the agency code as Username and the agency's token as a PasswordText
Password; the hub checks the token exactly as a REST bearer token and then insists the token
belongs to the named agency. PasswordDigest cannot work: the digest is SHA-1 over nonce, created
and the *clear* token, and the hub keeps only each token's SHA-256, so it is refused, saying why.
Without a UsernameToken, the ``Authorization: Bearer`` header or a TLS terminator's certificate
fingerprint header is used, as on REST.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from gateway.domain import text as text_rule
from gateway.domain.errors import Code, Rejection
from gateway.service.access import authenticate_agency
from gateway.service.hub import Hub

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SECURITY_HEADER = f"{{{WSSE}}}Security"
_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_TEXT = _PROFILE + "#PasswordText"
PASSWORD_DIGEST = _PROFILE + "#PasswordDigest"
_POINTER = "/Envelope/Header/Security/UsernameToken"


@dataclass(frozen=True, slots=True)
class UsernameToken:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class HttpCredentials:
    """What the HTTP request itself carries: a bearer token, a forwarded certificate fingerprint."""

    bearer: str | None
    client_cert_sha256: str | None


def username_token(headers: Sequence[etree._Element]) -> UsernameToken | None:
    """The envelope's one UsernameToken, if it has one; a malformed or digest token is refused."""
    tokens = [
        token
        for header in headers
        if header.tag == SECURITY_HEADER
        for token in header.iter(f"{{{WSSE}}}UsernameToken")
    ]
    if not tokens:
        return None
    if len(tokens) > 1:
        raise Rejection(Code.UNAUTHENTICATED, "send one UsernameToken", _POINTER)
    username = (tokens[0].findtext(f"{{{WSSE}}}Username") or "").strip()
    password = tokens[0].find(f"{{{WSSE}}}Password")
    if not username or password is None or not password.text:
        raise Rejection(Code.UNAUTHENTICATED, "a UsernameToken needs a Username and a Password", _POINTER)
    kind = password.get("Type", PASSWORD_TEXT)
    if kind == PASSWORD_DIGEST:
        raise Rejection(
            Code.UNAUTHENTICATED,
            "PasswordDigest is not supported: the hub keeps only a hash of each token, so it cannot "
            "check a digest; send the token as PasswordText over TLS",
            _POINTER + "/Password",
        )
    if kind != PASSWORD_TEXT:
        raise Rejection(Code.UNAUTHENTICATED, "send the token as PasswordText", _POINTER + "/Password")
    return UsernameToken(
        text_rule.check(username, _POINTER + "/Username"),
        text_rule.check(password.text, _POINTER + "/Password"),
    )


def authenticate(hub: Hub, token: UsernameToken | None, http: HttpCredentials) -> str:
    """The calling agency's code; a UsernameToken, when present, takes the place of the bearer header."""
    agency = authenticate_agency(
        hub,
        bearer=token.password if token else http.bearer,
        client_cert_sha256=http.client_cert_sha256,
    )
    if token is not None and agency != token.username:
        raise Rejection(Code.UNAUTHENTICATED, "valid agency credentials are required")
    return agency
