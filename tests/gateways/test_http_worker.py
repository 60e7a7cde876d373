"""HTTP worker processes (`gateways.http.worker:create_app_from_env`): the API from the environment, reading
what another process ingested from Redis."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from gateways.bootstrap import Platform
from gateways.http.worker import create_app_from_env
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.errors import ConfigError
from parking_core.settings import load_settings
from tests.factories import city_registry, counts_msg


def test_a_worker_serves_what_another_process_ingested(pg_url, redis_url, redis_prefix, monkeypatch):
    env = {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, "PARKING_REDIS_PREFIX": redis_prefix}
    ingest = Platform(load_settings(**env), with_ingest=False, publish_sink=lambda *a: None)
    upgrade(ingest.engine)
    import_registry(ingest, city_registry())
    ingest.start()
    try:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("MQTT_URL", raising=False)
        app = create_app_from_env()
        with TestClient(app) as client:
            assert client.get("/v1/lots/C1").json()["status"] in ("unknown", "closed")
            ingest.pipeline.process([counts_msg("G1", 2, 3, datetime.now(timezone.utc))])
            body = client.get("/v1/lots/nearby", params={"lat": 31.305, "lon": 120.605, "radius_m": 10, "limit": 1}).json()
            assert [(x["id"], x["free"], x["total"]) for x in body["lots"]] == [("G1", 2, 3)]
        assert app.state.platform.ingest is None and app.state.platform.broker is None  # it ingests nothing
    finally:
        ingest.stop()


def test_a_worker_without_redis_refuses_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ConfigError) as err:
        create_app_from_env()
    assert err.value.field == "REDIS_URL"
