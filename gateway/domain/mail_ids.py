"""The Message-ID of an e-mail the hub sends, and the delivery a bounce's quoted Message-ID names.

``<n<outbox id>.<digest>@<domain>>``: derived from the outbox message, so every attempt of one
notification carries the same id (a repeat after a worker died mid-send shows once in a mail
client), and a bounce (DSN), which quotes the original headers, names the delivery it is about.
The digest (of the message's idempotency key) lets the hub check a quoted id against the row it
names: a forged or garbled id matches nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

_QUOTED = re.compile(r"^<?n(\d{1,18})\.([0-9a-f]{16})@[^>\s]+>?$")


def message_id(outbox_id: int, idempotency_key: str, domain: str) -> str:
    return f"<n{outbox_id}.{_digest(idempotency_key)}@{domain}>"


def delivery_of(quoted: str, idempotency_key_of: Callable[[int], str | None]) -> int | None:
    """The outbox id ``quoted`` names, if the digest matches that row's idempotency key (looked up
    by ``idempotency_key_of``, None for no such row); else None: not one of ours."""
    match = _QUOTED.match(quoted.strip())
    if match is None:
        return None
    outbox_id = int(match[1])
    key = idempotency_key_of(outbox_id)
    return outbox_id if key is not None and _digest(key) == match[2] else None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]
