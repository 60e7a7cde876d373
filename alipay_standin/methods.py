"""The OpenAPI methods the local gateway answers: biz_content in, response node fields out, refusals as Alipay words them."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from alipay_standin.envelope import Refusal
from alipay_standin.ledger import SUB_MESSAGES, Trade
from billing.alipay.wire import WireFormatError, fen_to_yuan, format_time, yuan_to_fen

if TYPE_CHECKING:
    from alipay_standin.core import LocalAlipayGateway

Handler = Callable[["LocalAlipayGateway", dict[str, Any], Mapping[str, str]], dict[str, Any]]
_OUT_NO = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def trade_pay(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.trade.pay with product_code GENERAL_WITHHOLDING: charge through a NORMAL agreement."""
    out_trade_no = _out_no(biz, "out_trade_no")
    total_fen = _amount(biz, "total_amount")
    subject = _text(biz, "subject")
    if biz.get("product_code") != "GENERAL_WITHHOLDING":
        raise Refusal("40004", "ACQ.INVALID_PARAMETER", f"product_code 必须为 GENERAL_WITHHOLDING: {biz.get('product_code')!r}")
    agreement_no = (biz.get("agreement_params") or {}).get("agreement_no") if isinstance(biz.get("agreement_params"), dict) else None
    if not agreement_no:
        raise Refusal("40004", "ACQ.AGREEMENT_NOT_EXIST", "agreement_params.agreement_no 缺失")
    agreement = gw.ledger.agreements.get(agreement_no)
    if agreement is None:
        raise Refusal("40004", "ACQ.AGREEMENT_NOT_EXIST", SUB_MESSAGES["ACQ.AGREEMENT_NOT_EXIST"])
    if agreement.status != "NORMAL":
        raise Refusal("40004", "ACQ.AGREEMENT_STATUS_NOT_NORMAL", SUB_MESSAGES["ACQ.AGREEMENT_STATUS_NOT_NORMAL"])
    with gw.ledger.lock:
        existing = gw.ledger.trades.get(out_trade_no)
        if existing is not None:
            return _repeat_of(existing, total_fen)
        if out_trade_no in gw.ledger.cancelled:
            raise Refusal("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        rule = gw.ledger.take_charge_rule(agreement_no)
        if rule is not None and rule.outcome == "fail":
            raise Refusal("40004", rule.sub_code, rule.sub_msg or SUB_MESSAGES.get(rule.sub_code, "支付失败"), out_trade_no=out_trade_no)
        if rule is not None and rule.outcome == "late":  # lost on the way now, arrives later
            late = dict(biz)
            gw.scheduler.call_later(rule.settle_after_s, _arrive_late, gw, late, dict(common))
            raise Refusal("20000", "ACQ.SYSTEM_ERROR", SUB_MESSAGES["ACQ.SYSTEM_ERROR"])
        trade = gw.ledger.create_trade(out_trade_no=out_trade_no, subject=subject, total_fen=total_fen,
                                       product_code="GENERAL_WITHHOLDING", notify_url=common.get("notify_url"), agreement=agreement)
    if rule is not None and rule.outcome == "processing":
        gw.scheduler.call_later(rule.settle_after_s, gw.settle_paid, trade)
        return {"msg": "Order success pay inprocess", "code": "10003", **_trade_ids(trade), "total_amount": fen_to_yuan(total_fen)}
    gw.settle_paid(trade)
    if rule is not None and rule.outcome == "error_but_paid":
        raise Refusal("20000", "ACQ.SYSTEM_ERROR", SUB_MESSAGES["ACQ.SYSTEM_ERROR"])
    return _paid_fields(trade)


def _arrive_late(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> None:
    """The lost request reaching Alipay after all: it charges, unless its number was cancelled."""
    try:
        trade_pay(gw, biz, common)
    except Refusal:
        pass


def trade_cancel(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.trade.cancel: close if unpaid, refund if paid, and bar a number not yet seen."""
    out_trade_no = _out_no(biz, "out_trade_no")
    action = gw.ledger.cancel(out_trade_no)
    return {"out_trade_no": out_trade_no, "retry_flag": "N", "action": action}


def _repeat_of(trade: Trade, total_fen: int) -> dict[str, Any]:
    """A second charge with the same out_trade_no: Alipay never charges twice."""
    if trade.total_fen != total_fen:
        raise Refusal("40004", "ACQ.DISCORDANT_REPEAT_REQUEST", "交易信息被篡改，与原交易不一致")
    if trade.status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        raise Refusal("40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付", **_trade_ids(trade))
    if trade.status == "TRADE_CLOSED":
        raise Refusal("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭", **_trade_ids(trade))
    return {"msg": "Order success pay inprocess", "code": "10003", **_trade_ids(trade), "total_amount": fen_to_yuan(total_fen)}


def trade_precreate(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.trade.precreate: a QR code the driver scans (served by this gateway at /_local/qr/...)."""
    out_trade_no = _out_no(biz, "out_trade_no")
    total_fen = _amount(biz, "total_amount")
    subject = _text(biz, "subject")
    with gw.ledger.lock:
        trade = gw.ledger.trades.get(out_trade_no)
        if trade is not None and trade.status != "WAIT_BUYER_PAY":
            raise Refusal("40004", "ACQ.TRADE_HAS_SUCCESS" if trade.status != "TRADE_CLOSED" else "ACQ.TRADE_HAS_CLOSE", "交易状态不允许")
        if trade is not None and trade.total_fen != total_fen:
            raise Refusal("40004", "ACQ.DISCORDANT_REPEAT_REQUEST", "交易信息被篡改，与原交易不一致")
        if trade is None:
            trade = gw.ledger.create_trade(out_trade_no=out_trade_no, subject=subject, total_fen=total_fen,
                                           product_code="FACE_TO_FACE_PAYMENT", notify_url=common.get("notify_url"))
    return {"out_trade_no": out_trade_no, "qr_code": f"{gw.base_url}/_local/qr/{trade.qr_token}"}


def trade_query(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.trade.query: the trade's status and amounts."""
    trade = _find(gw, biz)
    node: dict[str, Any] = {**_trade_ids(trade), "trade_status": trade.status, "total_amount": fen_to_yuan(trade.total_fen)}
    if trade.paid_at is not None:
        node |= {"receipt_amount": fen_to_yuan(trade.total_fen), "buyer_pay_amount": fen_to_yuan(trade.total_fen),
                 "invoice_amount": fen_to_yuan(trade.total_fen), "point_amount": "0.00",
                 "send_pay_date": format_time(trade.paid_at), "buyer_user_id": trade.buyer_user_id,
                 "buyer_logon_id": trade.buyer_logon_id}
    return node


def trade_refund(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.trade.refund: full or partial; the same out_request_no again changes nothing (fund_change N)."""
    trade = _find(gw, biz)
    out_request_no = _out_no(biz, "out_request_no") if biz.get("out_request_no") else trade.out_trade_no
    amount_fen = _amount(biz, "refund_amount")
    refund, moved = gw.ledger.refund(trade, out_request_no=out_request_no, amount_fen=amount_fen)
    refunded_at = f"{format_time(refund.refunded_at)}.000"
    if moved and trade.twin_of is None:  # a twin was never notified as paid, so neither is its refund
        gw.notify_refund(trade, out_request_no, refunded_at)
    return {**_trade_ids(trade), "buyer_logon_id": trade.buyer_logon_id, "buyer_user_id": trade.buyer_user_id,
            "fund_change": "Y" if moved else "N", "refund_fee": fen_to_yuan(trade.refunded_fen),
            "gmt_refund_pay": format_time(refund.refunded_at)}


def agreement_query(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.user.agreement.query: by agreement_no or external_agreement_no."""
    if not biz.get("agreement_no") and not biz.get("external_agreement_no"):
        raise Refusal("40004", "INVALID_PARAMETER", "agreement_no 与 external_agreement_no 不能同时为空")
    agreement = gw.ledger.find_agreement(agreement_no=biz.get("agreement_no"), external_agreement_no=biz.get("external_agreement_no"))
    return {
        "agreement_no": agreement.agreement_no, "external_agreement_no": agreement.external_agreement_no,
        "status": agreement.status, "principal_id": agreement.alipay_user_id, "alipay_logon_id": agreement.alipay_logon_id,
        "personal_product_code": agreement.personal_product_code, "sign_scene": agreement.sign_scene,
        "sign_time": format_time(agreement.sign_time), "valid_time": format_time(agreement.valid_time),
        "invalid_time": format_time(agreement.invalid_time), "external_logon_id": agreement.external_logon_id,
    }


def agreement_unsign(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.user.agreement.unsign: the agreement stops (STOP) and dut_user_unsign is notified, as when the driver ends it."""
    agreement = gw.ledger.find_agreement(agreement_no=biz.get("agreement_no"), external_agreement_no=biz.get("external_agreement_no"))
    if agreement.status != "STOP":
        gw.stop_agreement(agreement.agreement_no)
    return {}


def agreement_page_sign(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.user.agreement.page.sign is a page the driver visits; visiting it (see app.py) signs and notifies."""
    if biz.get("personal_product_code") != "GENERAL_WITHHOLDING_P":
        raise Refusal("40004", "INVALID_PARAMETER", f"personal_product_code 必须为 GENERAL_WITHHOLDING_P: {biz.get('personal_product_code')!r}")
    external_agreement_no = _out_no(biz, "external_agreement_no")
    agreement = gw.sign_agreement(external_agreement_no=external_agreement_no, notify_url=common.get("notify_url"),
                                  sign_scene=str(biz.get("sign_scene") or "DEFAULT|DEFAULT"),
                                  external_logon_id=str(biz.get("external_logon_id") or ""))
    return {"agreement_no": agreement.agreement_no, "external_agreement_no": agreement.external_agreement_no,
            "status": agreement.status, "alipay_user_id": agreement.alipay_user_id}


def bill_downloadurl_query(gw: LocalAlipayGateway, biz: dict[str, Any], common: Mapping[str, str]) -> dict[str, Any]:
    """alipay.data.dataservice.bill.downloadurl.query: a URL on this server serving that day's bill zip (T+1)."""
    if biz.get("bill_type") not in ("trade", "signcustomer"):
        raise Refusal("40002", "isv.invalid-arguments", f"bill_type 必须为 trade 或 signcustomer: {biz.get('bill_type')!r}")
    try:
        day = date.fromisoformat(str(biz.get("bill_date")))
    except ValueError:
        raise Refusal("40002", "isv.invalid-arguments", f"bill_date 须为 yyyy-MM-dd: {biz.get('bill_date')!r}") from None
    today = gw.ledger.clock().date()  # Alipay's clock: tests of several days move it
    if day > today or (day == today and not gw.options.same_day_bills) or day < today - timedelta(days=365):
        raise Refusal("40004", "isp.bill_not_exist", f"账单不存在 {day.isoformat()}")
    return {"bill_download_url": gw.store_bill(day)}


METHODS: dict[str, Handler] = {
    "alipay.trade.pay": trade_pay,
    "alipay.trade.precreate": trade_precreate,
    "alipay.trade.query": trade_query,
    "alipay.trade.refund": trade_refund,
    "alipay.trade.cancel": trade_cancel,
    "alipay.user.agreement.query": agreement_query,
    "alipay.user.agreement.page.sign": agreement_page_sign,
    "alipay.user.agreement.unsign": agreement_unsign,
    "alipay.data.dataservice.bill.downloadurl.query": bill_downloadurl_query,
}


def _find(gw: LocalAlipayGateway, biz: dict[str, Any]) -> Trade:
    out_trade_no, trade_no = biz.get("out_trade_no"), biz.get("trade_no")
    if not out_trade_no and not trade_no:
        raise Refusal("40004", "ACQ.INVALID_PARAMETER", "out_trade_no 与 trade_no 不能同时为空")
    return gw.ledger.find_trade(out_trade_no=str(out_trade_no or ""), trade_no=str(trade_no or ""))


def _trade_ids(trade: Trade) -> dict[str, str]:
    return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}


def _paid_fields(trade: Trade) -> dict[str, Any]:
    paid = fen_to_yuan(trade.total_fen)
    return {**_trade_ids(trade), "buyer_logon_id": trade.buyer_logon_id, "buyer_user_id": trade.buyer_user_id,
            "total_amount": paid, "receipt_amount": paid, "buyer_pay_amount": paid, "invoice_amount": paid,
            "point_amount": "0.00", "gmt_payment": format_time(trade.paid_at) if trade.paid_at else None,
            "fund_bill_list": [{"amount": paid, "fund_channel": "ALIPAYACCOUNT"}]}


def _out_no(biz: dict[str, Any], name: str) -> str:
    value = biz.get(name)
    if not isinstance(value, str) or not _OUT_NO.fullmatch(value):
        raise Refusal("40004", "ACQ.INVALID_PARAMETER", f"参数 {name} 无效: {value!r}")
    return value


def _amount(biz: dict[str, Any], name: str) -> int:
    try:
        fen = yuan_to_fen(biz.get(name), field=name)  # type: ignore[arg-type]
    except WireFormatError:
        fen = 0
    if not 0 < fen <= 100_000_000_00:
        raise Refusal("40004", "ACQ.INVALID_PARAMETER", f"参数 {name} 无效: {biz.get(name)!r}")
    return fen


def _text(biz: dict[str, Any], name: str) -> str:
    value = biz.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise Refusal("40004", "ACQ.INVALID_PARAMETER", f"参数 {name} 无效: {value!r}")
    return value
