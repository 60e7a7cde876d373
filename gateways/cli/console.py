"""What the terminal shows while the platform runs: a live line of ingest counters and the log (rich).

Every time on the terminal is Shanghai time with its offset, whatever the host's TZ says: the sign-in
code's expiry, the orders and the log lines must read alike.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from parking_core.clock import SHANGHAI


def log_time(when: datetime) -> Text:
    """A log line's time in Shanghai; `when` is what logging gives, naive in the host's zone."""
    return Text(datetime.fromtimestamp(when.timestamp(), SHANGHAI).strftime("[%Y-%m-%d %H:%M:%S%z]"))


def log_handler(console: Console) -> RichHandler:
    """The log on the terminal, its times in Shanghai time."""
    return RichHandler(console=console, show_path=False, log_time_format=log_time)


def _table(platform, rate: float) -> Table:
    stats = platform.pipeline.stats.as_dict() if platform.pipeline else {}
    t = Table(title="ingest", show_header=True, header_style="bold", expand=False)
    for col in ("msg/s", "received", "applied", "pending", "duplicates", "stale", "rejected", "published"):
        t.add_column(col, justify="right")
    t.add_row(
        f"{rate:,.0f}", f"{stats.get('received', 0):,}", f"{stats.get('applied', 0):,}", f"{stats.get('pending', 0):,}",
        f"{stats.get('duplicates', 0):,}", f"{stats.get('stale', 0):,}", f"{stats.get('rejected', 0):,}", f"{stats.get('availability_published', 0):,}",
    )
    return t


def live_panel(platform, console: Console, stop: threading.Event, *, until: Callable[[], bool]) -> None:
    """Refresh the counters every second until stopped."""
    last, last_t, rate = 0, time.monotonic(), 0.0
    with Live(_table(platform, 0.0), console=console, refresh_per_second=2) as live:
        while not stop.is_set() and not until():
            time.sleep(1.0)
            received = platform.pipeline.stats.received if platform.pipeline else 0
            now = time.monotonic()
            rate = (received - last) / max(1e-6, now - last_t)
            last, last_t = received, now
            live.update(_table(platform, rate))
