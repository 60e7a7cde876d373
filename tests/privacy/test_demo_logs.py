"""A whole `parking demo` run logs no full phone number, plate, sign-in code, token or key (docs/SECURITY.md, Privacy).

The only lines left out are the console stand-ins' own "SMS" and "push" output, exactly those starting
`[parking] sign-in code for` and `[parking] notice to`: what a driver's phone would receive, not a log."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

STAND_IN_LINES = ("[parking] sign-in code for ", "[parking] notice to ")
RUN_S = float(os.environ.get("PARKING_TEST_DEMO_RUN_S", "60"))
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(tmp_path: Path) -> str:
    """stdout and stderr of the demo running RUN_S seconds once ready, ended by SIGINT as a person would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "MQTT_URL", "ALIPAY_", "PARKING_"))}
    env.update(PARKING_DATA_DIR=str(tmp_path / "data"), PARKING_EMBEDDED_MQTT_PORT=str(free_port()),
               COLUMNS="1000", TZ="Asia/Shanghai")  # wide: rich must not wrap a number across two lines
    out, err = (tmp_path / "stdout.log").open("wb"), (tmp_path / "stderr.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", "from gateways.cli.main import app; app()", "demo", "--lots", "60",
                             "--rate", "200", "-v", "--port", str(free_port())],
                            cwd=tmp_path, env=env, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts slowly: the RUN_S seconds count from the ready banner
        while "Ctrl-C stops" not in (tmp_path / "stderr.log").read_text(errors="replace") and proc.poll() is None:
            assert time.monotonic() < deadline, "the demo did not start within 180 s"
            time.sleep(0.5)
        time.sleep(RUN_S)
        assert proc.poll() is None, (tmp_path / "stderr.log").read_text(errors="replace")[-3000:]
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
        err.close()
    return (tmp_path / "stdout.log").read_text(encoding="utf-8") + (tmp_path / "stderr.log").read_text(encoding="utf-8")


def plates_seen(db: Path) -> set[str]:
    """Every plate the simulated traffic and the scripted driver used, as the demo's database holds them."""
    with sqlite3.connect(db) as c:
        plates = {r[0] for r in c.execute("SELECT plate FROM parking_sessions UNION SELECT exit_plate FROM parking_sessions "
                                          "UNION SELECT plate FROM orders UNION SELECT plate FROM plate_bindings") if r[0]}
        for (data,) in c.execute("SELECT data FROM occupancy_events"):
            plate = json.loads(data).get("plate")
            if plate:
                plates.add(plate.replace("·", "").replace(" ", "").upper())
    return plates


@pytest.mark.timeout(400)
def test_a_demo_run_logs_no_phone_plate_code_token_or_key(tmp_path):
    text = run_demo(tmp_path)
    lines = text.splitlines()
    stand_in = [line for line in lines if line.startswith(STAND_IN_LINES)]
    logged = "\n".join(line for line in lines if not line.startswith(STAND_IN_LINES))
    codes = {m.group(1) for line in stand_in if (m := re.match(r"\[parking\] sign-in code for \d+: (\d{6})", line))}
    data = tmp_path / "data"
    plates = plates_seen(data / "demo.db")
    assert codes and len(plates) > 5, "the run must have signed a driver in and moved cars to prove anything"
    assert "paid" in logged, "the scripted driver's order should have been charged"

    assert PHONE.findall(logged) == []
    assert [c for c in codes if re.search(rf"(?<!\d){c}(?!\d)", logged)] == []
    flat = re.sub(r"\s+", "", logged)
    assert sorted(p for p in plates if p in flat or f"{p[:2]}·{p[2:]}" in flat) == []
    assert JWT.findall(logged) == []
    secrets = [line.split(":", 1)[1] for line in (data / "operator_keys").read_text().split() if ":" in line]
    secrets.append((data / "jwt_secret").read_text().strip())
    for pair in json.loads((data / "demo-alipay" / "keys.json").read_text()).values():
        body = "".join(pair["private_pem"].splitlines()[1:-1])
        secrets += [body[i:i + 32] for i in range(0, len(body) - 32, 32)]
    assert "PRIVATE KEY" not in logged
    assert [s[:6] + "…" for s in secrets if s and s in flat] == []
