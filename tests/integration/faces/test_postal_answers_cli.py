"""``appeals-gateway ops post list`` and ``ops post dispatch`` as a clerk runs them: the printable
list with what goes on the envelope, a CSV of it, and the mark of an answer posted."""

from __future__ import annotations

import csv
import io

from tests.answered import agency_today, answered_appeal

TRACKING = "RA123456785RU"


def test_a_clerk_lists_prints_and_marks_an_answer_posted(hub, portal, dev_pki, cli) -> None:
    appeal_id = answered_appeal(hub, portal, dev_pki, "ОГ-П1", seq=1)
    answered_appeal(hub, portal, dev_pki, "ОГ-Е1", reply_preference="email", seq=2)

    code, out, err = cli("ops", "post", "list")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split()[:3] == ["appeal", "agency", "number"]
    for shown in (
        str(appeal_id),
        "ADM-CHEBOKSARY",
        "ОГ-П1",
        "Петрова Анна Сергеевна",
        "428000",
        "ул. Примерная",
    ):
        assert shown in row
    assert "ОГ-Е1" not in out

    code, out, err = cli("ops", "post", "list", "--format", "csv")
    assert code == 0, err
    (printed,) = csv.DictReader(io.StringIO(out))
    assert (printed["appeal"], printed["addressee"], printed["postcode"]) == (
        str(appeal_id), "Петрова Анна Сергеевна", "428000"
    )  # fmt: skip
    assert printed["address"] == "г. Чебоксары, ул. Примерная, д. 1, кв. 1" and printed["answer"]

    code, out, err = cli(
        "ops", "post", "dispatch", str(appeal_id), "--on", agency_today(), "--tracking", TRACKING
    )
    assert code == 0, err
    assert TRACKING in out
    assert cli("ops", "post", "list")[1].strip() == "no answers pending"
    code, out, err = cli("ops", "post", "list", "--state", "dispatched", "--format", "csv")
    (printed,) = csv.DictReader(io.StringIO(out))
    assert (printed["dispatched on"], printed["tracking number"]) == (agency_today(), TRACKING)

    code, out, err = cli(
        "ops", "post", "dispatch", str(appeal_id), "--on", agency_today(), "--tracking", TRACKING
    )
    assert code == 1
    assert err.startswith("already-dispatched:")
    code, _, err = cli("ops", "post", "list", "--state", "lost")
    assert code == 1 and err.startswith("invalid-request:")
