"""``appeals-gateway scheduled …``: the periodic jobs, for a timer on every node (deploy/systemd).

Each run claims its job's period in the database first; on every node but the first it says so
and exits 0, so the same timer can run everywhere (gateway/service/scheduled.py).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gateway.config import get_settings

app = typer.Typer(
    help="Periodic jobs for timers on every node: each runs once per period, on the first node to claim it.",
    no_args_is_help=True,
)


class Every(StrEnum):
    hour = "hour"
    day = "day"


TZ = Annotated[str, typer.Option(help="the time zone periods are counted in")]
STALE = Annotated[
    int, typer.Option(help="minutes after which a claim its node never finished may be taken again")
]


def _report(run) -> None:
    from gateway.service.scheduled import Run

    assert isinstance(run, Run)
    when = run.period_start.isoformat()
    if not run.ran:
        other = run.other or {}
        state = other.get("outcome") or "running"
        typer.echo(f"{run.job} for the period from {when}: already claimed by {other.get('node')} ({state})")
        return
    assert run.outcome is not None
    typer.echo(f"{run.job} for the period from {when}: {run.outcome.summary}")
    if not run.outcome.ok:
        raise typer.Exit(1)


@app.command("audit-verify")
def audit_verify(
    every: Annotated[Every, typer.Option(help="how often the chain is checked")] = Every.day,
    tz: TZ = "UTC",
    stale_after: STALE = 120,
) -> None:
    """``audit verify`` once per hour or day across all nodes; exit 1 when the chain is broken or a
    record waits longer than GATEWAY_AUDIT_SEAL_MAX_AGE_SECONDS to be chained."""
    from gateway.service import scheduled
    from gateway.service.audit_chain import verify as verify_chain
    from gateway.service.hub import open_hub

    settings = get_settings()
    hub = open_hub(settings, apply_migrations=False)

    def work() -> scheduled.Outcome:
        report = verify_chain(hub, max_age_s=settings.audit_seal_max_age_seconds)
        if report.broken is not None:
            b = report.broken
            return scheduled.Outcome(False, f"audit chain BROKEN at record #{b.record_id}: {b.fault}")
        if report.sealed_late:
            age = report.unchained.oldest_age_s
            return scheduled.Outcome(
                False, f"audit records not chained within {report.max_age_s:g} s (the oldest {age:.0f} s): "
                "is the relay running?",
            )  # fmt: skip
        return scheduled.Outcome(True, f"audit chain intact: {report.records:,} records")

    try:
        start = scheduled.period(hub, every.value, tz)
        run = scheduled.run_once(hub, "audit-verify", start, work, stale_after=timedelta(minutes=stale_after))
    finally:
        hub.close()
    _report(run)


@app.command("archive-export")
def archive_export(
    directory: Annotated[Path, typer.Option(file_okay=False, help="where the day's archive is written")],
    tz: TZ = "UTC",
    stale_after: STALE = 240,
) -> None:
    """``archive export`` of yesterday (in TZ), once across all nodes, to DIRECTORY/appeals-gateway-DAY.tar.

    The archive is written on the node that runs it: DIRECTORY should be storage all nodes share.
    """
    from gateway.adapters.tar_archive import MemberMismatch
    from gateway.service import scheduled
    from gateway.service.archive import ExportFailed
    from gateway.service.archive import export as export_period
    from gateway.service.hub import open_hub

    if not directory.is_dir():
        raise typer.BadParameter(f"no directory {directory}")
    hub = open_hub(get_settings(), apply_migrations=False)
    try:
        zone = _zone(tz)
        start = scheduled.period(hub, "day", tz, offset=-1)
        day = start.astimezone(zone).date()
        end = datetime.combine(day + timedelta(days=1), time(), zone)  # 23 or 25 h on a DST day
        out = directory / f"appeals-gateway-{day.isoformat()}.tar"

        def work() -> scheduled.Outcome:
            try:
                manifest = export_period(hub, start, end, out)
            except (ExportFailed, MemberMismatch) as exc:
                return scheduled.Outcome(False, f"export failed, nothing written: {exc}")
            head = manifest["chain_head"]
            return scheduled.Outcome(True, f"{out}: chain head #{head['last_id']} {head['hash']}")

        stale = timedelta(minutes=stale_after)
        run = scheduled.run_once(hub, "archive-export", start, work, stale_after=stale)
    finally:
        hub.close()
    _report(run)


def _zone(tz: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {tz!r}") from None
