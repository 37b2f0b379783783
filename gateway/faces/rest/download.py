"""A stored attachment streamed over HTTP, for agencies and portals alike.

The bytes come from the blob store chunk by chunk (bounded memory, whatever the file's size),
with ``Content-Length``, the file name, and ``Repr-Digest`` (RFC 9530): the SHA-256 the signed
document states, so the receiver can check what it got without trusting the transport.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from litestar.response import Stream

from gateway.service import attachments
from gateway.service.hub import Hub


def attachment_stream(hub: Hub, found: attachments.AttachmentFile) -> Stream:
    digest = base64.b64encode(found.sha256).decode("ascii")
    return Stream(
        attachments.stream(hub, found),
        media_type=found.media_type,
        headers={
            "Content-Length": str(found.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.file_name)}",
            "Repr-Digest": f"sha-256=:{digest}:",
        },
    )
