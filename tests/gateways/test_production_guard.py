"""Production never runs on demo parts: `parking serve` refuses the console code sender and
notifier, the embedded or a password-less broker and generated keys, unless started with --dev,
which says so; configured properly, codes reach the city's SMS webhook, signed, and no log line
holds the phone number or the code."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sensors.broker import free_port
from tests.sensors.test_mqtt_e2e import wait_for
from tests.sensors.test_workers import parking_cmd

pytestmark = pytest.mark.timeout(300)  # real processes start here: slower than the suite's 120 s on a busy machine

SECRET = "w" * 40


def run_serve(env: dict, *args: str, timeout: float = 60):
    port = free_port()
    return port, subprocess.run(parking_cmd() + ["serve", "--port", str(port), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bare_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARKING_", "MQTT_", "REDIS_", "DATABASE_", "ALIPAY_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", PARKING_DATA_DIR=str(tmp_path / "data"), COLUMNS="400")
    subprocess.run(parking_cmd() + ["db", "upgrade"], env=env, check=True, capture_output=True)
    return env


def test_serve_refuses_every_demo_part_and_names_what_to_set(bare_env):
    port, done = run_serve(bare_env)
    assert done.returncode == 2
    err = " ".join(done.stderr.split())
    assert "refuses to run on demo parts" in err
    for setting in ("PARKING_SMS_WEBHOOK_URL", "PARKING_NOTIFY_WEBHOOK_URL", "MQTT_URL", "PARKING_JWT_SECRET", "PARKING_OPERATOR_KEYS",
                    "PARKING_PLATE_HASH_KEY", "--dev"):
        assert setting in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5)


def test_a_password_less_broker_is_an_open_broker(bare_env, mqtt_url):
    env = {**bare_env, "MQTT_URL": mqtt_url}
    _, done = run_serve(env)
    assert done.returncode == 2
    assert "MQTT_URL has no password" in " ".join(done.stderr.split())


def test_dev_mode_runs_on_them_and_says_so(bare_env):
    port = free_port()
    proc = subprocess.Popen(parking_cmd() + ["serve", "--port", str(port), "--dev"], env=bare_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: _ok(port), timeout=60)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "DEVELOPMENT MODE" in out and "console" in out


class Receiver(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.got.append((self.path, self.headers["X-Parking-Signature"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_configured_for_production_it_starts_and_codes_go_to_the_signed_webhook(bare_env, mqtt_url, tmp_path):
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{hook.server_port}"
    env = {**bare_env, "MQTT_URL": mqtt_url.replace("mqtt://", "mqtt://platform:s3cret-pass@"), "PARKING_JWT_SECRET": "j" * 40,
           "PARKING_PLATE_HASH_KEY": "h" * 40, "PARKING_OPERATOR_KEYS": "op1:" + "k" * 24, "PARKING_SMS_WEBHOOK_URL": f"{base}/sms", "PARKING_NOTIFY_WEBHOOK_URL": f"{base}/notify",
           "PARKING_WEBHOOK_SECRET": SECRET, "PARKING_TOPIC_PREFIX": f"test/{os.getpid()}/parking/v1"}
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(parking_cmd() + ["serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: _ok(port), timeout=60), (tmp_path / "serve.log").read_text()
        r = httpx.post(f"http://127.0.0.1:{port}/v1/auth/code", json={"phone": "13912345678"}, timeout=10)
        assert r.status_code == 202, r.text
        path, signature, body = Receiver.got[-1]
        assert path == "/sms"
        assert signature == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        sent = json.loads(body)
        assert sent["kind"] == "sign_in_code" and sent["phone"] == "13912345678" and sent["code"].isdigit()
    finally:
        proc.terminate()
        proc.wait(30)
        hook.shutdown()
    output = (tmp_path / "serve.log").read_text()
    assert "DEVELOPMENT MODE" not in output
    assert "13912345678" not in output and sent["code"] not in output  # neither the phone nor the code is logged


def _ok(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
