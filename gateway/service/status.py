"""Public status lookup: registration number + access code → where the appeal is, for anyone.

It covers portal appeals (the code reached the applicant in the cabinet) and appeals received
through other channels whose statuses the agency uploads (the code is on the applicant's receipt;
``status_upload.py``). No personal data comes back: states, dates, the agency, the channel, and
the public facts of each event or status. A wrong number and a wrong code get the same answer, so
the lookup tells nothing to a guesser.

A portal appeal's public state (:func:`public_state`) is also what every cabinet update carries,
so the applicant sees the same in the cabinet and in the lookup. It is found by any number it was
ever registered under: a redirected appeal still answers to the number and code the applicant
holds, and shows where it went and the new agency's number once that agency registers it.
"""

from __future__ import annotations

import hmac
from typing import Any
from uuid import UUID

from psycopg import Connection

from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import offline_appeals as offline_db
from gateway.adapters.db.outage import read as db_read
from gateway.domain.access_code import digest
from gateway.domain.errors import Code, Rejection
from gateway.domain.events import PUBLIC_DETAILS
from gateway.domain.incoming_mail import EMAIL_SENDER
from gateway.domain.postal_dispatch import DISPATCHED
from gateway.domain.status_upload import Channel
from gateway.service.hub import Hub

MAX_NUMBER = 64
MAX_CODE = 32
# Events an agency reported are recorded with this actor prefix and the agency's code.
AGENCY_ACTOR = "agency:"
# The type of a history entry an agency uploaded (a portal appeal's entries are its events' types).
UPLOADED_STATUS = "status"


def _not_found() -> Rejection:
    return Rejection(Code.NOT_FOUND, "no appeal with this registration number and access code")


def lookup(hub: Hub, number: str, code: str) -> dict[str, Any]:
    """Portal appeals first, then those the agencies uploaded (numbers are unique per agency only,
    so several agencies' appeals, of either kind, may share one; the code tells them apart)."""
    number = number.strip()
    if not (0 < len(number) <= MAX_NUMBER and 0 < len(code) <= MAX_CODE):
        raise _not_found()
    wanted = digest(code)
    found = db_read(hub.pool, lambda conn: _find(conn, number, wanted))
    if found is None:
        raise _not_found()
    return found


def _find(conn: Connection, number: str, wanted: str) -> dict[str, Any] | None:
    match = _match(appeals_db.by_registration_number(conn, number), wanted)
    if match is not None:
        found = {
            "registration_number": match["asked_number"],
            "registered_on": match["asked_registered_on"].isoformat(),
            "channel": (Channel.EMAIL if match["sender_id"] == EMAIL_SENDER else Channel.PORTAL).value,
            **public_state(conn, match["id"]),
        }
        repeats = _repeats(conn, match["id"])
        if repeats is not None:
            found["repeat_of"] = {"registration_number": repeats}
        return found
    match = _match(offline_db.by_registration_number(conn, number), wanted)
    if match is not None:
        history = [
            _entry(s, UPLOADED_STATUS, s["state"]) for s in offline_db.status_history(conn, match["id"])
        ]
        return _status(match, Channel(match["channel"]), history)
    return None


def _repeats(conn: Connection, appeal_id: UUID) -> str | None:
    """The registration number of the earlier appeal an agency declined this one as repeating
    (59-FZ art. 11 p.5), for the applicant's lookup only (the cabinet's contract has no such field):
    the applicant's own earlier number, nothing of anyone else."""
    cited = None
    for event in appeals_db.event_history(conn, appeal_id):
        if event["type"] == "declined":
            cited = event["details"].get("earlier_registration_number")
    return cited


def _match(rows: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    return next(
        (
            row
            for row in rows
            if row["access_code_sha256"] and hmac.compare_digest(row["access_code_sha256"], wanted)
        ),
        None,
    )


def _entry(entry: dict[str, Any], type_: str, state: str) -> dict[str, Any]:
    """One event or uploaded status, with only its public details."""
    return {
        "seq": entry["seq"],
        "type": type_,
        "at": entry["at"].isoformat(),
        "state": state,
        "details": {k: v for k, v in entry["details"].items() if k in PUBLIC_DETAILS},
    }


def _agency(code: str | None, name: str | None) -> dict[str, str] | None:
    return {"code": code, "name": name or code} if code else None


def public_state(conn: Connection, appeal_id: UUID) -> dict[str, Any]:
    """A portal appeal's whole public state as of its latest event (call it in the event's own
    transaction to have it as of that event): where it is now, every registration it has had, the
    due dates, the public facts of every event with the agency that reported it, and once an
    operator posted the answer, its date and tracking number. No personal data, no executors, no
    internal ids."""
    appeal = appeals_db.public_record(conn, appeal_id)
    assert appeal is not None, appeal_id
    history, posted = [], None
    for event in appeals_db.event_history(conn, appeal_id):
        if event["type"] == DISPATCHED:
            posted = {k: event["details"][k] for k in ("dispatched_on", "tracking_number")}
        entry = _entry(event, event["type"], event["state_after"])
        actor = event["actor"] or ""
        if actor.startswith(AGENCY_ACTOR):
            entry["agency"] = actor[len(AGENCY_ACTOR) :]
        history.append(entry)
    state: dict[str, Any] = {"state": appeal["state"]}
    agency = _agency(appeal["agency_code"], appeal["agency_name"])
    if agency is not None:
        state["agency"] = agency
    if appeal["registration_number"] is not None:
        state["registration"] = {
            "registration_number": appeal["registration_number"],
            "registered_on": appeal["registered_on"].isoformat(),
        }
    if appeal["registration_number"] is None and appeal["register_by"] is not None:
        state["register_by"] = appeal["register_by"].isoformat()  # due until the agency registers it
    if appeal["answer_by"] is not None:
        state["answer_by"] = appeal["answer_by"].isoformat()
    state["registrations"] = [
        {
            "agency": _agency(r["agency_code"], r["agency_name"]),
            "registration_number": r["registration_number"],
            "registered_on": r["registered_on"].isoformat(),
        }
        for r in appeals_db.registrations(conn, appeal_id)
    ]
    if posted is not None:
        state["postal_dispatch"] = posted  # the answer went by post (ReplyPreference=post)
    state["history"] = history
    return state


def _status(appeal: dict[str, Any], channel: Channel, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "registration_number": appeal["registration_number"],
        "registered_on": appeal["registered_on"].isoformat(),
        "agency": {"code": appeal["agency_code"], "name": appeal["agency_name"]},
        "channel": channel.value,
        "state": appeal["state"],
        "answer_by": appeal["answer_by"].isoformat() if appeal["answer_by"] else None,
        "history": history,
    }
