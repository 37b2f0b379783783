"""The hub process while its database connections are killed, and while clients hang up mid-upload.

``pg_terminate_backend`` on the test database's sessions is what a failover or a restart does to
the hub's pool. A burst of pushes runs through two such kills: every client gets a 2xx or a 503
with ``Retry-After``, never a 500; every 2xx is stored; each 503, pushed again as a portal would,
is stored too (once); and the hub serves on without a restart. To hit a request *while* its
connection dies, the test holds a lock the request needs, waits until the hub's session waits on
it, and kills that session: a write is a 503 (REST) or a ``soap:Server`` fault (SOAP) with code
``service-unavailable``, a read runs once more on a fresh connection and succeeds.

A push cut off mid-body over a raw socket is one ``client aborted`` line, a 499 access line and a
count in ``appeals_gateway_client_aborts_total``, with nothing in the database.
"""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from lxml import etree

from gateway.simulators.portal import push
from gateway.simulators.samples import attachment_header, sample_appeal

AGENCY = "ADM-CHEBOKSARY"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SED = "urn:appeals-gateway:sed:1"
BURST = 150  # signing one costs 30 to 150 ms in the test process: a few seconds of pushes
PUSHERS = 6


@pytest.fixture
def client(hub_url, hub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub_url, timeout=60) as c:
        yield c


@pytest.fixture
def agency_token(registry) -> str:
    return registry[1][AGENCY]


def _scalar(database_url: str, sql: str, params: tuple = ()) -> object:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service-unavailable"


# --- a burst through two kills ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    index: int
    status: int
    at: float
    response: httpx.Response


def _burst(hub_url: str, envelopes: list[bytes], kill: Callable[[], int]) -> tuple[list[Outcome], list[int]]:
    """Push ``envelopes`` from ``PUSHERS`` threads; kill the hub's sessions after a third and after
    two thirds of them were answered. The outcomes, and how many sessions each kill ended."""
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(envelopes)):
        todo.put(i)
    outcomes: list[Outcome] = []

    def pusher() -> None:
        with httpx.Client(base_url=hub_url, timeout=60) as c:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                response = push(c, envelopes[i])
                outcomes.append(Outcome(i, response.status_code, time.monotonic(), response))

    threads = [threading.Thread(target=pusher) for _ in range(PUSHERS)]
    for t in threads:
        t.start()
    killed = []
    for share in (1 / 3, 2 / 3):
        while len(outcomes) < share * len(envelopes):
            time.sleep(0.005)
        killed.append(kill())
    for t in threads:
        t.join(timeout=120)
    return outcomes, killed


def test_pushes_through_two_kills_get_2xx_or_503_and_every_accepted_appeal_is_stored(
    hub_url, hub, portal, client, database_url, terminate_backends, agency_token
):
    envelopes = [portal.envelope(sample_appeal(i)) for i in range(BURST)]
    started = time.monotonic()
    outcomes, killed = _burst(hub_url, envelopes, terminate_backends)
    elapsed = time.monotonic() - started

    assert len(outcomes) == BURST and all(n >= 1 for n in killed), killed
    assert {o.status for o in outcomes} <= {201, 503}, sorted({o.status for o in outcomes})
    unavailable = [o for o in outcomes if o.status == 503]
    for o in unavailable:
        _assert_unavailable(o.response)
    accepted = {o.response.json()["appeal_id"] for o in outcomes if o.status == 201}
    stored = "SELECT count(*) FROM appeal WHERE id = ANY(%s::uuid[])"
    assert _scalar(database_url, stored, (list(accepted),)) == len(accepted)
    window = max(o.at for o in unavailable) - min(o.at for o in unavailable) if unavailable else 0.0
    print(
        f"\noutage burst: {len(accepted)} x 2xx, {len(unavailable)} x 503 of {BURST} pushes"
        f" in {elapsed:.1f} s ({PUSHERS} clients, sessions killed: {killed});"
        f" the 503s spread over {window:.2f} s"
    )

    # The portal pushes each 503 again: stored now, or found stored (a commit whose answer was lost).
    for o in unavailable:
        again = push(client, envelopes[o.index])
        assert again.status_code in (200, 201), again.text
    assert _scalar(database_url, "SELECT count(*) FROM appeal") == BURST

    # Served normally afterwards, by the same process.
    assert client.get("/health/ready").status_code == 200
    assert push(client, portal.envelope(sample_appeal(BURST))).status_code == 201
    stats = client.get("/sed/v1/statistics", headers={"Authorization": f"Bearer {agency_token}"})
    assert stats.status_code == 200 and stats.json()["pending"] == BURST + 1


# --- a request whose connection dies under it ---------------------------------------------------


@contextmanager
def _locked(database_url: str, table: str) -> Iterator[int]:
    """Hold ``table`` locked so every statement on it waits; the holding session's pid."""
    with psycopg.connect(database_url) as conn:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield conn.info.backend_pid
        finally:
            conn.rollback()


def _waiting(database_url: str, other_than: set[int], timeout: float = 20) -> int:
    """The pid of a session waiting on a lock (not one of ``other_than``), once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(database_url, autocommit=True) as conn:
            pids = {
                row[0]
                for row in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            }
        if pids - other_than:
            return min(pids - other_than)
        time.sleep(0.05)
    raise AssertionError("no session of the hub waited on the lock")


def test_a_push_whose_connection_dies_mid_request_is_503_and_its_retry_is_stored(
    hub, portal, client, database_url, terminate_backends
):
    envelope = portal.envelope(sample_appeal(1))
    with ThreadPoolExecutor(1) as pool, _locked(database_url, "appeal") as holder:
        pending = pool.submit(push, client, envelope)
        _waiting(database_url, {holder})
        assert terminate_backends(spare=[holder]) >= 1
        response = pending.result(timeout=30)
    _assert_unavailable(response)
    assert push(client, envelope).status_code == 201  # it never reached the database: stored now
    assert _scalar(database_url, "SELECT count(*) FROM appeal") == 1


def test_a_read_whose_connection_dies_mid_request_is_answered_from_a_fresh_one(
    hub, portal, client, database_url, terminate_backends, agency_token
):
    assert push(client, portal.envelope(sample_appeal(1))).status_code == 201
    statistics = {"Authorization": f"Bearer {agency_token}"}
    with ThreadPoolExecutor(1) as pool, _locked(database_url, "mailbox_message") as holder:
        pending = pool.submit(client.get, "/sed/v1/statistics", headers=statistics)
        first = _waiting(database_url, {holder})
        assert terminate_backends(spare=[holder]) >= 1
        second = _waiting(database_url, {holder, first})  # the same read, on a fresh connection
    response = pending.result(timeout=30)
    assert second != first
    assert response.status_code == 200 and response.json()["pending"] == 1


def _soap_get_messages(client: httpx.Client, token: str) -> httpx.Response:
    envelope = (
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:sed="{SED}"><soap:Body>'
        "<sed:GetMessages><sed:Limit>5</sed:Limit></sed:GetMessages></soap:Body></soap:Envelope>"
    )
    return client.post(
        "/sed/soap/v1",
        content=envelope.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Bearer {token}"},
    )


def test_a_soap_call_whose_connection_dies_is_a_server_fault_service_unavailable(
    hub, portal, client, database_url, terminate_backends, agency_token
):
    assert push(client, portal.envelope(sample_appeal(1))).status_code == 201
    with ThreadPoolExecutor(1) as pool, _locked(database_url, "mailbox_message") as holder:
        pending = pool.submit(_soap_get_messages, client, agency_token)
        _waiting(database_url, {holder})
        assert terminate_backends(spare=[holder]) >= 1
        response = pending.result(timeout=30)
    assert response.status_code == 500  # SOAP 1.1 over HTTP: every fault is a 500
    assert int(response.headers["Retry-After"]) > 0
    fault = etree.fromstring(response.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault.findtext("faultcode") == "soap:Server"
    assert fault.findtext(f"detail/{{{SED}}}Error/{{{SED}}}Code") == "service-unavailable"
    # The lease never happened; the next pull takes the message.
    again = etree.fromstring(_soap_get_messages(client, agency_token).content)
    assert len(again.findall(f".//{{{SED}}}Message")) == 1


# --- a client that hangs up mid-upload -----------------------------------------------------------


def _client_aborts(client: httpx.Client) -> float:
    series = r'^appeals_gateway_client_aborts_total\{face="portal"\} (\S+)$'
    found = re.search(series, client.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def _send_half(hub_url: str, request: httpx.Request, request_id: str) -> None:
    """Send the request's head and half its body over a raw socket, then close it."""
    body = request.read()
    head = [f"POST {request.url.raw_path.decode()} HTTP/1.1", f"Host: {request.url.netloc.decode()}"]
    head += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "host"]
    head.append(f"X-Request-Id: {request_id}")
    address = urlsplit(hub_url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        sock.sendall(body[: len(body) // 2])
        time.sleep(0.3)  # the hub is reading the body when the client hangs up


def test_a_push_cut_off_mid_upload_is_logged_and_counted_as_an_abort_and_leaves_nothing(
    hub_url, hub, hub_log, portal, client, database_url
):
    scan = b"%PDF-1.4\n" + bytes(range(256)) * 8192  # 2 MiB
    header = attachment_header("scan-1", "scan.pdf", "application/pdf", scan)
    envelope = portal.envelope(sample_appeal(1, attachments=(header,)))
    files = {
        "envelope": ("envelope.xml", envelope, "application/xml"),
        "scan-1": ("scan.pdf", scan, "application/pdf"),
    }
    request = client.build_request("POST", "/portal/v1/appeals", files=files)
    aborts = _client_aborts(client)

    _send_half(hub_url, request, "cut-off-upload-1")

    def mine() -> list[dict]:
        lines = (json.loads(line) for line in hub_log.read_text().splitlines() if line.startswith("{"))
        return [line for line in lines if line.get("request_id") == "cut-off-upload-1"]

    deadline = time.monotonic() + 20
    while not any(line["event"] == "request" for line in mine()):
        assert time.monotonic() < deadline, "the hub logged no access line for the aborted push"
        time.sleep(0.1)
    logged = mine()
    assert [(x["level"], x["event"]) for x in logged] == [("info", "client aborted"), ("info", "request")]
    assert logged[1]["status"] == 499 and 0 < logged[0]["received_bytes"] < len(request.read())
    assert _client_aborts(client) == aborts + 1
    for table in ("appeal", "attachment", "blob", "blob_chunk", "intake_rejection", "request_refusal"):
        assert _scalar(database_url, f"SELECT count(*) FROM {table}") == 0, table

    # The whole push still goes through afterwards.
    assert client.send(client.build_request("POST", "/portal/v1/appeals", files=files)).status_code == 201
