"""Access codes for the public status lookup: short enough to type, long enough not to guess.

Ten characters from an alphabet without look-alikes (no 0/O, 1/I/L) carry 50 bits; the lookup
is rate-limited and answers a wrong number and a wrong code the same way, so guessing is futile.
"""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10


def new_access_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    """What people type: lower case, spaces and dashes (``ab3k-7m2q-xp``) all mean the same code."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()
