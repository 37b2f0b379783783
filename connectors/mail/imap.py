"""Reading a mailbox over IMAP with TLS: list, fetch raw bytes, move a message out of the way.

imapclient over the standard ``imaplib``: it parses FETCH responses into dicts, speaks MOVE
(RFC 6851) and falls back to COPY + \\Deleted + EXPUNGE, and takes an ``ssl.SSLContext`` for both
implicit TLS and STARTTLS. Plain-text IMAP is not offered: the password and appeals would cross
the network in the clear.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from imapclient import IMAPClient

from gateway.config import MailboxSettings

SIZE = b"RFC822.SIZE"
MESSAGE_ID_HEADER = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
BODY = b"BODY[]"


@dataclass(frozen=True, slots=True)
class Listed:
    uid: int
    size: int
    message_id_header: bytes


class Mailbox:
    """One logged-in session with the configured folder selected."""

    def __init__(self, client: IMAPClient, settings: MailboxSettings) -> None:
        self._client = client
        self.settings = settings

    def listing(self) -> list[Listed]:
        """Every message in the folder with its size, oldest first (the body is not fetched yet)."""
        uids = sorted(self._client.search(["ALL"]))
        if not uids:
            return []
        fetched = self._client.fetch(uids, [SIZE, "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        return [
            Listed(uid, int(data.get(SIZE, 0)), bytes(data.get(MESSAGE_ID_HEADER) or b""))
            for uid, data in sorted(fetched.items())
        ]

    def raw(self, uid: int) -> bytes | None:
        """The message exactly as stored on the server (PEEK: fetching does not mark it read)."""
        data = self._client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
        return None if data is None else bytes(data[BODY])

    def move(self, uid: int, folder: str) -> None:
        """Out of the polled folder, so the next poll does not fetch it again."""
        if not self._client.folder_exists(folder):
            self._client.create_folder(folder)
        if self._client.has_capability("MOVE"):
            self._client.move([uid], folder)
            return
        self._client.copy([uid], folder)
        self._client.add_flags([uid], [b"\\Deleted"])
        self._client.uid_expunge([uid]) if self._client.has_capability("UIDPLUS") else self._client.expunge()


def tls_context(settings: MailboxSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@contextmanager
def open_mailbox(settings: MailboxSettings, timeout: float) -> Iterator[Mailbox]:
    """Connect, secure, log in and select the folder; log out however the block ends."""
    context = tls_context(settings)
    implicit = settings.tls == "implicit"
    client = IMAPClient(settings.host, port=settings.port, ssl=implicit, ssl_context=context, timeout=timeout)
    try:
        if not implicit:
            client.starttls(context)
        client.login(settings.username, settings.secret())
        client.select_folder(settings.folder)
        yield Mailbox(client, settings)
    finally:
        try:
            client.logout()
        except Exception:
            client.shutdown()
