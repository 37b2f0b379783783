"""A steady flow through the region's balancer, as its real clients make it: the portal pushes
signed appeals (and repeats a push that got no 2xx, with the same envelope, as a portal does),
and an agency's EDMS pulls, acknowledges, registers and declines them, repeating any call that
failed (events with the same event id, acks with the same lease token).

Every answer that is not a 2xx, and every failed connection, is counted under the phase the
region was in (a fault being injected), so what each fault costs clients can be printed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx

from gateway.simulators.portal import Portal, push
from gateway.simulators.samples import sample_appeal

RETRY_PAUSE_S = 0.2


class Stopped(Exception):
    """The flow was stopped while a call was still being repeated."""


class Traffic:
    def __init__(self, url: str, portal: Portal, agency_token: str, push_interval_s: float = 0.15) -> None:
        self.url = url
        self.portal = portal
        self.token = agency_token
        self.push_interval_s = push_interval_s
        self.phases = ["steady"]
        self.errors: dict[str, Counter[str]] = defaultdict(Counter)
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.slowest: dict[str, float] = defaultdict(float)  # phase → longest call, repeats included
        self.accepted: dict[int, str] = {}  # the portal's envelope number → the hub's appeal id
        self.repeats_answered_duplicate = 0  # a repeated push whose first try had been stored
        self.leased: Counter[str] = Counter()  # appeal id → how many times the EDMS received it
        self.acked: set[str] = set()
        self.leased_after_ack: list[str] = []
        # appeals whose ack did not go through at the first try: the hub may lease them again
        self.ack_in_doubt: set[str] = set()
        self.repeated = False
        self.worked: set[str] = set()  # registered and declined by the EDMS
        self._stop_pushing = threading.Event()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._guarded(self._push_loop), name="portal", daemon=True),
            threading.Thread(target=self._guarded(self._edms_loop), name="edms", daemon=True),
        ]
        self.failures: list[BaseException] = []

    # --- control ---

    @property
    def phase(self) -> str:
        return self.phases[-1]

    def enter(self, phase: str) -> None:
        """From now on, what clients see counts against ``phase``."""
        self.phases.append(phase)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop_pushing(self) -> None:
        self._stop_pushing.set()
        self._threads[0].join(timeout=120)

    def settled(self) -> bool:
        """Every accepted appeal is acknowledged and worked by the EDMS."""
        return (
            self._stop_pushing.is_set()
            and not self._threads[0].is_alive()
            and (set(self.accepted.values()) <= self.worked)
        )

    def stop(self) -> None:
        self._stop_pushing.set()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _guarded(self, loop: Callable[[httpx.Client], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                with httpx.Client(base_url=self.url, timeout=30) as client:
                    loop(client)
            except Stopped:
                pass
            except BaseException as exc:  # surfaced by the test: a flow that died proves nothing
                self.failures.append(exc)

        return run

    # --- one call, repeated until it gets a 2xx ---

    def _call(self, operation: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        """``send`` until it gets a 2xx; ``self.repeated`` says whether it took more than one try."""
        started, first_phase = time.monotonic(), self.phase
        self.repeated = False
        while True:
            if self._stop.is_set():
                raise Stopped
            try:
                response = send()
            except httpx.TransportError as exc:
                self.errors[self.phase][f"{operation}: {type(exc).__name__}"] += 1
            else:
                phase = self.phase  # counted against the fault under way when the answer came
                self.calls[phase][operation] += 1
                if response.status_code < 300:
                    took = time.monotonic() - started
                    self.slowest[first_phase] = max(self.slowest[first_phase], took)
                    return response
                self.errors[phase][f"{operation}: HTTP {response.status_code}"] += 1
                if response.status_code < 500:  # a client's mistake is not retried: the test fails on it
                    raise AssertionError(f"{operation} refused: {response.status_code} {response.text}")
            self.repeated = True
            time.sleep(RETRY_PAUSE_S)

    # --- the portal ---

    def _push_loop(self, client: httpx.Client) -> None:
        n = 0
        while not self._stop_pushing.is_set():
            envelope = self.portal.envelope(sample_appeal(n))
            response = self._call("push", lambda e=envelope: push(client, e))
            self.accepted[n] = response.json()["appeal_id"]
            if response.status_code == 200:
                self.repeats_answered_duplicate += 1
            n += 1
            time.sleep(self.push_interval_s)

    # --- the EDMS ---

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _edms_loop(self, client: httpx.Client) -> None:
        while not self._stop.is_set():
            pulled = self._call(
                "pull",
                lambda: client.get(
                    "/sed/v1/messages", params={"limit": 20, "lease_seconds": 10}, headers=self._auth
                ),
            ).json()["messages"]
            if not pulled:
                time.sleep(0.2)
                continue
            appeal_of = {}
            for message in pulled:
                appeal_id = message["appeal_id"]
                appeal_of[message["message_id"]] = appeal_id
                if appeal_id in self.acked:
                    self.leased_after_ack.append(appeal_id)
                self.leased[appeal_id] += 1
            acks = [{"message_id": m["message_id"], "lease_token": m["lease_token"]} for m in pulled]
            results = self._call(
                "ack",
                lambda a=acks: client.post("/sed/v1/messages/ack", json={"acks": a}, headers=self._auth),
            ).json()["results"]
            for result in results:
                appeal_id = appeal_of[result["message_id"]]
                if self.repeated or result["status"] != "acknowledged":
                    self.ack_in_doubt.add(appeal_id)
                if result["status"] == "acknowledged":
                    self.acked.add(appeal_id)
                    if appeal_id not in self.worked:
                        self._work(client, appeal_id)

    def _work(self, client: httpx.Client, appeal_id: str) -> None:
        """Register and decline the appeal: two updates owed to the applicant's cabinet."""
        events: list[dict[str, Any]] = [
            {"event_id": f"reg-{appeal_id}", "type": "registered",
             "registration_number": f"R-{appeal_id[:8]}", "registered_on": date.today().isoformat()},
            {"event_id": f"dec-{appeal_id}", "type": "declined", "ground": "no-question"},
        ]  # fmt: skip
        for event in events:
            url = f"/sed/v1/appeals/{appeal_id}/events"
            self._call("event", lambda u=url, e=event: client.post(u, json=e, headers=self._auth))
        self.worked.add(appeal_id)

    # --- what clients saw ---

    def summary(self) -> str:
        lines = ["client-visible errors by fault (each failed call was repeated until it succeeded):"]
        for phase in self.phases:
            calls = ", ".join(f"{op} {n}" for op, n in sorted(self.calls[phase].items()))
            errors = ", ".join(f"{kind} ×{n}" for kind, n in sorted(self.errors[phase].items())) or "none"
            lines.append(
                f"  {phase}: answered {calls or '-'}; errors: {errors}; "
                f"slowest call {self.slowest[phase]:.1f} s"
            )
        redelivered = sum(n - 1 for n in self.leased.values())
        lines.append(
            f"  appeals accepted {len(self.accepted)}, repeated pushes answered 'duplicate' "
            f"{self.repeats_answered_duplicate}, re-leased after an ack that did not get through "
            f"{redelivered}"
        )
        return "\n".join(lines)
