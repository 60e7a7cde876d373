"""What the terminal shows is in Shanghai time, whatever the host's TZ: the log lines, the sign-in
code's expiry and the notices' due dates read alike (they used to mix Shanghai time and UTC)."""
from __future__ import annotations

import io
import logging
import time
from datetime import datetime, timezone

from rich.console import Console

from gateways.cli.console import log_handler
from parking_core.notify import ConsoleSender

AT = datetime(2026, 12, 2, 6, 48, 23, tzinfo=timezone.utc)  # 14:48:23 in Shanghai


def test_the_sign_in_code_expiry_is_shanghai_time(capsys):
    ConsoleSender().send_code("13800138000", "292669", expires_at=AT)
    assert "valid until 2026-12-02T14:48:23+08:00" in capsys.readouterr().out


def test_log_lines_are_stamped_in_shanghai_time_on_a_utc_host(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        out = io.StringIO()
        handler = log_handler(Console(file=out, width=200))
        record = logging.LogRecord("parking", logging.INFO, __file__, 1, "embedded MQTT broker on %s", ("x",), None)
        record.created = AT.timestamp()
        handler.emit(record)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert "[2026-12-02 14:48:23+0800]" in out.getvalue()
