"""What every deploy kit is held to: it sets only the hub's settings, and runs only commands the
CLI has (with options the CLI takes). Shared by the tests of deploy/ and docs/deployment.md."""

from __future__ import annotations

from collections.abc import Iterable

import typer

from gateway.config import Settings
from gateway.faces.cli.main import app

# Read by libraries the hub uses, not by its settings: libpq's password file (psycopg), and
# prometheus_client's directory for several processes' metrics (docs/metrics-alerts.md).
LIBRARY_VARIABLES = {"PGPASSFILE", "PROMETHEUS_MULTIPROC_DIR"}


def setting_names() -> set[str]:
    """Every environment variable a hub setting is read from (gateway/config.py)."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.update(str(choice).upper() for choice in choices)
        else:
            names.add((prefix + name).upper())
    return names


def unknown_variables(names: Iterable[str]) -> set[str]:
    return set(names) - setting_names() - LIBRARY_VARIABLES


def cli_command(args: list[str]) -> str:
    """Parse ``args`` as ``appeals-gateway`` would (subcommands, options, required arguments)
    without running anything; returns the command's path, or raises click's usage error."""
    command = typer.main.get_command(app)
    context = command.make_context("appeals-gateway", list(args))
    path = ["appeals-gateway"]
    while hasattr(command, "resolve_command"):  # a group (typer ships its own copy of click)
        # click keeps the subcommand's name apart from its arguments (a private name since 8.2)
        protected = getattr(context, "_protected_args", None) or getattr(context, "protected_args", [])
        rest = [*protected, *context.args]
        name, sub, rest = command.resolve_command(context, rest)
        assert sub is not None and name is not None
        path.append(name)
        context = sub.make_context(name, rest, parent=context)
        command = sub
    return " ".join(path)
