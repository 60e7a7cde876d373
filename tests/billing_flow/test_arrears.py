"""Arrears on entry: a plate that owes is announced to the car park it enters (MQTT) and to its driver,
once the entry has committed; operators can ask what a plate owes."""
from __future__ import annotations

from datetime import timedelta

import orjson

from parking_core.events import PassageReported
from tests.billing_flow.conftest import OPERATOR
from tests.factories import passage_msg


def _arrears_published(env):
    return [(t, orjson.loads(p), r) for t, p, r in env.published if t.endswith("/arrears")]


def _enter(env, plate, lot="C1", event="in-x"):
    env.platform.pipeline.process([passage_msg(lot, "in1", event, "in", plate, env.clock() - timedelta(minutes=1))])


def test_a_plate_in_arrears_is_announced_at_its_next_entry_anywhere(billing_env):
    env = billing_env()
    driver = env.driver("苏E12345", agreement=False)
    first = env.stay("苏E12345", minutes=150)
    second = env.stay("苏E12345", minutes=30 + 60 * 5)
    env.clock.advance(days=31)
    env.work()
    assert {env.order(first.id).status, env.order(second.id).status} == {"arrears"}
    _enter(env, "苏E12345")
    ((topic, payload, retain),) = _arrears_published(env)
    assert (topic, retain) == ("parking/v1/lots/C1/arrears", False)
    assert (payload["plate"], payload["count"], payload["total_fen"]) == ("苏E12345", 2, 400 + 1000)
    assert sorted(payload["orders"]) == sorted([first.id, second.id])
    (notice,) = env.notices.of(driver.account_id, "arrears_at_entry")
    assert notice.data == {"plate": "苏E12345", "lot_id": "C1", "count": 2, "total_fen": 1400}


def test_unpaid_past_due_counts_before_the_sweep_but_unpaid_in_time_does_not(billing_env):
    env = billing_env()
    order = env.stay("苏E12345", minutes=150)
    _enter(env, "苏E12345", event="in-1")
    assert _arrears_published(env) == []
    env.clock.advance(days=30, seconds=1)
    env.stay("苏E12345", minutes=20, lot="G1")  # the entry of a free stay, not swept yet
    (_, payload, _), = _arrears_published(env)
    assert (payload["count"], payload["orders"], env.order(order.id).status) == (1, [order.id], "unpaid")


def test_operators_ask_what_a_plate_owes(billing_env):
    env = billing_env()
    order = env.stay("苏E12345", minutes=150)
    env.clock.advance(days=31)
    env.work()
    r = env.api.get("/v1/operator/plates/苏e-12345/arrears", headers=OPERATOR)
    assert r.status_code == 200
    body = r.json()
    assert (body["plate"], body["count"], body["total_fen"]) == ("苏E12345", 1, 400)
    assert [(o["id"], o["status"], o["owed_fen"]) for o in body["orders"]] == [(order.id, "arrears", 400)]
    assert env.api.get("/v1/operator/plates/苏E99999/arrears", headers=OPERATOR).json()["count"] == 0
    assert env.api.get("/v1/operator/plates/苏E12345/arrears").status_code == 401


def test_an_entry_rolled_back_announces_nothing(billing_env):
    env = billing_env()
    env.stay("苏E12345", minutes=150)
    env.clock.advance(days=31)
    env.work()
    entry = PassageReported("C1", "in1", "rolled-back", "in", "苏E12345", env.clock())
    with env.platform.uow() as uow:
        env.platform.stays.apply(uow, [entry])  # no commit
    _enter(env, "苏E77777", event="other")  # a later, committed transaction of someone who owes nothing
    assert _arrears_published(env) == []
