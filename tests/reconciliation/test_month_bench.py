"""The month bench (bench/bench_month.py) kept from rotting: three days of it on the embedded defaults must pass,
with every kind of fault injected at least once and every day closed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_three_days_of_the_month_bench_pass_on_the_embedded_defaults(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MQTT_URL")}
    run = subprocess.run([sys.executable, "-m", "bench.bench_month", "--days", "3"], cwd=REPO, env={**env, "COLUMNS": "200"},
                         capture_output=True, text=True, timeout=120)
    out = run.stdout
    assert run.returncode == 0 and "PASS" in out, out[-4000:] + run.stderr[-4000:]
    assert "SQLite + in-process live state" in out
    assert "3/3 closed" in out
    for fault in ("lost_notification", "duplicate_notification", "duplicate_payment", "foreign_trade"):
        assert fault in out, f"no {fault} was injected in three days"


def test_the_bench_fails_when_a_case_is_found_that_no_injected_fault_explains(monkeypatch):
    from bench import bench_month
    from bench.month.traffic import Month

    collect = Month._collect_faults

    def forget_lost_notifications(self, day, lost=frozenset()):  # noqa: ANN001, ANN202 - the bench's own method, wrapped
        collect(self, day, lost)
        self.faults[:] = [f for f in self.faults if f.kind != "lost_notification"]

    monkeypatch.setattr(Month, "_collect_faults", forget_lost_notifications)
    passed, problems = bench_month.run(1, 11)
    assert not passed
    assert any("alipay_only case" in p and "no fault explains" in p for p in problems), problems
