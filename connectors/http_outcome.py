"""What an HTTP-level failure means for a delivery: try again (and when), or give up until fixed.

Shared by the connectors that post over HTTP. The receiver's words are not copied into reasons
(a response body or a fault string may echo the message, personal data included): a reason names
the status, the exception's class or a receiver's stable code, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from gateway.domain.delivery import DeliveryError

# Statuses that say "not now": the receiver is overloaded, restarting, or behind a proxy that is.
# 500 is here for answers without a SOAP Fault (a crashed handler, a proxy's error page).
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_BAD_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """RFC 9110 ``Retry-After``: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def http_failure(status: int, headers: Mapping[str, str], receiver: str) -> DeliveryError:
    """A non-success status: retryable for :data:`RETRYABLE_STATUSES` and other 5xx, else permanent.

    A 4xx other than 408/425/429 means a wrong URL, refused credentials or a request the receiver
    will never take: repeating it changes nothing until someone fixes the configuration.
    """
    reason = f"{receiver} answered HTTP {status}"
    if status in RETRYABLE_STATUSES or 500 <= status <= 599:
        return DeliveryError(reason, retry_after=retry_after_seconds(headers.get("Retry-After")))
    return DeliveryError(reason, permanent=True)


def transport_failure(error: requests.RequestException, receiver: str) -> DeliveryError:
    """No answer at all (timeout, refused or dropped connection, TLS failure): always retryable.

    The receiver may or may not have the message; the retry is safe because receivers absorb a
    repeated idempotency key. An invalid URL is configuration, hence permanent.
    """
    kind = type(error).__name__
    if isinstance(error, requests.Timeout):
        return DeliveryError(f"{receiver} did not answer in time ({kind})")
    if isinstance(error, requests.ConnectionError):
        return DeliveryError(f"could not reach {receiver} ({kind})")
    if isinstance(error, _BAD_URL):
        return DeliveryError(f"the address of {receiver} is not a valid URL ({kind})", permanent=True)
    return DeliveryError(f"the call to {receiver} failed ({kind})")
