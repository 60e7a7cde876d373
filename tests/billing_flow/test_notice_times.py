"""A driver's unpaid-order notice (printed on the demo's console, sent by SMS in production) gives the
due date in Shanghai time, as every other time people read."""
from __future__ import annotations


def test_an_unpaid_notice_gives_its_due_date_in_shanghai_time(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E12345", minutes=150)
    env.work()
    (notice,) = env.notices.of(driver.account_id, "unpaid_order")
    shanghai = order.due_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert f"before {shanghai:%Y-%m-%d %H:%M} (Shanghai)" in notice.message
