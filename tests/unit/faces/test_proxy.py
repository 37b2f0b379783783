"""What a proxy vouches for (the client's address, its certificate) is believed only from it."""

from __future__ import annotations

from gateway.faces.proxy import TrustedProxies

CERT = "X-Client-Cert-Sha256"


def _scope(peer: str, *headers: tuple[str, str]) -> dict:
    return {
        "type": "http",
        "client": (peer, 40000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }


def _proxies(*trusted: str) -> TrustedProxies:
    return TrustedProxies(None, trusted or ("10.0.0.0/24",), CERT)


def test_from_a_trusted_proxy_the_client_is_the_forwarded_address_and_the_certificate_passes() -> None:
    scope = _proxies().adjusted(_scope("10.0.0.5", ("X-Forwarded-For", "203.0.113.9"), (CERT, "ab" * 32)))
    assert scope["client"] == ("203.0.113.9", 40000)
    assert (CERT.lower().encode(), b"ab" * 32) in scope["headers"]


def test_from_anyone_else_the_certificate_header_is_dropped_and_the_peer_is_the_client() -> None:
    scope = _proxies().adjusted(_scope("192.0.2.1", ("X-Forwarded-For", "203.0.113.9"), (CERT, "ab" * 32)))
    assert scope["client"] == ("192.0.2.1", 40000)
    assert [name for name, _ in scope["headers"]] == [b"x-forwarded-for"]


def test_a_client_cannot_choose_its_address_by_prepending_hops() -> None:
    """The proxy appends the peer it saw; what the client wrote is to its left and is skipped."""
    forwarded = ("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.0.0.7")
    scope = _proxies().adjusted(_scope("10.0.0.5", forwarded))
    assert scope["client"][0] == "203.0.113.9"


def test_ipv6_networks_and_a_non_address_peer() -> None:
    proxies = _proxies("::1", "fd00::/8")
    assert proxies.trusts("::1") and proxies.trusts("fd00::5") and not proxies.trusts("2001:db8::1")
    assert not proxies.trusts("testclient")  # an in-process test client is no proxy
    scope = proxies.adjusted(_scope("testclient", (CERT, "cd" * 32)))
    assert scope["headers"] == []
