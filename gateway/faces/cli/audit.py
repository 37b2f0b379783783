"""``appeals-gateway audit verify``, ``audit seal`` and ``appeals-gateway archive export``: the audit
trail's integrity, and a period's evidence written out for long-term storage."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from gateway.config import get_settings

audit_app = typer.Typer(help="The audit trail: a hash chain of every state change.", no_args_is_help=True)
archive_app = typer.Typer(help="Archives of signed messages and audit records.", no_args_is_help=True)


def _hub():
    from gateway.service.hub import open_hub

    return open_hub(get_settings(), apply_migrations=False)


def _progress(message: str) -> None:
    typer.echo(message, err=True)


@audit_app.command()
def verify(
    anchor: Annotated[
        str | None,
        typer.Option(
            help="a head hash kept outside the database (an archive manifest's chain_head.hash, hex): "
            "the chain must still contain it"
        ),
    ] = None,
) -> None:
    """Check the audit trail's hash chain; name the first record edited, inserted or deleted.

    Every record is checked against its hash, its link to the record before it, and the chain's head;
    then the records not chained yet (the relay chains them within a second) are counted.
    Exit 0 with a one-line summary when the chain is intact;
    exit 1 naming the first bad record, what was done to it and how it shows, when not;
    exit 1 too when a record has waited longer than GATEWAY_AUDIT_SEAL_MAX_AGE_SECONDS to be chained.
    """
    from gateway.service.audit_chain import verify as verify_chain

    try:
        anchor_bytes = None if anchor is None else bytes.fromhex(anchor)
    except ValueError:
        raise typer.BadParameter("--anchor is a SHA-256 in hex") from None
    settings = get_settings()
    hub = _hub()
    try:
        report = verify_chain(
            hub, anchor=anchor_bytes, progress=_progress, max_age_s=settings.audit_seal_max_age_seconds
        )
    finally:
        hub.close()
    if report.broken is not None:
        b = report.broken
        record = "the chain" if b.record_id is None else f"record #{b.record_id} ({b.action or 'missing'})"
        typer.echo(f"audit chain BROKEN at {record}: {b.fault} — {b.reason}")
        raise typer.Exit(1)
    window = _window(report.unchained)
    if report.sealed_late:
        typer.echo(
            f"audit records not chained within {report.max_age_s:g} s: {window}; is the relay running?"
        )
        raise typer.Exit(1)
    if report.records == 0:
        typer.echo(f"audit chain intact: no records chained yet; {window}")
        return
    end_hash = report.end_hash.hex() if report.end_hash else ""
    typer.echo(
        f"audit chain intact: {report.records:,} records, #{report.first_id} to #{report.last_id}, "
        f"head {end_hash}; {window}"
    )


def _window(unchained) -> str:
    if unchained.records == 0:
        return "none waits to be chained"
    return f"{unchained.records:,} not chained yet, the oldest for {unchained.oldest_age_s:.1f} s"


@audit_app.command()
def seal() -> None:
    """Chain the audit records committed so far into the hash chain, now.

    The relay does this every GATEWAY_AUDIT_SEAL_INTERVAL_SECONDS; run this when no relay runs
    (before `audit verify` on a copy of the database, say). Safe beside running relays: one seals
    at a time, and a record is never chained twice.
    """
    from gateway.service.audit_chain import seal as seal_chain

    hub = _hub()
    try:
        sealed = seal_chain(hub)
    finally:
        hub.close()
    typer.echo(f"audit records chained: {sealed:,}")


DAY = ["%Y-%m-%d"]


@archive_app.command()
def export(
    first: Annotated[datetime, typer.Option("--from", formats=DAY, help="the period's first day")],
    last: Annotated[datetime, typer.Option("--to", formats=DAY, help="the period's last day (included)")],
    out: Annotated[Path, typer.Option(dir_okay=False, help="the tar file to write")],
    tz: Annotated[str, typer.Option(help="the time zone the days are counted in")] = "UTC",
) -> None:
    """Write a period's signed messages, attachments and audit records to a tar for long-term storage.

    inbound/: the portal's signed envelopes received in the period, byte for byte;
    answers/: the agencies' signed answers received in the period, byte for byte;
    attachments/: every attachment they bind, named by its SHA-256;
    audit.jsonl: the period's audit records with their links and hashes;
    manifest.json: every file's SHA-256 and size, the period, the chain's hashes at its start and end
    and the chain's head (keep that hash apart from the database; audit verify --anchor checks it).
    """
    from gateway.adapters.tar_archive import MemberMismatch
    from gateway.service.archive import ExportFailed
    from gateway.service.archive import export as export_period

    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {tz!r}") from None
    if last < first:
        raise typer.BadParameter("--to is before --from")
    period_start = datetime.combine(first.date(), time(), zone)
    period_end = datetime.combine(last.date() + timedelta(days=1), time(), zone)
    if out.exists():
        raise typer.BadParameter(f"{out} exists; archives are not overwritten")
    if not out.parent.is_dir():
        raise typer.BadParameter(f"no directory {out.parent}")
    hub = _hub()
    try:
        manifest = export_period(hub, period_start, period_end, out, progress=_progress)
    except (ExportFailed, MemberMismatch) as exc:
        typer.echo(f"export failed, nothing written: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        hub.close()
    audit, head = manifest["audit"], manifest["chain_head"]
    typer.echo(
        f"{out}: {len(manifest['files'])} files, {audit['records']} audit records "
        f"(chain {audit['start_hash'] or 'start'} → {audit['end_hash']}); "
        f"chain head #{head['last_id']} {head['hash']}: keep it apart from the database"
    )
