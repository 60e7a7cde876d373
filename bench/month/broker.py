"""`--broker dynsec`: the month over a real broker. A private Mosquitto 2 runs the shipped config with its
dynamic-security plugin (deploy/mosquitto: mosquitto.conf, dynsec.conf, the users of dynsec_init.py), as in
production; the platform ingests from it as its `platform` user and issues each device its own user through
the operator API; every device then sends its test message and its car park's passages over MQTT with that
user, and the bench waits for the platform's own ingest to have taken each step's messages."""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import MOSQUITTO, REPO, running_mosquitto, wait_until
from sensors.broker import free_port

DEPLOY = REPO / "deploy" / "mosquitto"
PLUGIN = Path(os.environ.get("BENCH_DYNSEC_PLUGIN", "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"))
_LOCAL = ("listener", "persistence_location", "log_dest", "log_type", "plugin", "plugin_opt_config_file", "connection_messages")


@dataclass(frozen=True)
class Broker:
    port: int
    admin_password: str
    platform_password: str

    @property
    def platform_url(self) -> str:
        return f"mqtt://platform:{self.platform_password}@127.0.0.1:{self.port}"


@contextmanager
def dynsec_mosquitto(prefix: str) -> Iterator[Broker]:
    """The shipped broker config on a private port and folder; users `admin` and `platform`, deny by default."""
    if not Path(MOSQUITTO).exists() or not PLUGIN.exists():
        raise SystemExit(f"--broker dynsec needs {MOSQUITTO} and its plugin {PLUGIN} (Debian package mosquitto)")
    spec = importlib.util.spec_from_file_location("dynsec_init", DEPLOY / "dynsec_init.py")
    init = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(init)
    data = Path(tempfile.mkdtemp(prefix="bench-month-mosquitto-"))
    port, admin_pw, platform_pw = free_port(), secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    (data / "dynamic-security.json").write_text(json.dumps(init.config(prefix, {"admin": admin_pw, "platform": platform_pw})))
    shipped = (DEPLOY / "mosquitto.conf").read_text().splitlines() + (DEPLOY / "dynsec.conf").read_text().splitlines()
    kept = [ln for ln in shipped if ln.split(" ", 1)[0] not in _LOCAL]
    (data / "mosquitto.conf").write_text("\n".join(kept + [
        f"persistence_location {data}/", f"log_dest file {data}/mosquitto.log", "log_type error", "log_type warning",
        f"listener {port} 127.0.0.1", "allow_anonymous false", f"plugin {PLUGIN}",
        f"plugin_opt_config_file {data / 'dynamic-security.json'}"]) + "\n")
    with running_mosquitto(data, port):
        yield Broker(port, admin_pw, platform_pw)


def device_of(topic: str, prefix: str) -> str:
    """The device user that sends on this topic: `{lot}/{device}` (berth sensor `s-{berth}`, gate camera `cam-{gate}`)."""
    parts = topic[len(prefix) + 1:].split("/")  # lots/{lot}/{berths|gates|devices}/{id}/...
    lot, kind, ident = parts[1], parts[2], parts[3]
    return f"{lot}/" + {"berths": f"s-{ident}", "gates": f"cam-{ident}", "devices": ident}[kind]


class MqttDevices:
    """The car parks' devices, each connected with its own credential; `send` publishes at QoS 1 from the right
    device and returns once the platform's ingest has taken every message."""

    def __init__(self, platform, port: int, credentials: dict[str, str]) -> None:  # noqa: ANN001
        from tests.joining.conftest import Device

        self.platform, self.prefix = platform, platform.settings.topic_prefix
        self.port, self.credentials = port, credentials
        self.devices = {user: Device(port, user, pw) for user, pw in credentials.items()}
        self.sent = platform.pipeline.stats.received
        refused = [user for user, d in self.devices.items() if d.connack_rc != 0]
        if refused:
            raise RuntimeError(f"the broker refused the devices' credentials: {refused}")

    def __call__(self, messages: Sequence[tuple[str, bytes]]) -> None:
        sent = []
        for topic, payload in messages:  # all at once, then every PUBACK (Device.publish waits for each)
            device = self.devices[device_of(topic, self.prefix)]
            sent.append((device, topic, device.client.publish(topic, payload, qos=1).mid))
        if not wait_until(lambda: all(mid in d.acks for d, _, mid in sent), 30, 0.002):
            raise RuntimeError("the broker did not acknowledge every publish in 30 s")
        for d, topic, mid in sent:
            if d.acks[mid] != 0:
                raise RuntimeError(f"the broker refused {topic}: reason code {d.acks[mid]}")
        self.sent += len(messages)
        if not wait_until(lambda: self.platform.pipeline.stats.received >= self.sent, 30, 0.002):
            raise RuntimeError(f"the ingest took {self.platform.pipeline.stats.received} of {self.sent} messages in 30 s")

    def refused_elsewhere(self, user: str, topic: str, body: dict) -> int:
        """A device publishing on another car park's topic, on a connection of its own: the broker's reason code."""
        from tests.joining.conftest import Device

        d = Device(self.port, user, self.credentials[user])
        try:
            return d.publish(topic, body)
        finally:
            d.close()

    def close(self) -> None:
        for d in self.devices.values():
            d.close()
