"""Ports `serve` listens on, claimed before anything starts so a taken one costs a line, not a mess."""

from __future__ import annotations

import errno
import socket


class PortUnavailable(Exception):
    """The port cannot be bound: taken by another process, privileged, or the host is not ours."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        super().__init__(f"{host}:{port}: {error.strerror}")
        self.host, self.port, self.error = host, port, error

    def reason(self, option: str) -> str:
        """One line for the console, naming the option that picks another port."""
        where = f"{self.host}:{self.port}"
        if self.error.errno == errno.EADDRINUSE:
            return f"port {self.port} is taken: {where} is in use; choose another with {option}"
        return f"cannot listen on {where}: {self.error.strerror}; choose another with {option}"


def claim_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (not yet listening), as uvicorn would bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # as uvicorn does: a port in TIME_WAIT after the last run is free; one that listens is not
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortUnavailable(host, port, exc) from None
    except OverflowError:  # above 65535: the hub's port + 11 can get there
        sock.close()
        raise PortUnavailable(host, port, OSError(errno.EINVAL, "no such TCP port")) from None
    return sock
