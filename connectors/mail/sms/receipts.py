"""Delivery receipts: a bind of its own that waits for the SMSC's reports and hands each one over.

An SMSC tells whether a short message reached the handset in a ``deliver_sm`` whose ``esm_class``
says "SMSC delivery receipt" (0x04), sent to a receiver (or transceiver) bound with the same system
id, minutes to days after the submit. So receipts are not read after the submit by the delivery
worker (it would wait on them, or miss the late ones) but by this listener, one process per
account, bound as long as it runs: it answers ``enquire_link``, sends its own when the line is
quiet, and binds again after a lost connection (SMSCs keep receipts for an absent receiver).

A receipt that cannot be recorded (the database is away) is answered ``ESME_RX_T_APPN``, a
temporary error, so the SMSC offers it again later instead of it being lost.
"""

from __future__ import annotations

import logging
import re
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp

from connectors.mail.sms.smpp import SmscAccount, status_name

log = logging.getLogger(__name__)
RECEIPT = 0x04  # esm_class bits 2-5: SMSC delivery receipt
ESME_RX_T_APPN = 0x00000064  # temporary application error: "offer it again later"
# message_state TLV (SMPP 3.4, 5.2.28) -> the receipt text's stat: word
MESSAGE_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
                  7: "UNKNOWN", 8: "REJECTD"}  # fmt: skip
_FIELD = re.compile(r"(id|stat|err|done date):(\S+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    state: str
    error_code: str | None
    done_at: datetime | None


def parse_receipt(esm_class: int, short_message: bytes, receipted_message_id: str | bytes | None,
                  message_state: int | None) -> Receipt | None:  # fmt: skip
    """The receipt a ``deliver_sm`` carries, or None for anything else (a reply from a handset).

    SMPP 3.4 puts the message id and state in TLVs; the text of its appendix B (``id:… stat:…
    err:… done date:YYMMDDhhmm``) carries them too, and is all some SMSCs send. TLVs win.
    """
    if esm_class & 0x3C != RECEIPT:
        return None
    fields = {k.lower(): v for k, v in _FIELD.findall(short_message.decode("latin-1"))}
    if isinstance(receipted_message_id, bytes):
        receipted_message_id = receipted_message_id.decode("ascii", "replace")
    message_id = (receipted_message_id or "").rstrip("\0") or fields.get("id")
    state = MESSAGE_STATES.get(message_state or 0) or fields.get("stat", "UNKNOWN").upper()
    if not message_id:
        return None
    return Receipt(message_id, state[:16], fields.get("err"), _done_at(fields.get("done date")))


def _done_at(value: str | None) -> datetime | None:
    """``YYMMDDhhmm`` (appendix B), or with seconds as some SMSCs write it; taken as UTC."""
    layout = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}.get(len(value or ""))
    if layout is None or not (value or "").isdigit():
        return None
    try:
        return datetime.strptime(str(value), layout).replace(tzinfo=UTC)
    except ValueError:
        return None


class ReceiptListener:
    """Keeps a receiver bind to ``account``'s SMSC and passes each receipt to ``record``.

    ``record`` raising means "not recorded": the SMSC is told to offer it again.
    """

    def __init__(
        self,
        account: SmscAccount,
        record: Callable[[Receipt], None],
        *,
        bind: str = "receiver",
        enquire_every: float = 30.0,
        max_backoff: float = 60.0,
    ) -> None:
        if bind not in ("receiver", "transceiver"):
            raise ValueError("bind must be receiver or transceiver")
        self._account = account
        self._record = record
        self._bind = bind
        self._enquire_every = enquire_every
        self._max_backoff = max_backoff
        self.receipts = 0
        self.bound = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Listen until ``stop`` is set, binding again (with backoff) whenever the line drops."""
        backoff = 1.0
        while not stop.is_set():
            try:
                self._serve(stop)
                backoff = 1.0
            except exceptions.PDUError as exc:
                status = int(exc.args[1]) if len(exc.args) > 1 else None
                log.warning(
                    "SMSC refused the receipt bind: %s", status_name(status) if status else "PDU error"
                )
            except (exceptions.ConnectionError, OSError) as exc:
                log.warning("receipt listener lost the SMSC (%s); binding again", type(exc).__name__)
            self.bound.clear()
            stop.wait(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _serve(self, stop: threading.Event) -> None:
        account = self._account
        client = smpp_client.Client(
            account.host, account.port, timeout=account.timeout, ssl_context=account.client_tls(),
            allow_unknown_opt_params=True, logger_name="smpplib.client",
        )  # fmt: skip
        client.set_message_received_handler(self._received)
        try:
            client.connect()
            getattr(client, f"bind_{self._bind}")(
                system_id=account.system_id, password=account.password, system_type=account.system_type
            )
            log.info("receipt listener bound as %s", self._bind)
            self.bound.set()
            quiet_since = time.monotonic()
            while not stop.is_set():
                sock = client._socket  # smpplib keeps it private; select needs it
                pending = getattr(sock, "pending", lambda: 0)()  # TLS may hold decrypted bytes
                if pending or select.select([sock], [], [], 0.2)[0]:
                    client.read_once(auto_send_enquire_link=False)
                    quiet_since = time.monotonic()
                    if client.state == consts.SMPP_CLIENT_STATE_OPEN:  # the SMSC unbound us
                        raise exceptions.ConnectionError("unbound by the SMSC")
                elif time.monotonic() - quiet_since > self._enquire_every:
                    client.send_pdu(smpp.make_pdu("enquire_link", client=client))
                    quiet_since = time.monotonic()
            _unbind(client)
        finally:
            client.disconnect()

    def _received(self, pdu: object, **_: object) -> int:
        """smpplib's handler for ``deliver_sm``: the status its ``deliver_sm_resp`` carries."""
        receipt = parse_receipt(
            int(getattr(pdu, "esm_class", 0) or 0),
            getattr(pdu, "short_message", b"") or b"",
            getattr(pdu, "receipted_message_id", None),
            getattr(pdu, "message_state", None),
        )
        if receipt is None:  # a reply from a handset: nobody reads them here
            log.info("SMSC delivered a message that is not a receipt; ignored")
            return consts.SMPP_ESME_ROK
        try:
            self._record(receipt)
        except Exception:  # any failure to record: the SMSC keeps it and offers it again
            log.exception(
                "receipt for SMSC message %s not recorded; asked the SMSC to retry", receipt.message_id
            )
            return ESME_RX_T_APPN
        self.receipts += 1
        log.info("receipt for SMSC message %s: %s", receipt.message_id, receipt.state)
        return consts.SMPP_ESME_ROK


def _unbind(client: smpp_client.Client) -> None:
    try:
        client.unbind()
    except (exceptions.ConnectionError, exceptions.PDUError, OSError):
        log.info("the SMSC closed the connection before answering unbind")
