"""The one rule for text from outside: which strings the hub takes at all, whatever the face or field.

Every string a client sends (a JSON member, a query or path parameter, a header read as data, a
multipart part's name, a SOAP element's text, a command-line argument) is held to this rule once,
where it enters, before any handler sees it; fields then add their own rules (formats, shorter
limits) in the domain. A refusal is ``invalid-request`` with the field's pointer.

Refused characters: everything XML 1.0 cannot carry (its ``Char`` production), that is

- NUL (U+0000): PostgreSQL's ``text`` cannot hold it, so it used to fail the insert as a 500;
- UTF-16 surrogates (U+D800–U+DFFF): not characters; UTF-8 cannot encode them, so neither psycopg
  nor a log line can. They arrive as JSON escapes (``"\\ud800"``) and as undecodable bytes of a
  command line (Python's ``surrogateescape``);
- the other C0 controls but TAB, LF and CR (U+0001–U+0008, U+000B, U+000C, U+000E–U+001F), and the
  non-characters U+FFFE and U+FFFF. PostgreSQL and JSON would take these, but the hub writes what
  it stores back out as XML (the SOAP face's messages, the cabinet's and push agencies' callbacks),
  and lxml refuses them there: one accepted over REST would fail every later pull of that message,
  for an agency that did nothing wrong. Refusing them on entry also makes the REST face take exactly
  the text the SOAP face can (an XML parser refuses them before the hub sees them). No legitimate
  free text needs them; TAB, LF and CR stay allowed, multi-line reasons and comments use them.

DEL, the C1 controls, bidirectional marks, emoji and every other assigned or unassigned code point
stay allowed: they are valid in PostgreSQL, JSON and XML alike, and a citizen's text may hold them.

Length: no string longer than :data:`MAX_CHARS` characters. Fields carry shorter limits of their
own (2000 for free text); this bound is for the fields that have none (query parameters, ids an
operator looks up), so no value of unbounded size reaches a query. Documents that are not text
fields (a signed XML envelope, base64 attachments) are bounded by their byte limits instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.domain.errors import Code, Rejection

MAX_CHARS = 10_000
# The complement of XML 1.0's Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF],
# as inclusive ranges of code points: the one statement of the rule, which the REST contract also
# publishes (as a JSON Schema ``pattern``, gateway/faces/rest/contract.py).
REFUSED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0008),  # NUL and the C0 controls before TAB
    (0x000B, 0x000C),  # VT, FF
    (0x000E, 0x001F),  # the C0 controls after CR
    (0xD800, 0xDFFF),  # UTF-16 surrogates
    (0xFFFE, 0xFFFF),  # non-characters
)
_REFUSED = re.compile("[" + "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in REFUSED_RANGES) + "]")


def refused_character(value: str) -> str | None:
    """The first refused character as ``U+XXXX``, or ``None`` when every character is allowed."""
    found = _REFUSED.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def check(value: str, pointer: str, max_chars: int = MAX_CHARS) -> str:
    """``value`` itself when the rule allows it; else a ``Rejection`` naming the field, not its content."""
    bad = refused_character(value)
    if bad is not None:
        raise Rejection(
            Code.INVALID_REQUEST,
            f"the text holds a character the hub does not accept ({bad}; control characters other "
            "than tab and line breaks, NUL and UTF-16 surrogates are refused)",
            pointer,
        )
    if len(value) > max_chars:
        raise Rejection(Code.INVALID_REQUEST, f"the text is longer than {max_chars} characters", pointer)
    return value


def check_tree(value: Any, pointer: str = "") -> None:
    """Hold every string in a decoded JSON value (members' names too) to the rule.

    The pointer is RFC 6901's (``/acks/3/reason``); a refused member name is reported at the
    object that holds it, since the name cannot be written into a pointer safely. Walked with a
    stack of its own, not by recursion: a client chooses how deep its JSON nests.
    """
    pending: list[tuple[Any, str]] = [(value, pointer)]
    while pending:
        item, at = pending.pop()
        if isinstance(item, str):
            check(item, at or "/")
        elif isinstance(item, Mapping):
            for key, member in item.items():
                if isinstance(key, str):
                    check(key, at or "/")
                    pending.append((member, f"{at}/{escape_pointer(key)}"))
        elif isinstance(item, Sequence) and not isinstance(item, bytes | bytearray):
            pending.extend((element, f"{at}/{index}") for index, element in enumerate(item))


def escape_pointer(token: str) -> str:
    """One reference token of a JSON pointer (RFC 6901: ``~`` → ``~0``, ``/`` → ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def scrubbed(value: str, max_chars: int = MAX_CHARS) -> str:
    """``value`` made storable for the hub's own records (a refusal's path or detail): refused
    characters become U+FFFD and the text is cut at ``max_chars``. Never for a client's field:
    those are refused, not altered."""
    return _REFUSED.sub("\ufffd", value[:max_chars])
