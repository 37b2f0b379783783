"""GetMessagesResponse is written as text (``codec.messages_response``), not element by element
through lxml: it must come out byte for byte as lxml writes the same fields, and valid."""

from __future__ import annotations

import base64
import json
from uuid import uuid4

import msgspec
from lxml import etree

from gateway.adapters.db.appeals import appeal_to_json
from gateway.config import PROJECT_ROOT
from gateway.domain.model import ApplicantType
from gateway.faces.soap import codec, soapenv
from gateway.simulators.samples import sample_appeal

SED_SCHEMA = etree.XMLSchema(etree.parse(str(PROJECT_ROOT / "schemas" / "sed-service-1.xsd")))


def _document(appeal: dict, kind: str = "appeal", attachments: int = 0, **notice: dict) -> bytes:
    """A leased message as PostgreSQL writes it (``adapters/db/mailbox.py``): JSON, notice by kind."""
    appeal_id = str(uuid4())
    return json.dumps(
        {
            "message_id": str(uuid4()),
            "kind": kind,
            "appeal_id": appeal_id,
            "lease_token": str(uuid4()),
            "lease_expires_at": "2026-12-02T12:16:47.1106+00:00",
            "delivery_count": 2,
            "received_at": "2026-12-02T12:11:46+03:00",
            "appeal": {**appeal, "earlier_appeals": []},
            "signed_xml_base64": base64.b64encode(b"<signed>\r\n&</signed>").decode(),
            "attachments": [
                {
                    "n": n,
                    "file_name": f'акт <{n}> & "фото".pdf',
                    "media_type": "application/pdf",
                    "size": 10 * n,
                    "sha256": "ab" * 32,
                    "href": f"/sed/v1/appeals/{appeal_id}/attachments/{n}",
                }
                for n in range(1, attachments + 1)
            ],
            **notice,
        },
        ensure_ascii=False,
    ).encode()


def _as_lxml_writes(documents: list[bytes]) -> bytes:
    root = etree.Element(codec.q("GetMessagesResponse"), nsmap={"sed": codec.NS})
    for document in documents:
        codec._write(
            etree.SubElement(root, codec.q("Message")), codec._MESSAGE, msgspec.json.decode(document)
        )
    return soapenv.write(root)


def test_the_text_written_is_what_lxml_writes_and_valid():
    person = appeal_to_json(sample_appeal(1, text_size=300))
    person["text"] = "строка 1\r\nстрока 2 <b>&amp;</b> > ]]> \"' \t конец"
    person["applicant"]["postal_address"]["postcode"] = None  # an optional element left out
    organisation = appeal_to_json(sample_appeal(2, applicant_type=ApplicantType.LEGAL_ENTITY))
    documents = [
        _document(person, attachments=2),
        _document(organisation),
        _document(person, "withdrawal", withdrawal={"seq": 1, "withdrawn_at": "2026-12-02T10:00:00+00:00"}),
        _document(
            person,
            "feedback",
            feedback={"rating": 5, "comment": "спасибо & <всё>", "given_at": "2026-12-02T11:00:00Z"},
        ),
    ]
    written = soapenv.write(codec.messages_response(documents))
    assert written == _as_lxml_writes(documents)
    payload = etree.fromstring(written).find(f"{{{soapenv.SOAP_ENV}}}Body")[0]
    SED_SCHEMA.assertValid(etree.fromstring(etree.tostring(payload)))


def test_an_empty_pull_is_an_empty_response():
    assert soapenv.write(codec.messages_response([])) == _as_lxml_writes([])
