"""The SMS connector (``applicant-sms``): one notification, one short message, over SMPP 3.4.

It is handed the notification payload the service writes for each lifecycle event an applicant
asked to hear of by SMS::

    {"appeal_id", "seq", "type": "registered" | "redirected" | "extended" | "answered"
     | "declined" | "closed" | "withdrawn", "state", "at", "details": {public facts},
     "appeal": {"state", "agency": {"code", "name"}, "registration": {...}?, "registrations": [...],
     "history": [...]}, "access_code"?, "to": "+7XXXXXXXXXX", "language": "ru" | "be",
     "lookup_url": "https://…/status?number=…"}

composes the text (:mod:`.text`), encodes it (:mod:`.encoding`), connects to the operator's SMSC,
binds as a transmitter and submits each part with ``registered_delivery`` 1, so the SMSC reports
the outcome in a delivery receipt (:mod:`.receipts` takes those, on a bind of its own). The
delivery is done when the SMSC accepted every part; each accepted part's message id is written to
the :class:`SubmissionLog` at once, so a retry after a partial failure submits only what is
missing and a receipt can be matched to its notification.

One connection per delivery: a few hundred notifications a day do not need a bind kept open, and
a fresh bind never inherits a half-dead connection. SMPP has no idempotency key: an SMSC that
accepted a part but whose answer was lost gets it again on retry, and the applicant may read a
line twice; that is the price of never losing one.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp

from connectors.mail.sms import APPLICANT_SMS  # noqa: F401 (the name, beside its connector)
from connectors.mail.sms.encoding import EncodedText, TooLong, encode
from connectors.mail.sms.smpp import SmscAccount, bind_failure, status_name, submit_failure, tls_refused
from connectors.mail.sms.text import UnknownEvent, compose
from gateway.domain.delivery import DeliveryError, OutgoingMessage

log = logging.getLogger(__name__)
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
INTERNATIONAL, ISDN = 1, 1  # TON and NPI of an E.164 destination


class SubmissionLog(Protocol):
    """Where accepted parts are written (``gateway.adapters.db.sms.SmsSubmissions``)."""

    def accepted(self, outbox_id: int) -> dict[int, str]:
        """The parts of this outbox message the SMSC accepted earlier: part number -> message id."""
        ...

    def record(self, outbox_id: int, part: int, parts: int, message_id: str) -> None:
        """Write at once (committed) that the SMSC accepted ``part`` of ``parts`` as ``message_id``
        (empty when the SMSC gave none)."""
        ...


class SmppConnector:
    """Submits applicant notifications to ``account``'s SMSC."""

    def __init__(self, account: SmscAccount, submissions: SubmissionLog | None = None) -> None:
        self._account = account
        self._submissions = submissions

    def deliver(self, message: OutgoingMessage) -> None:
        destination = str(message.payload.get("to") or "")
        if not E164.fullmatch(destination):
            raise DeliveryError("the applicant's phone number is not in E.164 form", permanent=True)
        try:
            encoded = encode(compose(message.payload), reference=message.id)
        except UnknownEvent as exc:
            raise DeliveryError(f"no SMS text for event {exc}", permanent=True) from None
        except TooLong as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        done = self._submissions.accepted(message.id) if self._submissions else {}
        if len(done) == len(encoded.parts):  # an attempt lost after the SMSC took every part
            log.info("SMS for outbox message %d was submitted by an earlier attempt", message.id)
            return
        client = smpp_client.Client(
            self._account.host, self._account.port, timeout=self._account.timeout,
            ssl_context=self._account.client_tls(), allow_unknown_opt_params=True,
            logger_name="smpplib.client",
        )  # fmt: skip
        try:
            self._bind(client)
            try:
                for part, short_message in enumerate(encoded.parts, start=1):
                    if part in done:
                        continue
                    message_id = self._submit(client, encoded, part, short_message, destination[1:])
                    if self._submissions is not None:
                        self._submissions.record(message.id, part, len(encoded.parts), message_id)
                    done[part] = message_id
            except DeliveryError:  # the SMSC answered with a refusal: it is there to say goodbye to
                _unbind(client)
                raise
            _unbind(client)
        except TimeoutError:
            raise DeliveryError(f"the SMSC did not answer within {self._account.timeout:g} s") from None
        except (exceptions.ConnectionError, OSError) as exc:  # refused, reset, TLS errors
            if tls_refused(exc):  # only an operator's change (GATEWAY_SMPP_CA, the SMSC's cert) helps
                raise DeliveryError("the SMSC's certificate does not verify", permanent=True) from None
            raise DeliveryError(f"could not reach the SMSC ({type(exc).__name__})") from None
        finally:
            client.disconnect()
        log.info(
            "SMS for outbox message %d submitted in %d part(s), message ids %s",
            message.id, len(encoded.parts), ",".join(done[p] for p in sorted(done)),
        )  # fmt: skip

    def _bind(self, client: smpp_client.Client) -> None:
        account = self._account
        client.connect()
        try:
            client.bind_transmitter(
                system_id=account.system_id, password=account.password, system_type=account.system_type
            )
        except exceptions.PDUError as exc:
            if len(exc.args) > 1:
                raise bind_failure(int(exc.args[1])) from None
            raise DeliveryError("the SMSC's answer to the bind was not SMPP", permanent=True) from None

    def _submit(
        self, client: smpp_client.Client, encoded: EncodedText, part: int, short_message: bytes, to: str
    ) -> str:
        """Submit one part; the SMSC's message id, or DeliveryError for its refusal."""
        account = self._account
        pdu = client.send_message(
            source_addr_ton=account.source_addr_ton, source_addr_npi=account.source_addr_npi,
            source_addr=account.source_addr,
            dest_addr_ton=INTERNATIONAL, dest_addr_npi=ISDN, destination_addr=to,
            esm_class=encoded.esm_class, data_coding=encoded.data_coding, short_message=short_message,
            registered_delivery=consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH,
            validity_period=_relative_validity(account.validity_hours),
        )  # fmt: skip
        resp = _response_to(client, pdu.sequence)
        if resp.status != consts.SMPP_ESME_ROK:
            raise submit_failure(int(resp.status), part, len(encoded.parts))
        message_id = (
            resp.message_id.decode("ascii", "replace")
            if isinstance(resp.message_id, bytes)
            else str(resp.message_id or "")
        )
        if not message_id:  # accepted all the same (Kannel's drive_smpp answers so); only unmatchable
            log.warning("the SMSC accepted part %d of %d without a message id: no receipt can be matched",
                        part, len(encoded.parts))  # fmt: skip
        return message_id


def _response_to(client: smpp_client.Client, sequence: int):
    """Read until the answer to ``sequence``: an SMSC may ask ``enquire_link`` meanwhile."""
    while True:
        pdu = client.read_pdu()  # TimeoutError when the SMSC says nothing: retried, see deliver
        if pdu.command == "enquire_link":
            resp = smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif pdu.command == "generic_nack":
            raise DeliveryError(f"the SMSC did not take the submit: {status_name(int(pdu.status))}")
        elif pdu.command == "submit_sm_resp" and pdu.sequence == sequence:
            return pdu


def _unbind(client: smpp_client.Client) -> None:
    """Say goodbye; the parts are accepted already, so a peer that drops the line meanwhile is fine."""
    try:
        client.unbind()
    except (exceptions.ConnectionError, exceptions.PDUError, OSError):
        log.info("the SMSC closed the connection before answering unbind")


def _relative_validity(hours: int) -> str:
    """SMPP 3.4 relative time (``YYMMDDhhmmss000R``): how long the SMSC keeps trying the handset."""
    days, hours = divmod(hours, 24)
    return f"0000{days:02d}{hours:02d}0000000R"
