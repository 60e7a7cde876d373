"""`parking serve --workers N`: ingest workers 1..N-1 as child processes, restarted when they die
(with `--http-workers` above 1, workers 0..N-1: the HTTP processes then ingest nothing).

A worker's MQTT session is persistent, so while it is down the broker keeps its share of a
shared subscription for it; restarting it within seconds is what gets those messages applied.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("parking.workers")
QUICK_DEATH_S = 10.0  # a worker that dies sooner than this after starting backs off before the next start
MAX_BACKOFF_S = 30.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM when `parking serve` dies, even by SIGKILL: no orphan workers."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Worker:
    id: int
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    last_exit: int | None = None
    next_start: float = 0.0
    backoff_s: float = 1.0

    def as_dict(self) -> dict:
        running = self.proc is not None and self.proc.poll() is None
        return {"id": self.id, "pid": self.proc.pid if self.proc else None, "running": running,
                "restarts": self.restarts, "last_exit_code": self.last_exit,
                "up_s": round(time.monotonic() - self.started_at, 1) if running else 0.0}


@dataclass
class IngestSupervisor:
    """Starts the extra ingest workers and keeps them running; `status()` is what /healthz shows."""

    count: int  # workers: ids first_id..first_id+count-1
    verbose: bool = False
    poll_s: float = 0.5
    first_id: int = 1  # 0 when no HTTP process ingests (`serve --http-workers` above 1)
    nice: int = 0  # added to each worker's niceness (PARKING_INGEST_NICE): the API first on shared cores
    workers: list[Worker] = field(init=False)

    def __post_init__(self) -> None:
        self.workers = [Worker(id=i) for i in range(self.first_id, self.first_id + self.count)]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def command(self, worker_id: int) -> list[str]:
        cmd = [sys.executable, "-m", "gateways.cli.main", "ingest", "--worker-id", str(worker_id)]
        return cmd + (["--verbose"] if self.verbose else [])

    def start(self) -> "IngestSupervisor":
        for w in self.workers:
            self._spawn(w)
        self._thread = threading.Thread(target=self._watch, name="ingest-supervisor", daemon=True)
        self._thread.start()
        return self

    def _spawn(self, w: Worker) -> None:
        nice = self.nice

        def in_child() -> None:  # pragma: no cover - runs in the child before exec
            _die_with_parent()
            if nice:
                os.nice(nice)

        w.proc = subprocess.Popen(self.command(w.id), preexec_fn=in_child)
        w.started_at = time.monotonic()
        log.info("ingest worker %d started (pid %d)", w.id, w.proc.pid)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            with self._lock:
                now = time.monotonic()
                for w in self.workers:
                    if w.proc is not None and w.proc.poll() is not None:
                        w.last_exit = w.proc.returncode
                        quick = now - w.started_at < QUICK_DEATH_S
                        w.backoff_s = min(MAX_BACKOFF_S, w.backoff_s * 2) if quick else 1.0
                        w.next_start = now + (w.backoff_s if quick else 0.0)
                        log.error("ingest worker %d (pid %d) exited with %s; restarting%s", w.id, w.proc.pid, w.last_exit,
                                  f" in {w.backoff_s:.0f} s" if quick else "")
                        w.proc = None
                    if w.proc is None and now >= w.next_start and not self._stop.is_set():
                        w.restarts += 1
                        self._spawn(w)

    def status(self) -> list[dict]:
        with self._lock:
            return [w.as_dict() for w in self.workers]

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        with self._lock:
            procs = [w.proc for w in self.workers if w.proc is not None]
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
