"""What an SMSC's answer means for a delivery, and the account a connection binds with.

SMPP reports every refusal as a ``command_status``. A few say "not now" (the SMSC throttles this
account or its queue is full): the delivery waits and tries again. Refused credentials, a bad
source or destination address or a malformed message say "not until someone changes something":
the delivery goes dead for an operator to replay. Reasons name the status (``ESME_RTHROTTLED``),
never the number or the text.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from smpplib import consts

from gateway.domain.delivery import DeliveryError

# status -> its name in the specification, from smpplib's table of SMPP_ESME_* constants
STATUS_NAMES: dict[int, str] = {
    value: name.removeprefix("SMPP_")
    for name, value in vars(consts).items()
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}
THROTTLED = {consts.SMPP_ESME_RTHROTTLED: 10.0, consts.SMPP_ESME_RMSGQFUL: 60.0}  # status -> wait (s)
# The SMSC's own trouble, which passes: a system error, a failed submit, a temporary application error.
TRANSIENT = frozenset({consts.SMPP_ESME_RSYSERR, consts.SMPP_ESME_RSUBMITFAIL, 0x00000064, 0x00000004})
BIND_REFUSED = frozenset({
    consts.SMPP_ESME_RBINDFAIL, consts.SMPP_ESME_RINVPASWD, consts.SMPP_ESME_RINVSYSID,
    consts.SMPP_ESME_RINVSYSTYP, consts.SMPP_ESME_RALYBND,
})  # fmt: skip


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f"command_status 0x{status:08X}")


def bind_failure(status: int) -> DeliveryError:
    """A refused bind: wrong system id, password or system type, or no more binds allowed.

    Permanent, whatever the status: a bind refused for credentials is configuration, and an SMSC
    that refuses for load says so with a throttling status, which waits instead.
    """
    if status in THROTTLED:
        return DeliveryError(
            f"the SMSC refused the bind: {status_name(status)}", retry_after=THROTTLED[status]
        )
    return DeliveryError(f"the SMSC refused the bind: {status_name(status)}", permanent=True)


def submit_failure(status: int, part: int, parts: int) -> DeliveryError:
    """A refused ``submit_sm``: throttling waits, the SMSC's trouble retries, anything else
    (an invalid destination, source or message; an unknown vendor code) is permanent."""
    reason = f"the SMSC refused part {part} of {parts}: {status_name(status)}"
    if status in THROTTLED:
        return DeliveryError(reason, retry_after=THROTTLED[status])
    if status in TRANSIENT or 0x00000400 <= status <= 0x000004FF:  # vendor range: assume it passes
        return DeliveryError(reason)
    return DeliveryError(reason, permanent=True)


@dataclass(frozen=True, slots=True)
class SmscAccount:
    """Where and as whom to bind. ``source_addr`` is what the handset shows as the sender: an
    alphanumeric name (TON 5, NPI 0), or a number with the TON/NPI the operator assigned."""

    host: str
    port: int
    system_id: str
    password: str
    source_addr: str
    system_type: str = ""
    source_addr_ton: int = 5
    source_addr_npi: int = 0
    tls: ssl.SSLContext | None = None
    timeout: float = 10.0
    validity_hours: int = 48

    def client_tls(self) -> _NamedTls | None:
        """What smpplib's ``ssl_context`` gets: ``tls`` told which host it checks (see _NamedTls)."""
        return _NamedTls(self.tls, self.host) if self.tls is not None else None


class _NamedTls:
    """``tls`` wrapping sockets for ``host``.

    smpplib wraps its socket with ``ssl_context.wrap_socket(sock)``, naming no server: a verifying
    context (``ssl.create_default_context``, what GATEWAY_SMPP_TLS builds) refuses that outright
    (``check_hostname requires server_hostname``), and one that did not check the name would take
    any certificate the CA ever issued. This passes the SMSC's host, for the name check and SNI.
    """

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        self._context, self._host = context, host

    def wrap_socket(self, sock: object) -> ssl.SSLSocket:
        return self._context.wrap_socket(sock, server_hostname=self._host)  # type: ignore[arg-type]


def tls_refused(exc: BaseException) -> bool:
    """Whether a failed connection was the SMSC's certificate not verifying (smpplib raises its
    own ConnectionError with the TLS error as the context): no retry can fix that."""
    return isinstance(exc, ssl.SSLCertVerificationError) or isinstance(
        exc.__context__, ssl.SSLCertVerificationError
    )
