"""A local Maildir read the way the poller reads an IMAP mailbox (list, fetch raw bytes, move).

For `appeals-gateway demo` on a laptop: `make run` starts no IMAP server (a fresh machine has only
Python), so the demo drops its e-mails into a Maildir under ``var/dev`` and files them through the
same ``incoming_mail.poll`` the IMAP poller runs, with this in place of ``imap.open_mailbox``. A
deployment reads its mailboxes over IMAP only (``GATEWAY_MAIL_MAILBOXES``); this is not offered
there.
"""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from connectors.mail.imap import Listed
from gateway.config import MailboxSettings


class MaildirMailbox:
    """The folder ``root`` (``new`` and ``cur``), messages numbered in the order of their keys."""

    def __init__(self, root: Path, settings: MailboxSettings) -> None:
        self._box = mailbox.Maildir(root, create=True)
        self._keys = sorted(self._box.keys())
        self.settings = settings

    def listing(self) -> list[Listed]:
        listed = []
        for uid, key in enumerate(self._keys, start=1):
            raw = self._box.get_bytes(key)
            message_id = self._box.get_message(key)["Message-ID"] or ""
            listed.append(Listed(uid, len(raw), b"Message-ID: " + str(message_id).encode("ascii", "replace")))
        return listed

    def raw(self, uid: int) -> bytes | None:
        try:
            return self._box.get_bytes(self._keys[uid - 1])
        except (IndexError, KeyError):
            return None

    def move(self, uid: int, folder: str) -> None:
        key = self._keys[uid - 1]
        target = (
            self._box.get_folder(folder)
            if folder in self._box.list_folders()
            else self._box.add_folder(folder)
        )
        target.add(self._box.get_bytes(key))
        self._box.remove(key)


def maildir_opener(root: Path) -> Callable[[MailboxSettings, float], AbstractContextManager[MaildirMailbox]]:
    """An opener for ``incoming_mail.poll`` that reads ``root`` whatever the settings name."""

    @contextmanager
    def opened(settings: MailboxSettings, timeout: float) -> Iterator[MaildirMailbox]:
        yield MaildirMailbox(root, settings)

    return opened
