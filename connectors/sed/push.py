"""Push delivery of appeals to an agency's own SOAP endpoint (``delivery_mode: push-soap``).

The agency implements ``schemas/sed-push-1.wsdl``; the hub calls ``DeliverAppeal`` on the
agency's ``push_url`` once per outbox attempt. zeep builds the request from the WSDL's types (so
the request is the contract's, not a hand-written imitation), the :class:`SignElement` plugin
validates it against the XSD and signs the Delivery last, and zeep's transport posts the tree
serialised once: the signed bytes reach the agency intact. The answer is classified for the
retry policy by :mod:`connectors.sed.outcome` and :mod:`connectors.http_outcome`.

Build one connector per agency and reuse it: loading the WSDL and the TLS session are per instance.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
import zeep
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError, XMLSyntaxError
from zeep.wsse.username import UsernameToken

from connectors.http_outcome import http_failure, transport_failure
from connectors.sed.delivery import delivery_values
from connectors.sed.outcome import NS, RECEIVER, PushReceipt, fault_failure, receipt
from connectors.soap_signing import RequestInvalid, SignElement
from gateway.config import SCHEMAS_DIR
from gateway.domain.delivery import DeliveryError, OutgoingMessage

log = logging.getLogger(__name__)

WSDL = SCHEMAS_DIR / "sed-push-1.wsdl"
XSD_FILE = "sed-push-1.xsd"
BINDING = f"{{{NS}}}SedPushBinding"
OPERATION = "DeliverAppeal"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class _NoRedirects(zeep.Transport):
    """zeep's transport, posting without following redirects.

    A redirected POST would carry the delivery (and the UsernameToken's password, which is in the
    body, where requests' stripping of credentials on a host change cannot see it) to an address
    nobody registered; a redirect is answered as the HTTP status it is (permanent: fix push_url).
    """

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        return self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout, allow_redirects=False
        )


class SoapPushConnector:
    """Delivers appeals to one agency's EDMS over SOAP; a :class:`gateway.domain.delivery.Connector`.

    ``endpoint`` is the agency's ``push_url`` (it replaces the WSDL's placeholder address);
    ``hub_key_pem``/``hub_cert_pem`` sign each Delivery; ``timeout`` bounds connecting and each
    wait for data, in seconds. ``username``/``password``, when the agency gave them, travel as a
    WS-Security UsernameToken (PasswordText): only over https, or to a loopback address in tests.
    ``tls_verify`` is requests' ``verify``: True, or the path of the CA bundle the agency's
    server certificate chains to.
    """

    def __init__(
        self,
        endpoint: str,
        hub_key_pem: bytes,
        hub_cert_pem: bytes,
        *,
        wsdl: Path = WSDL,
        timeout: float = 30.0,
        username: str | None = None,
        password: str | None = None,
        tls_verify: bool | str = True,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the endpoint must be an http(s) URL")
        if username is not None and parts.scheme != "https" and parts.hostname not in _LOOPBACK:
            raise ValueError("a password may only be sent over https")
        self.endpoint = endpoint
        self._session = requests.Session()
        self._session.verify = tls_verify
        signer = SignElement(
            target=f"{{{NS}}}Delivery",
            container=f"{{{NS}}}HubSignature",
            key_pem=hub_key_pem,
            cert_pem=hub_cert_pem,
            schema=Path(wsdl).parent / XSD_FILE,
        )
        self._client = zeep.Client(
            str(wsdl),
            transport=_NoRedirects(session=self._session, timeout=timeout, operation_timeout=timeout),
            wsse=UsernameToken(username, password) if username is not None else None,
            plugins=[signer],
            settings=zeep.Settings(raw_response=True),
        )
        self._service = self._client.create_service(BINDING, endpoint)
        self._binding = self._client.wsdl.bindings[BINDING]

    def close(self) -> None:
        self._session.close()

    def deliver(self, message: OutgoingMessage) -> None:
        """Push ``message``; return once the EDMS accepted it (the Connector protocol)."""
        self.send(message)

    def send(self, message: OutgoingMessage) -> PushReceipt:
        """Push ``message`` and return the EDMS's receipt, or raise :class:`DeliveryError`."""
        values = delivery_values(message, datetime.now(UTC))
        message_id = values["MessageId"]
        try:
            response = self._service.DeliverAppeal(Delivery=values, HubSignature={})
        except RequestInvalid as exc:
            raise DeliveryError(f"the push request is not valid: {exc}", permanent=True) from None
        except requests.RequestException as exc:
            raise transport_failure(exc, RECEIVER) from None
        except ZeepError as exc:  # zeep refused the values before anything was sent
            raise DeliveryError(
                f"the push request cannot be built ({type(exc).__name__})", permanent=True
            ) from None
        result = self._receipt(response, message_id)
        log.info(
            "push %s to %s: accepted as %r%s",
            message.id, urlsplit(self.endpoint).hostname, result.receipt_id,
            " (duplicate)" if result.duplicate else "",
        )  # fmt: skip
        return result

    def _receipt(self, response: requests.Response, message_id: str) -> PushReceipt:
        """200 with DeliveryAccepted, or a Fault (sent with 500 by SOAP 1.1), or an HTTP failure."""
        status = response.status_code
        if status not in (200, 500):
            raise http_failure(status, response.headers, RECEIVER)
        try:
            result = self._binding.process_reply(self._client, self._binding.get(OPERATION), response)
        except Fault as fault:
            raise fault_failure(fault, response.headers) from None
        except (TransportError, XMLSyntaxError):  # not XML: a proxy's error page, a truncated answer
            if status == 500:
                raise http_failure(status, response.headers, RECEIVER) from None
            raise DeliveryError(f"{RECEIVER} answered HTTP 200 with no readable SOAP envelope") from None
        except Exception as exc:  # XML, but not the contract's answer (zeep fails in many ways then)
            raise DeliveryError(
                f"{RECEIVER} answered with something other than DeliveryAccepted ({type(exc).__name__})",
                permanent=True,
            ) from None
        return receipt(result, message_id)
