"""The agency's answer sent by e-mail (ReplyPreference=email): a readable rendering in the body,
the signed document and its attachments attached.

The signed document was verified when the agency sent it and is stored byte for byte; the body
shows what its ``Document`` says (text, signatory, date) so the applicant can read it without
XML tools, and the attachment ``answer.xml`` is the evidence, whose signature anyone can check.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from gateway.adapters.xmlsec.answer import q, read_answer
from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.domain.model import AnswerDocument

ANSWER_FILE = "answer.xml"
MAX_DEPTH = 48


def readable(signed: bytes) -> AnswerDocument:
    """What the signed answer says (hardened parsing: it was verified on arrival, but is still XML)."""
    root = parse_hardened(signed, max_depth=MAX_DEPTH)
    document = root.find(q("Document"))
    if document is None:
        raise ValueError("the stored answer has no Document")
    return read_answer(document)


def attach(mail: EmailMessage, answer: Mapping[str, Any], documents: Mapping[str, bytes]) -> None:
    """The signed answer, then each attachment the payload named (under the agency's file name)."""
    mail.add_attachment(documents["answer"], maintype="application", subtype="xml", filename=ANSWER_FILE)
    for header in answer.get("attachments") or []:
        data = documents.get(f"attachment:{header['content_id']}")
        if data is None:  # too large for e-mail together: they stay in the cabinet
            continue
        maintype, _, subtype = str(header["media_type"]).partition("/")
        mail.add_attachment(
            data, maintype=maintype or "application", subtype=subtype or "octet-stream",
            filename=header["file_name"],
        )  # fmt: skip
