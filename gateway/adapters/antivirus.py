"""ClamAV's daemon over its socket: ``INSTREAM`` for an attachment's bytes, ``PING`` for health.

The protocol (clamd(8)) is four lines: send ``zINSTREAM\\0``, then chunks each prefixed by its
length as a 4-byte big-endian integer, then a zero length; clamd answers one NUL-terminated line,
``stream: OK``, ``stream: <signature> FOUND`` or ``<reason> ERROR``. A client of our own is this
module, not a dependency, because the Python ones fit badly: ``clamd`` (PyPI) is unmaintained since
2014; its maintained fork ``clamav-client`` (0.7) is GPL-2.0, sends 1 KiB chunks (51 200 writes for
a 50 MB scan) and reports a timeout and a refused connection alike, while the hub must tell
"infected" from "scanner away" from "clamd refused the stream" to apply its outage policy.

Nothing read here is personal: clamd's answer names a signature, never the content.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 256 * 1024  # well under clamd's StreamMaxLength; big enough that syscalls do not dominate
_END = struct.pack("!L", 0)


class ScannerUnavailable(Exception):
    """clamd could not give a verdict: not listening, too slow, or it refused the stream (its
    ``StreamMaxLength``, an internal error). ``reason`` is shown to operators; no content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Verdict:
    """clamd's answer on one stream: ``signature`` is None when nothing was found."""

    signature: str | None

    @property
    def infected(self) -> bool:
        return self.signature is not None


@dataclass(frozen=True, slots=True)
class Clamd:
    """clamd at ``address``: a Unix socket path (starts with ``/``) or ``host:port`` (TCP).

    ``timeout`` bounds each socket operation (connect, every send, the wait for the verdict), so a
    hung daemon costs an intake at most that long per step, then counts as unavailable.
    """

    address: str
    timeout: float = 30.0

    def _connect(self) -> socket.socket:
        if self.address.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = self.address
        else:
            host, _, port = self.address.rpartition(":")
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        sock.settimeout(self.timeout)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            raise ScannerUnavailable(f"clamd at {self.address} unreachable: {type(exc).__name__}") from None
        return sock

    def ping(self) -> bool:
        try:
            with self._connect() as sock:
                sock.sendall(b"zPING\0")
                return _reply(sock) == "PONG"
        except (ScannerUnavailable, OSError):
            return False

    def scan(self, stream: BinaryIO) -> Verdict:
        """Stream ``stream`` from its current position to its end and return clamd's verdict."""
        try:
            with self._connect() as sock:
                sock.sendall(b"zINSTREAM\0")
                while chunk := stream.read(CHUNK):
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(_END)
                answer = _reply(sock)
        except TimeoutError:
            raise ScannerUnavailable(f"clamd at {self.address} timed out") from None
        except OSError as exc:  # clamd closed the socket: it refused the stream mid-way
            raise ScannerUnavailable(
                f"clamd at {self.address} dropped the stream: {type(exc).__name__}"
            ) from None
        return _verdict(answer)


def _reply(sock: socket.socket) -> str:
    data = bytearray()
    while not data.endswith(b"\0"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.rstrip(b"\0").decode("utf-8", "replace").strip()


def _verdict(answer: str) -> Verdict:
    if answer == "stream: OK":
        return Verdict(None)
    if answer.startswith("stream: ") and answer.endswith(" FOUND"):
        return Verdict(answer[len("stream: ") : -len(" FOUND")])
    raise ScannerUnavailable(f"clamd answered: {answer[:200] or 'nothing'}")
