"""The hub for one CLI command: opened on the configured database, closed when the command ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from gateway.config import get_settings
from gateway.domain.errors import Rejection

if TYPE_CHECKING:  # the hub's imports (XML security, the pool) wait until a command runs
    from gateway.service.hub import Hub


@contextmanager
def hub_session() -> Iterator[Hub]:
    """Commands read and act on a running hub's database; they never migrate it (``serve`` does).

    A refusal from the service layer ends the command with its code and reason, exit status 1.
    """
    from gateway.service.hub import open_hub

    hub = open_hub(get_settings(), apply_migrations=False)
    try:
        yield hub
    except Rejection as refused:  # the operator's mistake: the reason, not a traceback
        where = f" ({refused.pointer})" if refused.pointer else ""
        typer.secho(f"{refused.code.value}: {refused.detail}{where}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    finally:
        hub.close()
