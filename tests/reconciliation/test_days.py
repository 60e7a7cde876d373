"""Days in a row, Alipay's clock moving with the platform's: each day the platform reconciles the day before
(T+1), every fault injected that day is found as a case and nothing else is, each is resolved and every day
closes; the refund of a duplicate shows in a later bill as expected, not as a new case; a driver who pays days
late is matched on the day Alipay took the money; the statements add up to what was charged."""
from __future__ import annotations

from datetime import timedelta

from alipay_standin import NotifyPolicy
from parking_core.clock import local

RECON = "/v1/operator/reconciliation"


def test_each_day_finds_its_faults_and_closes(recon_env):
    env, keys = recon_env
    env.gw.gateway.ledger.clock = lambda: local(env.clock()).replace(microsecond=0)
    quiet = NotifyPolicy(time_scale=2e-6)

    def next_day(expected: set[str], resolve: dict[str, tuple[str, ...]]) -> dict:
        """Move to tomorrow, run yesterday as the city, check its cases, resolve them as told, check it closed."""
        day = local(env.clock()).date()
        env.clock.advance(days=1)
        ran = env.api.post(f"{RECON}/days/{day}/run", headers=keys.city)
        assert ran.status_code == 200, ran.text
        cases = env.api.get(f"{RECON}/days/{day}/cases", headers=keys.city).json()["cases"]
        assert {c["kind"] for c in cases} == expected and len(cases) == len(expected), cases
        for case in cases:
            for action in resolve[case["kind"]]:
                r = env.api.post(f"{RECON}/cases/{case['id']}/resolve", headers=keys.city, json={"action": action})
                assert r.status_code == 200, r.text
        status = env.api.get(f"{RECON}/days/{day}", headers=keys.city).json()
        assert status["status"] == ("closed" if expected else "balanced"), status
        return status

    # day 1: two ordinary stays; a QR payment whose notifications are all lost; a driver who leaves without paying
    for plate in ("苏E10001", "苏E10002"):
        env.driver(plate)
    env.stay("苏E10001")
    env.stay("苏E10002", lot="P1")
    env.work()
    env.gw.set_notify_policy(NotifyPolicy(drop_first=8, time_scale=2e-6))
    qr_driver = env.driver("苏E10003", agreement=False)
    lost = env.stay("苏E10003")
    env.gw.pay_precreated(env.api.post(f"/v1/me/orders/{lost.id}/pay", headers=qr_driver.headers).json()["out_trade_no"])
    env.gw.wait_idle(5)
    env.gw.set_notify_policy(quiet)
    late_driver = env.driver("苏E10004", agreement=False)
    late = env.stay("苏E10004")
    assert env.order(late.id).status == "unpaid"
    next_day({"alipay_only"}, {"alipay_only": ("record",)})
    assert env.order(lost.id).status == "paid"

    # day 2: a payment Alipay takes twice, a notification Alipay sends twice, and the late driver pays
    env.driver("苏E20001")
    env.driver("苏E20002")
    env.gw.duplicate_next_payments(1)
    env.stay("苏E20001")
    env.work()
    env.gw.set_notify_policy(NotifyPolicy(duplicates=1, time_scale=2e-6))
    env.stay("苏E20002", lot="P1")
    env.work()
    env.gw.set_notify_policy(quiet)
    qr = env.billing.payments.pay_by_qr(late_driver.account_id, late.id)  # the app's "pay" (its sign-in lapsed overnight)
    env.gw.pay_precreated(qr.out_trade_no)
    env.gw.wait_idle(5)
    assert env.order(late.id).status == "paid"
    next_day({"duplicate_payment"}, {"duplicate_payment": ("refund_duplicate",)})

    # day 3: the duplicate's refund (made today) is in today's bill, expected; one more ordinary stay
    env.driver("苏E30001")
    env.stay("苏E30001")
    env.work()
    third = next_day(set(), {})
    assert third["matched"] == 1 and third["bill_lines"] == 2  # the stay, and the refund of day 2's duplicate

    # what the operators are owed adds up to what was charged over the three days
    charged = sum(p.amount_fen for o in env.orders() for p in env.payments(o.id))
    first = local(env.clock()).date() - timedelta(days=3)
    days = [env.api.get(f"/v1/operator/settlement/statements/{first + timedelta(days=d)}", headers=keys.city).json()["total"]
            for d in range(3)]
    assert sum(t["payments_fen"] for t in days) == charged
    assert sum(t["payments"] for t in days) == 7
    assert all(t["owed_fen"] == t["payments_fen"] - t["refunds_fen"] - t["fee_fen"] for t in days)
