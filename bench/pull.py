"""Pull: an agency's EDMS drains a mailbox of 20,000 messages, lease + ack in batches of 100,
over REST and then over SOAP, in one run against the same hub; and, in the same run on the same
database, the limit both faces are measured against: the hub's own lease and ack statements
(``gateway/adapters/db/mailbox.py``, with the agency-activity touch the service adds) driven
directly with psycopg by two clients, no HTTP, no service layer — first as the bench's hub runs
(no relay, so nothing seals the audit chain); last, with no sealer and then with the relay's
sealer chaining the records every GATEWAY_AUDIT_SEAL_INTERVAL_SECONDS beside the drain, back to
back, to show what the chain costs (migration 0023).

The mailbox is filled through the hub's own storage adapter (the bench measures pulling, not
intake). Two pullers work concurrently, as an EDMS with two workers would. The SOAP puller
sends hand-built envelopes and parses responses with lxml, as a lean EDMS integration would;
a general SOAP toolkit on the client side would measure the client.

Last line: {"bench":"pull","rest_msgs_per_s":…,"soap_msgs_per_s":…,"soap_rest_ratio":…,
"raw_sql_msgs_per_s":…,"rest_ratio":…,"soap_ratio":…,"raw_sql_unchained_msgs_per_s":…,
"raw_sql_again_msgs_per_s":…,"chain_cost_pct":…} — ``rest_ratio`` and ``soap_ratio`` are each
face's rate over the raw rate; ``chain_cost_pct`` compares the run without a sealer with the run
right after it, sealer on.

The lease statement is the very one both faces send: PostgreSQL writes each leased message's JSON
document and the hub passes it on (REST as it is, SOAP rewritten as XML), so the raw client gets
the same documents and parses them with ``json.loads`` to read ids and tokens, as the REST
puller's ``response.json()`` does; raw, REST and SOAP thus differ by the hub and HTTP alone.

The machine is shared, so each face is drained ``PULL_ROUNDS`` times (default 2), alternating
(raw, REST, SOAP, SOAP, REST, raw), and the three rates above are medians (each run's rate is in
``runs_msgs_per_s``). Each drain also counts the CPU seconds spent by PostgreSQL's backends for
this database, by the hub's workers and by this process (the pullers): ``cpu_us_per_msg`` per face
(medians), and ``cpu_rest_ratio`` / ``cpu_soap_ratio``, the raw CPU per message over the face's.
Load elsewhere on the machine moves those much less than the rates.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import psycopg
from _harness import log, machine, running_hub
from lxml import etree
from psycopg.rows import dict_row

from gateway.adapters.db import appeals as appeals_db
from gateway.adapters.db import audit as audit_db
from gateway.adapters.db import mailbox as mailbox_db
from gateway.adapters.db import monitoring as monitoring_db
from gateway.config import Settings
from gateway.domain.lifecycle import Transition, sources, target
from gateway.service import mailbox
from gateway.service.audit_chain import PeriodicSeal
from gateway.service.hub import open_hub
from gateway.simulators.portal import Portal, Signer
from gateway.simulators.samples import message_header, sample_appeal

MAILBOX = 20_000
BATCH = 100
PULLERS = 2
AGENCY = "ADM-CHEBOKSARY"
SED = "urn:appeals-gateway:sed:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
# Each face drained this many times, alternating (see _order); the rates reported are medians.
ROUNDS = int(os.environ.get("PULL_ROUNDS", "2"))


def fill(database_url: str, raw: bytes, count: int = MAILBOX) -> None:
    """``count`` routed appeals in the agency's mailbox, stored by the hub's own adapter."""
    now = datetime.now(UTC)
    with psycopg.connect(database_url, row_factory=dict_row) as conn, conn.transaction():
        for i in range(count):
            header = message_header("EPGU")
            appeals_db.store_new(
                conn,
                appeal_id=uuid4(),
                header=header,
                appeal=sample_appeal(i, text_size=2000, portal_appeal_id=f"B-{uuid4().hex}"),
                state="routed",
                received_at=now,
                raw=raw,
                body_sha256=uuid4().bytes,
                register_by=None,
                mailbox=(uuid4(), AGENCY, "appeal"),
                audit=[("bench", "received", {})],
            )


def drain_rest(client: httpx.Client) -> int:
    taken = 0
    while True:
        response = client.get("/sed/v1/messages", params={"limit": BATCH})
        response.raise_for_status()
        messages = response.json()["messages"]
        if not messages:
            return taken
        acks = [{"message_id": m["message_id"], "lease_token": m["lease_token"]} for m in messages]
        results = client.post("/sed/v1/messages/ack", json={"acks": acks}).json()["results"]
        taken += sum(1 for r in results if r["status"] == "acknowledged")


def _soap(body: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:sed="{SED}"><s:Body>{body}</s:Body></s:Envelope>'
    ).encode()


def drain_soap(client: httpx.Client) -> int:
    taken = 0
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    get_messages = _soap(f"<sed:GetMessages><sed:Limit>{BATCH}</sed:Limit></sed:GetMessages>")
    while True:
        response = client.post("/sed/soap/v1", content=get_messages, headers=headers)
        response.raise_for_status()
        messages = etree.fromstring(response.content).iter(f"{{{SED}}}Message")
        acks = "".join(
            f"<sed:Ack><sed:MessageId>{m.findtext(f'{{{SED}}}MessageId')}</sed:MessageId>"
            f"<sed:LeaseToken>{m.findtext(f'{{{SED}}}LeaseToken')}</sed:LeaseToken></sed:Ack>"
            for m in messages
        )
        if not acks:
            return taken
        response = client.post(
            "/sed/soap/v1", content=_soap(f"<sed:AckBatch>{acks}</sed:AckBatch>"), headers=headers
        )
        response.raise_for_status()
        statuses = etree.fromstring(response.content).iter(f"{{{SED}}}Status")
        taken += sum(1 for s in statuses if s.text == "acknowledged")


def drain_sql(conn: psycopg.Connection) -> int:
    """What ``gateway/service/mailbox.py`` sends PostgreSQL for one lease and one all-accepted ack,
    on an autocommit connection returning dicts as the hub's pool does: the floor under both faces.

    The lease statement is the one both faces send (``mailbox_db.lease``): PostgreSQL writes each
    message's JSON document, and the hub passes it on. The documents are parsed here with
    ``json.loads`` to read ids and tokens, as the REST puller's ``response.json()`` parses them."""
    actor, lease_seconds = "agency:" + AGENCY, Settings.model_fields["lease_seconds"].default
    first_delivery = (sources(Transition.LEASE), target(Transition.LEASE))
    taken_move = (sources(Transition.ACKNOWLEDGE), target(Transition.ACKNOWLEDGE))
    taken = 0
    while True:
        documents = mailbox_db.lease(
            conn, AGENCY, BATCH, lease_seconds, actor=actor, first_delivery=first_delivery,
            attachment_href=mailbox.ATTACHMENT_HREF,
        )  # fmt: skip
        monitoring_db.touch_pull(conn, AGENCY)
        if not documents:
            return taken
        messages = [json.loads(d) for d in documents]
        acks = [(UUID(m["message_id"]), UUID(m["lease_token"])) for m in messages]
        taken += len(mailbox_db.acknowledge(conn, AGENCY, acks, actor=actor, taken=taken_move))
        monitoring_db.touch_ack(conn, AGENCY)


def measure_sql(database_url: str, meter: CpuMeter | None = None) -> float:
    """``PULLERS`` connections opened first (the hub's pool is warm too), then drained at once."""
    conns = [psycopg.connect(database_url, autocommit=True, row_factory=dict_row) for _ in range(PULLERS)]
    try:
        if meter is not None:
            meter.start()
        rate = _timed(lambda i: drain_sql(conns[i]))
        if meter is not None:
            meter.stop()
        return rate
    finally:
        for conn in conns:
            conn.close()


@contextlib.contextmanager
def set_chain(database_url: str, enabled: bool) -> Iterator[None]:
    """Run the relay's sealer (gateway.service.audit_chain.PeriodicSeal) beside what runs inside."""
    if not enabled:
        yield
        return
    stop, hub = threading.Event(), open_hub(Settings(database_url=database_url), apply_migrations=False)
    sealer = threading.Thread(target=PeriodicSeal(hub, Settings().audit_seal_interval_seconds, stop).run)
    sealer.start()
    try:
        yield
    finally:
        stop.set()
        sealer.join()
        hub.close()


def unchained(database_url: str) -> int:
    """Proof the sealer really was off, then on: records not chained yet."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return audit_db.unchained(conn).records


def measure(
    url: str, token: str, drain: Callable[[httpx.Client], int], meter: CpuMeter | None = None
) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    clients = [httpx.Client(base_url=url, headers=headers, timeout=60) for _ in range(PULLERS)]
    try:
        if meter is not None:
            meter.start()
        rate = _timed(lambda i: drain(clients[i]))
        if meter is not None:
            meter.stop()
        return rate
    finally:
        for client in clients:
            client.close()


class CpuMeter:
    """CPU seconds spent during one drain, by whom: PostgreSQL's backends serving this bench's
    database, the hub's worker processes, and this process (the pullers). Wall-clock rates swing
    with whatever else the shared machine runs; CPU per message much less, and it says where the
    time goes: a face's rate over the raw rate is roughly the raw CPU per message over the face's.
    """

    def __init__(self, database_url: str, hub_pid: int | None) -> None:
        self.database_url, self.hub_pid = database_url, hub_pid
        self.seconds: dict[str, float] = {}
        self._begin: dict[str, dict[int, float]] = {}

    def _pids(self) -> dict[str, list[int]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            backends = [
                pid for (pid,) in conn.execute(
                    """SELECT pid FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid()"""
                )
            ]  # fmt: skip
        hub = _children(self.hub_pid) if self.hub_pid else []
        return {"pg": backends, "hub": hub, "client": [os.getpid()]}

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {who: {pid: _cpu_seconds(pid) for pid in pids} for who, pids in self._pids().items()}

    def start(self) -> None:
        self._begin = self._snapshot()

    def stop(self) -> None:
        end = self._snapshot()
        self.seconds = {
            who: sum(max(0.0, t - self._begin[who].get(pid, 0.0)) for pid, t in times.items())
            for who, times in end.items()
        }

    def per_message_us(self) -> dict[str, float]:
        per = {who: round(1e6 * s / MAILBOX, 1) for who, s in self.seconds.items()}
        return {**per, "total": round(sum(per.values()), 1)}


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _timed(one: Callable[[int], int]) -> float:
    """Run ``PULLERS`` drains at once; the mailbox must come out fully acknowledged."""
    start = time.perf_counter()
    with ThreadPoolExecutor(PULLERS) as pool:
        taken = sum(pool.map(one, range(PULLERS)))
    elapsed = time.perf_counter() - start
    if taken != MAILBOX:
        raise SystemExit(f"expected {MAILBOX} acknowledged, got {taken}")
    log(f"  {taken} acknowledged in {elapsed:.1f} s: {taken / elapsed:.0f} messages/s")
    return taken / elapsed


FACES = ("raw_sql", "rest", "soap")


def _order(rounds: int) -> list[str]:
    """raw, REST, SOAP, then SOAP, REST, raw, …: each face early and late alike, against drift."""
    return [face for r in range(rounds) for face in (FACES if r % 2 == 0 else FACES[::-1])]


def _median_cpu(measured: list[dict[str, float]]) -> dict[str, float]:
    return {who: round(statistics.median(m[who] for m in measured), 1) for who in measured[0]}


def main() -> None:
    with running_hub(workers=2) as bench:
        portal = Portal(
            "EPGU", Signer(bench.pki.portal_rsa_key.read_bytes(), bench.pki.portal_rsa_cert.read_bytes())
        )
        raw = portal.envelope(sample_appeal(1))
        rates: dict[str, float] = {}
        runs: dict[str, list[float]] = {face: [] for face in FACES}
        cpu: dict[str, list[dict[str, float]]] = {face: [] for face in FACES}
        for face in _order(ROUNDS):
            log(f"filling {AGENCY}'s mailbox with {MAILBOX} messages…")
            fill(bench.database_url, raw)
            log(f"draining over {face.upper()} with {PULLERS} pullers, batches of {BATCH}…")
            meter = CpuMeter(bench.database_url, bench.process.pid)
            if face == "raw_sql":
                runs[face].append(measure_sql(bench.database_url, meter))
            else:
                drain = drain_rest if face == "rest" else drain_soap
                runs[face].append(measure(bench.url, bench.tokens[AGENCY], drain, meter))
            cpu[face].append(meter.per_message_us())
            log(f"  CPU µs per message: {cpu[face][-1]}")
        rates.update({face: statistics.median(r) for face, r in runs.items()})
        # The chain's cost: the raw statements with no sealer, then with the relay's, back to back.
        for phase, chained in (("raw_sql_unchained", False), ("raw_sql_again", True)):
            log(f"filling again; raw statements, the audit chain's sealer {'on' if chained else 'off'}…")
            fill(bench.database_url, raw)
            with set_chain(bench.database_url, enabled=chained):
                rates[phase] = measure_sql(bench.database_url)
            log(f"  audit records not chained after it: {unchained(bench.database_url)}")
    print(json.dumps({"machine": machine()}), file=sys.stderr)
    result = {
        "bench": "pull",
        "rest_msgs_per_s": round(rates["rest"], 1),
        "soap_msgs_per_s": round(rates["soap"], 1),
        "soap_rest_ratio": round(rates["soap"] / rates["rest"], 3),
        "raw_sql_msgs_per_s": round(rates["raw_sql"], 1),
        "rest_ratio": round(rates["rest"] / rates["raw_sql"], 3),
        "soap_ratio": round(rates["soap"] / rates["raw_sql"], 3),
        "raw_sql_unchained_msgs_per_s": round(rates["raw_sql_unchained"], 1),
        "raw_sql_again_msgs_per_s": round(rates["raw_sql_again"], 1),
        "chain_cost_pct": round(100 * (1 - rates["raw_sql_again"] / rates["raw_sql_unchained"]), 1),
        "rounds": ROUNDS,
        "runs_msgs_per_s": {face: [round(r, 1) for r in r_] for face, r_ in runs.items()},
        "cpu_us_per_msg": {face: _median_cpu(c) for face, c in cpu.items()},
    }
    raw_cpu = result["cpu_us_per_msg"]["raw_sql"]["total"]
    for face in ("rest", "soap"):
        result[f"cpu_{face}_ratio"] = round(raw_cpu / result["cpu_us_per_msg"][face]["total"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
