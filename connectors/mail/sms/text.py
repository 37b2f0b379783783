"""The text of an applicant's SMS: one short sentence per lifecycle event, the number, the link.

Written to fit :data:`~connectors.mail.sms.encoding.MAX_PARTS` UCS-2 parts (201 characters): the
event and the registration number, the new date or agency where the event has one, the access code
once (on registration: the status lookup asks for number and code), and the lookup link. Reasons
and legal grounds are left to the e-mail and the cabinet; an agency's long name is shortened
with an ellipsis before anything else is. Belarusian for ``language: be`` (the hub sends it for
``BY-300Z`` agencies), Russian otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from connectors.mail.sms.encoding import MAX_PARTS, TooLong, parts_needed

# {n}: number, {date}: a due date, {agency}: the agency now handling it, {code}: access code.
TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "registered": "Обращение зарегистрировано, № {n}, ответ до {date}.",
        "redirected": "Обращение № {n} перенаправлено: {agency}.",
        "extended": "Срок ответа на обращение № {n} продлён до {date}.",
        "answered": "На обращение № {n} дан ответ.",
        "declined": "Обращение № {n} оставлено без ответа по существу.",
        "closed": "Рассмотрение обращения № {n} завершено.",
        "withdrawn": "Обращение № {n} отозвано.",
        "code": " Код доступа: {code}.",
        "link": " Статус: {url}",
        "unnumbered": "без номера",
    },
    "be": {
        "registered": "Зварот зарэгістраваны, № {n}, адказ да {date}.",
        "redirected": "Зварот № {n} перанакіраваны: {agency}.",
        "extended": "Тэрмін адказу на зварот № {n} падоўжаны да {date}.",
        "answered": "На зварот № {n} дадзены адказ.",
        "declined": "Зварот № {n} пакінуты без адказу па сутнасці.",
        "closed": "Разгляд звароту № {n} завершаны.",
        "withdrawn": "Зварот № {n} адкліканы.",
        "code": " Код доступу: {code}.",
        "link": " Статус: {url}",
        "unnumbered": "без нумара",
    },
}
EVENTS = frozenset(TEXTS["ru"]) - {"code", "link", "unnumbered"}


class UnknownEvent(ValueError):
    """The payload names an event this connector has no text for."""


def compose(payload: Mapping[str, Any]) -> str:
    """The SMS for one notification payload (see the connector's docstring for its shape)."""
    event = str(payload["type"])
    if event not in EVENTS:
        raise UnknownEvent(event)
    words = TEXTS["be" if payload.get("language") == "be" else "ru"]
    details = payload.get("details") or {}
    appeal = payload.get("appeal") or {}
    agency = (appeal.get("agency") or {}).get("name") or details.get("target_agency") or ""
    fields = {
        "n": registration_number(payload) or words["unnumbered"],
        "date": _date(details.get("answer_by") or details.get("new_due_date")),
        "code": payload.get("access_code") or "",
        "url": payload.get("lookup_url") or "",
    }
    tail = (words["code"] if event == "registered" and fields["code"] else "") + (
        words["link"] if fields["url"] else ""
    )
    text = (words[event] + tail).format(agency=agency, **fields)
    # The agency's name is the one part that may be long: shorten it until the text fits.
    name, cut = agency, len(agency)
    while parts_needed(text) > MAX_PARTS and cut > 12:
        cut -= 1
        agency = name[:cut].rstrip() + "…"
        text = (words[event] + tail).format(agency=agency, **fields)
    if parts_needed(text) > MAX_PARTS:
        raise TooLong(parts_needed(text))
    return text


def registration_number(payload: Mapping[str, Any]) -> str | None:
    """The number the applicant knows the appeal by: the current registration's, else the latest
    earlier one (a redirected appeal keeps answering to it), else the event's own."""
    appeal = payload.get("appeal") or {}
    current = appeal.get("registration") or {}
    earlier = appeal.get("registrations") or []
    return (
        current.get("registration_number")
        or (earlier[-1].get("registration_number") if earlier else None)
        or (payload.get("details") or {}).get("registration_number")
    )


def _date(value: str | None) -> str:
    """``2026-12-31`` as people write it there: ``31.12.2026``."""
    if not value:
        return "—"
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%d.%m.%Y")
    except ValueError:
        return str(value)
