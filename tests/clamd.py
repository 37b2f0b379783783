"""A real ClamAV daemon for the tests: Debian's ``clamd`` with a signature database of our own.

No internet, so no freshclam: the fixture writes a ``.ndb`` (body-based signatures, hex of the bytes
to find anywhere in a file) with two signatures, the EICAR test file's and a custom one, in a
temporary directory with its own ``clamd.conf`` (a Unix socket there, ``Foreground yes``), starts
``clamd`` as a child and waits for ``PING`` → ``PONG``. clamd refuses to start with an empty database
directory; one ``.ndb`` line is enough. A system clamd, if any, is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.adapters.antivirus import Clamd
from tests import children

# The EICAR test file (eicar.org), put together at run time so this source file is not itself a
# "virus" to a developer's desktop antivirus.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Eicar-Test-Signature"
# A signature of our own, as a region's security office might add for a local threat.
MARKER = b"APPEALS-GATEWAY-" + b"TEST-MALWARE-MARKER"
MARKER_SIGNATURE = "Gateway.Test.Marker-1"


@dataclass
class ClamdServer:
    root: Path
    process: subprocess.Popen | None = None

    @property
    def socket(self) -> str:
        return str(self.root / "clamd.sock")

    def client(self, timeout: float = 10.0) -> Clamd:
        return Clamd(self.socket, timeout)

    def start(self) -> None:
        conf = self._config()
        out = (self.root / "clamd.out").open("ab")
        self.process = subprocess.Popen(
            [shutil.which("clamd") or "/usr/sbin/clamd", "--config-file", str(conf)], stdout=out, stderr=out
        )
        deadline = time.monotonic() + 60
        client = self.client(timeout=1)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("clamd exited: " + self.log_tail())
            if client.ping():
                return
            time.sleep(0.1)
        raise RuntimeError("clamd did not answer PING: " + self.log_tail())

    def stop(self) -> None:
        children.stop(self.process)

    def pause(self) -> None:
        """SIGSTOP: the daemon keeps its socket but answers nothing (a hung scanner)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def log_tail(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-2000:] for p in (self.root / "clamd.log", self.root / "clamd.out")
            if p.exists()
        )  # fmt: skip

    def _config(self) -> Path:
        db = self.root / "db"
        db.mkdir(exist_ok=True)
        (db / "appeals-gateway-test.ndb").write_text(
            f"{EICAR_SIGNATURE}:0:*:{EICAR.hex()}\n{MARKER_SIGNATURE}:0:*:{MARKER.hex()}\n"
        )
        tmp = self.root / "tmp"
        tmp.mkdir(exist_ok=True)
        conf = self.root / "clamd.conf"
        conf.write_text(
            "\n".join([
                f"LocalSocket {self.socket}",
                "FixStaleSocket yes",
                f"DatabaseDirectory {db}",
                f"TemporaryDirectory {tmp}",
                f"LogFile {self.root / 'clamd.log'}",
                f"PidFile {self.root / 'clamd.pid'}",
                "Foreground yes",
                "SelfCheck 0",  # never reload the database behind a test's back
                # The hub's bounds are the tighter ones (archive depth 3, 200 MB parts): clamd's must
                # cover them, or it would silently skip what the hub let through.
                "StreamMaxLength 256M",
                "MaxScanSize 1024M",
                "MaxFileSize 256M",
                "MaxRecursion 16",
                "AlertExceedsMax yes",
                "",
            ])
        )  # fmt: skip
        return conf


def start_clamd() -> ClamdServer:
    server = ClamdServer(Path(tempfile.mkdtemp(prefix="clamd-")))
    try:
        server.start()
    except Exception:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
        raise
    return server
