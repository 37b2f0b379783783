"""The cabinet callback over REST (``schemas/cabinet-callback-{2,1}.openapi.yaml``): a signed PUT per update.

``PUT {base}/appeals/{appeal_id}/updates/{seq}`` with the update as JSON, its ``Idempotency-Key``,
its RFC 9530 ``Content-Digest`` and the hub's RFC 9421 signature over method, URI, digest, key and
content type. PUT, because the URL names the update: sending it again is harmless by HTTP's own
definition, which is what at-least-once delivery needs.
"""

from __future__ import annotations

import logging

import httpx

from connectors.portal.signing import HubCredentials, RequestSigner
from connectors.portal.update import (
    PROBLEM_BYTES,
    CabinetUpdate,
    judge_status,
    problem_code,
    transport_failure,
)
from gateway.domain.delivery import OutgoingMessage

log = logging.getLogger(__name__)
USER_AGENT = "appeals-gateway-cabinet-callback/{}"


class CabinetRestConnector:
    """Delivers cabinet updates to ``base_url`` (e.g. ``https://cabinet.example/gateway/v1``).

    One ``httpx.Client`` (its connection pool) serves every delivery of the connector. ``timeout``
    bounds each phase of a call (connect, send, each read), so a cabinet that stops answering
    costs at most a few times that, and the attempt counts as failed, to be retried.
    """

    def __init__(
        self,
        base_url: str,
        hub_key_pem: bytes,
        hub_cert_pem: bytes,
        *,
        timeout: float = 30.0,
        contract: int = 2,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._contract = contract
        self._signer = RequestSigner(HubCredentials(hub_key_pem, hub_cert_pem), contract=contract)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # a redirect means a wrong URL; never resend a signed update elsewhere
            headers={"User-Agent": USER_AGENT.format(contract)},
        )

    def deliver(self, message: OutgoingMessage) -> None:
        """PUT the update; return once the cabinet has it (2xx, or 409: it has this or newer)."""
        update = CabinetUpdate.from_message(message).as_of_contract(self._contract)
        body = update.json_bytes()
        request = self._client.build_request(
            "PUT",
            f"{self._base}/appeals/{update.appeal_id}/updates/{update.seq}",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, application/problem+json",
                "Idempotency-Key": update.idempotency_key,
            },
        )
        self._signer.sign(request, body)
        try:
            response = self._client.send(request, stream=True)
            try:
                status, headers = response.status_code, response.headers
                reply = _read_some(response)  # read, so the connection can serve the next call
            finally:
                response.close()
        except httpx.TimeoutException:
            raise transport_failure("timeout", self._timeout) from None
        except httpx.ConnectError:
            raise transport_failure("connect", self._timeout) from None
        except httpx.UnsupportedProtocol:
            raise transport_failure("address", self._timeout) from None
        except httpx.TransportError as exc:
            raise transport_failure(type(exc).__name__, self._timeout) from None
        error = judge_status(status, headers, problem_code(reply, headers.get("content-type")))
        if error is not None:
            log.warning(
                "cabinet update %s #%d (attempt %d) not delivered: %s",
                update.appeal_id, update.seq, message.attempt, error.reason,
            )  # fmt: skip
            raise error
        log.info("cabinet update %s #%d delivered (HTTP %d)", update.appeal_id, update.seq, status)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> CabinetRestConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_some(response: httpx.Response) -> bytes:
    """Enough of a reply to read a problem code, and no more: the cabinet's body is not ours to trust."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= PROBLEM_BYTES:
            break
    return b"".join(chunks)[:PROBLEM_BYTES]
