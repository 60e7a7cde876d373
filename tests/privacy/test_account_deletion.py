"""DELETE /v1/me: personal fields gone, money records kept under the anonymous id, tokens dead at once; refused while
anything is owed (409 naming the fen), while Alipay cannot unsign the agreement (503), or without the refresh token."""
from __future__ import annotations

import itertools
from dataclasses import replace

from sqlalchemy import select

from billing.alipay.client import build_client
from billing.models import Order
from parking_core.account_models import Account, PlateBinding, SignInSession
from parking_core.accounts.deletion import AccountDeletion
from parking_core.audit import AuditRecord
from parking_core.plate_privacy import is_hashed

_phones = itertools.count(13_600_000_000)


def signed_in(e, plate: str, *, agreement: bool):
    """(account id, headers, refresh token, phone) of a new driver holding `plate`."""
    phone = str(next(_phones))
    e.accounts.request_code(phone)
    token = e.accounts.sign_in(phone, e.sender.last_code(phone))
    e.accounts.bind_plate(token.account_id, plate, None)
    if agreement:
        e.gw.sign_agreement(token.account_id)
        assert e.agreements.start(token.account_id).status == "active"
    return token.account_id, {"Authorization": f"Bearer {token.access_token}"}, token.refresh_token, phone


def test_deleting_removes_the_person_and_keeps_the_money(billing_env):
    e = billing_env()
    account_id, headers, refresh, phone = signed_in(e, "苏E12345", agreement=True)
    paid = e.stay("苏E12345", minutes=10)  # within the free quarter of an hour: settled, nothing owed
    assert e.order(paid.id).status == "paid", e.order(paid.id).status

    r = e.api.request("DELETE", "/v1/me", headers=headers, json={"refresh_token": refresh})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["account_id"] == account_id and body["agreement_unsigned"] is True and body["bindings_removed"] == 1
    agreement = e.gw.gateway.ledger.find_agreement(agreement_no=None, external_agreement_no=account_id)
    assert agreement.status == "STOP"  # Alipay no longer lets anyone charge the driver

    assert e.api.get("/v1/me/orders", headers=headers).status_code == 401  # the token died at once
    with e.platform.uow() as uow:
        db = uow.session
        account = db.get(Account, account_id)
        assert phone not in account.phone and account.agreement_no is None and account.alipay_user_id is None
        assert db.scalars(select(SignInSession).where(SignInSession.account_id == account_id)).all() == []
        (binding,) = db.scalars(select(PlateBinding).where(PlateBinding.account_id == account_id))
        assert is_hashed(binding.plate) and binding.unbound_at is not None
        order = db.get(Order, paid.id)
        assert order.account_id == account_id and order.status == "paid" and order.amount_fen == paid.amount_fen
        assert db.get(AccountDeletion, account_id) is not None
        audit = db.scalars(select(AuditRecord).where(AuditRecord.action == "account.deleted")).one()
        assert phone not in str(audit.after) and "苏E12345" not in str(audit.after)

    # the same phone signs up afresh: a new, empty account, and the plate is free to bind again
    e.accounts.request_code(phone)
    again = e.accounts.sign_in(phone, e.sender.last_code(phone))
    assert again.new_account and again.account_id != account_id
    e.accounts.bind_plate(again.account_id, "苏E12345", None)


def test_an_account_that_owes_is_told_how_much_and_kept(billing_env):
    e = billing_env()
    account_id, headers, refresh, _ = signed_in(e, "苏E22222", agreement=False)
    owed = e.stay("苏E22222")
    e.work()
    assert e.order(owed.id).status == "unpaid" and owed.amount_fen > 0

    r = e.api.request("DELETE", "/v1/me", headers=headers, json={"refresh_token": refresh})
    assert r.status_code == 409
    assert r.json() == {"code": "account_owes", "field": "owed_fen", "value": owed.amount_fen, "details": {"orders": 1},
                        "message": f"the account owes {owed.amount_fen} fen on 1 order(s); pay them (GET /v1/me/orders) "
                                   "before deleting it"}
    assert e.api.get("/v1/me/orders", headers=headers).status_code == 200  # nothing changed
    with e.platform.uow() as uow:
        assert uow.session.get(AccountDeletion, account_id) is None


def test_without_the_refresh_token_nothing_is_deleted(billing_env):
    e = billing_env()
    account_id, headers, refresh, _ = signed_in(e, "苏E33333", agreement=False)
    r = e.api.request("DELETE", "/v1/me", headers=headers, json={"refresh_token": "x" * 43})
    assert r.status_code == 401 and r.json()["field"] == "refresh_token"
    assert e.api.get("/v1/me/orders", headers=headers).status_code == 200


def test_alipay_unreachable_refuses_and_keeps_the_agreement(billing_env, app_keys):
    e = billing_env()
    account_id, headers, refresh, _ = signed_in(e, "苏E44444", agreement=True)
    e.platform.alipay = build_client(replace(e.gw.client_settings(app_private_key_pem=app_keys.private_pem),
                                             server_url="http://127.0.0.1:9/gateway.do", timeout_s=1))
    r = e.api.request("DELETE", "/v1/me", headers=headers, json={"refresh_token": refresh})
    assert r.status_code == 503 and r.json()["field"] == "agreement_status", r.text
    assert e.api.get("/v1/me/orders", headers=headers).status_code == 200
    with e.platform.uow() as uow:
        account = uow.session.get(Account, account_id)
        assert account.agreement_status == "active" and account.agreement_no
    assert e.gw.gateway.ledger.find_agreement(agreement_no=None, external_agreement_no=account_id).status == "NORMAL"
