"""A real IMAP server for the tests: Debian's Dovecot, configured in a temporary directory.

Its own config file, free ports on loopback, a self-signed certificate (openssl), maildirs under
the directory, passwords in a passwd-file; started in the foreground (``dovecot -F -c <conf>``)
and stopped by its pid. A system Dovecot, if any, is never touched.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient

from gateway.config import MailboxSettings
from tests import children

USER, PASSWORD = "appeals", "imap-password-for-tests"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    root: Path
    imaps_port: int = field(default_factory=_free_port)
    imap_port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None

    @property
    def cert(self) -> Path:
        return self.root / "cert.pem"

    def mailbox(self, name: str = "appeals", **overrides) -> MailboxSettings:
        """The settings the hub polls this server with (implicit TLS unless overridden)."""
        values = {
            "name": name, "host": "127.0.0.1", "port": self.imaps_port, "username": USER,
            "password": PASSWORD, "ca_file": self.cert,
        }  # fmt: skip
        return MailboxSettings(**{**values, **overrides})

    def start(self) -> None:
        self._certificate()
        conf = self._config()
        log = (self.root / "dovecot.out").open("wb")
        self.process = subprocess.Popen(
            [shutil.which("dovecot") or "dovecot", "-F", "-c", str(conf)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("dovecot exited: " + self.log_tail())
            try:
                with socket.create_connection(("127.0.0.1", self.imaps_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot did not listen: " + self.log_tail())

    def stop(self) -> None:
        children.stop(self.process)

    def log_tail(self) -> str:
        texts = [p.read_text(errors="replace")[-2000:] for p in self.root.glob("*.log*") if p.is_file()]
        out = self.root / "dovecot.out"
        return "\n".join([*texts, out.read_text(errors="replace")[-2000:] if out.exists() else ""])

    # --- the test's side of the mailbox ---

    def client(self) -> IMAPClient:
        context = ssl.create_default_context(cafile=str(self.cert))
        client = IMAPClient("127.0.0.1", port=self.imaps_port, ssl=True, ssl_context=context, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def deliver(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Put messages in a folder with IMAP APPEND, as a mail server's delivery would."""
        client = self.client()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                client.append(folder, raw)
        finally:
            client.logout()

    def count(self, folder: str) -> int:
        client = self.client()
        try:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
        finally:
            client.logout()

    def empty(self) -> None:
        """Delete every message of every folder (between tests)."""
        client = self.client()
        try:
            for _flags, _delim, name in client.list_folders():
                client.select_folder(name)
                uids = client.search(["ALL"])
                if uids:
                    client.delete_messages(uids)
                    client.expunge()
        finally:
            client.logout()

    # --- configuration ---

    def _certificate(self) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(self.root / "key.pem"), "-out", str(self.cert)],
            check=True, capture_output=True,
        )  # fmt: skip

    def _config(self) -> Path:
        if os.geteuid() == 0:
            internal, login, mail_user = "dovecot", "dovenull", "dovecot"
        else:
            internal = login = mail_user = pwd.getpwuid(os.geteuid()).pw_name
        mail_uid = pwd.getpwnam(mail_user)
        mail = self.root / "mail"
        for path in (self.root / "run", self.root / "state", mail):
            path.mkdir(exist_ok=True)
        os.chown(mail, mail_uid.pw_uid, mail_uid.pw_gid) if os.geteuid() == 0 else None
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        conf = self.root / "dovecot.conf"
        conf.write_text(f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal}
default_internal_group = {pwd.getpwnam(internal).pw_name}
default_login_user = {login}
first_valid_uid = {mail_uid.pw_uid}
last_valid_uid = 0
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{self.root}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid.pw_uid} gid={mail_uid.pw_gid} home={mail}/%u
}}
mail_location = maildir:{mail}/%u/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
        return conf


def start_dovecot() -> Dovecot:
    """Outside pytest's tmp directory: Dovecot's own users must reach the files (pytest's is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="gw-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root)
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    return server
