"""The shell blocks of the documentation, as a reader would paste them.

A fenced block marked ``sh`` is a command against the dev hub (`make run`). One preceded by an HTML
comment ``<!-- not run: why -->`` is shown but not run (a production host's command, a value to
set), and must say why; one preceded by ``<!-- run by: tests/….py -->`` is run by that test, which
checks more than its exit status. The blocks of one page run in order in one shell, so a page can set a
variable and use it later, as a reader pasting them one after another does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gateway.config import PROJECT_ROOT

_FENCE = re.compile(r"^```(\w*)\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.*?)\s*-->\s*$")
_RUN_BY = re.compile(r"^<!--\s*run by:\s*(\S+)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    not_run: str | None  # why it is not run, or None
    run_by: str | None = None  # the test that runs it instead, or None


def pages() -> list[Path]:
    """Every page a reader is sent to: the README, CONTRIBUTING and docs/."""
    found = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "CONTRIBUTING.md"]
    found += sorted((PROJECT_ROOT / "docs").glob("*.md"))
    return [page for page in found if page.exists()]


def shell_blocks(page: Path) -> list[Block]:
    """The ``sh`` blocks of one page, in order."""
    return fenced_blocks(page, "sh")


def fenced_blocks(page: Path, info: str) -> list[Block]:
    """The fenced blocks of one page whose info string is ``info`` ("" for a bare fence), in order;
    fences are paired as Markdown pairs them, so a closing fence never opens a block."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if opening.group(1) == info:
            before = lines[i - 1] if i else ""
            not_run, run_by = _NOT_RUN.match(before), _RUN_BY.match(before)
            code = "\n".join(lines[i + 1 : end]) + "\n"
            blocks.append(
                Block(
                    page,
                    i + 1,
                    code,
                    not_run.group(1) if not_run else None,
                    run_by.group(1) if run_by else None,
                )
            )
        i = end + 1
    return blocks


def script(blocks: list[Block], hub_port: int, cabinet_port: int) -> str:
    """One page's runnable blocks as one bash script aimed at the test's hub.

    ``curl`` fails on an HTTP error status (a reader would see the error; the test must too), and
    each block is announced on stderr so a failure names its line.
    """
    parts = [
        "set -euo pipefail",
        'curl() { command curl --fail-with-body --max-time 60 "$@"; echo; }',
    ]
    for block in blocks:
        if block.not_run is not None or block.run_by is not None:
            continue
        code = block.code.replace("127.0.0.1:8080", f"127.0.0.1:{hub_port}")
        code = code.replace("127.0.0.1:8091", f"127.0.0.1:{cabinet_port}")
        parts.append(f"echo '--- {block.page.name}:{block.line}' >&2")
        parts.append(code)
    return "\n".join(parts) + "\n"
