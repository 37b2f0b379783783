"""Public status lookup: registration number + access code → where the appeal is, for anyone.

No personal data comes back: states, dates, the agency, and the public facts of each event. A
wrong number and a wrong code get the same answer, so the lookup tells nothing to a guesser.
"""

from __future__ import annotations

import hmac
from typing import Any

from gateway.adapters.db import appeals as appeals_db
from gateway.domain.access_code import digest
from gateway.domain.errors import Code, Rejection
from gateway.service.events import PUBLIC_DETAILS
from gateway.service.hub import Hub

MAX_NUMBER = 64
MAX_CODE = 32


def _not_found() -> Rejection:
    return Rejection(Code.NOT_FOUND, "no appeal with this registration number and access code")


def lookup(hub: Hub, number: str, code: str) -> dict[str, Any]:
    number = number.strip()
    if not (0 < len(number) <= MAX_NUMBER and 0 < len(code) <= MAX_CODE):
        raise _not_found()
    wanted = digest(code)
    with hub.pool.connection() as conn:
        match = next(
            (
                row
                for row in appeals_db.by_registration_number(conn, number)
                if row["access_code_sha256"] and hmac.compare_digest(row["access_code_sha256"], wanted)
            ),
            None,
        )
        if match is None:
            raise _not_found()
        history = appeals_db.event_history(conn, match["id"])
    return {
        "registration_number": match["registration_number"],
        "registered_on": match["registered_on"].isoformat(),
        "agency": {"code": match["agency_code"], "name": match["agency_name"]},
        "state": match["state"],
        "answer_by": match["answer_by"].isoformat() if match["answer_by"] else None,
        "history": [
            {
                "seq": e["seq"],
                "type": e["type"],
                "at": e["at"].isoformat(),
                "state": e["state_after"],
                "details": {k: v for k, v in e["details"].items() if k in PUBLIC_DETAILS},
            }
            for e in history
        ],
    }
