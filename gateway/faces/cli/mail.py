"""``appeals-gateway mail poll`` and ``appeals-gateway ops mail``: incoming e-mail and its moderation.

The poll runs once by default (cron-friendly); ``--every N`` keeps polling. The relay process polls
on its own every ``GATEWAY_MAIL_POLL_SECONDS`` when mailboxes are configured, so a deployment
needs neither. Moderation commands act as ``operator:cli`` and are audited like every other fix.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any
from uuid import UUID

import typer

from gateway.faces.cli.session import hub_session

app = typer.Typer(help="Incoming e-mail: poll the configured IMAP mailboxes.", no_args_is_help=True)
moderation = typer.Typer(help="The moderation queue of e-mailed appeals.", no_args_is_help=True)

ACTOR = "operator:cli"


@app.command()
def poll(
    mailbox: Annotated[str | None, typer.Option(help="only this mailbox (its `name`)")] = None,
    every: Annotated[
        float | None, typer.Option(help="poll again every N seconds until Ctrl-C", min=1)
    ] = None,
) -> None:
    """File every message of the mailboxes into the moderation queue, once; print one JSON line each."""
    from connectors.mail.imap import open_mailbox
    from gateway.service import incoming_mail

    with hub_session() as hub:
        if not hub.settings.mail_mailboxes:
            typer.secho("no mailboxes: set GATEWAY_MAIL_MAILBOXES", err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
        stop = threading.Event()
        while True:
            results = incoming_mail.poll_all(hub, open_mailbox, mailbox)
            for r in results:
                typer.echo(json.dumps(r.as_dict()))
            if every is None:
                raise typer.Exit(1 if any(r.error for r in results) else 0)
            try:
                stop.wait(every)
            except KeyboardInterrupt:
                return


def _short(row: dict[str, Any], key: str, width: int) -> str:
    value = str(row.get(key) or "")
    return value if len(value) <= width else value[: width - 1] + "…"


@moderation.command("list")
def list_mail(
    state: Annotated[
        str | None, typer.Option(help="waiting, quarantined, registered or rejected (default: the first two)")
    ] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
) -> None:
    """E-mails waiting for a decision and quarantined ones, oldest first."""
    from gateway.faces.cli.ops import _table
    from gateway.service import incoming_mail

    with hub_session() as hub:
        rows = incoming_mail.queue(hub, state, limit)
    _table(
        ["id", "filed", "state", "labels", "from", "subject", "att", "reason"],
        [
            [r["id"], f"{r['filed_at']:%Y-%m-%d %H:%M}", r["state"], ",".join(r["labels"]) or "-",
             _short(r, "sender", 30), _short(r, "subject", 40), r["attachment_count"],
             r["quarantine_reason"] or r["rejection_reason"] or "-"]
            for r in rows
        ],
    )  # fmt: skip


@moderation.command()
def show(mail_id: UUID) -> None:
    """One e-mail: its headers, text, attachments, labels and what was decided."""
    from gateway.service import incoming_mail

    with hub_session() as hub:
        row = incoming_mail.show(hub, mail_id)
    filed = f"{row['filed_at']:%Y-%m-%d %H:%M}"
    typer.secho(f"{row['id']}  {row['state']}  (mailbox {row['mailbox']}, filed {filed})", bold=True)
    if row["quarantine_reason"]:
        why = f"{row['quarantine_reason']} ({row['quarantine_detail']})"
        typer.echo(f"quarantined: {why}, {row['size']} bytes")
    if row["labels"]:
        typer.echo("labels: " + ", ".join(row["labels"]))
    for name, value in row["headers"]:
        typer.echo(f"{name}: {value}")
    for a in row["attachments"]:
        typer.echo(f"attachment {a['n']}: {a['file_name']} ({a['media_type']}, {a['size']} bytes)")
    if row["text"]:
        typer.echo("\n" + row["text"])
    if row["state"] in ("registered", "rejected"):
        typer.echo(f"\n{row['state']} by {row['decided_by']} at {row['decided_at']:%Y-%m-%d %H:%M}: "
                   f"{row['appeal_id'] or row['rejection_reason']}")  # fmt: skip
    if row["reply_template"]:
        if row["reply_outbox_id"] is None:
            how = "owed: no SMTP server configured"
        else:
            error = f", {row['reply_error']}" if row["reply_error"] else ""
            how = f"delivery {row['reply_outbox_id']} {row['reply_status']}{error}"
        typer.echo(f"reply to the sender: {row['reply_template']} ({how})")


@moderation.command()
def register(
    mail_id: UUID,
    agency: Annotated[str, typer.Option(help="the agency's code")],
    topic: Annotated[str, typer.Option(help="topic code, 0000.0000.0000.0000[.0000]")],
    territory: Annotated[str, typer.Option(help="OKTMO or SOATO")],
    kind: Annotated[str, typer.Option(help="proposal, statement or complaint")] = "statement",
) -> None:
    """Make the e-mail an appeal (channel e-mail) in the agency's mailbox, with its legal clock."""
    from gateway.service import incoming_mail

    with hub_session() as hub:
        appeal_id = incoming_mail.register(
            hub, ACTOR, mail_id, incoming_mail.Registration(agency, topic, territory, kind)
        )
    typer.echo(json.dumps({"incoming_mail": str(mail_id), "appeal_id": str(appeal_id), "routed_to": agency}))


@moderation.command()
def reject(
    mail_id: UUID,
    reason: Annotated[
        str, typer.Option(help="anonymous, no-return-address, not-an-appeal, channel-not-allowed or other")
    ],
    comment: Annotated[str | None, typer.Option(help="told to the sender; required with `other`")] = None,
) -> None:
    """Reject the e-mail with a reason; the sender is told (unless it was an automatic message)."""
    from gateway.service import incoming_mail

    with hub_session() as hub:
        incoming_mail.reject(hub, ACTOR, mail_id, reason, comment)
    typer.echo(json.dumps({"incoming_mail": str(mail_id), "rejected": reason}))
