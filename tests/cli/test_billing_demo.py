"""After `parking demo`, `parking billing settlement --demo` and `reconcile --demo` look at what the demo did:
its database and the bill of its Alipay stand-in (kept in PARKING_DATA_DIR), not an empty database and
"Alipay is not configured"."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime

from parking_core.clock import SHANGHAI
from tests.cli.conftest import _command, assert_one_line, free_port


def _run_demo_until_paid(parking_env: dict, cwd, timeout_s: float = 90) -> str:
    err = cwd / "demo.err"
    with open(err, "w") as sink:
        proc = subprocess.Popen([*_command(), "demo", "--lots", "300", "--rate", "100", "--port", str(free_port())],
                                cwd=cwd, env=parking_env, stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while "charged through the local Alipay" not in err.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:  # Ctrl-C as a person would, to the whole group (a launcher script may stand between us and python)
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    return err.read_text()


def test_billing_commands_find_the_demo(parking, tmp_path):
    env = parking.env
    log = _run_demo_until_paid(env, tmp_path)
    assert "charged through the local Alipay" in log, log[-3000:]
    day = datetime.now(SHANGHAI).date().isoformat()

    settled = parking("billing", "settlement", "--demo", day)
    assert settled.code == 0, settled.stderr
    (row,) = json.loads(settled.stdout)
    assert (row["payments"], row["net_fen"]) == (1, 600)  # the demo driver's 2 h 40 min under the Suzhou tariff

    report = parking("billing", "reconcile", "--demo", day)
    assert report.code == 0, report.stderr  # balanced
    body = json.loads(report.stdout)
    assert body["balanced"] and [m["ours_fen"] for m in body["matched"]] == [600] and body["alipay_net_fen"] == 600

    assert_one_line(parking("billing", "reconcile", day), "add --demo")  # without --demo: says where the demo is
    assert_one_line(parking("billing", "settlement", day), "add --demo")


def test_reconcile_demo_without_a_demo_names_the_data_dir(parking):
    assert parking("db", "upgrade", DATABASE_URL="").code == 0
    ran = parking("billing", "reconcile", "--demo", "2026-11-22", DATABASE_URL=f"sqlite:///{parking.env['PARKING_DATA_DIR']}/parking.db")
    assert_one_line(ran, "PARKING_DATA_DIR", "parking demo")
