"""How the operators' commands print: tables through rich for a person, ``--json`` for a script.

Tables have no borders and no wrapping: in a terminal they fit its width and may use colour; piped
or redirected, every row stays one line of plain text (columns two spaces apart), so ``grep``,
``awk`` and ``cut`` keep working. ``--json`` prints one JSON document: ids, dates and times as
strings, as the operators' REST face gives them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

AS_JSON = Annotated[bool, typer.Option("--json", help="print one JSON document instead of a table")]
_PIPED_WIDTH = 10_000  # no terminal: never wrap a row


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    grid = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold", show_edge=False)
    for header in headers:
        grid.add_column(header, no_wrap=True, overflow="ellipsis")
    for row in rows:
        grid.add_row(*(str(cell) for cell in row))
    if sys.stdout.isatty():
        Console(highlight=False).print(grid)
        return
    plain_text = io.StringIO()
    Console(file=plain_text, width=_PIPED_WIDTH, highlight=False, color_system=None).print(grid)
    for line in plain_text.getvalue().splitlines():
        typer.echo(line.rstrip())


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: ids, dates and times as strings, digests as hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def emit_json(document: Any) -> None:
    typer.echo(json.dumps(plain(document), ensure_ascii=False, indent=2))
