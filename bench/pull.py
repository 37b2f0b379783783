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
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from uuid import uuid4

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
    on an autocommit connection returning dicts as the hub's pool does: the floor under both faces."""
    actor, lease_seconds = "agency:" + AGENCY, Settings.model_fields["lease_seconds"].default
    first_delivery = (sources(Transition.LEASE), target(Transition.LEASE))
    taken_move = (sources(Transition.ACKNOWLEDGE), target(Transition.ACKNOWLEDGE))
    taken = 0
    while True:
        rows = mailbox_db.lease(
            conn, AGENCY, BATCH, lease_seconds, actor=actor, first_delivery=first_delivery
        )
        monitoring_db.touch_pull(conn, AGENCY)
        if not rows:
            return taken
        acks = [(r["message_id"], r["lease_token"]) for r in rows]
        taken += len(mailbox_db.acknowledge(conn, AGENCY, acks, actor=actor, taken=taken_move))
        monitoring_db.touch_ack(conn, AGENCY)


def measure_sql(database_url: str) -> float:
    def one(_: int) -> int:
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            return drain_sql(conn)

    return _timed(one)


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


def measure(url: str, token: str, drain: Callable[[httpx.Client], int]) -> float:
    def one(_: int) -> int:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            return drain(client)

    return _timed(one)


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


def main() -> None:
    with running_hub(workers=2) as bench:
        portal = Portal(
            "EPGU", Signer(bench.pki.portal_rsa_key.read_bytes(), bench.pki.portal_rsa_cert.read_bytes())
        )
        raw = portal.envelope(sample_appeal(1))
        rates = {}
        for face, drain in (("raw_sql", None), ("rest", drain_rest), ("soap", drain_soap)):
            log(f"filling {AGENCY}'s mailbox with {MAILBOX} messages…")
            fill(bench.database_url, raw)
            log(f"draining over {face.upper()} with {PULLERS} pullers, batches of {BATCH}…")
            if drain is None:
                rates[face] = measure_sql(bench.database_url)
            else:
                rates[face] = measure(bench.url, bench.tokens[AGENCY], drain)
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
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
