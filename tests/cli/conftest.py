"""Run the `parking` command as a user would: a subprocess in an empty folder (no .env), with only
the settings the test gives, and read its exit status and its stderr."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass

import pytest

SECRET = "s3cr3t-pw"  # put in URLs by the tests; must never be printed


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def _command() -> list[str]:
    exe = shutil.which("parking")
    return [exe] if exe else [sys.executable, "-m", "gateways.cli.main"]


@pytest.fixture
def parking(tmp_path):
    """`parking(*args, **env)` → Ran; the data directory is the test's own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PARKING_", "DATABASE_URL", "REDIS_URL", "MQTT_URL", "ALIPAY_"))}
    base["PARKING_DATA_DIR"] = str(tmp_path / "data")
    base["PARKING_EMBEDDED_MQTT_PORT"] = str(free_port())  # never the 1884 a demo on this machine may hold
    base["COLUMNS"] = "80"
    base["PARKING_DEV"] = "1"  # `serve` on the console stand-ins (codes, notices, keys) is development mode

    def run(*args: str, timeout: float = 60, **env: str) -> Ran:
        done = subprocess.run([*_command(), *args], cwd=tmp_path, env={**base, **env}, capture_output=True, text=True, timeout=timeout)
        return Ran(done.returncode, done.stdout, done.stderr)

    run.env = base
    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def busy_port():
    """A port someone else is listening on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def assert_one_line(ran: Ran, *words: str) -> str:
    """Exit status 2 and a single `error: ...` line on stderr that names each of `words` and no password.
    Before it, only `serve`'s own "DEVELOPMENT MODE (--dev)" notices may stand (they are not failures)."""
    assert ran.code == 2, (ran.code, ran.stderr[-3000:])
    before, sep, error = ran.stderr.rpartition("error: ")
    assert sep, ran.stderr[-3000:]
    assert not before.strip() or before.lstrip().startswith("DEVELOPMENT MODE (--dev)"), ran.stderr[-3000:]
    assert "error: " not in before and "Traceback" not in ran.stderr
    lines = [line for line in error.splitlines() if line.strip()]
    assert len(lines) == 1, ran.stderr[-3000:]
    line = "error: " + lines[0]
    for word in words:
        assert word in line, (word, line)
    assert SECRET not in ran.stderr + ran.stdout
    return line
