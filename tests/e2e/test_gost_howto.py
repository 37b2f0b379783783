"""docs/gost.md's walk-through, run as it stands: openssl makes the GOST keys and certificates, the CLI
signs, openssl verifies; then the hub's verifier, trusting the walk-through's CA, accepts the result."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from gateway.adapters.xmlsec.parsing import parse_hardened
from gateway.adapters.xmlsec.signature import EnvelopeVerifier
from gateway.config import PROJECT_ROOT

GUIDE = PROJECT_ROOT / "docs" / "gost.md"


def test_the_gost_walk_through_runs_as_written(gost_pki, tmp_path: Path):
    (script,) = re.findall(r"```sh\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ENVELOPE": str(PROJECT_ROOT / "schemas" / "examples" / "appeal-unsigned.xml"),
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("Verified OK")

    verifier = EnvelopeVerifier((tmp_path / "ca.pem").read_bytes())
    verified = verifier.verify_portal(parse_hardened((tmp_path / "signed.xml").read_bytes(), max_depth=48))
    assert verified.suite == "gost-2012"

    # The walk-through's own check has teeth: one flipped bit and openssl refuses.
    signature = bytearray((tmp_path / "signature.bin").read_bytes())
    signature[3] ^= 0x01
    (tmp_path / "signature.bin").write_bytes(bytes(signature))
    last = script.strip().splitlines()[-1]
    assert (
        subprocess.run(
            ["bash", "-c", last], cwd=tmp_path, env=env, capture_output=True, check=False
        ).returncode
        != 0
    )
