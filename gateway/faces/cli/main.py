"""``appeals-gateway``: run the hub, manage its schema and registry, sign envelopes, play the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.config import get_settings
from gateway.domain.model import AttachmentHeader
from gateway.faces.cli import audit, deliveries, mail, ops, scheduled, sms, worker
from gateway.faces.cli.dev_companions import MAKE_RUN_CABINET_URL

app = typer.Typer(
    help="Appeals Gateway: the regional hub between the national portal and agencies' EDMS.",
    no_args_is_help=True,
    add_completion=False,
)
agencies_app = typer.Typer(help="The agency registry.", no_args_is_help=True)
app.add_typer(agencies_app, name="agencies")
app.add_typer(deliveries.app, name="deliveries")
app.add_typer(ops.app, name="ops")
app.add_typer(mail.app, name="mail")
ops.app.add_typer(mail.moderation, name="mail")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(audit.archive_app, name="archive")
app.add_typer(scheduled.app, name="scheduled")
app.command()(worker.worker)
app.command()(worker.relay)
app.command("sms-receipts")(sms.sms_receipts)


@app.callback()
def _configure_logging() -> None:
    """Every command logs as GATEWAY_LOG_FORMAT and GATEWAY_LOG_LEVEL say, on stderr."""
    from gateway.adapters.logs import configure_logging

    configure_logging(get_settings())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="generate a dev PKI, registry and tokens under var/; also run the delivery worker "
            "and a fake citizen's cabinet",
        ),
    ] = False,
    cabinet_port: Annotated[
        int | None,
        typer.Option(
            envvar="GATEWAY_DEV_CABINET_PORT",
            help="with --dev: the fake cabinet's port (default: the hub's port + 11, so 8091)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the HTTP hub (portal intake, EDMS pull, operators); Ctrl-C or SIGTERM stops it and all
    it started."""
    from gateway.faces.cli.serving import serve_hub

    serve_hub(get_settings(), host=host, port=port, workers=workers, dev=dev, cabinet_port=cabinet_port)


@app.command("migrate")
def migrate_command(
    check: Annotated[
        bool, typer.Option("--check", help="only list pending migrations; exit 1 if any")
    ] = False,
) -> None:
    """Bring the database schema up to date (also done on every start)."""
    from gateway.adapters.db import migrate, pending_migrations, resolve_database_url

    url = resolve_database_url(get_settings())
    if check:
        pending = pending_migrations(url)
        typer.echo("\n".join(pending) if pending else "schema is current")
        raise typer.Exit(1 if pending else 0)
    applied = migrate(url)
    typer.echo(f"applied: {', '.join(applied)}" if applied else "schema is current")


@agencies_app.command("load")
def agencies_load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="registry YAML")],
) -> None:
    """Load agencies, routing prefixes, credentials and portal senders from FILE (one transaction)."""
    from pydantic import ValidationError

    from gateway.service.hub import open_hub
    from gateway.service.registry import RegistryError, load_registry

    hub = open_hub(get_settings())
    try:
        senders, agencies = load_registry(hub, file)
    except (ValidationError, RegistryError) as exc:
        typer.echo(f"{file}: invalid registry, nothing loaded:\n{exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        hub.close()
    typer.echo(f"loaded {agencies} agencies and {senders} portal senders from {file}")


@app.command("dev-pki")
def dev_pki(
    directory: Annotated[Path | None, typer.Option(help="where to write it (default var/pki)")] = None,
) -> None:
    """Generate (once) a development PKI: a root CA, portal, applicant and hub certificates."""
    from gateway.adapters.pki import ensure_dev_pki

    pki = ensure_dev_pki(directory or get_settings().pki_dir)
    for name, path in vars(pki).items():
        typer.echo(f"{name:28} {path}")


@app.command()
def sign(
    envelope: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="unsigned envelope XML")],
    key: Annotated[Path, typer.Option(exists=True, help="portal private key (PEM)")],
    cert: Annotated[Path, typer.Option(exists=True, help="portal certificate (PEM)")],
    applicant_key: Annotated[
        Path | None, typer.Option(help="legal entity's key (PEM), signs the Appeal")
    ] = None,
    applicant_cert: Annotated[Path | None, typer.Option(help="legal entity's certificate (PEM)")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write here instead of stdout")
    ] = None,
    stamp: Annotated[
        bool,
        typer.Option(help="first give it a new MessageId, SentAt (now) and PortalAppealId: to push by hand"),
    ] = False,
    attach: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PART=FILE",
            help="declare FILE as the attachment sent in multipart part PART (its name, media type"
            " guessed from the name, size and SHA-256 go into the signed headers); repeatable",
        ),
    ] = None,
) -> None:
    """Sign an envelope as the portal does (XMLDSig, exclusive C14N, RSA/ECDSA-SHA256)."""
    import sys

    from gateway.adapters.xmlsec.envelope import restamp
    from gateway.adapters.xmlsec.signing import sign_envelope

    if (applicant_key is None) != (applicant_cert is None):
        raise typer.BadParameter("--applicant-key and --applicant-cert go together")
    unsigned = envelope.read_bytes()
    if attach:
        from gateway.adapters.xmlsec.envelope import attach as declare

        unsigned = declare(unsigned, [_attachment_header(spec) for spec in attach])
    signed = sign_envelope(
        restamp(unsigned) if stamp else unsigned,
        key.read_bytes(),
        cert.read_bytes(),
        applicant_key_pem=applicant_key.read_bytes() if applicant_key else None,
        applicant_cert_pem=applicant_cert.read_bytes() if applicant_cert else None,
    )
    if output:
        output.write_bytes(signed)
    else:
        sys.stdout.buffer.write(signed)


def _attachment_header(spec: str) -> AttachmentHeader:
    """``PART=FILE`` as the header the portal signs for that part."""
    import hashlib
    import mimetypes

    part, sep, name = spec.partition("=")
    path = Path(name)
    if not sep or not part or not path.is_file():
        raise typer.BadParameter(f"--attach takes PART=FILE with an existing file, not {spec!r}")
    data = path.read_bytes()
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return AttachmentHeader(part, path.name, media_type, len(data), hashlib.sha256(data).hexdigest())


@app.command()
def demo(
    url: Annotated[str, typer.Option(help="the running hub")] = "http://127.0.0.1:8080",
    cabinet: Annotated[
        str, typer.Option(help="the fake citizen's cabinet `make run` starts")
    ] = MAKE_RUN_CABINET_URL,
) -> None:
    """Play the portal and agencies' EDMS against URL, then show what reached the citizen's cabinet."""
    from gateway.faces.cli.demo import run_demo

    run_demo(url, get_settings().data_dir, cabinet)


def main() -> None:
    """The ``appeals-gateway`` command: its arguments held to the hub's text rule, then the app.

    Arguments reach the database (a timeline's reference, an agency code), so they are checked
    here, once, as the REST and SOAP faces check theirs. An argument's bytes that are not UTF-8
    arrive as lone surrogates (Python's ``surrogateescape``) and are refused like a JSON
    ``"\\ud800"``; exit code 2, as for any other usage error.
    """
    import sys

    from gateway.domain.errors import Rejection
    from gateway.domain.text import check

    for position, argument in enumerate(sys.argv[1:], start=1):
        try:
            check(argument, f"argument {position}")
        except Rejection as refused:
            typer.echo(f"appeals-gateway: argument {position} refused: {refused.detail}", err=True)
            raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
