"""Short-message encoding: the GSM 7-bit default alphabet when the text allows it, else UCS-2,
cut into parts that a handset joins again by a concatenation header (3GPP TS 23.040, 9.2.3.24.1).

One part carries 140 octets: 160 GSM characters or 70 UCS-2 code units. A concatenated part
gives 6 octets to its user data header (IEI 0x00, an 8-bit reference, the count, the part's
number), leaving 153 GSM characters (the header's 48 bits plus one fill bit take 7 septets) or 67
UCS-2 code units. Russian and Belarusian need UCS-2, so a notification is written to fit 201 code
units: three parts at most, each billed by the operator.

UDH rather than the SAR TLVs of SMPP 3.4: every SMSC passes a header in the message through to the
handset, while SAR support varies by operator. The reference is derived from the outbox message,
so a retry after a partly accepted submission continues with the header the handset already has.
GSM text is sent unpacked, one septet per octet, as SMPP's ``data_coding`` 0 asks.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM = 0x00
UCS2 = 0x08
UDHI = 0x40
MAX_PARTS = 3

# GSM 03.38 default alphabet, by code point 0x00-0x7F, and its extension table (ESC 0x1B + code).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
                 "|": 0x40, "€": 0x65}  # fmt: skip
_GSM_INDEX = {ch: i for i, ch in enumerate(GSM_BASIC) if ch != "\x1b"}
# (octets of one whole message, octets of a concatenated part's text) per coding
_LIMITS = {GSM: (160, 153), UCS2: (140, 134)}


class TooLong(ValueError):
    """The text needs more than :data:`MAX_PARTS` parts."""

    def __init__(self, parts: int) -> None:
        super().__init__(f"the text needs {parts} parts; at most {MAX_PARTS} are sent")
        self.parts = parts


@dataclass(frozen=True, slots=True)
class EncodedText:
    """What goes into ``submit_sm``: ``data_coding``, ``esm_class`` and one ``short_message`` per part."""

    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]


def gsm_units(text: str) -> list[bytes] | None:
    """Each character as its GSM septets (two for the extension table), or None if one has none."""
    units = []
    for ch in text:
        if ch in _GSM_INDEX:
            units.append(bytes((_GSM_INDEX[ch],)))
        elif ch in GSM_EXTENSION:
            units.append(bytes((0x1B, GSM_EXTENSION[ch])))
        else:
            return None
    return units


def ucs2_units(text: str) -> list[bytes]:
    """Each character as its UTF-16BE code units: a character outside the BMP stays one unit of
    four octets, so a cut never separates a surrogate pair."""
    return [ch.encode("utf-16-be") for ch in text]


def encode(text: str, reference: int) -> EncodedText:
    """``text`` as one part, or as concatenated parts with header reference ``reference`` mod 256."""
    gsm = gsm_units(text)
    coding, units = (GSM, gsm) if gsm is not None else (UCS2, ucs2_units(text))
    whole, per_part = _LIMITS[coding]
    encoded = b"".join(units)
    if len(encoded) <= whole:
        return EncodedText(coding, 0, (encoded,))
    chunks = _cut(units, per_part)
    if len(chunks) > MAX_PARTS:
        raise TooLong(len(chunks))
    header = bytes((0x05, 0x00, 0x03, reference % 256, len(chunks)))
    return EncodedText(
        coding, UDHI, tuple(header + bytes((n,)) + chunk for n, chunk in enumerate(chunks, start=1))
    )


def parts_needed(text: str) -> int:
    """How many parts ``text`` takes (for composing within :data:`MAX_PARTS`)."""
    gsm = gsm_units(text)
    coding, units = (GSM, gsm) if gsm is not None else (UCS2, ucs2_units(text))
    whole, per_part = _LIMITS[coding]
    return 1 if sum(map(len, units)) <= whole else len(_cut(units, per_part))


def _cut(units: list[bytes], size: int) -> list[bytes]:
    """Consecutive chunks of at most ``size`` octets, never cutting inside a unit."""
    chunks: list[bytes] = []
    current = b""
    for unit in units:
        if len(current) + len(unit) > size:
            chunks.append(current)
            current = b""
        current += unit
    if current:
        chunks.append(current)
    return chunks
