"""The build's one hook: the wheel carries the repository's top-level ``schemas/`` (and the example
agency registry ``serve --dev`` starts from) inside the package, as ``gateway/_bundled/``.

Why a copy made at build time rather than moving the files: ``schemas/`` at the top level is the
contract the portal, the agencies and the cabinet are handed (docs and tests name those paths), so
it stays the one canonical source in git; no symlink (it would not survive every sdist, archive and
Windows checkout); and no package-dir mapping (``packages.find`` cannot mix with a mapped package).
A source checkout (``make install``, editable) has no ``_bundled/`` and reads the top-level files;
``gateway.config.SCHEMAS_DIR`` picks whichever is there. Everything else is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("schemas", "deploy/agencies.example.yaml")


class BuildPyWithBundled(build_py):
    """``build_py``, then the top-level files copied under the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree's own files
        target = Path(self.build_lib) / "gateway" / "_bundled"
        for name in BUNDLED:
            source, dest = ROOT / name, target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest, dirs_exist_ok=True)
            else:
                shutil.copy2(source, dest)


setup(cmdclass={"build_py": BuildPyWithBundled})
