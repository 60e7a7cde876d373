"""The development code sender keeps the latest code per phone and no more: a long-running
`parking serve --dev` does not grow with every code it ever sent."""
from __future__ import annotations

from datetime import datetime, timezone

from parking_core.notify import ConsoleSender


def test_console_sender_keeps_the_latest_code_per_phone_and_a_bounded_number_of_phones(capsys):
    sender = ConsoleSender()
    at = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
    for n in range(3):
        sender.send_code("13800138000", f"00000{n}", expires_at=at)
    assert sender.last_code("13800138000") == "000002" and len(sender.sent) == 1
    for n in range(ConsoleSender.KEEP + 500):
        sender.send_code(f"139{n:08d}", "123456", expires_at=at)
    assert len(sender.sent) == ConsoleSender.KEEP
    assert sender.last_code(f"139{ConsoleSender.KEEP + 499:08d}") == "123456"
    assert "sign-in code for 13800138000: 000000" in capsys.readouterr().out  # the stand-in's "SMS" is printed
