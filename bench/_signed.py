"""What the signature benches share (``signature.py``, ``ingest.py``'s floor): a median timing, and
a signed envelope taken apart as the verification pipeline takes it, so each step can be timed
alone on real inputs."""

from __future__ import annotations

import base64
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from gateway.adapters.xmlsec.envelope import q
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import DS, PORTAL, _certificates


def median_us(action: Callable[[], object], n: int) -> float:
    """The median of ``n`` timed calls, in µs, after 20 untimed ones to warm caches."""
    for _ in range(20):
        action()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


@dataclass(frozen=True)
class SignedParts:
    """The portal's signature over an envelope's Message, and what each step of checking it reads."""

    root: etree._Element
    message: etree._Element
    signature: etree._Element
    signed_info: etree._Element
    method: str
    digest_method: str
    certificates: list[x509.Certificate]
    canonical: bytes  # the Message, exclusive C14N
    signed_bytes: bytes  # SignedInfo, exclusive C14N
    value: bytes


def take_apart(envelope: bytes) -> SignedParts:
    root = parse_hardened(envelope, max_depth=48)
    message = root.find(q("Message"))
    signature = root.find(f"{q('PortalSignature')}/{{{DS}}}Signature")
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    return SignedParts(
        root=root,
        message=message,
        signature=signature,
        signed_info=signed_info,
        method=signed_info.find(f"{{{DS}}}SignatureMethod").get("Algorithm"),
        digest_method=signed_info.find(f".//{{{DS}}}DigestMethod").get("Algorithm"),
        certificates=_certificates(signature, PORTAL),
        canonical=etree.tostring(message, method="c14n", exclusive=True),
        signed_bytes=etree.tostring(signed_info, method="c14n", exclusive=True),
        value=base64.b64decode(signature.findtext(f"{{{DS}}}SignatureValue")),
    )
