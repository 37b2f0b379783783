"""An SMTP server that keeps every message it accepts as a file: what `make run` gives the hub as
its SMTP server, so the applicant's e-mail can be read on a laptop (``var/dev/mail/*.eml``).

aiosmtpd (a development dependency, installed by `make install`): a real SMTP server on a real
socket, the one the tests record with. Run by hand: ``python -m gateway.simulators.mail_sink
--port 8092 --spool var/dev/mail``; it prints one line once it listens, and one per message.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import threading
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class SpoolHandler:
    """Writes each accepted message to ``<spool>/<n>.eml`` (written aside, then renamed: a reader
    never sees half a message)."""

    def __init__(self, spool: Path) -> None:
        self._spool = spool
        spool.mkdir(parents=True, exist_ok=True)
        taken = [int(p.stem) for p in spool.glob("*.eml") if p.stem.isdigit()]
        self._numbers = itertools.count(max(taken, default=0) + 1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        with self._lock:
            path = self._spool / f"{next(self._numbers):05d}.eml"
        aside = path.with_suffix(".tmp")
        aside.write_bytes(data)
        os.replace(aside, path)
        subject = message_from_bytes(data, policy=policy.default)["Subject"]
        print(f"{path.name}: to {', '.join(envelope.rcpt_tos)}: {subject}", flush=True)
        return "250 OK kept"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--spool", type=Path, required=True, help="directory for the .eml files")
    args = parser.parse_args()
    controller = Controller(SpoolHandler(args.spool), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail sink listening on {args.host}:{args.port}, keeping mail in {args.spool}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
