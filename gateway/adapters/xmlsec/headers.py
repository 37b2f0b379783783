"""The attachment headers both signed documents carry (the appeal envelope and the agency's answer):
one layout, written once, in whichever namespace the document has."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lxml import etree

from gateway.domain.model import AttachmentHeader


def add_attachment_headers(
    parent: etree._Element, items: Sequence[AttachmentHeader], q: Callable[[str], str]
) -> None:
    """Append ``Attachments/Attachment[@ContentId]{FileName, MediaType, Size, Sha256}`` when any."""
    if not items:
        return
    attachments = etree.SubElement(parent, q("Attachments"))
    for item in items:
        att = etree.SubElement(attachments, q("Attachment"))
        att.set("ContentId", item.content_id)
        for local, text in (
            ("FileName", item.file_name),
            ("MediaType", item.media_type),
            ("Size", str(item.size)),
            ("Sha256", item.sha256),
        ):
            etree.SubElement(att, q(local)).text = text
