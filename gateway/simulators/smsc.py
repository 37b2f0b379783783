"""A fake SMSC speaking SMPP 3.4 on a real socket, written from the specification (not smpplib).

The hub's SMS connector is a client of an operator's SMSC; this is the other side, small enough to
read and strict enough to catch a wrong PDU: it decodes every PDU byte by byte (header, mandatory
fields in order, TLVs), refuses a bind with wrong credentials (``ESME_RINVPASWD``), answers
``submit_sm`` with a message id, and sends delivery receipts (``deliver_sm`` with ``esm_class``
0x04, the receipt text of the spec's appendix B plus the ``receipted_message_id`` and
``message_state`` TLVs) to a receiver or transceiver bound with the same system id — at once if
one is bound, else when one binds, as SMSCs keep receipts for an absent receiver. For tests it can
also misbehave: throttle the first K submits or chosen ones (``ESME_RTHROTTLED``), refuse
destinations, send no receipts, take submits without a word, or accept them without an id.

A stdlib ``ThreadingTCPServer`` on a daemon thread, one thread per connection::

    with FakeSmsc(system_id="hub", password="secret") as smsc:
        ...connect to smsc.host, smsc.port...
        smsc.submitted[0].short_message

Out of process: ``python -m gateway.simulators.smsc --port 2775 --system-id hub --password secret``
prints each submitted message (destination and decoded text) on standard output.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import signal
import socket
import socketserver
import ssl
import struct
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

# command ids (SMPP 3.4, 5.1.2.1)
GENERIC_NACK = 0x80000000
BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x00000001, 0x00000002, 0x00000009
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x00000004, 0x00000005, 0x00000006, 0x00000015
RESP = 0x80000000
BINDS = {BIND_RECEIVER: "receiver", BIND_TRANSMITTER: "transmitter", BIND_TRANSCEIVER: "transceiver"}

# command_status values (5.1.3)
ESME_ROK = 0x00000000
ESME_RINVCMDLEN = 0x00000002
ESME_RINVCMDID = 0x00000003
ESME_RINVBNDSTS = 0x00000004
ESME_RALYBND = 0x00000005
ESME_RINVDSTADR = 0x0000000B
ESME_RINVPASWD = 0x0000000E
ESME_RTHROTTLED = 0x00000058

# TLV tags (5.3.2)
TAG_SAR_MSG_REF_NUM, TAG_SAR_TOTAL_SEGMENTS, TAG_SAR_SEGMENT_SEQNUM = 0x020C, 0x020E, 0x020F
TAG_RECEIPTED_MESSAGE_ID, TAG_MESSAGE_STATE, TAG_SC_INTERFACE_VERSION = 0x001E, 0x0427, 0x0210
MESSAGE_STATES = {
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}

MAX_PDU = 64 * 1024


class PduError(ValueError):
    """A PDU that does not follow the specification; the SMSC answers it with ``generic_nack``."""


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """One ``submit_sm`` as taken, every mandatory field decoded, TLVs by tag, plus its raw bytes."""

    message_id: str
    system_id: str
    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    protocol_id: int
    priority_flag: int
    schedule_delivery_time: str
    validity_period: str
    registered_delivery: int
    replace_if_present_flag: int
    data_coding: int
    sm_default_msg_id: int
    short_message: bytes
    tlvs: dict[int, bytes]
    raw: bytes

    @property
    def udh(self) -> bytes:
        """The user data header when ``esm_class`` has UDHI (0x40), else empty."""
        if not self.esm_class & 0x40:
            return b""
        return self.short_message[: self.short_message[0] + 1]

    @property
    def user_data(self) -> bytes:
        return self.short_message[len(self.udh) :]

    @property
    def text(self) -> str:
        """The part's text: UCS-2 (data_coding 8) as UTF-16BE, the GSM default alphabet as ASCII."""
        if self.data_coding == 0x08:
            return self.user_data.decode("utf-16-be")
        return self.user_data.decode("ascii")


@dataclass(slots=True)
class _Session:
    handler: _Handler
    mode: str | None = None
    system_id: str | None = None
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    sequence: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def receives(self) -> bool:
        return self.mode in ("receiver", "transceiver")

    def send(self, command_id: int, status: int, sequence: int, body: bytes = b"") -> None:
        pdu = struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body
        with self.write_lock:
            self.handler.request.sendall(pdu)


class FakeSmsc:
    """The fake SMSC; ``port=0`` picks a free port (see ``port`` once constructed)."""

    def __init__(
        self,
        *,
        system_id: str = "hub",
        password: str = "secret",  # noqa: S107 (a fake SMSC's default account, for tests)
        host: str = "127.0.0.1",
        port: int = 0,
        throttle_first: int = 0,
        throttle_submits: tuple[int, ...] = (),
        refuse_destinations: tuple[str, ...] = (),
        receipts: str | None = "DELIVRD",
        answer_submits: bool = True,
        message_ids: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.credentials = (system_id, password)
        # refuse the first K submits, and these (1 for the first submit_sm received) with ESME_RTHROTTLED
        self.throttle = set(range(1, throttle_first + 1)) | set(throttle_submits)
        self.submits = 0
        self.refuse_destinations = refuse_destinations
        self.receipts = receipts  # the final state each receipt reports; None sends none
        self.answer_submits = answer_submits  # False: take submits and say nothing (a hung SMSC)
        self.message_ids = message_ids  # False: accept with an empty message id, as Kannel's drive_smpp does
        self.tls = tls  # a server context: every connection is TLS from the first byte (SMPP over TLS)
        self.submitted: list[ShortMessage] = []
        self.throttled = 0
        self.binds: list[tuple[str, str, int]] = []  # (mode, system_id, status)
        self.receipts_acknowledged: list[str] = []  # receipted message ids the ESME answered ROK
        self.errors: list[str] = []  # malformed PDUs received
        self._lock = threading.Lock()
        self._sessions: list[_Session] = []
        self._pending: list[tuple[str, bytes]] = []  # (message id, receipt body) waiting for a receiver
        self._awaiting: dict[int, str] = {}  # deliver_sm sequence -> the message id its receipt names
        self._ids = itertools.count(1)
        self._server = socketserver.ThreadingTCPServer((host, port), _Handler, bind_and_activate=False)
        self._server.allow_reuse_address = True
        self._server.daemon_threads = True
        self._server.server_bind()
        self._server.server_activate()
        self._server.smsc = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-smsc", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_connections(self) -> None:
        """Close every ESME's connection without a word, as a restarting SMSC or a network cut does."""
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            with contextlib.suppress(OSError):
                session.handler.request.shutdown(socket.SHUT_RDWR)

    def receivers(self) -> int:
        with self._lock:
            return sum(1 for s in self._sessions if s.receives)

    # --- the protocol ----------------------------------------------------------------------------

    def _bind(self, session: _Session, command_id: int, sequence: int, body: bytes) -> None:
        reader = _Reader(body)
        system_id, password = reader.cstring(16), reader.cstring(9)
        reader.cstring(13)  # system_type
        interface_version = reader.byte()
        reader.byte(), reader.byte(), reader.cstring(41)  # addr_ton, addr_npi, address_range
        reader.tlvs()
        mode = BINDS[command_id]
        if session.mode is not None:
            status = ESME_RALYBND
        elif (system_id, password) != self.credentials or interface_version not in (0x33, 0x34):
            status = ESME_RINVPASWD
        else:
            status = ESME_ROK
        with self._lock:
            self.binds.append((mode, system_id, status))
        if status != ESME_ROK:  # 4.1.2: no body with an error status
            session.send(command_id | RESP, status, sequence)
            return
        session.mode, session.system_id = mode, system_id
        resp = _cstring("fake-smsc") + struct.pack(">HHB", TAG_SC_INTERFACE_VERSION, 1, 0x34)
        session.send(command_id | RESP, ESME_ROK, sequence, resp)
        if session.receives:
            self._flush_receipts(session)

    def _submit(self, session: _Session, sequence: int, raw: bytes, body: bytes) -> None:
        if session.mode not in ("transmitter", "transceiver"):
            session.send(SUBMIT_SM | RESP, ESME_RINVBNDSTS, sequence)
            return
        message = _parse_submit(body, raw, session.system_id or "", message_id="")
        if not self.answer_submits:
            return
        with self._lock:
            self.submits += 1
            if self.submits in self.throttle:
                self.throttled += 1
                status = ESME_RTHROTTLED
            elif message.destination_addr in self.refuse_destinations:
                status = ESME_RINVDSTADR
            else:
                status = ESME_ROK
                message_id = f"{next(self._ids):08X}"
                message = _parse_submit(body, raw, session.system_id or "", message_id=message_id)
                self.submitted.append(message)
        if status != ESME_ROK:
            session.send(SUBMIT_SM | RESP, status, sequence)
            return
        session.send(SUBMIT_SM | RESP, ESME_ROK, sequence, _cstring(message_id if self.message_ids else ""))
        if message.registered_delivery & 0x01 and self.receipts:
            self._queue_receipt(message, self.receipts)

    def send_receipt(self, message: ShortMessage, state: str) -> None:
        """Report ``state`` (DELIVRD, UNDELIV, EXPIRED…) for a message taken earlier."""
        self._queue_receipt(message, state)

    def _queue_receipt(self, message: ShortMessage, state: str) -> None:
        with self._lock:
            self._pending.append((message.message_id, _receipt_body(message, state)))
            receiver = next(
                (s for s in self._sessions if s.receives and s.system_id == message.system_id), None
            )
        if receiver is not None:
            self._flush_receipts(receiver)

    def _flush_receipts(self, session: _Session) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for message_id, body in pending:
            sequence = next(session.sequence) + 0x10000
            with self._lock:
                self._awaiting[sequence] = message_id
            session.send(DELIVER_SM, ESME_ROK, sequence, body)

    def _delivered(self, sequence: int, status: int) -> None:
        """A ``deliver_sm_resp``: note which receipt the ESME took (its message_id field is unused)."""
        with self._lock:
            message_id = self._awaiting.pop(sequence, None)
            if status == ESME_ROK and message_id is not None:
                self.receipts_acknowledged.append(message_id)


class _Handler(socketserver.BaseRequestHandler):
    """One ESME connection: read a PDU, act, until unbind or the peer goes away."""

    def handle(self) -> None:
        smsc: FakeSmsc = self.server.smsc  # type: ignore[attr-defined]
        if smsc.tls is not None:  # the handshake in this connection's thread, not the accepting one
            try:
                self.request = smsc.tls.wrap_socket(self.request, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                with smsc._lock:
                    smsc.errors.append(f"TLS: {type(exc).__name__}")
                return
        session = _Session(self)
        with smsc._lock:
            smsc._sessions.append(session)
        try:
            while (pdu := _read_pdu(self.request)) is not None:
                if not self._act(smsc, session, *pdu):
                    break
        except (OSError, PduError) as exc:
            with smsc._lock:
                smsc.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with smsc._lock:
                smsc._sessions.remove(session)

    @staticmethod
    def _act(smsc: FakeSmsc, session: _Session, raw: bytes, command_id: int, status: int, seq: int) -> bool:
        body = raw[16:]
        if command_id in BINDS:
            smsc._bind(session, command_id, seq, body)
        elif command_id == SUBMIT_SM:
            try:
                smsc._submit(session, seq, raw, body)
            except PduError as exc:
                with smsc._lock:
                    smsc.errors.append(str(exc))
                session.send(GENERIC_NACK, ESME_RINVCMDLEN, seq)
        elif command_id == ENQUIRE_LINK:
            session.send(ENQUIRE_LINK | RESP, ESME_ROK, seq)
        elif command_id == UNBIND:
            session.send(UNBIND | RESP, ESME_ROK, seq)
            return False
        elif command_id == DELIVER_SM | RESP:
            smsc._delivered(seq, status)
        elif not command_id & RESP:
            session.send(GENERIC_NACK, ESME_RINVCMDID, seq)
        return True


# --- PDU encoding, after SMPP 3.4 section 3 --------------------------------------------------------


class _Reader:
    """Mandatory fields in order: C-Octet Strings of a bounded size, integers, then TLVs."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def cstring(self, max_size: int) -> str:
        end = self.data.find(b"\0", self.at)
        if end < 0 or end - self.at + 1 > max_size:
            raise PduError(f"C-Octet String at {self.at} unterminated or longer than {max_size}")
        value, self.at = self.data[self.at : end], end + 1
        return value.decode("ascii")

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise PduError("PDU body ends early")
        self.at += 1
        return self.data[self.at - 1]

    def octets(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise PduError("PDU body ends early")
        self.at += n
        return self.data[self.at - n : self.at]

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self.at < len(self.data):
            tag, length = struct.unpack(">HH", self.octets(4))
            found[tag] = self.octets(length)
        return found


def _read_pdu(sock: socket.socket) -> tuple[bytes, int, int, int] | None:
    head = _recv(sock, 16)
    if head is None:
        return None
    length, command_id, status, sequence = struct.unpack(">IIII", head)
    if not 16 <= length <= MAX_PDU:
        raise PduError(f"command_length {length}")
    body = _recv(sock, length - 16) if length > 16 else b""
    if body is None:
        raise PduError("connection closed inside a PDU")
    return head + body, command_id, status, sequence


def _recv(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _parse_submit(body: bytes, raw: bytes, system_id: str, *, message_id: str) -> ShortMessage:
    r = _Reader(body)
    fields = {
        "service_type": r.cstring(6),
        "source_addr_ton": r.byte(),
        "source_addr_npi": r.byte(),
        "source_addr": r.cstring(21),
        "dest_addr_ton": r.byte(),
        "dest_addr_npi": r.byte(),
        "destination_addr": r.cstring(21),
        "esm_class": r.byte(),
        "protocol_id": r.byte(),
        "priority_flag": r.byte(),
        "schedule_delivery_time": r.cstring(17),
        "validity_period": r.cstring(17),
        "registered_delivery": r.byte(),
        "replace_if_present_flag": r.byte(),
        "data_coding": r.byte(),
        "sm_default_msg_id": r.byte(),
    }
    sm_length = r.byte()
    if sm_length > 254:
        raise PduError(f"sm_length {sm_length}")
    short_message = r.octets(sm_length)
    tlvs = r.tlvs()
    return ShortMessage(message_id, system_id, **fields, short_message=short_message, tlvs=tlvs, raw=raw)


def _cstring(value: str) -> bytes:
    return value.encode("ascii") + b"\0"


def _receipt_body(message: ShortMessage, state: str) -> bytes:
    """A deliver_sm carrying a receipt for ``message`` (appendix B text, and the 3.4 TLVs)."""
    now = datetime.now(UTC).strftime("%y%m%d%H%M")
    delivered = "001" if state == "DELIVRD" else "000"
    text = (
        f"id:{message.message_id} sub:001 dlvrd:{delivered} submit date:{now} done date:{now} "
        f"stat:{state} err:{'000' if state == 'DELIVRD' else '001'} text:"
    ).encode("ascii")
    body = b"".join(
        (
            _cstring(""),  # service_type
            bytes((message.dest_addr_ton, message.dest_addr_npi)),
            _cstring(message.destination_addr),  # the receipt comes from the handset's address
            bytes((message.source_addr_ton, message.source_addr_npi)),
            _cstring(message.source_addr),
            bytes((0x04, 0, 0)),  # esm_class: SMSC delivery receipt; protocol_id; priority_flag
            _cstring(""),
            _cstring(""),  # schedule_delivery_time, validity_period
            bytes((0, 0, 0, 0, len(text))),  # registered_delivery … data_coding, sm_default_msg_id
            text,
        )
    )
    receipted = _cstring(message.message_id)
    body += struct.pack(">HH", TAG_RECEIPTED_MESSAGE_ID, len(receipted)) + receipted
    body += struct.pack(">HHB", TAG_MESSAGE_STATE, 1, MESSAGE_STATES.get(state, 7))
    return body


def _spool(path: Path, message: ShortMessage) -> None:
    """One part as a JSON line: the handset's number, its text, and where it sits in its SMS (the
    concatenation header's reference, part and count; 0, 1, 1 for a text in one part)."""
    udh = message.udh
    reference, parts, part = (udh[3], udh[4], udh[5]) if len(udh) >= 6 else (0, 1, 1)
    line = {"message_id": message.message_id, "to": message.destination_addr, "text": message.text,
            "reference": reference, "part": part, "parts": parts}  # fmt: skip
    with path.open("a", encoding="utf-8") as spool:
        spool.write(json.dumps(line, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--system-id", default="hub")
    parser.add_argument("--password", default="secret")
    parser.add_argument(
        "--spool", type=Path, help="append each part taken here, one JSON line (what `make run` reads)"
    )
    args = parser.parse_args()
    smsc = FakeSmsc(system_id=args.system_id, password=args.password, host=args.host, port=args.port).start()
    print(f"fake SMSC on {smsc.host}:{smsc.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    shown = 0
    while not stop.wait(0.5):
        for message in smsc.submitted[shown:]:
            print(f"{message.message_id} to {message.destination_addr}: {message.text!r}", flush=True)
            if args.spool is not None:
                _spool(args.spool, message)
        shown = len(smsc.submitted)
    smsc.stop()


if __name__ == "__main__":
    main()
