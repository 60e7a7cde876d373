"""One timer for every delayed event of the local gateway (notification retries, settling charges, TRADE_FINISHED)."""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class Scheduler:
    """Runs callables after a delay on a small worker pool, so a slow receiver never holds up the others."""

    def __init__(self, workers: int = 4) -> None:
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._running = 0
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alipay-local")
        self._thread = threading.Thread(target=self._loop, name="alipay-local-timer", daemon=True)
        self._thread.start()

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> None:
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay_s), next(self._order), fn, args))
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing waiting and nothing running."""
        with self._cond:
            return not self._heap and self._running == 0

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._heap or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                due = self._heap[0][0] - time.monotonic()
                if due > 0:
                    self._cond.wait(due)
                    continue
                _, _, fn, args = heapq.heappop(self._heap)
                self._running += 1
                self._pool.submit(self._run, fn, args)

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("local Alipay timed task %r failed", fn)
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
