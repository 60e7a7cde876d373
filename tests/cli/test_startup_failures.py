"""Every way `parking` can fail to start ends with exit status 2 and one line naming the setting or
the port (README: "A bad setting stops start-up with a message naming it"), never a traceback, a
password, or a banner for a server that is not there."""
from __future__ import annotations

import json

import pytest

from tests.cli.conftest import SECRET, assert_one_line, free_port


@pytest.mark.parametrize("command", [["serve"], ["demo", "--lots", "20"], ["lots", "import", "city.geojson"]])
def test_tariffs_pointing_nowhere(parking, tmp_path, command):
    (tmp_path / "city.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    ran = parking(*command, *(["--port", str(free_port())] if command[0] != "lots" else []), PARKING_TARIFFS=str(tmp_path / "nowhere"))
    assert_one_line(ran, "PARKING_TARIFFS", "nowhere")


def test_a_bad_tariff_file(parking, tmp_path):
    (tmp_path / "rates.yaml").write_text("tariffs:\n  - id: t1\n    version: one\n")
    ran = parking("serve", "--port", str(free_port()), PARKING_TARIFFS=str(tmp_path / "rates.yaml"))
    assert_one_line(ran, "PARKING_TARIFFS", "rates.yaml", "version")


def test_redis_unreachable(parking):
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    line = assert_one_line(parking("serve", "--port", str(free_port()), REDIS_URL=url), "REDIS_URL", "cannot connect")
    assert "redis://:***@127.0.0.1" in line


def test_mqtt_unreachable(parking):
    port = free_port()
    line = assert_one_line(parking("serve", "--port", str(free_port()), MQTT_URL=f"mqtt://platform:{SECRET}@127.0.0.1:{port}"),
                           "MQTT_URL", f"127.0.0.1:{port}", "cannot connect")
    assert "platform:***@" in line


def test_simulate_to_an_unreachable_broker(parking):
    port = free_port()
    assert_one_line(parking("simulate", "--lots", "10", "--duration", "1", MQTT_URL=f"mqtt://sim:{SECRET}@127.0.0.1:{port}"),
                    "MQTT_URL", f"127.0.0.1:{port}", "cannot connect")


def test_database_unreachable(parking):
    url = f"postgresql://parking:{SECRET}@127.0.0.1:{free_port()}/parking"
    assert_one_line(parking("serve", "--port", str(free_port()), DATABASE_URL=url), "DATABASE_URL", "cannot connect")
    assert_one_line(parking("db", "upgrade", DATABASE_URL=url), "DATABASE_URL", "cannot connect")


def test_a_malformed_url_is_named_without_its_password(parking):
    assert_one_line(parking("serve", REDIS_URL=f"http://:{SECRET}@127.0.0.1:6379"), "REDIS_URL", "redis://")


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_busy_http_port_stops_before_the_banner(parking, busy_port, command):
    ran = parking(command, "--port", str(busy_port))
    assert_one_line(ran, f"port {busy_port} on 127.0.0.1 is in use")
    assert "API and map" not in ran.stdout + ran.stderr


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_out_of_range(parking, command):
    assert_one_line(parking(command, "--port", "99999"), "--port 99999", "65535")


def test_a_busy_embedded_broker_port(parking, busy_port):
    ran = parking("serve", "--port", str(free_port()), PARKING_EMBEDDED_MQTT_PORT=str(busy_port))
    assert_one_line(ran, "PARKING_EMBEDDED_MQTT_PORT", f"port {busy_port}", "in use")
