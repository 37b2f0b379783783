"""What a proxy in front of the hub vouches for, believed only when it comes from that proxy.

Behind a TLS terminator (HAProxy, nginx) two facts about a request are the proxy's, not the
socket's: who the client is (``X-Forwarded-For``: the TCP peer is the proxy) and which client
certificate it presented (``GATEWAY_CLIENT_CERT_HEADER``, the fingerprint agencies may
authenticate by). A caller that reaches a node directly could write either header itself. So,
in front of every face (REST and SOAP share this one ASGI wrapper):

* from a peer in ``GATEWAY_TRUSTED_PROXIES`` the client's address is the last one in
  ``X-Forwarded-For`` that is not itself a trusted proxy (the one the outermost trusted proxy
  saw), and the certificate header passes;
* from anyone else the certificate header is removed before any face sees it, and the client is
  the TCP peer.

uvicorn's own forwarded-header handling is off under ``appeals-gateway serve`` (``proxy_headers``),
so this is the one place that decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

Scope = dict[str, Any]
FORWARDED_FOR = b"x-forwarded-for"


class TrustedProxies:
    """ASGI middleware: the client address and the certificate header, as the trusted proxy says."""

    def __init__(self, app: Any, trusted: Iterable[str], cert_header: str) -> None:
        self.app = app
        self.networks: list[IPv4Network | IPv6Network] = [ip_network(t, strict=False) for t in trusted]
        self.cert_header = cert_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = self.adjusted(scope)
        await self.app(scope, receive, send)

    def trusts(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:  # not an address (an ASGI test client's "testclient"): never trusted
            return False
        return any(ip in network for network in self.networks)

    def adjusted(self, scope: Scope) -> Scope:
        peer = scope.get("client")
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if peer and self.trusts(peer[0]):
            client = self.forwarded_client(headers, peer[0])
            return scope if client == peer[0] else {**scope, "client": (client, peer[1])}
        kept = [(name, value) for name, value in headers if name.lower() != self.cert_header]
        return scope if len(kept) == len(headers) else {**scope, "headers": kept}

    def forwarded_client(self, headers: list[tuple[bytes, bytes]], peer: str) -> str:
        """Right to left through the hops the proxies appended: the first one not trusted."""
        hops = [
            hop.strip()
            for name, value in headers
            if name.lower() == FORWARDED_FOR
            for hop in value.decode("latin-1").split(",")
            if hop.strip()
        ]
        hops.append(peer)
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0]
