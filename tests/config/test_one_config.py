"""One configuration (gateways/config.py): every part's settings built and checked together, a bad value named
with its value, a secret's value never shown, a URL's password always ***."""
from __future__ import annotations

import pytest

from billing.alipay.signing import generate_keypair
from gateways.config import load_config
from parking_core.errors import ConfigError

PASSWORD = "hunter2-Pw"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No settings but the test's own (and no .env: the test runs in an empty folder)."""
    import os

    for name in list(os.environ):
        if name.startswith(("PARKING_", "ALIPAY_", "DATABASE_URL", "REDIS_URL", "MQTT_URL", "ALIBABA_CLOUD_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("name, value, part", [
    ("PARKING_DEBOUNCE_S", "-1", "core"),
    ("PARKING_TOPIC_PREFIX", "parking/+/v1", "core"),
    ("PARKING_MAX_PLATES", "0", "accounts"),
    ("PARKING_PAYMENT_POLL_S", "0", "billing"),
    ("ALIPAY_TIMEOUT_S", "soon", "alipay"),
    ("ALIPAY_SERVER_URL", "ftp://openapi.alipay.com/gateway.do", "alipay"),
    ("ALIPAY_SELLER_ID", "1234", "alipay"),
    ("PARKING_RATE_LIMIT_PER_MIN", "-5", "http"),
    ("PARKING_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local", "http"),
    ("PARKING_MAX_BODY_BYTES", "10", "http"),
    ("PARKING_LONG_STAY_H", "0", "operators"),
    ("PARKING_RECONCILE_HOUR", "25", "reconciliation"),
    ("PARKING_EMBEDDED_MQTT_PORT", "0", "embedded_broker"),
    ("PARKING_MQTT_ADMIN_TIMEOUT_S", "never", "device_credentials"),
])
def test_a_bad_value_in_any_part_is_named_with_its_value(monkeypatch, name, value, part):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.field == name
    assert err.value.message.startswith(f"{name}={value!r}: "), err.value.message


def test_every_part_is_there_with_its_defaults():
    config = load_config()
    assert (config.core.topic_prefix, config.accounts.max_plates, config.billing.due_days, config.alipay,
            config.http.per_minute, config.signs.signs_path) == ("parking/v1", 3, 30, None, 600, None)


@pytest.mark.parametrize("name, url", [
    ("DATABASE_URL", f"mysql://parking:{PASSWORD}@db.example:3306/parking"),
    ("REDIS_URL", f"http://:{PASSWORD}@127.0.0.1:6379/0"),
    ("MQTT_URL", f"mqtt://platform:{PASSWORD}@broker:port"),
    ("ALIPAY_NOTIFY_URL", f"ftp://user:{PASSWORD}@parking.example/notify"),
])
def test_a_bad_url_is_named_with_its_password_masked(monkeypatch, name, url):
    monkeypatch.setenv("ALIPAY_APP_ID", "2021000000000001")
    monkeypatch.setenv(name, url)
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.field == name and name in err.value.message
    assert PASSWORD not in err.value.message and PASSWORD not in str(err.value.value) and ":***@" in err.value.message


@pytest.mark.parametrize("name, value", [("PARKING_JWT_SECRET", "too-short-" + PASSWORD),
                                         ("PARKING_WEBHOOK_SECRET", "short-" + PASSWORD),
                                         ("PARKING_EMBEDDED_MQTT_PASSWORD", PASSWORD[:6])])
def test_a_bad_secret_is_named_without_its_value(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.field == name and name in err.value.message
    assert value not in err.value.message and err.value.value is None


def test_alipay_keys_are_read_from_files(monkeypatch, tmp_path):
    keys = generate_keypair()
    (tmp_path / "app.pem").write_text(keys.private_pem)
    (tmp_path / "alipay.pem").write_text(keys.public_pem)
    monkeypatch.setenv("ALIPAY_APP_ID", "2021000000000001")
    monkeypatch.setenv("ALIPAY_APP_PRIVATE_KEY_FILE", str(tmp_path / "app.pem"))
    monkeypatch.setenv("ALIPAY_PUBLIC_KEY_FILE", str(tmp_path / "alipay.pem"))
    monkeypatch.setenv("ALIPAY_NOTIFY_URL", "https://parking.example/v1/payments/alipay/notify")
    alipay = load_config().alipay
    assert (alipay.app_private_key_pem, alipay.alipay_public_key_pem) == (keys.private_pem, keys.public_pem)
    assert alipay.agreement_notify() == "https://parking.example/v1/payments/alipay/agreement-notify"
    assert keys.private_pem not in repr(alipay)


def test_a_missing_alipay_key_file_or_key_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("ALIPAY_APP_ID", "2021000000000001")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.field == "ALIPAY_APP_PRIVATE_KEY"
    monkeypatch.setenv("ALIPAY_APP_PRIVATE_KEY_FILE", str(tmp_path / "nowhere.pem"))
    with pytest.raises(ConfigError) as err:
        load_config()
    assert err.value.field == "ALIPAY_APP_PRIVATE_KEY_FILE" and "nowhere.pem" in err.value.message


def test_alipay_set_in_a_dotenv_file_is_the_platforms(tmp_path):
    """`.env` counts as much as the environment, for Alipay too (the platform used to look at os.environ only)."""
    from gateways.bootstrap import alipay_from_env

    keys = generate_keypair()
    (tmp_path / "app.pem").write_text(keys.private_pem)
    (tmp_path / "alipay.pem").write_text(keys.public_pem)
    (tmp_path / ".env").write_text(f"ALIPAY_APP_ID=2021000000000001\nALIPAY_APP_PRIVATE_KEY_FILE={tmp_path / 'app.pem'}\n"
                                   f"ALIPAY_PUBLIC_KEY_FILE={tmp_path / 'alipay.pem'}\nALIPAY_SERVER_URL=http://127.0.0.1:9/gateway.do\n")
    client = alipay_from_env()
    assert client is not None and (client.settings.app_id, client.settings.server_url) == (
        "2021000000000001", "http://127.0.0.1:9/gateway.do")
