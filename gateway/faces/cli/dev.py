"""``serve --dev``: what a developer needs to try the hub, generated under ``var/``, never committed."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import typer
import yaml

from gateway.adapters.pki import ensure_dev_pki
from gateway.config import Settings, bundled
from gateway.faces.cli.dev_companions import MAKE_RUN_CABINET_URL
from gateway.service.hub import open_hub
from gateway.service.registry import hash_secret, load_registry

EXAMPLE_REGISTRY = bundled("deploy/agencies.example.yaml")


def _dev_tokens(path: Path, agency_codes: list[str]) -> dict[str, str]:
    """Random tokens, made once and kept (0600) so restarts keep working credentials."""
    tokens: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for code in [*agency_codes, "operator"]:
        tokens.setdefault(code, secrets.token_urlsafe(24))
    path.write_text(json.dumps(tokens, indent=2))
    path.chmod(0o600)
    return tokens


def write_dev_registry(dev_dir: Path) -> tuple[Path, dict[str, str]]:
    """The example registry with generated tokens; returns its path and the tokens by agency code
    and portal sender id.

    It is written to ``dev_dir``, beside the dev PKI's directory (``var/dev`` and ``var/pki``), so
    the example's relative certificate paths (``../pki/…``) resolve to the dev PKI.
    """
    dev_dir.mkdir(parents=True, exist_ok=True)
    registry = yaml.safe_load(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    entries = [*registry["agencies"], *registry["portal_senders"]]
    tokens = _dev_tokens(dev_dir / "tokens.json", [e.get("code") or e["id"] for e in entries])
    for entry in entries:
        entry["credentials"] = {"token_sha256": [hash_secret(tokens[entry.get("code") or entry["id"]])]}
    path = dev_dir / "agencies.yaml"
    path.write_text(yaml.safe_dump(registry, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, tokens


def prepare_dev_environment(settings: Settings, *, base_url: str, cabinet_port: int) -> None:
    """Dev PKI, a registry with tokens, loaded; then point this process's settings at them."""
    pki = ensure_dev_pki(settings.pki_dir)
    registry_path, tokens = write_dev_registry(settings.data_dir / "dev")
    os.environ["GATEWAY_TRUST_ANCHORS"] = str(pki.trust_anchors)
    os.environ["GATEWAY_OPERATOR_TOKENS_SHA256"] = json.dumps([hash_secret(tokens["operator"])])
    hub = open_hub(settings)
    try:
        load_registry(hub, registry_path, actor="dev-setup")
    finally:
        hub.close()
    lines = [
        "Development hub (embedded PostgreSQL unless DATABASE_URL is set)",
        f"  dev PKI:        {settings.pki_dir}",
        f"  registry:       {registry_path}",
        f"  tokens:         {settings.data_dir / 'dev' / 'tokens.json'}",
        f"  operator token: {tokens['operator']}",
        f"  try it:         appeals-gateway demo --url {base_url}{_cabinet_option(settings, cabinet_port)}",
    ]
    typer.echo("\n".join(lines))


def _cabinet_option(settings: Settings, cabinet_port: int) -> str:
    """``--cabinet`` for the demo when the fake cabinet is not where the demo looks by default."""
    url = f"http://127.0.0.1:{cabinet_port}"
    return "" if settings.cabinet_url or url == MAKE_RUN_CABINET_URL else f" --cabinet {url}"
