"""Soak: mixed traffic at a steady, modest rate for a long time; does any process's memory grow?

The hub runs as deployed (``uvicorn --workers 2``) with one ``appeals-gateway worker`` (two Celery
processes and the relay) delivering to the fake cabinet in this process. Every second the bench
pushes ``--rate`` signed appeals; the EDMS pulls its mailbox once a second (REST and SOAP in turn),
acknowledges, and then takes each appeal through registered, assigned and answered (with an answer
signed by the agency's key), a few seconds apart; applicants look their appeal's status up by
registration number and the access code the cabinet received; Prometheus scrapes ``/metrics``
every 15 s (multiprocess mode, as deployed). Every event is a cabinet delivery.

Every few seconds the RSS of each process of the hub and of the worker is read from ``/proc``. The
slope (least squares, MB/hour) is fitted after the warm-up, a quarter of the run (5 of 20 minutes):
a leak keeps growing through the whole run; warm-up flattens. What fills up here, and when: the
connection and thread pools at once; Litestar's routing cache (1,024 paths, a path per appeal)
within minutes; Celery's main process keeps a cancelled time-limit timer per task until it would
have fired (``TASK_TIME_LIMIT``, 5 minutes) and the last 1,000 task ids.

Needs RabbitMQ (BROKER_URL, default amqp://guest:guest@127.0.0.1:5672//).
Last line: {"bench":"soak","minutes":…,"max_slope_mb_per_h":…,"slopes_mb_per_h":{…},…}
"""

from __future__ import annotations

import argparse
import heapq
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import psycopg
from _harness import log, machine, running_hub, running_worker
from lxml import etree
from pull import AGENCY, SED, _soap

from gateway.simulators.cabinet import FakeCabinet
from gateway.simulators.edms import signed_answer
from gateway.simulators.portal import Portal, Signer
from gateway.simulators.samples import sample_answer, sample_appeal

SAMPLE_EVERY_S = 5.0
LIFECYCLE_GAPS_S = (0.0, 2.0, 4.0)  # registered, assigned, answered: seconds after the ack
SENDERS = 8
MAX_LATE_S = 2.0
SCRAPE_EVERY_S = 15.0  # Prometheus' default scrape interval


# --- RSS of a process tree, from /proc -------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return sorted(kids)


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class RssSampler(threading.Thread):
    """Samples every process of the hub (master and workers) and of the delivery worker (Celery
    main and pool processes, relay); a process is one series, named by role and pid."""

    def __init__(self, hub_pid: int, worker_pid: int, every_s: float) -> None:
        super().__init__(daemon=True)
        self.roots = {"hub-master": hub_pid, "celery-main": worker_pid}
        self.every_s = every_s
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.start_at = time.monotonic()
        self.stopped = threading.Event()

    def _label(self, root: str, pid: int) -> str:
        cmd = _cmdline(pid)
        if root == "hub-master":
            return f"hub-resource-tracker-{pid}" if "resource_tracker" in cmd else f"hub-worker-{pid}"
        return f"relay-{pid}" if " relay" in cmd else f"celery-pool-{pid}"

    def sample(self) -> None:
        t = time.monotonic() - self.start_at
        for root, pid in self.roots.items():
            pids = {f"{root}-{pid}": pid}
            pids.update({self._label(root, kid): kid for kid in _children(pid)})
            for label, p in pids.items():
                rss = _rss_mb(p)
                if rss is not None:
                    self.series.setdefault(label, []).append((t, rss))

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            self.sample()


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS (MB) over time (s), scaled to MB/hour."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (r - mean_r) for t, r in points)
    return cov / var * 3600 if var else 0.0


# --- the traffic -----------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Mixed traffic on one schedule: a heap of (due, action) run by a pool of senders."""

    url: str
    agency_token: str
    portal: Portal
    answer_signer: tuple[bytes, bytes]
    cabinet: FakeCabinet
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    _due: list[tuple[float, int, str | None, Callable[[], None]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)
    _seq: int = 0
    _lookups: list[tuple[str, str]] = field(default_factory=list)
    late_s: float = 0.0  # the most a sender started an action after its time, since the last report

    def at(self, due: float, action: Callable[[], None], optional: str | None = None) -> None:
        """Run ``action`` at ``due``; an ``optional`` one (named) is skipped when it is already late."""
        with self._lock:
            self._seq += 1
            heapq.heappush(self._due, (due, self._seq, optional, action))

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(base_url=self.url, timeout=60)
        return client

    def _count(self, name: str, response: httpx.Response, ok: tuple[int, ...] = (200, 201)) -> httpx.Response:
        with self._lock:
            if response.status_code in ok:
                self.counts[name] = self.counts.get(name, 0) + 1
            else:
                key = f"{name}:{response.status_code}"
                self.errors[key] = self.errors.get(key, 0) + 1
        return response

    @property
    def _agency(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.agency_token}"}

    def push(self, n: int) -> None:
        raw = self.portal.envelope(sample_appeal(n))
        headers = {"Content-Type": "application/xml"}
        self._count("push", self._client().post("/portal/v1/appeals", content=raw, headers=headers))

    def pull(self, soap: bool) -> None:
        """Lease what waits and acknowledge it in one batch; each appeal then lives its lifecycle."""
        leased = self._lease_soap() if soap else self._lease_rest()
        if not leased:
            return
        if soap:
            acks = "".join(
                f"<sed:Ack><sed:MessageId>{m}</sed:MessageId><sed:LeaseToken>{t}</sed:LeaseToken></sed:Ack>"
                for m, t, _ in leased
            )
            body = _soap(f"<sed:AckBatch>{acks}</sed:AckBatch>")
            response = self._client().post("/sed/soap/v1", content=body, headers=self._soap_headers)
        else:
            acks = [{"message_id": m, "lease_token": t} for m, t, _ in leased]
            response = self._client().post("/sed/v1/messages/ack", json={"acks": acks}, headers=self._agency)
        self._count("ack_soap" if soap else "ack_rest", response)
        now = time.monotonic()
        for _, _, appeal_id in leased:
            number = f"SOAK-{appeal_id[:13]}"
            self.at(now + LIFECYCLE_GAPS_S[0], lambda a=appeal_id, n=number: self.registered(a, n))
            self.at(now + LIFECYCLE_GAPS_S[1], lambda a=appeal_id: self.assigned(a))
            self.at(now + LIFECYCLE_GAPS_S[2], lambda a=appeal_id, n=number: self.answered(a, n))

    @property
    def _soap_headers(self) -> dict[str, str]:
        return {**self._agency, "Content-Type": "text/xml; charset=utf-8"}

    def _lease_rest(self) -> list[tuple[str, str, str]]:
        response = self._count(
            "pull_rest", self._client().get("/sed/v1/messages", params={"limit": 200}, headers=self._agency)
        )
        if response.status_code != 200:
            return []
        return [(m["message_id"], m["lease_token"], m["appeal_id"]) for m in response.json()["messages"]]

    def _lease_soap(self) -> list[tuple[str, str, str]]:
        body = _soap("<sed:GetMessages><sed:Limit>200</sed:Limit></sed:GetMessages>")
        response = self._count(
            "pull_soap", self._client().post("/sed/soap/v1", content=body, headers=self._soap_headers)
        )
        if response.status_code != 200:
            return []
        found = etree.fromstring(response.content).iter(f"{{{SED}}}Message")
        return [
            (
                m.findtext(f"{{{SED}}}MessageId"),
                m.findtext(f"{{{SED}}}LeaseToken"),
                m.findtext(f"{{{SED}}}AppealId"),
            )
            for m in found
        ]

    def _event(self, name: str, appeal_id: str, body: dict[str, str]) -> None:
        url = f"/sed/v1/appeals/{appeal_id}/events"
        self._count(name, self._client().post(url, json=body, headers=self._agency))

    def registered(self, appeal_id: str, number: str) -> None:
        body = {"event_id": f"reg-{appeal_id}", "type": "registered", "registration_number": number,
                "registered_on": str(date.today())}  # fmt: skip
        self._event("registered", appeal_id, body)

    def assigned(self, appeal_id: str) -> None:
        self._event(
            "assigned",
            appeal_id,
            {"event_id": f"asg-{appeal_id}", "type": "assigned", "executor": "Отдел ЖКХ"},
        )

    def answered(self, appeal_id: str, number: str) -> None:
        answer = signed_answer(sample_answer(appeal_id, number), *self.answer_signer)
        parts = {
            "event": (
                None,
                json.dumps({"event_id": f"ans-{appeal_id}", "type": "answered"}),
                "application/json",
            ),
            "answer": ("answer.xml", answer, "application/xml"),
        }
        url = f"/sed/v1/appeals/{appeal_id}/events"
        self._count("answered", self._client().post(url, files=parts, headers=self._agency))
        self._remember_lookup(appeal_id, number)

    def _remember_lookup(self, appeal_id: str, number: str) -> None:
        """The applicant's access code, as the cabinet received it with the registered update."""
        for received in self.cabinet.history(appeal_id):
            code = received.update.get("access_code")
            if code:
                with self._lock:
                    self._lookups.append((number, code))
                    del self._lookups[:-100]
                return

    def lookup(self) -> None:
        with self._lock:
            if not self._lookups:
                return
            number, code = self._lookups[self._seq % len(self._lookups)]
        response = self._client().get("/public/v1/status", params={"number": number, "code": code})
        self._count("lookup", response)

    def scrape(self) -> None:
        self._count("scrape", self._client().get("/metrics"))

    def run(self, rate: float, seconds: float, lookups_per_s: float) -> None:
        """Offer the traffic until ``seconds`` have passed, then let the lifecycles already begun finish.

        At most ``SENDERS`` actions are in flight. When the machine cannot keep up (other work on
        the same cores), new appeals, lookups and scrapes that are more than ``MAX_LATE_S`` late are
        skipped and counted, so the hub sees at most the offered rate and never a growing queue;
        the lifecycles of appeals already taken always go on."""
        start = time.monotonic()
        for n in range(int(rate * seconds)):
            self.at(start + n / rate, lambda n=n: self.push(n), optional="push")
        for k in range(int(seconds)):
            self.at(start + k + 0.5, lambda k=k: self.pull(soap=k % 2 == 1), optional="pull")
        for k in range(int(seconds / SCRAPE_EVERY_S)):
            self.at(start + k * SCRAPE_EVERY_S, self.scrape, optional="scrape")
        for k in range(int(lookups_per_s * seconds)):
            self.at(start + k / lookups_per_s + 0.25, self.lookup, optional="lookup")
        free = threading.Semaphore(SENDERS)
        with ThreadPoolExecutor(SENDERS) as pool:
            while True:
                with self._lock:
                    if not self._due:
                        break
                    due, _, optional, action = self._due[0]
                    ready = due <= time.monotonic()
                    if ready:
                        heapq.heappop(self._due)
                if not ready:
                    time.sleep(min(0.01, max(0.0, due - time.monotonic())))
                    continue
                free.acquire()
                if optional and time.monotonic() - due > MAX_LATE_S:
                    self.skipped[optional] = self.skipped.get(optional, 0) + 1
                    free.release()
                    continue
                pool.submit(self._guarded, action, due).add_done_callback(lambda _: free.release())

    def _guarded(self, action: Callable[[], None], due: float) -> None:
        late = time.monotonic() - due
        with self._lock:
            self.late_s = max(self.late_s, late)
        try:
            action()
        except httpx.HTTPError as e:
            with self._lock:
                key = f"transport:{type(e).__name__}"
                self.errors[key] = self.errors.get(key, 0) + 1


# --- the run ---------------------------------------------------------------------------------------


def soak(minutes: float, rate: float, lookups: float) -> tuple[RssSampler, Traffic, int]:
    """Run the hub, the worker and the traffic; the RSS samples, the traffic's counts, cabinet calls."""
    overrides = {
        "GATEWAY_STATUS_LOOKUPS_PER_MINUTE": str(int(max(60, lookups * 120))),
        # as deployed with several workers: each writes its counts to files there (README, metrics)
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="soak-metrics-"),
    }
    try:
        with (
            running_hub(workers=2, log_to_file=True, **overrides) as bench,
            FakeCabinet(bench.pki.hub_cert.read_bytes()) as cabinet,
            running_worker(bench, cabinet.url) as worker,
        ):
            pki = bench.pki
            traffic = Traffic(
                url=bench.url,
                agency_token=bench.tokens[AGENCY],
                portal=Portal(
                    "EPGU", Signer(pki.portal_rsa_key.read_bytes(), pki.portal_rsa_cert.read_bytes())
                ),
                answer_signer=(pki.agency_key.read_bytes(), pki.agency_cert.read_bytes()),
                cabinet=cabinet,
            )
            time.sleep(5)  # the worker's start-up is not what is measured
            sampler = RssSampler(bench.process.pid, worker.pid, SAMPLE_EVERY_S)
            sampler.sample()
            sampler.start()
            log(f"offering {rate:g} appeals/s with their lifecycles for {minutes:g} min…")
            reporter = threading.Thread(
                target=_report, args=(sampler, traffic, cabinet, bench.database_url), daemon=True
            )
            reporter.start()
            traffic.run(rate, minutes * 60, lookups)
            sampler.stopped.set()
            sampler.join()
            sampler.sample()
            return sampler, traffic, cabinet.stats()["calls"]
    finally:
        shutil.rmtree(overrides["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long traffic is offered")
    parser.add_argument("--rate", type=float, default=10.0, help="appeals pushed per second")
    parser.add_argument("--lookups", type=float, default=1.0, help="public status lookups per second")
    parser.add_argument(
        "--warmup", type=float, default=None, help="minutes left out of the fit (default: a quarter)"
    )
    parser.add_argument("--samples", type=Path, default=None, help="also write every RSS sample here (JSON)")
    args = parser.parse_args()
    warmup_s = 60 * (args.warmup if args.warmup is not None else args.minutes / 4)

    sampler, traffic, delivered = soak(args.minutes, args.rate, args.lookups)
    if args.samples:
        args.samples.write_text(json.dumps(sampler.series))
    slopes, rss = {}, {}
    for label, points in sorted(sampler.series.items()):
        fitted = [p for p in points if p[0] >= warmup_s]
        if len(fitted) >= 3:
            slopes[label] = round(slope_mb_per_hour(fitted), 1)
            rss[label] = [round(points[0][1], 1), round(fitted[0][1], 1), round(points[-1][1], 1)]
            log(f"  {label:28} RSS {rss[label][0]:6.1f} → {rss[label][1]:6.1f} (warm) → "
                f"{rss[label][2]:6.1f} MB, slope after warm-up {slopes[label]:+7.1f} MB/hour")  # fmt: skip
    print(json.dumps({"machine": machine(), "errors": traffic.errors}), file=sys.stderr)
    worst = max(slopes, key=lambda k: slopes[k]) if slopes else None
    print(json.dumps({
        "bench": "soak",
        "minutes": args.minutes,
        "warmup_minutes": round(warmup_s / 60, 1),
        "pushes_per_s": args.rate,
        "requests": traffic.counts,
        "skipped": traffic.skipped,
        "failed": sum(traffic.errors.values()),
        "cabinet_calls": delivered,
        "rss_mb_start_warm_end": rss,
        "slopes_mb_per_h": slopes,
        "max_slope_mb_per_h": slopes[worst] if worst else None,
        "max_slope_process": worst,
    }, ensure_ascii=False))  # fmt: skip


def _report(sampler: RssSampler, traffic: Traffic, cabinet: FakeCabinet, database_url: str) -> None:
    """A progress line a minute, so a long run can be watched (and stopped early) from outside."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not sampler.stopped.wait(60):
            latest = {label: points[-1][1] for label, points in sampler.series.items()}
            minutes = (time.monotonic() - sampler.start_at) / 60
            sizes = " ".join(f"{k}={v:.0f}" for k, v in sorted(latest.items()))
            undelivered = conn.execute("SELECT count(*) FROM outbox_message WHERE delivered_at IS NULL")
            with traffic._lock:
                late, traffic.late_s = traffic.late_s, 0.0
            log(f"  {minutes:4.1f} min: {sum(traffic.counts.values())} requests ({late:.1f} s late at most, "
                f"{sum(traffic.skipped.values())} skipped), "
                f"{cabinet.stats()['calls']} cabinet calls, {undelivered.fetchone()[0]} undelivered, "
                f"{sum(traffic.errors.values())} failed; RSS MB {sizes}")  # fmt: skip


if __name__ == "__main__":
    main()
