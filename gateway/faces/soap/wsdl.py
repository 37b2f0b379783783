"""The published contract: the WSDL and its schema, served with the caller's own address in them.

Integrators point their toolkits at ``GET /sed/soap/v1?wsdl``; the ``soap:address`` and the schema
import must then name the URL *they* reached, which behind a TLS terminator or a reverse proxy is
not the hub's own socket. ``Forwarded`` (RFC 7239) wins over ``X-Forwarded-Proto``/``-Host``, which
win over the request's own scheme and ``Host``; values that are not a plain scheme or host[:port]
are ignored, so a header cannot smuggle markup or a path into the contract.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from lxml import etree

from gateway.adapters.xmlsec.envelope import load_schema

ENDPOINT = "/sed/soap/v1"
WSDL_FILE = "sed-service-1.wsdl"
XSD_FILE = "sed-service-1.xsd"

_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
_XS = "http://www.w3.org/2001/XMLSchema"
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_SCHEMES = frozenset({"http", "https"})


def _parse_trusted(path: Path) -> etree._ElementTree:
    return etree.parse(str(path), etree.XMLParser(no_network=True, resolve_entities=False))


def payload_schema(schemas_dir: Path) -> etree.XMLSchema:
    """The compiled XSD request payloads are validated against (one per thread, see ``load_schema``)."""
    return load_schema(schemas_dir / XSD_FILE)


@lru_cache(maxsize=4)
def _wsdl_template(path: Path) -> etree._ElementTree:
    return _parse_trusted(path)


@lru_cache(maxsize=4)
def schema_document(schemas_dir: Path) -> bytes:
    return (schemas_dir / XSD_FILE).read_bytes()


def render_wsdl(schemas_dir: Path, base_url: str) -> bytes:
    """The WSDL with its endpoint and its schema import pointing at ``base_url``."""
    tree = copy.deepcopy(_wsdl_template(schemas_dir / WSDL_FILE))
    for address in tree.iter(f"{{{_WSDL_SOAP}}}address"):
        address.set("location", base_url + ENDPOINT)
    for schema_import in tree.iter(f"{{{_XS}}}import"):
        if schema_import.get("schemaLocation") == XSD_FILE:
            schema_import.set("schemaLocation", f"{base_url}{ENDPOINT}?xsd={XSD_FILE}")
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _first(value: str | None) -> str | None:
    """The first hop's value of a comma-separated proxy header (the one the client reached)."""
    return (value.split(",", 1)[0].strip() or None) if value else None


def _forwarded(value: str | None) -> dict[str, str]:
    """The first element of an RFC 7239 ``Forwarded`` header as lower-cased keys to unquoted values."""
    pairs: dict[str, str] = {}
    for item in (_first(value) or "").split(";"):
        key, sep, raw = item.partition("=")
        if sep:
            pairs[key.strip().lower()] = raw.strip().strip('"')
    return pairs


def public_base_url(headers: Mapping[str, str], scheme: str, host: str) -> str:
    """``scheme://host[:port]`` as the client addressed the hub (``headers`` keys are case-insensitive)."""
    forwarded = _forwarded(headers.get("forwarded"))
    wanted_scheme = (forwarded.get("proto") or _first(headers.get("x-forwarded-proto")) or scheme).lower()
    wanted_host = forwarded.get("host") or _first(headers.get("x-forwarded-host")) or host
    if wanted_scheme not in _SCHEMES:
        wanted_scheme = scheme
    if not _HOST.fullmatch(wanted_host):
        wanted_host = host
    return f"{wanted_scheme}://{wanted_host}"
