"""A day with every kind of fault the month brings (a lost notification, a payment Alipay took twice, an amount
that differs, a payment Alipay never saw) is reconciled: each fault is a case, seen only by its operator and the
city, resolved the way it should be (each step in the audit log), and the day closes; running it again changes
nothing."""
from __future__ import annotations

from sqlalchemy import update

from alipay_standin import NotifyPolicy
from billing.models import Order, Payment, PaymentAttempt
from parking_core.audit import audit_rows
from parking_core.clock import local

RECON = "/v1/operator/reconciliation"


def _faulty_day(env):
    """op2's G1: a paid, b paid twice at Alipay, a QR payment whose notifications are all lost, a payment only we
    hold; op1's P1: c, recorded here for 10 fen less than Alipay took."""
    for plate in ("苏E11111", "苏E22222", "苏E33333"):
        env.driver(plate)
    a = env.stay("苏E11111")
    env.work()
    env.gw.duplicate_next_payments(1)
    b = env.stay("苏E22222")
    env.work()
    c = env.stay("苏E33333", lot="P1")
    env.work()
    env.gw.set_notify_policy(NotifyPolicy(drop_first=8, time_scale=2e-6))
    driver = env.driver("苏E44444", agreement=False)
    lost = env.stay("苏E44444")
    qr = env.api.post(f"/v1/me/orders/{lost.id}/pay", headers=driver.headers).json()
    env.gw.pay_precreated(qr["out_trade_no"])
    env.gw.wait_idle(5)
    paid_at = env.payments(a.id)[0].paid_at
    with env.platform.uow() as uow:
        db = uow.session
        ghost = PaymentAttempt(order_id=b.id, out_trade_no=f"{b.id}-9", kind="qr", amount_fen=50, status="paid", queries=0,
                               created_at=env.clock(), updated_at=env.clock())
        db.add(ghost)
        db.flush()
        db.add(Payment(order_id=b.id, attempt_id=ghost.id, out_trade_no=ghost.out_trade_no, trade_no="T-ghost", amount_fen=50,
                       paid_at=paid_at, recorded_at=env.clock(), source="notify"))
        db.execute(update(Payment).where(Payment.order_id == c.id).values(amount_fen=390))  # our books say 390 throughout
        db.execute(update(Order).where(Order.id == c.id).values(paid_fen=390))
        uow.commit()
    return a, b, c, lost, qr["out_trade_no"], local(paid_at).date()


def _cases(env, keys, day, who):
    r = env.api.get(f"{RECON}/days/{day}/cases", headers=who)
    assert r.status_code == 200, r.text
    return {(c["kind"], c["order_id"]): c for c in r.json()["cases"]}


def _resolve(env, case_id, who, action, reason=None):
    return env.api.post(f"{RECON}/cases/{case_id}/resolve", headers=who, json={"action": action, "reason": reason})


def test_every_fault_is_a_case_resolved_and_the_day_closes(recon_env):
    env, keys = recon_env
    a, b, c, lost, lost_trade, day = _faulty_day(env)
    first = env.api.post(f"{RECON}/days/{day}/run", headers=keys.city)
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["cases"]) == ("open", {"open": 4, "awaiting_approval": 0, "resolved": 0})
    assert first.json()["matched"] == 2  # a, and b's first taking
    cases = _cases(env, keys, day, keys.city)
    assert set(cases) == {("alipay_only", lost.id), ("duplicate_payment", b.id), ("amount_mismatch", c.id), ("ours_only", b.id)}
    assert cases[("amount_mismatch", c.id)]["operator_id"] == "op1" and cases[("ours_only", b.id)]["operator_id"] == "op2"
    assert (cases[("amount_mismatch", c.id)]["ours_fen"], cases[("amount_mismatch", c.id)]["alipay_fen"]) == (390, 400)

    again = env.api.post(f"{RECON}/days/{day}/run", headers=keys.city).json()  # same differences, same cases
    assert again["runs"] == 2 and {c["id"] for c in _cases(env, keys, day, keys.city).values()} == {c["id"] for c in cases.values()}

    # each operator sees its own; another's case is 404 to read and to resolve, as if it did not exist
    assert set(_cases(env, keys, day, keys.op1)) == {("amount_mismatch", c.id)}
    assert set(_cases(env, keys, day, keys.op2)) == {("alipay_only", lost.id), ("duplicate_payment", b.id), ("ours_only", b.id)}
    dup = cases[("duplicate_payment", b.id)]
    assert env.api.get(f"{RECON}/cases/{dup['id']}", headers=keys.op1).status_code == 404
    assert _resolve(env, dup["id"], keys.op1, "refund_duplicate").status_code == 404
    assert env.api.get(f"{RECON}/days/{day}", headers=keys.op1).json()["alipay_net_fen"] is None  # the city's figure

    # op1 corrects its record to what Alipay took
    mismatch = cases[("amount_mismatch", c.id)]
    fixed = _resolve(env, mismatch["id"], keys.op1, "correct", "camera double-read; Alipay's 400 fen is right")
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["status"], fixed.json()["resolution"]) == ("resolved", "corrected")
    assert [p.amount_fen for p in env.payments(c.id)] == [400] and env.order(c.id).paid_fen == 400

    # op2 records the payment whose notifications never came, from Alipay's answer
    recorded = _resolve(env, cases[("alipay_only", lost.id)]["id"], keys.op2, "record")
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["alipay_view"]["trade_status"] == "TRADE_SUCCESS"
    assert env.order(lost.id).status == "paid" and [p.out_trade_no for p in env.payments(lost.id)] == [lost_trade]

    # op2 gives the second taking back; repeating it changes nothing
    refunded = _resolve(env, dup["id"], keys.op2, "refund_duplicate")
    assert (refunded.status_code, refunded.json()["resolution"]) == (200, "refunded"), refunded.text
    twin = [t for t in env.gw.gateway.ledger.trades.values() if t.twin_of]
    assert [(t.trade_no, t.refunded_fen) for t in twin] == [(dup["trade_no"], dup["alipay_fen"])]
    assert _resolve(env, dup["id"], keys.op2, "refund_duplicate").json()["resolved_at"] == refunded.json()["resolved_at"]
    assert twin[0].refunded_fen == dup["alipay_fen"]

    # a write-off needs a reason, then a second person of role finance
    ghost = cases[("ours_only", b.id)]
    assert _resolve(env, ghost["id"], keys.op2, "write_off").status_code == 422
    proposed = _resolve(env, ghost["id"], keys.op2, "write_off", "test payment entered by hand")
    assert proposed.json()["status"] == "awaiting_approval"
    assert _resolve(env, ghost["id"], keys.op2, "approve_write_off").status_code == 403  # the proposer
    assert _resolve(env, ghost["id"], keys.issue("operator", "op2", "staff"), "approve_write_off").status_code == 403  # role
    assert env.api.get(f"{RECON}/days/{day}", headers=keys.city).json()["status"] == "open"
    approved = _resolve(env, ghost["id"], keys.issue("city", "city", "finance"), "approve_write_off")
    assert (approved.status_code, approved.json()["resolution"]) == (200, "written_off"), approved.text

    closed = env.api.get(f"{RECON}/days/{day}", headers=keys.city).json()
    assert (closed["status"], closed["cases"]) == ("closed", {"open": 0, "awaiting_approval": 0, "resolved": 4})
    rerun = env.api.post(f"{RECON}/days/{day}/run", headers=keys.city).json()
    assert (rerun["status"], rerun["runs"]) == ("closed", 2)
    assert {(c["id"], c["resolution"]) for c in _cases(env, keys, day, keys.city).values()} == {
        (c["id"], r) for c, r in zip(
            [mismatch, cases[("alipay_only", lost.id)], dup, ghost], ["corrected", "recorded", "refunded", "written_off"])}

    with env.platform.uow() as uow:
        logged = {(r.subject, r.action, r.actor_org) for r in audit_rows(uow.session, operator_ids=None, org_id=None, limit=100)
                  if r.subject.startswith("reconciliation_case:")}
    assert {(f"reconciliation_case:{ghost['id']}", "reconciliation.write_off", "op2"),
            (f"reconciliation_case:{ghost['id']}", "reconciliation.approve_write_off", "city"),
            (f"reconciliation_case:{mismatch['id']}", "reconciliation.correct", "op1"),
            (f"reconciliation_case:{dup['id']}", "reconciliation.refund_duplicate", "op2")} <= logged


def test_only_the_city_runs_a_day_and_a_district_only_reads(recon_env):
    env, keys = recon_env
    a, b, c, lost, lost_trade, day = _faulty_day(env)
    assert env.api.post(f"{RECON}/days/{day}/run", headers=keys.op1).status_code == 403
    assert env.api.get(f"{RECON}/days/{day}", headers=keys.city).status_code == 404  # nothing was run
    assert env.api.post(f"{RECON}/days/{day}/run", headers=keys.city).status_code == 200
    district = keys.issue("district", "gusu", "admin")
    seen = _cases(env, keys, day, district)
    assert ("amount_mismatch", c.id) in seen
    assert _resolve(env, seen[("amount_mismatch", c.id)]["id"], district, "correct", "a district may not").status_code == 403
    viewer = keys.issue("operator", "op1", "viewer")
    assert _resolve(env, seen[("amount_mismatch", c.id)]["id"], viewer, "correct", "a viewer may not").status_code == 403


def test_a_day_alipay_has_no_bill_for_is_a_404_naming_it_and_keeps_no_day(recon_env):
    """Bills exist from T+1 and for a limited past: asking for another day is the caller's mistake, not a failure of ours."""
    env, keys = recon_env
    r = env.api.post(f"{RECON}/days/1999-01-01/run", headers=keys.city)
    assert r.status_code == 404 and r.json()["code"] == "alipay_bill_not_found" and r.json()["value"] == "isp.bill_not_exist"
    assert env.api.get(f"{RECON}/days/1999-01-01", headers=keys.city).status_code in (200, 404)
    assert env.api.get(f"{RECON}/days/1999-01-01/cases", headers=keys.city).json().get("cases", []) == []
