"""The request id and the access line, on a small Litestar app wrapped as the hub's is."""

from __future__ import annotations

import os
import uuid
from uuid import UUID

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from gateway.faces.rest.request_log import RequestLog, face_of, note

APPEAL = UUID("6f2c8e1c-5b1e-4d3a-9c41-0d2f6a7b8c9d")


@get("/sed/v1/appeals/{appeal_id:uuid}/events", sync_to_thread=True)
def handler(appeal_id: UUID) -> dict[str, str]:
    """Runs in a worker thread, as the hub's service calls do: what it notes still reaches the line."""
    note(caller="ADM-CHEBOKSARY")
    return {"appeal_id": str(appeal_id)}


@pytest.fixture
def client(log_lines):
    app = Litestar([handler], logging_config=None)
    app.asgi_handler = RequestLog(app.asgi_handler)
    with TestClient(app) as c:
        yield c


def _access_lines(log_lines) -> list[dict]:
    return [line for line in log_lines() if line["logger"] == "gateway.access"]


def test_the_access_line_names_the_route_the_appeal_and_the_caller_never_the_query(client, log_lines):
    response = client.get(
        f"/sed/v1/appeals/{APPEAL}/events?code=SECRET-CODE-42", headers={"X-Request-Id": "edms-77"}
    )
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "edms-77"
    [line] = _access_lines(log_lines)
    assert "SECRET-CODE-42" not in str(line)
    assert line["duration_ms"] >= 0
    assert {k: v for k, v in line.items() if k not in ("timestamp", "duration_ms")} == {
        "level": "info",
        "logger": "gateway.access",
        "event": "request",
        "request_id": "edms-77",
        "face": "sed",
        "method": "GET",
        "path": "/sed/v1/appeals/{appeal_id}/events",
        "status": 200,
        "appeal_id": str(APPEAL),
        "caller": "ADM-CHEBOKSARY",
        "pid": os.getpid(),  # which worker process served it
    }


@pytest.mark.parametrize(
    "offered", ["", "has space", "Иванов".encode(), "a" * 65, "anna@example.org", "-leading-dash", "x\ty"]
)
def test_an_unsafe_request_id_is_replaced_by_a_new_one(client, log_lines, offered):
    response = client.get("/unknown/path?number=1", headers={"X-Request-Id": offered})
    assert response.status_code == 404
    generated = response.headers["X-Request-Id"]
    assert generated != offered and uuid.UUID(generated)
    [line] = _access_lines(log_lines)  # a path no route matched gets its id and line too
    assert (line["request_id"], line["path"], line["status"], line["face"]) == (
        generated,
        "/unknown/path",
        404,
        "other",
    )


def test_each_request_gets_its_own_id(client, log_lines):
    first, second = (client.get("/nowhere").headers["X-Request-Id"] for _ in range(2))
    assert first != second


@pytest.mark.parametrize(
    ("path", "face"),
    [
        ("/portal/v1/appeals", "portal"),
        ("/sed/v1/messages", "sed"),
        ("/sed/soap/v1", "soap"),
        ("/ops/v1/manual-routing", "ops"),
        ("/public/v1/status", "public"),
        ("/health/ready", "health"),
        ("/metrics", "metrics"),
        ("/", "other"),
    ],
)
def test_the_face_is_told_by_the_path(path, face):
    assert face_of(path) == face
