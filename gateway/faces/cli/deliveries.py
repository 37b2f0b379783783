"""``appeals-gateway deliveries``: what the outbox holds, and replaying dead deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.faces.cli.session import hub_session

app = typer.Typer(help="Outgoing deliveries (the outbox): list them, replay dead ones.", no_args_is_help=True)

STATUSES = ("pending", "in-flight", "retrying", "delivered", "dead")


@app.command("list")
def list_deliveries(
    status: Annotated[str | None, typer.Option(help="one of: " + ", ".join(STATUSES))] = None,
    connector: Annotated[str | None, typer.Option(help="e.g. cabinet, sed-push")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
) -> None:
    """Deliveries with their attempts, last error and next attempt."""
    from gateway.adapters.db import outbox as outbox_db

    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"status must be one of: {', '.join(STATUSES)}")
    with hub_session() as hub, hub.pool.connection() as conn:
        rows = outbox_db.deliveries(conn, status=status, connector=connector, limit=limit)
    if not rows:
        typer.echo("no deliveries match")
        return
    header = f"{'id':>8}  {'connector':10} {'status':10} {'att':>3}  {'next attempt':19}"
    typer.echo(header + "  appeal #seq  last error")
    for r in rows:
        nxt = r["next_attempt_at"].strftime("%Y-%m-%d %H:%M:%S") if r["status"] == "retrying" else "-"
        typer.echo(
            f"{r['id']:>8}  {r['connector']:10} {r['status']:10} {r['attempts']:>3}  {nxt:19}  "
            f"{owner(r)} #{r['seq']}  {r['last_error'] or ''}"
        )


def owner(row: dict) -> str:
    """The appeal a delivery is for, or the e-mail a reply answers when it has no appeal (0017)."""
    return str(row["appeal_id"]) if row["appeal_id"] else f"e-mail {row['incoming_mail_id']}"


@app.command()
def replay(
    ids: Annotated[list[int] | None, typer.Argument(help="outbox ids of dead deliveries")] = None,
    all_dead: Annotated[
        bool, typer.Option("--all-dead", help="every dead delivery (of --connector)")
    ] = False,
    connector: Annotated[str | None, typer.Option(help="only this connector's")] = None,
) -> None:
    """Send dead deliveries again (after fixing what killed them); the relay picks them up at once."""
    from gateway.service.delivery import replay as replay_dead

    if not ids and not all_dead:
        raise typer.BadParameter("name outbox ids, or pass --all-dead")
    with hub_session() as hub:
        revived = replay_dead(hub, "operator:cli", ids=ids or None, connector=connector)
    for row in revived:
        typer.echo(f"replaying {row['id']} ({row['connector']}, appeal {row['appeal_id']} #{row['seq']})")
    missing = sorted(set(ids or ()) - {r["id"] for r in revived})
    if missing:
        typer.echo(f"not dead (or unknown), left alone: {', '.join(map(str, missing))}", err=True)
    typer.echo(f"{len(revived)} deliveries due again")
    if missing:
        raise typer.Exit(1)
