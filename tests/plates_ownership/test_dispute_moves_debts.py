"""When the true owner wins a dispute, the plate's open debts move to them in the same transaction (audited on each
order), the notices go to them (amount owed now, arrears at the next entry), and the false holder is told the plate
left their account and hears nothing more of it."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from billing.models import OrderAudit
from parking_core.db import kept
from tests.factories import passage_msg

PLATE = "苏E11111"


def test_debts_and_notices_follow_the_plate_to_the_owner_who_won_the_dispute(owned):
    env, ops = owned
    false_holder = env.driver(PLATE, verified=False, agreement=False)
    first, second = env.stay(PLATE, minutes=150), env.stay(PLATE, minutes=90)
    env.work()
    assert {env.order(o.id).account_id for o in (first, second)} == {false_holder.account_id}

    owner = env.driver("苏E22222", agreement=False)
    claim = env.api.post(f"/v1/me/plates/{PLATE}/dispute", headers=owner.headers, json={"reason": "my car, licence attached"})
    assert claim.status_code == 201, claim.text
    granted = ops.post("op2", f"/v1/operator/disputes/{claim.json()['id']}/grant")  # G1's operator: the latest stay
    assert granted.status_code == 200, granted.text

    assert {env.order(o.id).account_id for o in (first, second)} == {owner.account_id}
    with env.platform.uow() as uow:
        moved = kept(uow.session, list(uow.session.scalars(select(OrderAudit).where(OrderAudit.action == "owner_moved"))))
    assert sorted(a.order_id for a in moved) == sorted([first.id, second.id])
    (told,) = env.notices.of(owner.account_id, "plate_debts_moved")
    assert told.data["total_fen"] == first.amount_fen + second.amount_fen
    assert [n.kind for n in env.notices.of(false_holder.account_id, "plate_unbound")] == ["plate_unbound"]

    listed = env.api.get("/v1/me/orders", headers=owner.headers).json()["orders"]
    assert {o["id"] for o in listed} == {first.id, second.id}
    assert all(o["lot_id"] == "G1" for o in listed)  # a granted dispute is a verified owner: place and time shown
    assert env.api.get("/v1/me/orders", headers=false_holder.headers).json()["orders"] == []
    assert env.api.post(f"/v1/me/orders/{first.id}/pay", headers=false_holder.headers).status_code in (403, 404)  # not theirs

    env.clock.advance(days=31)
    env.work()
    before = len(env.notices.of(false_holder.account_id))
    env.platform.pipeline.process([passage_msg("G1", "in1", "back", "in", PLATE, env.clock() - timedelta(minutes=1))])
    (at_entry,) = env.notices.of(owner.account_id, "arrears_at_entry")
    assert at_entry.data["total_fen"] == first.amount_fen + second.amount_fen
    assert len(env.notices.of(false_holder.account_id)) == before  # no "entered G1 owing …" to the false holder


def test_a_verified_owners_own_debts_stay_with_them_when_another_account_verifies_later(owned):
    env, ops = owned
    seller = env.driver(PLATE, agreement=False)  # verified owner, then sells the car and unbinds
    old = env.stay(PLATE, minutes=150)
    assert env.api.delete(f"/v1/me/plates/{PLATE}", headers=seller.headers).status_code == 204
    buyer = env.driver(PLATE, agreement=False)  # verified
    assert env.order(old.id).account_id == seller.account_id
    assert env.notices.of(buyer.account_id, "plate_debts_moved") == []
