"""Push delivery to an agency's EDMS: the connector, the fake EDMS on a real socket, a signed appeal.

No database: the outbox message is built here as the delivery worker hands it over (payload JSON
plus the resolved ``envelope`` document), the dev PKI lives in temporary files.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.sed.push import SoapPushConnector
from gateway.domain.delivery import OutgoingMessage
from gateway.domain.model import ApplicantType
from gateway.simulators.edms_push import FakePushEdms
from gateway.simulators.samples import attachment_header, sample_appeal

AGENCY = "ADM-CHEBOKSARY"
SCAN = b"%PDF-1.4 a scanned page\n"


@pytest.fixture(scope="session")
def envelope(portal) -> bytes:
    """A legal entity's appeal with one attachment, signed by the portal and the representative."""
    appeal = sample_appeal(
        applicant_type=ApplicantType.LEGAL_ENTITY,
        attachments=(attachment_header("scan-1", "scan.pdf", "application/pdf", SCAN),),
    )
    return portal.envelope(appeal, sign_as_applicant=True)


@pytest.fixture
def make_message(envelope: bytes) -> Callable[..., OutgoingMessage]:
    """An outbox message for a push, new MessageId each call unless one is given."""

    def make(*, message_id: uuid.UUID | None = None, attempt: int = 1, **overrides: Any) -> OutgoingMessage:
        appeal_id = uuid.uuid4()
        payload: dict[str, Any] = {  # as gateway.service.push.prepare writes it
            "agency_code": AGENCY,
            "message_id": str(message_id or uuid.uuid4()),
            "appeal_id": str(appeal_id),
            "portal_message_id": str(uuid.uuid4()),
            "sender_id": "EPGU",
            "portal_appeal_id": "P-00000001-abcdef",
            "received_at": datetime.now(UTC).isoformat(),
            "routing": {
                "topic_code": "0005.0005.0056.1149",
                "territory_code": "97701000",
                "addressee_code": None,
            },
            "attachments": [
                {
                    "n": 1,
                    "content_id": "scan-1",
                    "file_name": "scan.pdf",
                    "media_type": "application/pdf",
                    "size": len(SCAN),
                    "sha256": hashlib.sha256(SCAN).hexdigest(),
                }
            ],
        }
        payload.update(overrides)
        return OutgoingMessage(
            id=1,
            connector="sed-push",
            appeal_id=appeal_id,
            seq=1,
            idempotency_key=f"push:{payload['message_id']}",
            payload=payload,
            created_at=datetime.now(UTC),
            attempt=attempt,
            documents={"envelope": envelope},
        )

    return make


@pytest.fixture
def edms(dev_pki) -> Iterator[FakePushEdms]:
    """The agency's EDMS, pinned to the hub's certificate, checking the portal's signature too."""
    with FakePushEdms(
        dev_pki.hub_cert.read_bytes(),
        agency_code=AGENCY,
        portal_trust_anchors_pem=dev_pki.trust_anchors.read_bytes(),
    ) as fake:
        yield fake


@pytest.fixture
def connect(dev_pki) -> Iterator[Callable[..., SoapPushConnector]]:
    """Connectors signing as the hub unless told otherwise; closed after the test."""
    made: list[SoapPushConnector] = []

    def connect(endpoint: str, **kwargs: Any) -> SoapPushConnector:
        key = kwargs.pop("key_pem", dev_pki.hub_key.read_bytes())
        cert = kwargs.pop("cert_pem", dev_pki.hub_cert.read_bytes())
        kwargs.setdefault("timeout", 5.0)
        connector = SoapPushConnector(endpoint, key, cert, **kwargs)
        made.append(connector)
        return connector

    yield connect
    for connector in made:
        connector.close()
