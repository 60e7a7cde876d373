"""Sign-in codes through Alibaba Cloud SMS, against a local stand-in that checks the SDK's
signature like the service does: the driver gets the real code, failures are a clear 503, and
no log line holds the phone number or the code."""
from __future__ import annotations

import logging
import re
import socket
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from gateways.bootstrap import Platform
from gateways.http.app import create_app
from gateways.messaging import load_messaging_settings, messaging_from_settings
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.errors import ConfigError
from parking_core.settings import load_settings
from tests.factories import FrozenClock, city_registry
from tests.standins.aliyun_sms import AliyunSmsStandIn

KEY_ID, SECRET = "LTAI5tStandInKeyId", "standin-access-key-secret-0123456789"
PHONE = "13912345678"


@pytest.fixture
def standin():
    s = AliyunSmsStandIn(access_key_id=KEY_ID, access_key_secret=SECRET)
    running = s.serve()
    yield s, running.endpoint
    running.stop()


def aliyun_env(endpoint: str, **over: str) -> dict:
    return {"PARKING_SMS_PROVIDER": "aliyun", "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET, "PARKING_SMS_SIGN_NAME": "城市停车",
            "PARKING_SMS_TEMPLATE_CODE": "SMS_100001", "PARKING_SMS_ENDPOINT": endpoint, **over}


@pytest.fixture
def driver_api(tmp_path):
    made = []

    def build(env: dict):
        sender, notifier = messaging_from_settings(load_messaging_settings(**env))
        clock = FrozenClock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
        platform = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", PARKING_DATA_DIR=str(tmp_path)),
                            clock=clock, with_ingest=False, code_sender=sender, notifier=notifier)
        upgrade(platform.engine)
        import_registry(platform, city_registry())
        platform.start()
        made.append(platform)
        return TestClient(create_app(platform))

    yield build
    for p in made:
        p.stop()


def test_a_driver_signs_in_with_the_code_the_sms_service_delivered(standin, driver_api, caplog):
    service, endpoint = standin
    client = driver_api(aliyun_env(endpoint))
    caplog.set_level(logging.DEBUG)
    assert client.post("/v1/auth/code", json={"phone": PHONE}).status_code == 202
    assert len(service.sent) == 1 and service.sent[0]["phone"] == PHONE
    code = service.sent[0]["params"]["code"]
    assert re.fullmatch(r"\d{6}", code)
    r = client.post("/v1/auth/token", json={"phone": PHONE, "code": code})
    assert r.status_code == 200 and r.json()["access_token"]
    assert PHONE not in caplog.text and code not in caplog.text


def test_a_wrong_access_key_secret_is_refused_by_the_service_and_is_a_503(standin, driver_api, caplog):
    service, endpoint = standin
    client = driver_api(aliyun_env(endpoint, ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-secret-of-this-access-key"))
    r = client.post("/v1/auth/code", json={"phone": PHONE})
    assert r.status_code == 503 and r.json()["field"] == "phone"
    assert service.sent == [] and service.refused == ["IncompleteSignature"]  # refused once: a refusal is not retried
    assert PHONE not in caplog.text and "not-the-secret" not in caplog.text


def test_the_services_own_refusal_is_named_and_the_phone_is_masked_in_the_log(standin, driver_api, caplog):
    service, endpoint = standin
    service.answer_code = "isv.BUSINESS_LIMIT_CONTROL"
    client = driver_api(aliyun_env(endpoint))
    caplog.set_level(logging.INFO)
    assert client.post("/v1/auth/code", json={"phone": PHONE}).status_code == 503
    assert "isv.BUSINESS_LIMIT_CONTROL" in caplog.text and "139****5678" in caplog.text and PHONE not in caplog.text


def test_an_unreachable_service_is_tried_again_then_a_503(driver_api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    client = driver_api(aliyun_env(f"http://127.0.0.1:{port}"))
    r = client.post("/v1/auth/code", json={"phone": PHONE})
    assert r.status_code == 503 and "could not be sent" in r.json()["message"]


@pytest.mark.parametrize("missing", ["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                                     "PARKING_SMS_SIGN_NAME", "PARKING_SMS_TEMPLATE_CODE"])
def test_the_provider_without_what_it_needs_stops_start_up_naming_the_variable(missing, monkeypatch):
    env = aliyun_env("dysmsapi.aliyuncs.com")
    env.pop(missing)
    for k in env:
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ConfigError) as e:
        load_messaging_settings(**env)
    assert e.value.field == missing and SECRET not in str(e.value)


def test_a_template_code_that_is_not_one_is_named():
    with pytest.raises(ConfigError) as e:
        load_messaging_settings(**aliyun_env("dysmsapi.aliyuncs.com", PARKING_SMS_TEMPLATE_CODE="hello"))
    assert e.value.field == "PARKING_SMS_TEMPLATE_CODE" and SECRET not in str(e.value)
