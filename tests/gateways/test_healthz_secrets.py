"""/healthz says which dependency is down without the driver's own error text: a class name and the target,
its password masked (anyone who can reach the endpoint reads it)."""
from __future__ import annotations

import socket

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from gateways.http.app import create_app

PASSWORD = "s3cret-Db-pw"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_database_is_named_without_its_password(make_platform):
    platform = make_platform()
    url = f"postgresql+psycopg://parking:{PASSWORD}@127.0.0.1:{_closed_port()}/parking?connect_timeout=2"
    platform.engine = create_engine(url)  # the database goes away (and its URL carries a password)
    r = TestClient(create_app(platform)).get("/healthz")
    assert r.status_code == 503 and PASSWORD not in r.text
    assert r.json()["dependencies"]["database"] == {
        "ok": False, "error": "OperationalError", "backend": "postgresql",
        "target": url.replace(PASSWORD, "***"),
    }
