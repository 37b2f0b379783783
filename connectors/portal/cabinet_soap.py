"""The cabinet callback over SOAP 1.1 (``schemas/cabinet-callback-{2,1}.wsdl``): PushUpdate, hub-signed.

zeep builds the request from our own WSDL (so the message is what the contract says, and the
contract is exercised by every delivery); the endpoint is the configured URL, not the WSDL's
placeholder. Just before sending, ``SignElement`` (connectors/soap_signing.py) checks the finished
PushUpdate against the schema and signs its Update element with detached XMLDSig into
HubSignature: signing the final tree means the signature covers exactly the bytes that go out.
The reply is judged as REST's is: Accepted, a soap:Client Fault (refused: its code is kept), a
soap:Server Fault or an HTTP failure (retry, honouring Retry-After).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError, ValidationError

from connectors.portal.signing import HubCredentials
from connectors.portal.update import Answer, CabinetUpdate, judge_status, safe_code, transport_failure
from connectors.soap_signing import RequestInvalid, SignElement
from gateway.config import SCHEMAS_DIR
from gateway.domain.delivery import DeliveryError, OutgoingMessage

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
UPDATE_ID = "update"


@dataclass(frozen=True)
class Contract:
    """One version of the SOAP callback contract: its namespace and files."""

    version: int

    @property
    def ns(self) -> str:
        return f"urn:appeals-gateway:cabinet:{self.version}"

    @property
    def wsdl(self) -> Path:
        return SCHEMAS_DIR / f"cabinet-callback-{self.version}.wsdl"

    @property
    def xsd(self) -> Path:
        return SCHEMAS_DIR / f"cabinet-callback-{self.version}.xsd"

    def q(self, local: str) -> str:
        """Clark notation for an element of this version's namespace."""
        return f"{{{self.ns}}}{local}"


_BAD_ADDRESS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class _HttpFailure(Exception):
    """The cabinet answered with an HTTP status that carries no SOAP reply (e.g. 503 from a proxy)."""

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers


class _Transport(zeep.Transport):
    """zeep's transport without its debug log of whole messages (they carry the access code, the
    answer), and with HTTP failures raised with their headers, which zeep would drop (Retry-After)."""

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        response = self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)
        is_xml = "xml" in response.headers.get("content-type", "")
        if response.status_code == 200 or (response.status_code == 500 and is_xml):
            return response  # a reply or a Fault: zeep reads them
        response.close()
        raise _HttpFailure(response.status_code, response.headers)


class CabinetSoapConnector:
    """Delivers cabinet updates to the SOAP endpoint at ``endpoint_url``.

    ``timeout`` bounds connecting and each read of one call. Nothing of a call is kept on the
    connector, but requests' Session is not documented as thread-safe: give each worker thread its
    own connector (a Celery worker process has one thread per connector anyway).
    """

    def __init__(
        self,
        endpoint_url: str,
        hub_key_pem: bytes,
        hub_cert_pem: bytes,
        *,
        timeout: float = 30.0,
        contract: int = 2,
    ) -> None:
        self._timeout = timeout
        self._contract = Contract(contract)
        q = self._contract.q
        self._session = requests.Session()
        credentials = HubCredentials(hub_key_pem, hub_cert_pem)  # refuses a key that is not the cert's
        transport = _Transport(session=self._session, timeout=timeout, operation_timeout=timeout)
        self._client = zeep.Client(
            str(self._contract.wsdl),
            transport=transport,
            plugins=[
                SignElement(
                    target=q("Update"),
                    container=q("HubSignature"),
                    schema=self._contract.xsd,
                    key_pem=credentials.key_pem,
                    cert_pem=credentials.cert_pem,
                )
            ],
            settings=zeep.Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True),
        )
        self._service = self._client.create_service(q("CabinetCallbackBinding"), endpoint_url)

    def deliver(self, message: OutgoingMessage) -> None:
        """PushUpdate; return once the cabinet answered Accepted (applied, or stale: it has newer)."""
        update = CabinetUpdate.from_message(message).as_of_contract(self._contract.version)
        try:
            accepted = self._service.PushUpdate(Update=_update_fields(update), HubSignature={})
        except _HttpFailure as failure:
            error = judge_status(failure.status, failure.headers, None) or DeliveryError(
                f"the cabinet answered HTTP {failure.status} without a SOAP reply"
            )
        except Fault as fault:
            error = _judge_fault(fault, self._contract)
        except requests.Timeout:
            error = transport_failure("timeout", self._timeout)
        except requests.ConnectionError:
            error = transport_failure("connect", self._timeout)
        except _BAD_ADDRESS:
            error = transport_failure("address", self._timeout)
        except requests.RequestException as exc:
            error = transport_failure(type(exc).__name__, self._timeout)
        except (RequestInvalid, ValidationError) as exc:  # raised before anything was sent
            where = str(exc) if isinstance(exc, RequestInvalid) else "a required element is missing"
            error = DeliveryError(
                f"the update does not fit {self._contract.xsd.name} ({where})", permanent=True
            )
        except TransportError as exc:
            error = DeliveryError(f"the cabinet's reply is unreadable (HTTP {exc.status_code})")
        except (ZeepError, etree.LxmlError) as exc:  # an answer we cannot read: it may not have it
            error = DeliveryError(f"the cabinet's reply is unreadable ({type(exc).__name__})")
        else:
            error = None
        if error is not None:
            log.warning(
                "cabinet update %s #%d (attempt %d) not delivered: %s",
                update.appeal_id, update.seq, message.attempt, error.reason,
            )  # fmt: skip
            raise error
        outcome = getattr(accepted, "Outcome", None)
        log.info("cabinet update %s #%d delivered (%s)", update.appeal_id, update.seq, outcome)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> CabinetSoapConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _update_fields(update: CabinetUpdate) -> dict[str, Any]:
    """The Update element as zeep's keyword values, in the schema's vocabulary."""
    fields: dict[str, Any] = {
        "Id": UPDATE_ID,
        "AppealId": str(update.appeal_id),
        "Seq": update.seq,
        "IdempotencyKey": update.idempotency_key,
        "Type": update.type,
        "State": update.state,
        "At": update.at.isoformat(),
        "Details": {_camel(k): v for k, v in update.details.items()},
    }
    if update.access_code is not None:
        fields["AccessCode"] = update.access_code
    if update.answer is not None:
        fields["Answer"] = _answer_fields(update.answer)
    if update.appeal is not None:
        fields["Appeal"] = _appeal_fields(update.appeal)
    return fields


def _answer_fields(answer: Answer) -> dict[str, Any]:
    return {
        "AnswerId": answer.answer_id,
        "AnsweredOn": answer.answered_on,
        "Signatory": {"Name": answer.signatory_name, "Position": answer.signatory_position},
        "Attachments": {
            "Attachment": [
                {
                    "ContentId": a.content_id,
                    "FileName": a.file_name,
                    "MediaType": a.media_type,
                    "Size": a.size,
                    "Sha256": a.sha256,
                }
                for a in answer.attachments
            ]
        }
        if answer.attachments
        else None,
        "Document": answer.document,
    }


def _agency_fields(agency: Mapping[str, Any]) -> dict[str, Any]:
    return {"Code": agency["code"], "Name": agency["name"]}


def _appeal_fields(appeal: Mapping[str, Any]) -> dict[str, Any]:
    """The appeal's public state (contract 2's Appeal), from the JSON the outbox holds."""
    registration = appeal.get("registration")
    return {
        "State": appeal["state"],
        "Agency": _agency_fields(appeal["agency"]) if appeal.get("agency") else None,
        "Registration": {
            "RegistrationNumber": registration["registration_number"],
            "RegisteredOn": registration["registered_on"],
        }
        if registration
        else None,
        "RegisterBy": appeal.get("register_by"),
        "AnswerBy": appeal.get("answer_by"),
        "Registrations": {
            "Registration": [
                {
                    "Agency": _agency_fields(r["agency"]),
                    "RegistrationNumber": r["registration_number"],
                    "RegisteredOn": r["registered_on"],
                }
                for r in appeal.get("registrations") or ()
            ]
        }
        if appeal.get("registrations")
        else None,
        "PostalDispatch": {
            "DispatchedOn": appeal["postal_dispatch"]["dispatched_on"],
            "TrackingNumber": appeal["postal_dispatch"]["tracking_number"],
        }
        if appeal.get("postal_dispatch")
        else None,
        "History": {
            "Event": [
                {
                    "Seq": e["seq"],
                    "Type": e["type"],
                    "At": e["at"],
                    "State": e["state"],
                    "Agency": e.get("agency"),
                    "Details": {_camel(k): v for k, v in (e.get("details") or {}).items()},
                }
                for e in appeal["history"]
            ]
        },
    }


def _judge_fault(fault: Fault, contract: Contract) -> DeliveryError:
    """soap:Client: refused for good, with the cabinet's code; soap:Server (or unknown): retry."""
    q = contract.q
    error = fault.detail.find(f".//{q('Error')}") if fault.detail is not None else None
    code = safe_code((error.findtext(q("Code")) or "").strip()) if error is not None else None
    suffix = f", {code}" if code else ""
    side = (fault.code or "").rpartition(":")[2]
    if side == "Client":
        return DeliveryError(f"the cabinet refused the update (SOAP Client fault{suffix})", permanent=True)
    return DeliveryError(f"the cabinet failed (SOAP {side or 'unknown'} fault{suffix})")
