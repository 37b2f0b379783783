"""Scraping ``/metrics`` and asking promtool whether deploy/prometheus/alerts.yml fires on what it said.

Prometheus' own engine evaluates the rules (``promtool test rules``), so no PromQL is re-implemented
here. The scraped state is held for the longest ``for:`` of the rules and the rules are evaluated at
its end, which stands for the moment of the scrape: ages (``..._age_seconds``, the outbox lag) are
taken as they were, and timestamps (``..._timestamp_seconds``) are moved onto promtool's clock
(which starts at 0) so that ``time() - ts`` there is what it was at the scrape.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.config import PROJECT_ROOT
from tests.conftest import _unavailable

RULES = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.test.yml"
DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "appeals-gateway.json"
METRIC_NAME = re.compile(r"\bappeals_gateway_[a-z0-9_]+")
_DURATION = re.compile(r"(\d+)([smh])")


_SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


@dataclass(frozen=True)
class Scrape:
    at: float  # when it was taken, epoch seconds
    samples: list[Sample]
    names: frozenset[str]  # every sample name the families declare, present now or not

    def value(self, metric: str, /, **labels: str) -> float | None:
        """The sample ``metric`` whose labels include ``labels`` (the first, if several match)."""
        for s in self.samples:
            if s.name == metric and labels.items() <= s.labels.items():
                return s.value
        return None

    def labels(self, metric: str, /, **labels: str) -> dict[str, str]:
        """All labels of the one sample ``metric`` whose labels include ``labels``."""
        (match,) = [s.labels for s in self.samples if s.name == metric and labels.items() <= s.labels.items()]
        return match


def scrape(client: httpx.Client) -> Scrape:
    response = client.get("/metrics")
    response.raise_for_status()
    families = list(text_string_to_metric_families(response.text))
    names = {f.name + suffix for f in families for suffix in _SAMPLE_SUFFIXES.get(f.type, ("",))}
    return Scrape(time.time(), [s for f in families for s in f.samples], frozenset(names))


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        _unavailable("promtool (Debian package prometheus)", FileNotFoundError("promtool"))
    assert path is not None
    return path


def _seconds(duration: str) -> int:
    unit = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * unit[u] for n, u in _DURATION.findall(duration))


def _series(scrape: Scrape, at_minute: int) -> list[dict[str, str]]:
    """The scraped samples of the families the rules use, held from 0 to ``at_minute``."""
    used = set(METRIC_NAME.findall(RULES.read_text(encoding="utf-8")))
    series = []
    for s in scrape.samples:
        if s.name not in used:
            continue
        value = s.value
        if s.name.endswith("_timestamp_seconds"):
            value = value - scrape.at + at_minute * 60
        labels = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(s.labels.items()))
        series.append({"series": f"{s.name}{{{labels}}}", "values": f"{value!r}x{at_minute}"})
    return series


def _evaluate(scrape: Scrape, alertname: str, expected: list[dict[str, str]], **labels: str) -> None:
    """Fail unless the firing alerts ``alertname`` with ``labels`` are exactly ``expected`` (each
    the labels it has besides those)."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    longest = max(_seconds(r.get("for", "0s")) for g in rules["groups"] for r in g["rules"])
    at_minute = longest // 60 + 1
    selector = {"alertname": alertname, "alertstate": "firing", **labels}
    query = "ALERTS{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in selector.items()) + "}"
    exp_samples = [
        {"labels": "ALERTS{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in {**selector, **e}.items()) + "}",
         "value": 1}
        for e in expected
    ]  # fmt: skip
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(scrape, at_minute),
                "promql_expr_test": [
                    {"expr": query, "eval_time": f"{at_minute}m", "exp_samples": exp_samples}
                ],
            }
        ],
    }
    with tempfile.TemporaryDirectory(prefix="alerts-") as directory:
        path = Path(directory) / "scraped.test.yml"
        path.write_text(yaml.safe_dump(test, allow_unicode=True), encoding="utf-8")
        run = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, f"{alertname} {labels}: expected {expected}\n{run.stdout}{run.stderr}"


def assert_fires(scrape: Scrape, alertname: str, severity: str, **labels: str) -> None:
    """The rule of ``severity`` fires on this state, once, with exactly these labels."""
    _evaluate(scrape, alertname, [{}], severity=severity, **labels)


def assert_silent(scrape: Scrape, alertname: str, **labels: str) -> None:
    _evaluate(scrape, alertname, [], **labels)
