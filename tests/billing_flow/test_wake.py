"""The payment worker is woken only by events that give it work: an order it can charge now. Street traffic,
entries, free stays and plates nobody holds never wake it (each wake is a claim query, on SQLite a write lock)."""
from __future__ import annotations

from datetime import timedelta

from tests.factories import berth_msg, passage_msg


def _count_wakes(env, monkeypatch) -> list[int]:
    woken = [0]
    real = env.billing.worker.wake
    monkeypatch.setattr(env.billing.worker, "wake", lambda: (woken.__setitem__(0, woken[0] + 1), real()))
    return woken


def test_berth_reports_and_entries_never_wake_the_worker_an_exit_with_a_charge_wakes_it_once(billing_env, monkeypatch):
    env = billing_env()
    env.driver("苏E12345", agreement=False)  # an account holds the plate: its orders are charged
    woken = _count_wakes(env, monkeypatch)
    start = env.clock() - timedelta(hours=3)
    street = [berth_msg("S1", f"b{k % 4 + 1}", k % 2 == 0, k + 1, start + timedelta(seconds=k)) for k in range(400)]
    for i in range(0, len(street), 50):
        env.platform.pipeline.process(street[i:i + 50])
    env.platform.pipeline.process([passage_msg("G1", "in1", "w-in-1", "in", "苏E12345", start),
                                   passage_msg("G1", "in1", "w-in-2", "in", "苏E99999", start),
                                   passage_msg("G1", "in1", "w-in-3", "in", "苏E77777", start)])
    assert woken == [0]

    env.platform.pipeline.process([passage_msg("G1", "out1", "w-out-1", "out", "苏E12345", start + timedelta(minutes=150))])
    (order,) = env.orders(plate="苏E12345")
    assert (order.status, order.amount_fen, woken) == ("unpaid", 400, [1])

    # a plate nobody holds, and a stay inside the free minutes: orders, but nothing for the worker to charge
    env.platform.pipeline.process([passage_msg("G1", "out1", "w-out-2", "out", "苏E99999", start + timedelta(minutes=150)),
                                   passage_msg("G1", "out1", "w-out-3", "out", "苏E77777", start + timedelta(minutes=10))])
    assert {o.plate: (o.status, o.amount_fen) for o in env.orders() if o.plate != "苏E12345"} == {
        "苏E99999": ("unpaid", 400), "苏E77777": ("paid", 0)}
    assert woken == [1]


def test_a_correction_wakes_the_worker_only_when_it_leaves_a_charge_to_make(billing_env, monkeypatch):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    order = env.stay("苏E99999", minutes=150)  # misread plate: nobody's, not charged
    woken = _count_wakes(env, monkeypatch)
    with env.platform.uow() as uow:
        env.platform.stays.correct(uow, order.session_id, field="exited_at", value=(order.exited_at + timedelta(minutes=5)).isoformat(),
                                   actor="op:bob", reason="gate clock")
        uow.commit()
    assert woken == [0]
    with env.platform.uow() as uow:
        env.platform.stays.correct(uow, order.session_id, field="plate", value=driver.plate, actor="op:bob", reason="misread")
        uow.commit()
    assert woken == [1] and env.order(order.id).account_id == driver.account_id
