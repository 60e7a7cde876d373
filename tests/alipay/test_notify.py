"""Notification verification: what Alipay signs is accepted and read exactly; anything altered or foreign is rejected by name."""
from __future__ import annotations

import pytest

from billing.alipay.client import trade_pay_withholding
from billing.alipay.notify import NotificationRejected, verify_notification
from billing.alipay.signing import generate_keypair, load_private_key, rsa2_sign, sign_content

APP_ID = "2021000000000001"


def _signed(alipay_keys, **fields: str) -> dict[str, str]:
    form = {
        "notify_id": "ac05099524730693a8b330c5ecf72da9786", "notify_type": "trade_status_sync",
        "notify_time": "2024-05-01 12:00:05", "app_id": APP_ID, "charset": "utf-8", "version": "1.0",
        "trade_no": "2024050122001400000000000001", "out_trade_no": "ORD-1", "trade_status": "TRADE_SUCCESS",
        "total_amount": "12.50", "receipt_amount": "12.50", "gmt_payment": "2024-05-01 12:00:03", "sign_type": "RSA2",
        **fields,
    }
    form["sign"] = rsa2_sign(load_private_key(alipay_keys.private_pem), sign_content(form, drop=("sign", "sign_type")))
    return form


def _verify(form, alipay_keys):
    return verify_notification(form, alipay_public_key_pem=alipay_keys.public_pem, app_id=APP_ID)


def test_gateway_notification_verifies_and_reads_in_fen(gateway, client, receiver, alipay_keys):
    agreement = gateway.sign_agreement("USER-1")
    paid = trade_pay_withholding(client, out_trade_no="ORD-1", amount_fen=1250, subject="停车费", agreement_no=agreement.agreement_no)
    form = gateway.wait_for(lambda: receiver.received())[0]
    note = verify_notification(form, alipay_public_key_pem=gateway.alipay_public_key_pem, app_id=gateway.app_id)
    assert (note.notify_type, note.trade_status, note.out_trade_no, note.trade_no) == ("trade_status_sync", "TRADE_SUCCESS", "ORD-1", paid.trade_no)
    assert (note.total_amount_fen, note.receipt_amount_fen, note.buyer_pay_amount_fen, note.refund_fee_fen) == (1250, 1250, 1250, None)
    assert note.gmt_payment == paid.gmt_payment and note.gmt_payment.tzinfo is not None
    assert not note.is_refund and note.raw["sign_type"] == "RSA2"


def test_hand_signed_notification_reads_exactly(alipay_keys):
    note = _verify(_signed(alipay_keys, total_amount="0.01", receipt_amount="100000000.00"), alipay_keys)
    assert (note.total_amount_fen, note.receipt_amount_fen) == (1, 10_000_000_000)
    assert note.notify_time.isoformat() == "2024-05-01T12:00:05+08:00"


def test_tampered_amount_is_rejected_as_bad_signature(alipay_keys):
    form = _signed(alipay_keys)
    form["total_amount"] = "0.01"
    with pytest.raises(NotificationRejected) as rejected:
        _verify(form, alipay_keys)
    assert rejected.value.kind == "bad_signature" and rejected.value.field == "sign"
    assert "signature" in rejected.value.reason


def test_added_field_is_rejected_as_bad_signature(alipay_keys):
    form = _signed(alipay_keys)
    form["refund_fee"] = "12.50"
    with pytest.raises(NotificationRejected) as rejected:
        _verify(form, alipay_keys)
    assert rejected.value.kind == "bad_signature"


def test_signed_by_another_key_is_rejected(alipay_keys):
    form = _signed(generate_keypair())
    with pytest.raises(NotificationRejected) as rejected:
        _verify(form, alipay_keys)
    assert rejected.value.kind == "bad_signature"


def test_other_app_is_rejected_naming_the_app_id(alipay_keys):
    form = _signed(alipay_keys, app_id="2021999999999999")
    with pytest.raises(NotificationRejected) as rejected:
        _verify(form, alipay_keys)
    assert rejected.value.kind == "wrong_app_id" and rejected.value.value == "2021999999999999"
    assert "2021999999999999" in rejected.value.reason


def test_missing_sign_and_rsa1_are_rejected(alipay_keys):
    form = _signed(alipay_keys)
    with pytest.raises(NotificationRejected) as unsigned:
        _verify({k: v for k, v in form.items() if k != "sign"}, alipay_keys)
    assert unsigned.value.kind == "missing_field" and unsigned.value.field == "sign"
    with pytest.raises(NotificationRejected) as rsa1:
        _verify(dict(form, sign_type="RSA"), alipay_keys)
    assert rsa1.value.kind == "unsupported_sign_type"


def test_signed_but_unreadable_amount_is_rejected_naming_field_and_value(alipay_keys):
    with pytest.raises(NotificationRejected) as rejected:
        _verify(_signed(alipay_keys, total_amount="12.505"), alipay_keys)
    assert (rejected.value.kind, rejected.value.field, rejected.value.value) == ("bad_field", "total_amount", "12.505")


def test_signed_but_incomplete_trade_notification_is_rejected(alipay_keys):
    form = _signed(alipay_keys)
    del form["out_trade_no"]
    form["sign"] = rsa2_sign(load_private_key(alipay_keys.private_pem), sign_content(form, drop=("sign", "sign_type")))
    with pytest.raises(NotificationRejected) as rejected:
        _verify(form, alipay_keys)
    assert (rejected.value.kind, rejected.value.field) == ("missing_field", "out_trade_no")


def test_unknown_trade_status_is_rejected(alipay_keys):
    with pytest.raises(NotificationRejected) as rejected:
        _verify(_signed(alipay_keys, trade_status="PAID"), alipay_keys)
    assert (rejected.value.field, rejected.value.value) == ("trade_status", "PAID")


def test_empty_values_are_left_out_of_the_signed_text(alipay_keys):
    form = _signed(alipay_keys)
    form["body"] = ""  # Alipay does not sign empty values
    assert _verify(form, alipay_keys).raw["body"] == ""


def test_refund_notification_carries_cumulative_refund_and_millisecond_time(alipay_keys):
    note = _verify(_signed(alipay_keys, refund_fee="2.50", out_biz_no="RF-1", gmt_refund="2024-05-02 09:00:00.123"), alipay_keys)
    assert note.is_refund and note.refund_fee_fen == 250 and note.out_biz_no == "RF-1"
    assert note.gmt_refund.microsecond == 123000


def test_non_text_values_are_rejected(alipay_keys):
    form = _signed(alipay_keys)
    form["total_amount"] = ["12.50"]  # type: ignore[assignment]
    with pytest.raises(NotificationRejected) as rejected:
        _verify(form, alipay_keys)
    assert rejected.value.field == "total_amount"
