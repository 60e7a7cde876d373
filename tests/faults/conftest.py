"""Servers of a test's own, so a fault test may stop and restart them without touching the
shared ones other tests use."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import _TEST_OVERRIDES, SHIPPED_MOSQUITTO_CONF


def _need(binary: str | None, what: str) -> str:
    if binary is None:
        msg = f"{what} is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return binary


def _wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


@pytest.fixture
def own_mosquitto(tmp_path):
    """Mosquitto with the shipped config (persistence on, queues unlimited) on a free port of the
    test's own; `.restart(down_s)` stops it (SIGTERM: it saves its persistence file) and starts it
    again on the same port, as an operator restarting the broker would."""
    from sensors.broker import free_port

    binary = _need(shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None),
                   "mosquitto (Debian package mosquitto)")
    port = free_port()
    kept = [ln for ln in SHIPPED_MOSQUITTO_CONF.read_text().splitlines() if ln.split(" ", 1)[0] not in _TEST_OVERRIDES]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(kept + [
        f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence true", f"persistence_location {tmp_path}/",
        f"log_dest file {tmp_path}/mosquitto.log",
    ]) + "\n")

    class Ctl:
        url = f"mqtt://127.0.0.1:{port}"
        proc: subprocess.Popen | None = None
        restarts = 0

        def start(self) -> None:
            self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not _wait_port(port):
                pytest.fail("own mosquitto did not start")

        def stop(self) -> None:
            if self.proc and self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(10)

        def restart(self, down_s: float = 2.0) -> None:
            self.stop()
            time.sleep(down_s)
            self.start()
            self.restarts += 1

    ctl = Ctl()
    ctl.start()
    yield ctl
    ctl.stop()


@pytest.fixture
def own_postgres(tmp_path):
    """A PostgreSQL cluster of the test's own (initdb into tmp, a free port, trust auth), so the
    test may stop the whole server for half a minute. `.url`, `.stop()`, `.start()`."""
    from sensors.broker import free_port

    bindir = next((f"/usr/lib/postgresql/{v}/bin" for v in sorted(os.listdir("/usr/lib/postgresql"), reverse=True)
                   if os.path.exists(f"/usr/lib/postgresql/{v}/bin/pg_ctl")), None) if os.path.isdir("/usr/lib/postgresql") else None
    _need(bindir, "PostgreSQL's server binaries (Debian package postgresql)")
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="parking-pg-"))  # not under pytest's 0700 tree: the server's user must reach it
    data, port = home / "data", free_port()
    run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    if run_as:
        shutil.chown(home, "postgres")
    subprocess.run(run_as + [f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    class Ctl:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

        def start(self) -> None:
            subprocess.run(run_as + [f"{bindir}/pg_ctl", "-D", str(data), "-l", str(home / "pg.log"), "-w",
                                     "-o", f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                           check=True, stdout=subprocess.DEVNULL)

        def stop(self) -> None:
            subprocess.run(run_as + [f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"],
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ctl = Ctl()
    ctl.start()
    yield ctl
    ctl.stop()
    shutil.rmtree(home, ignore_errors=True)
