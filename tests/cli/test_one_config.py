"""`parking serve`, `demo` and `ingest` build the whole configuration before anything starts; commands that
sign nobody in write no secret file."""
from __future__ import annotations

import pytest

from tests.cli.conftest import SECRET, assert_one_line, free_port


@pytest.mark.parametrize("command", [["serve"], ["demo", "--lots", "20"], ["ingest"]])
@pytest.mark.parametrize("name, value", [("PARKING_RATE_LIMIT_PER_MIN", "-5"), ("ALIPAY_TIMEOUT_S", "soon"),
                                         ("PARKING_TRUSTED_PROXIES", "proxy.local")])
def test_a_bad_setting_of_any_part_stops_start_up_naming_it(parking, command, name, value):
    port = ["--port", str(free_port())] if command[0] != "ingest" else []
    ran = parking(*command, *port, **{name: value})
    assert_one_line(ran, name, repr(value))
    assert "demo:" not in ran.stderr + ran.stdout  # nothing started, not even the banner


def test_a_missing_alipay_key_file_is_named_and_no_password_printed(parking):
    ran = parking("serve", "--port", str(free_port()), ALIPAY_APP_ID="2021000000000001", ALIPAY_PUBLIC_KEY="k",
                  ALIPAY_APP_PRIVATE_KEY_FILE="/nonexistent/app.pem", MQTT_URL=f"mqtt://p:{SECRET}@h:1")
    assert_one_line(ran, "ALIPAY_APP_PRIVATE_KEY_FILE")


def test_a_settlement_writes_no_secret_file(parking, tmp_path):
    data = tmp_path / "data"
    assert parking("db", "upgrade").code == 0
    before = sorted(p.name for p in data.iterdir())
    ran = parking("billing", "settlement", "2026-12-01")
    assert ran.code == 0, ran.stderr[-2000:]
    assert sorted(p.name for p in data.iterdir()) == before
    assert not (data / "jwt_secret").exists() and not (data / "operator_keys").exists()
