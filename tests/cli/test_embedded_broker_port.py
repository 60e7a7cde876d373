"""The embedded broker listens on PARKING_EMBEDDED_MQTT_PORT (1884) and nowhere else: devices and
`parking simulate` are pointed there, so a port left in TIME_WAIT by the last run must not move it,
and a port someone else holds must stop start-up naming it."""
from __future__ import annotations

import socket
import time

import pytest

from gateways.bootstrap import _embedded_port
from parking_core.errors import ConfigError
from sensors.broker import DEFAULT_PORT, EmbeddedBroker
from tests.cli.conftest import free_port


def _time_wait(port: int) -> None:
    """Leave `port` in TIME_WAIT, as a demo stopped a moment ago does: the broker's listener (with
    SO_REUSEADDR, as asyncio's servers have) closed its side of a connection first."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen()
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()
    time.sleep(0.05)
    client.close()
    srv.close()
    with socket.socket() as probe, pytest.raises(OSError):  # the scenario is real: a plain bind fails
        probe.bind(("127.0.0.1", port))


def test_the_documented_default(monkeypatch):
    monkeypatch.delenv("PARKING_EMBEDDED_MQTT_PORT", raising=False)
    assert _embedded_port() == DEFAULT_PORT == 1884


def test_time_wait_does_not_move_the_platform_broker(monkeypatch, make_platform):
    port = free_port()
    _time_wait(port)
    monkeypatch.setenv("PARKING_EMBEDDED_MQTT_PORT", str(port))
    platform = make_platform(with_ingest=True)
    assert (platform.mqtt_target.host, platform.mqtt_target.port) == ("127.0.0.1", port)
    assert platform.ingest.connected.wait(10)


def test_a_busy_port_is_named(monkeypatch):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("PARKING_EMBEDDED_MQTT_PORT", str(port))
        with pytest.raises(ConfigError) as err:
            EmbeddedBroker(port=_embedded_port()).start()
    assert err.value.field == "PARKING_EMBEDDED_MQTT_PORT"
    assert f"port {port} on 127.0.0.1 is in use" in err.value.message


def test_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("PARKING_EMBEDDED_MQTT_PORT", "70000")
    with pytest.raises(ConfigError) as err:
        _embedded_port()
    assert err.value.message.startswith("PARKING_EMBEDDED_MQTT_PORT='70000'")
