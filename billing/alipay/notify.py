"""Verify and read Alipay's asynchronous notifications, so nothing unsigned or foreign is ever recorded."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from billing.alipay.signing import AlipayKeyError, load_public_key, rsa2_verify, sign_content
from billing.alipay.wire import WireFormatError, parse_time, yuan_to_fen
from parking_core.errors import ParkingError

TRADE_STATUSES = frozenset({"WAIT_BUYER_PAY", "TRADE_CLOSED", "TRADE_SUCCESS", "TRADE_FINISHED"})
_ALWAYS_REQUIRED = ("notify_id", "notify_type", "notify_time", "app_id")
_TRADE_REQUIRED = ("trade_no", "out_trade_no", "trade_status", "total_amount")
_AGREEMENT_REQUIRED = ("agreement_no", "status")


class NotificationRejected(ParkingError):
    """A notification that must be answered `failure` and change nothing; `kind` says which check failed."""

    code = "alipay_notification_rejected"
    http_status = 400

    def __init__(self, reason: str, *, kind: str, field: str | None = None, value: object = None) -> None:
        super().__init__(reason, field=field, value=value, kind=kind)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class AlipayNotification:
    """One verified notification; amounts in fen, times aware. TRADE_FINISHED is not a new payment."""

    notify_id: str
    notify_type: str
    notify_time: datetime
    app_id: str
    trade_no: str | None = None
    out_trade_no: str | None = None
    out_biz_no: str | None = None
    trade_status: str | None = None
    total_amount_fen: int | None = None
    receipt_amount_fen: int | None = None
    buyer_pay_amount_fen: int | None = None
    refund_fee_fen: int | None = None
    gmt_create: datetime | None = None
    gmt_payment: datetime | None = None
    gmt_refund: datetime | None = None
    gmt_close: datetime | None = None
    buyer_id: str | None = None
    seller_id: str | None = None
    agreement_no: str | None = None
    external_agreement_no: str | None = None
    agreement_status: str | None = None
    alipay_user_id: str | None = None
    sign_time: datetime | None = None
    raw: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_refund(self) -> bool:
        """True for the notification Alipay sends after a refund (it carries refund_fee / out_biz_no)."""
        return self.refund_fee_fen is not None or self.out_biz_no is not None


def verify_notification(form: Mapping[str, str], *, alipay_public_key_pem: str, app_id: str) -> AlipayNotification:
    """Check the RSA2 signature (sign and sign_type dropped, keys sorted, k=v joined by &) and the app_id, then read the fields."""
    if not isinstance(form, Mapping):
        raise NotificationRejected(f"notification is a {type(form).__name__}, not a form", kind="bad_field", field="form")
    for key, value in form.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise NotificationRejected(f"field {key!r} has a non-text value {value!r}", kind="bad_field", field=str(key), value=repr(value))
    signature = form.get("sign")
    if not signature:
        raise NotificationRejected("missing field sign", kind="missing_field", field="sign")
    sign_type = form.get("sign_type", "RSA2")
    if sign_type != "RSA2":
        raise NotificationRejected(f"sign_type {sign_type!r} is not RSA2", kind="unsupported_sign_type", field="sign_type", value=sign_type)
    try:
        key = load_public_key(alipay_public_key_pem, field_name="alipay_public_key_pem")
    except AlipayKeyError as exc:
        raise NotificationRejected(f"cannot verify: {exc.message}", kind="key_invalid", field="alipay_public_key_pem") from exc
    if not _signature_holds(form, key, signature):
        raise NotificationRejected(
            "signature does not verify with the Alipay public key (tampered field, or signed by another key)",
            kind="bad_signature", field="sign", value=signature[:24],
        )
    if form.get("app_id") != app_id:
        raise NotificationRejected(f"app_id {form.get('app_id')!r} is not this platform's app {app_id!r}",
                                   kind="wrong_app_id", field="app_id", value=form.get("app_id"))
    return _read(form)


def _signature_holds(form: Mapping[str, str], key: object, signature: str) -> bool:
    """Alipay leaves empty values out of what it signs; a sender that included them is accepted too."""
    if rsa2_verify(key, sign_content(form, drop=("sign", "sign_type")), signature):
        return True
    if any(value == "" for value in form.values()):
        with_empty = "&".join(f"{k}={form[k]}" for k in sorted(form) if k not in ("sign", "sign_type"))
        return rsa2_verify(key, with_empty, signature)
    return False


def _read(form: Mapping[str, str]) -> AlipayNotification:
    notify_type = form.get("notify_type", "")
    required = list(_ALWAYS_REQUIRED)
    if notify_type == "trade_status_sync":
        required += _TRADE_REQUIRED
    elif notify_type.startswith("dut_user_"):
        required += _AGREEMENT_REQUIRED
    for name in required:
        if not form.get(name):
            raise NotificationRejected(f"missing field {name}", kind="missing_field", field=name)
    trade_status = form.get("trade_status") or None
    if trade_status is not None and trade_status not in TRADE_STATUSES:
        raise NotificationRejected(f"trade_status {trade_status!r} is not one of {sorted(TRADE_STATUSES)}",
                                   kind="bad_field", field="trade_status", value=trade_status)
    is_agreement = notify_type.startswith("dut_user_")
    return AlipayNotification(
        notify_id=form["notify_id"],
        notify_type=notify_type,
        notify_time=_time(form, "notify_time"),
        app_id=form["app_id"],
        trade_no=form.get("trade_no") or None,
        out_trade_no=form.get("out_trade_no") or None,
        out_biz_no=form.get("out_biz_no") or None,
        trade_status=trade_status,
        total_amount_fen=_fen(form, "total_amount"),
        receipt_amount_fen=_fen(form, "receipt_amount"),
        buyer_pay_amount_fen=_fen(form, "buyer_pay_amount"),
        refund_fee_fen=_fen(form, "refund_fee"),
        gmt_create=_time(form, "gmt_create"),
        gmt_payment=_time(form, "gmt_payment"),
        gmt_refund=_time(form, "gmt_refund", allow_millis=True),
        gmt_close=_time(form, "gmt_close"),
        buyer_id=form.get("buyer_id") or None,
        seller_id=form.get("seller_id") or None,
        agreement_no=form.get("agreement_no") or None,
        external_agreement_no=form.get("external_agreement_no") or None,
        agreement_status=(form.get("status") or None) if is_agreement else None,
        alipay_user_id=form.get("alipay_user_id") or None,
        sign_time=_time(form, "sign_time"),
        raw=MappingProxyType(dict(form)),
    )


def _fen(form: Mapping[str, str], name: str) -> int | None:
    if not form.get(name):
        return None
    try:
        return yuan_to_fen(form[name], field=name)
    except WireFormatError as exc:
        raise NotificationRejected(exc.message, kind="bad_field", field=name, value=form[name]) from exc


def _time(form: Mapping[str, str], name: str, *, allow_millis: bool = False) -> datetime | None:
    """Alipay's wall-clock time; gmt_refund alone may carry milliseconds ("2024-05-01 12:00:00.123")."""
    if not form.get(name):
        return None
    text = form[name]
    millis = 0
    if allow_millis and len(text) > 19 and text[19] == "." and text[20:].isdigit() and len(text) <= 23:
        text, millis = text[:19], int(text[20:].ljust(3, "0"))
    try:
        return parse_time(text, field=name).replace(microsecond=millis * 1000)
    except WireFormatError as exc:
        raise NotificationRejected(exc.message, kind="bad_field", field=name, value=form[name]) from exc
