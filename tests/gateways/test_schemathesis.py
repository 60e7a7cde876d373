"""Every operation in the OpenAPI document, fuzzed by schemathesis from its own schema, as an
anonymous caller, a signed-in driver and the city's operator key: no answer is a 5xx, and every
answer with a documented status matches the documented schema. The platform is configured as
in production (Alipay: the local stand-in), so "not configured" 503s are not what is measured."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from alipay_standin import start_local_alipay
from billing.alipay.client import build_client
from billing.alipay.signing import generate_keypair
from gateways.bootstrap import Platform
from gateways.http.app import create_app
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.notify import RecordingNotifier, RecordingSender
from parking_core.settings import load_settings
from tests.factories import FrozenClock, city_registry

OPERATOR_KEY = "schemathesis-city-admin-key-0123456789"
NOT_FUZZED = ("/v1/stream",)  # an endless event stream: tests/gateways/test_stream*.py


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    env = {"DATABASE_URL": f"sqlite:///{tmp / 'p.db'}", "PARKING_DATA_DIR": str(tmp), "PARKING_RATE_LIMIT_PER_MIN": "0",
           "PARKING_OPERATOR_KEYS": f"city:{OPERATOR_KEY}", "PARKING_JWT_SECRET": "schemathesis-jwt-secret-0123456789abcdef"}
    sender = RecordingSender()
    app_keys, alipay_keys = generate_keypair(), generate_keypair()
    gateway = start_local_alipay(app_public_key_pem=app_keys.public_pem, alipay_keys=alipay_keys, same_day_bills=True)
    alipay = build_client(gateway.client_settings(app_private_key_pem=app_keys.private_pem,
                                                  notify_url="http://127.0.0.1:9/v1/payments/alipay/notify"))
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    platform = Platform(load_settings(**env), clock=FrozenClock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)),
                        with_ingest=False, code_sender=sender, notifier=RecordingNotifier(), alipay=alipay)
    upgrade(platform.engine)
    import_registry(platform, city_registry())
    platform.start()
    app = create_app(platform)
    from fastapi.testclient import TestClient

    client = TestClient(app)
    client.post("/v1/auth/code", json={"phone": "13800138000"})
    token = client.post("/v1/auth/token", json={"phone": "13800138000", "code": sender.last_code("13800138000")}).json()["access_token"]
    yield app, {"Authorization": f"Bearer {token}", "X-Operator-Key": OPERATOR_KEY}
    platform.stop()
    gateway.stop()
    mp.undo()


@pytest.fixture(scope="module")
def api_schema(fuzzed):
    app, _ = fuzzed
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path=NOT_FUZZED[0])


@schema.parametrize()
@pytest.mark.timeout(600)
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_5xx_or_off_its_schema(case, fuzzed):
    _, headers = fuzzed
    for who in ({}, headers):  # anonymous, then signed in as a driver and the city
        case.call_and_validate(headers={**(case.headers or {}), **who}, checks=[not_a_server_error, response_schema_conformance])
