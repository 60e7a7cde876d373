"""A Mosquitto of the test's own running the shipped deploy config with the dynamic-security plugin:
mosquitto.conf + dynsec.conf, users written by deploy/mosquitto/dynsec_init.py, paths and port made local."""
from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
_LOCAL = ("listener", "persistence_location", "log_dest", "log_type", "plugin", "plugin_opt_config_file", "connection_messages")


def _unavailable(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def _dynsec_init():
    spec = importlib.util.spec_from_file_location("dynsec_init", DEPLOY / "dynsec_init.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Broker:
    port: int
    prefix: str
    admin_password: str
    platform_password: str
    log: Path

    def url(self, user: str = "platform", password: str | None = None) -> str:
        return f"mqtt://{user}:{password or self.platform_password}@127.0.0.1:{self.port}"


@pytest.fixture
def dynsec_broker():
    """Yields a Broker: admin (the plugin's admin) and platform users, deny by default for everyone else."""
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if binary is None or not PLUGIN.exists():
        _unavailable("mosquitto 2 with its dynamic-security plugin is not installed (Debian package mosquitto)")
    from sensors.broker import free_port

    data = Path(tempfile.mkdtemp(prefix="dynsec-broker-"))  # under /tmp: the broker's own user must reach it
    port, prefix = free_port(), f"test/{uuid.uuid4().hex[:10]}/parking/v1"
    admin_pw, platform_pw = f"admin-{uuid.uuid4().hex}", f"platform-{uuid.uuid4().hex}"
    conf_json = data / "dynamic-security.json"
    import json

    conf_json.write_text(json.dumps(_dynsec_init().config(prefix, {"admin": admin_pw, "platform": platform_pw})))
    shipped = (DEPLOY / "mosquitto.conf").read_text().splitlines() + (DEPLOY / "dynsec.conf").read_text().splitlines()
    kept = [ln for ln in shipped if ln.split(" ", 1)[0] not in _LOCAL]
    log = data / "mosquitto.log"
    (data / "mosquitto.conf").write_text("\n".join(kept + [
        f"persistence_location {data}/", f"log_dest file {log}", "log_type all",
        f"listener {port} 127.0.0.1", "allow_anonymous false",
        f"plugin {PLUGIN}", f"plugin_opt_config_file {conf_json}",
    ]) + "\n")
    if os.geteuid() == 0:  # mosquitto drops root for its own user, which must read and save the plugin's file
        for path in (data, conf_json):
            shutil.chown(path, "mosquitto")
    proc = subprocess.Popen([binary, "-c", str(data / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"mosquitto with the dynamic-security config did not start: {proc.stderr.read().decode()} "
                            f"{log.read_text() if log.exists() else ''}")
            time.sleep(0.05)
    yield Broker(port, prefix, admin_pw, platform_pw, log)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(data, ignore_errors=True)


KEYS = {"op1": "op1-key-" + "1" * 16, "op2": "op2-key-" + "2" * 16, "city": "city-key-" + "3" * 16}


def joining_feature(lot_id: str = "J1", *, operator: str = "op1", **props) -> dict:
    """A gated street car park: two berth sensors and a gate camera."""
    properties = {"id": lot_id, "name": "新建停车场", "kind": "off_street", "operator": operator, "district": "gusu", "total": 40,
                  "berths": ["b1", "b2"], "gates": ["g1"],
                  "devices": [{"id": "s-b1", "kind": "berth_sensor", "berth": "b1"}, {"id": "s-b2", "kind": "berth_sensor", "berth": "b2"},
                              {"id": "cam-g1", "kind": "gate_camera", "gate": "g1"}]}
    properties.update(props)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.61, 31.31]}, "properties": properties}


def as_(who: str) -> dict:
    return {"X-Operator-Key": KEYS[who]}


@pytest.fixture
def joining_api(api, monkeypatch):
    """(platform, client) with env keys: admins of op1 and op2 and of the city."""
    monkeypatch.setenv("PARKING_OPERATOR_KEYS", ",".join(f"{k}:{v}" for k, v in KEYS.items()))
    return api


def issue_key(platform, *, org_kind: str, org_id: str, role: str) -> dict:
    """Headers with a key of a district or of the city with a given role."""
    from gateways.operator.permissions import env_principal, principals_of

    issued = principals_of(platform).issue_key(actor=env_principal("city"), org_kind=org_kind, org_id=org_id, role=role, label="test")
    return {"X-Operator-Key": issued.secret}


def wait_for(check, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87


class Device:
    """A device as a vendor would build it: paho, MQTT 5, QoS 1, its own user name and password."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.acks: dict[int, int] = {}
        self.connack = threading.Event()
        self.connack_rc: int | None = None
        self.disconnected = threading.Event()
        self.suback: list[int] = []
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        c.username_pw_set(username, password)
        c.on_connect = self._on_connect
        c.on_publish = lambda client, userdata, mid, rc, props: self.acks.__setitem__(mid, rc.value)
        c.on_disconnect = lambda client, userdata, flags, rc, props: self.disconnected.set()
        c.on_subscribe = lambda client, userdata, mid, rcs, props: self.suback.extend(rc.value for rc in rcs)
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert self.connack.wait(10), "no CONNACK"

    def _on_connect(self, client, userdata, flags, rc, props) -> None:
        self.connack_rc = rc.value
        self.connack.set()

    def publish(self, topic: str, body: dict) -> int:
        """The broker's PUBACK reason code for a QoS 1 publish."""
        info = self.client.publish(topic, orjson.dumps(body), qos=1)
        wait_for(lambda: info.mid in self.acks, 10, "PUBACK")
        return self.acks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def platform_on_broker(dynsec_broker, tmp_path, monkeypatch):
    """A platform ingesting from the dynamic-security broker as its `platform` user, with the admin set."""
    from fastapi.testclient import TestClient

    from gateways.bootstrap import Platform
    from gateways.http.app import create_app
    from gateways.operator.registry_import import import_registry
    from gateways.schema import upgrade
    from parking_core.settings import load_settings
    from tests.factories import city_registry

    monkeypatch.setenv("PARKING_OPERATOR_KEYS", ",".join(f"{k}:{v}" for k, v in KEYS.items()))
    monkeypatch.setenv("PARKING_MQTT_ADMIN_USER", "admin")
    monkeypatch.setenv("PARKING_MQTT_ADMIN_PASSWORD", dynsec_broker.admin_password)
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", MQTT_URL=dynsec_broker.url(),
                             PARKING_TOPIC_PREFIX=dynsec_broker.prefix, PARKING_MQTT_CLIENT_ID=f"ingest-{uuid.uuid4().hex[:6]}")
    platform = Platform(settings, with_ingest=True)
    upgrade(platform.engine)
    import_registry(platform, city_registry())
    platform.start()
    try:
        yield platform, TestClient(create_app(platform))
    finally:
        platform.stop()


def topic(prefix: str, lot: str, berth: str) -> str:
    return f"{prefix}/lots/{lot}/berths/{berth}/state"


def state(seq: int) -> dict:
    from datetime import datetime

    return {"occupied": True, "seq": seq, "ts": datetime.now(UTC).isoformat()}
