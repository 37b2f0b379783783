"""Every ``appeals-gateway ops`` view prints a table for a person and, with ``--json``, one JSON
document for a script; an ordinary command writes nothing to stderr."""

from __future__ import annotations

import json

import pytest

from tests.answered import agency_today, answered_appeal
from tests.conftest import ANSWERING_AGENCY


@pytest.mark.parametrize(
    ("command", "keys"),
    [
        (["ops", "queues"], {"mailboxes", "deliveries", "broker"}),
        (["ops", "deliveries"], {"connectors", "stuck", "undelivered_sms"}),
        (["ops", "feedback"], {"agencies"}),
        (["ops", "post", "list"], {"answers"}),
        (["ops", "mail", "list"], {"messages"}),
    ],
)
def test_each_view_prints_json_on_request_and_nothing_on_stderr(hub, cli, broker_url, command, keys):
    code, out, err = cli(*command, "--json", env={"BROKER_URL": broker_url})
    assert (code, err) == (0, "")
    assert set(json.loads(out)) == keys
    code, out, err = cli(*command, env={"BROKER_URL": broker_url})
    assert (code, err) == (0, "")
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_the_mailboxes_as_a_table_and_as_json(hub, cli, broker_url):
    _, out, _ = cli("ops", "queues", "--json", env={"BROKER_URL": broker_url})
    mailboxes = {m["agency_code"]: m for m in json.loads(out)["mailboxes"]}
    assert mailboxes[ANSWERING_AGENCY]["pending"] == 0 and mailboxes[ANSWERING_AGENCY]["last_pull_at"] is None
    _, out, _ = cli("ops", "queues", env={"BROKER_URL": broker_url})
    header = out.splitlines()[1]
    assert header.split()[:4] == ["agency", "mode", "pending", "oldest"]
    (row,) = [line for line in out.splitlines() if line.startswith(ANSWERING_AGENCY + " ")]
    assert row.split()[1:3] == ["pull", "0"] and row == row.rstrip()


def test_actions_and_the_timeline_answer_in_json(hub, portal, dev_pki, cli):
    appeal_id = answered_appeal(hub, portal, dev_pki, "ОГ-Ж1", seq=1)
    code, out, err = cli(
        "ops",
        "post",
        "dispatch",
        str(appeal_id),
        "--on",
        agency_today(),
        "--tracking",
        "RA123456785RU",
        "--json",
    )
    assert code == 0, err
    # An action logs what it did (the hub's log, on stderr); nothing else is said there.
    assert [json.loads(line)["event"] for line in err.splitlines()] == ["answer posted"]
    assert json.loads(out)["tracking_number"] == "RA123456785RU"
    code, out, err = cli("ops", "timeline", "ОГ-Ж1", "--json")
    assert (code, err) == (0, "")
    (story,) = json.loads(out)["appeals"]
    assert story["appeal"]["id"] == str(appeal_id)
