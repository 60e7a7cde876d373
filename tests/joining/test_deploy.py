"""deploy/init-secrets.sh makes the broker's users once, with random passwords: nothing that works is committed."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _verifies(client: dict, password: str) -> bool:
    """The dynamic-security plugin's check: PBKDF2-HMAC-SHA512 over the salt, as stored."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(client["salt"]), client["iterations"], 64)
    return base64.b64encode(digest).decode() == client["password"]


def test_init_secrets_writes_the_brokers_users_once(tmp_path):
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    assert not (tmp_path / "deploy" / "mosquitto" / "dynsec").exists()  # the repository ships no users
    run = subprocess.run(["sh", "deploy/init-secrets.sh"], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    env = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    path = tmp_path / "deploy" / "mosquitto" / "dynsec" / "dynamic-security.json"
    users = {c["username"]: c for c in json.loads(path.read_text())["clients"]}
    assert set(users) == {"admin", "platform", "simulator"}
    assert _verifies(users["admin"], env["MQTT_ADMIN_PASSWORD"]) and _verifies(users["platform"], env["MQTT_PASSWORD"])
    assert not _verifies(users["platform"], env["MQTT_ADMIN_PASSWORD"])
    assert path.stat().st_mode & 0o077 == 0
    before = path.read_text()
    assert subprocess.run(["sh", "deploy/init-secrets.sh"], check=False, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
    assert path.read_text() == before  # the broker's own additions (device users) are never overwritten


def test_an_older_env_gets_the_admin_password_added(tmp_path):
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=p" + "x" * 20 + "\nMQTT_PASSWORD=m" + "y" * 20 + "\nSIMULATOR_PASSWORD=s" + "z" * 20 + "\n")
    run = subprocess.run(["sh", "deploy/init-secrets.sh"], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    env = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    assert len(env["MQTT_ADMIN_PASSWORD"]) >= 24 and env["MQTT_PASSWORD"] == "m" + "y" * 20
