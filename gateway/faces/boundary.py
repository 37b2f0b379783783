"""The text rule (``gateway.domain.text``) applied where HTTP requests enter, REST and SOAP alike.

Both faces are Litestar handlers of one application, so two hooks installed on the application
cover every route, the ones added later included, before any handler runs:

- :class:`CheckedRequest` decodes JSON bodies: every string in a body a handler takes as ``data``
  is checked as it is decoded, and refused with its pointer (``/acks/0/reason``);
- :func:`check_parameters` (``before_request``) checks the query and path parameters, and the
  client-certificate header (the one header the hub looks up as it is; the bearer token is hashed
  first, ``X-Request-Id`` is replaced unless it is a short safe token), refused with the
  parameter's name as the pointer (``/connector``).

Bodies a handler reads itself go through the same rule where they are decoded: the events' JSON
(:func:`json_document`), multipart part names (``faces/rest/upload.py``), the SOAP codec's strings.

Parameters are checked before the caller is authenticated (``before_request`` runs before the
route's dependencies): a refusal names the field and says nothing of the credentials, and a bad
header value never reaches the credential lookup.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException

from gateway.domain.errors import Code, Rejection
from gateway.domain.text import check, check_tree, escape_pointer


class CheckedRequest(Request):
    """A request whose JSON body is held to the text rule as it is decoded."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise _too_deep() from None
        except SerializationException:
            # msgspec refuses a lone surrogate escape as malformed JSON; Python's json reads it, so
            # the refusal can name the field instead of the whole body.
            json_document(await self.body())
            raise
        check_tree(value)
        return value


def json_document(raw: bytes) -> None:
    """Hold a JSON document a handler decodes itself (the events' body or part) to the text rule;
    bytes that are not JSON are left to the handler's own decoder to refuse."""
    try:
        value = json.loads(raw)
    except ValueError:
        return
    except RecursionError:
        raise _too_deep() from None
    check_tree(value)


def _too_deep() -> Rejection:
    # Both JSON decoders give up by recursion on a few thousand nested arrays: a 400, not a 500.
    return Rejection(Code.INVALID_REQUEST, "the JSON is nested too deeply")


async def check_parameters(request: Request) -> None:
    """``before_request``: the query and path parameters and the data headers of every route."""
    for name, value in request.query_params.multi_items():
        check(name, "/")
        check(value, "/" + escape_pointer(name))
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check(value, "/" + name)
    hub = request.app.state.get("hub")
    if hub is not None:
        name = hub.settings.client_cert_header
        value = request.headers.get(name)
        if value is not None:
            check(value, "/" + name.lower())
