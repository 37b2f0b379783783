"""``appeals-gateway ops``: what operators look at and the fixes they make, as tables in a terminal.

The same views as ``/ops/v1`` (one service behind both); the CLI reads the database directly, so
it works when the HTTP hub is down. Actions are audited as ``operator:cli``.
"""

from __future__ import annotations

import csv
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import typer

from gateway.faces.cli.deliveries import owner
from gateway.faces.cli.session import hub_session

app = typer.Typer(help="Operators' views of the hub, and their fixes.", no_args_is_help=True)

ACTOR = "operator:cli"


def _age(seconds: float | None) -> str:
    """``3d4h``, ``2h05m``, ``4m12s``, ``9s``: wide enough to compare at a glance."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def _since(at: datetime | None) -> str:
    return "never" if at is None else _age((datetime.now(UTC) - at).total_seconds()) + " ago"


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _overview() -> None:
    from gateway.service import monitoring

    with hub_session() as hub:
        mailboxes = monitoring.mailboxes(hub)
        deliveries = monitoring.deliveries(hub, limit=1)
        broker = monitoring.broker(hub)
    typer.secho(f"Mailboxes ({datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)", bold=True)
    _table(
        ["agency", "mode", "pending", "oldest", "leased", "redelivered", "refused", "last pull", "last ack"],
        [
            [m.agency_code, m.delivery_mode, m.pending, _age(m.oldest_pending_age_s), m.leased,
             m.redelivered, m.refused, _since(m.last_pull_at), _since(m.last_ack_at)]
            for m in mailboxes
        ],
    )  # fmt: skip
    typer.secho("\nDeliveries (open)", bold=True)
    if deliveries.by_connector:
        now = datetime.now(UTC)
        _table(
            ["connector", "pending", "in-flight", "retrying", "dead", "oldest open"],
            [
                [d["connector"], d["pending"], d["in_flight"], d["retrying"], d["dead"],
                 _age((now - d["oldest_open_at"]).total_seconds()) if d["oldest_open_at"] else "-"]
                for d in deliveries.by_connector
            ],
        )  # fmt: skip
    else:
        typer.echo("nothing open")
    typer.secho(f"\nBroker ({broker.transport})", bold=True)
    if not broker.reachable:
        typer.secho(f"unreachable: {broker.error}", fg=typer.colors.RED)
        return
    _table(
        ["queue", "messages", "consumers"],
        [[q.name, "absent" if q.messages is None else q.messages,
          "?" if q.consumers is None else q.consumers] for q in broker.queues],
    )  # fmt: skip
    if broker.workers is not None:
        typer.echo(f"workers alive: {', '.join(broker.workers) or 'none'}")
    elif broker.transport == "amqp":
        typer.echo("workers alive: unknown (the ping failed)")


@app.command()
def queues(
    watch: Annotated[
        float | None, typer.Option("--watch", help="redraw every N seconds until Ctrl-C", min=0.5)
    ] = None,
) -> None:
    """Every agency's mailbox, open deliveries per connector, and the broker's queues and workers."""
    if watch is None:
        _overview()
        return
    try:
        while True:
            typer.echo("\x1b[2J\x1b[H", nl=False)  # clear the screen, cursor home
            _overview()
            time.sleep(watch)
    except KeyboardInterrupt:
        typer.echo()


@app.command()
def deliveries(
    connector: Annotated[str | None, typer.Option(help="only this connector's (cabinet, sed-push)")] = None,
    limit: Annotated[int, typer.Option(help="at most this many stuck deliveries")] = 50,
) -> None:
    """Deliveries stuck retrying or dead: attempts, last error, next attempt.

    Replay dead ones with `appeals-gateway deliveries replay`.
    """
    from gateway.service import monitoring

    with hub_session() as hub:
        view = monitoring.deliveries(hub, connector=connector, limit=limit)
    if view.undelivered_sms:
        typer.secho("SMS the handset did not get (delivery receipts)", bold=True)
        _table(
            ["id", "appeal #seq", "part", "receipt", "error", "done"],
            [[d["id"], f"{d['appeal_id']} #{d['seq']}", f"{d['part']}/{d['parts']}", d["state"],
              d["error"] or "", f"{d['done_at']:%Y-%m-%d %H:%M}" if d["done_at"] else "-"]
             for d in view.undelivered_sms],
        )  # fmt: skip
    if not view.stuck:
        typer.echo("nothing retrying or dead")
        return
    _table(
        ["id", "connector", "status", "attempts", "next attempt", "appeal #seq", "last error"],
        [
            [d["id"], d["connector"], d["status"], d["attempts"],
             f"{d['next_attempt_at']:%Y-%m-%d %H:%M:%S}" if d["status"] == "retrying" else "-",
             f"{owner(d)} #{d['seq']}", d["last_error"] or ""]
            for d in view.stuck
        ],
    )  # fmt: skip


@app.command()
def timeline(
    ref: Annotated[str, typer.Argument(help="hub appeal id, portal appeal id or registration number")],
) -> None:
    """An appeal's whole story: events, audit trail, mailbox messages and deliveries."""
    from gateway.service import monitoring

    with hub_session() as hub:
        found = monitoring.timeline(hub, ref)
    for story in found:
        a = story["appeal"]
        typer.secho(f"Appeal {a['id']}  ({a['state']})", bold=True)
        typer.echo(
            f"  portal {a['sender_id']} {a['portal_appeal_id']}"
            f", received {a['received_at']:%Y-%m-%d %H:%M:%S}"
            f", agency {a['agency_code'] or '-'}, number {a['registration_number'] or '-'}"
            f", answer by {a['answer_by'] or '-'}"
        )
        typer.echo("  audit:")
        for r in story["audit"]:
            typer.echo(
                f"    {r['at']:%Y-%m-%d %H:%M:%S}  {r['actor']:<24} {r['action']:<20} "
                + _details(r["details"])
            )
        typer.echo("  mailbox:")
        for m in story["messages"]:
            status = "acked" if m["acked_at"] else "refused" if m["refused_at"] else "open"
            typer.echo(
                f"    {m['id']}  {m['agency_code']:<16} {m['kind']:<10} {status:<8} "
                f"leased {m['delivery_count']}x"
            )
        typer.echo("  deliveries:")
        for d in story["deliveries"]:
            typer.echo(
                f"    {d['id']:>6}  {d['connector']:<9} #{d['seq']:<3} {d['status']:<10} "
                f"{d['attempts']} attempt(s)  {d['last_error'] or ''}"
            )
            for r in d["receipts"]:  # an SMS: what the SMSC's delivery receipt said of each part
                error = f" err:{r['error']}" if r["error"] else ""
                typer.echo(
                    f"            part {r['part']}/{r['parts']}: receipt {r['state'] or 'awaited'}{error}"
                )


def _details(details: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in details.items())


@app.command()
def release(message_id: Annotated[UUID, typer.Argument(help="the leased mailbox message")]) -> None:
    """Release a lease: the message is pending again now, and the old lease token stops working."""
    from gateway.service.mailbox import release_lease

    with hub_session() as hub:
        appeal_id = release_lease(hub, ACTOR, message_id)
    typer.echo(f"released {message_id} (appeal {appeal_id}): pending again")


@app.command()
def requeue(message_id: Annotated[UUID, typer.Argument(help="the refused mailbox message")]) -> None:
    """Offer a message the agency's EDMS refused again, after the cause was fixed."""
    from gateway.service.mailbox import requeue_refused

    with hub_session() as hub:
        appeal_id = requeue_refused(hub, ACTOR, message_id)
    typer.echo(f"requeued {message_id} (appeal {appeal_id}): pending again")


@app.command()
def feedback() -> None:
    """How applicants rated each agency's answers: count, mean, and how many gave each rating."""
    from gateway.service.applicant_requests import feedback_summary

    with hub_session() as hub:
        summaries = feedback_summary(hub)
    if not summaries:
        typer.echo("no feedback yet")
        return
    _table(
        ["agency", "count", "mean", "1", "2", "3", "4", "5"],
        [[s.agency_code, s.count, f"{s.mean:.2f}", *(s.by_rating[n] for n in "12345")] for s in summaries],
    )


post_app = typer.Typer(
    help="Answers to send by post (ReplyPreference=post): the list to print, the mark of one posted.",
    no_args_is_help=True,
)
app.add_typer(post_app, name="post")

_POST_COLUMNS = ["appeal", "agency", "number", "answer", "answered on", "addressee", "postcode", "address"]


def _addressee(row: dict[str, Any]) -> str:
    """The name the envelope is addressed to: the organisation's, with its representative, or the person's."""
    person = row["person"] or {}
    name = " ".join(
        p for p in (person.get("last_name"), person.get("first_name"), person.get("middle_name")) if p
    )
    organisation = (row["organisation"] or {}).get("name")
    return f"{organisation}, {name}" if organisation else name


def _post_row(row: dict[str, Any]) -> list[Any]:
    address = row["postal_address"] or {}
    cells = [
        row["appeal_id"], f"{row['agency_code']} {row['agency_name'] or ''}".strip(),
        row["registration_number"] or "-", row["answer_id"], row["answered_on"], _addressee(row),
        address.get("postcode") or "", address.get("text") or "(no postal address)",
    ]  # fmt: skip
    if row["dispatched_on"] is not None:
        cells += [row["dispatched_on"], row["tracking_number"]]
    return cells


@post_app.command("list")
def post_list(
    state: Annotated[str, typer.Option(help="pending (to post) or dispatched (posted)")] = "pending",
    output: Annotated[
        str, typer.Option("--format", help="table (to read) or csv (to print labels from)")
    ] = "table",
    limit: Annotated[int, typer.Option(help="at most this many")] = 500,
) -> None:
    """Answered appeals whose applicants asked for the answer by post, oldest answer first.

    Shows the applicant's name and postal address for the envelope: personal data, for the
    operators' eyes (the list is printed here, never logged).
    """
    from gateway.service.postal_answers import DISPATCHED, answers_to_post

    if output not in ("table", "csv"):
        raise typer.BadParameter("table or csv", param_hint="--format")
    with hub_session() as hub:
        rows = answers_to_post(hub, state, limit)
    headers = _POST_COLUMNS + (["dispatched on", "tracking number"] if state == DISPATCHED else [])
    if output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(_post_row(r) for r in rows)
        return
    if not rows:
        typer.echo(f"no answers {state}")
        return
    _table(headers, [_post_row(r) for r in rows])


@post_app.command("dispatch")
def post_dispatch(
    appeal_id: Annotated[UUID, typer.Argument(help="the appeal whose answer was posted")],
    on: Annotated[str, typer.Option("--on", help="the day it was posted (YYYY-MM-DD)")],
    tracking: Annotated[str, typer.Option("--tracking", help="Почта России's 14 digits or S10 number")],
) -> None:
    """Mark the answer posted: the cabinet and the public lookup show the date and tracking number."""
    from gateway.service.postal_answers import dispatch

    with hub_session() as hub:
        posted = dispatch(hub, ACTOR, appeal_id, on, tracking)
    typer.echo(f"dispatched {appeal_id} on {posted.dispatched_on}, tracking {posted.tracking_number}")
