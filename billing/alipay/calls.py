"""Typed calls on Alipay through the SDK's own request models: arguments checked before anything is sent
(amounts in integer fen), answers turned into results (fen, aware times) or typed errors."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from alipay.aop.api.domain.AccessParams import AccessParams
from alipay.aop.api.domain.AgreementParams import AgreementParams
from alipay.aop.api.domain.AlipayDataDataserviceBillDownloadurlQueryModel import (
    AlipayDataDataserviceBillDownloadurlQueryModel,
)
from alipay.aop.api.domain.AlipayTradeCancelModel import AlipayTradeCancelModel
from alipay.aop.api.domain.AlipayTradePayModel import AlipayTradePayModel
from alipay.aop.api.domain.AlipayTradePrecreateModel import AlipayTradePrecreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.domain.AlipayUserAgreementPageSignModel import (
    AlipayUserAgreementPageSignModel,
)
from alipay.aop.api.domain.AlipayUserAgreementQueryModel import (
    AlipayUserAgreementQueryModel,
)
from alipay.aop.api.request.AlipayDataDataserviceBillDownloadurlQueryRequest import (
    AlipayDataDataserviceBillDownloadurlQueryRequest,
)
from alipay.aop.api.request.AlipayTradeCancelRequest import AlipayTradeCancelRequest
from alipay.aop.api.request.AlipayTradePayRequest import AlipayTradePayRequest
from alipay.aop.api.request.AlipayTradePrecreateRequest import (
    AlipayTradePrecreateRequest,
)
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.request.AlipayUserAgreementPageSignRequest import (
    AlipayUserAgreementPageSignRequest,
)
from alipay.aop.api.request.AlipayUserAgreementQueryRequest import (
    AlipayUserAgreementQueryRequest,
)
from alipay.aop.api.response.AlipayDataDataserviceBillDownloadurlQueryResponse import (
    AlipayDataDataserviceBillDownloadurlQueryResponse,
)
from alipay.aop.api.response.AlipayResponse import AlipayResponse
from alipay.aop.api.response.AlipayTradeCancelResponse import AlipayTradeCancelResponse
from alipay.aop.api.response.AlipayTradePayResponse import AlipayTradePayResponse
from alipay.aop.api.response.AlipayTradePrecreateResponse import (
    AlipayTradePrecreateResponse,
)
from alipay.aop.api.response.AlipayTradeQueryResponse import AlipayTradeQueryResponse
from alipay.aop.api.response.AlipayTradeRefundResponse import AlipayTradeRefundResponse
from alipay.aop.api.response.AlipayUserAgreementQueryResponse import (
    AlipayUserAgreementQueryResponse,
)

from billing.alipay.errors import (
    AlipayBillNotFound,
    AlipayOutcomeUnknown,
    AlipayRefused,
    AlipayRequestInvalid,
    AlipayResponseInvalid,
    AlipayTradeNotFound,
    AlipayUnavailable,
)
from billing.alipay.sdk import AlipayClient, http_exchange
from billing.alipay.settings import check_url
from billing.alipay.wire import WireFormatError, fen_to_yuan, parse_time, yuan_to_fen
from parking_core.errors import ConfigError

MAX_AMOUNT_FEN = 100_000_000_00  # Alipay's ceiling for one trade: 100,000,000.00 yuan
_OUT_NO = re.compile(r"[A-Za-z0-9_\-]{1,64}")


# ---- typed results (amounts in fen, times aware) -------------------------------------------------


@dataclass(frozen=True)
class PayResult:
    """Answer to a withholding charge: paid at once, or still processing (await the notification or query)."""

    status: Literal["paid", "processing"]
    trade_no: str
    out_trade_no: str
    total_amount_fen: int
    receipt_amount_fen: int | None
    gmt_payment: datetime | None
    buyer_user_id: str | None


@dataclass(frozen=True)
class PrecreateResult:
    """A QR-code trade waiting for the driver to scan and pay."""

    out_trade_no: str
    qr_code: str


@dataclass(frozen=True)
class TradeStatus:
    """Alipay's view of one trade (WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, TRADE_CLOSED)."""

    trade_no: str
    out_trade_no: str
    trade_status: str
    total_amount_fen: int
    receipt_amount_fen: int | None
    buyer_pay_amount_fen: int | None
    paid_at: datetime | None
    buyer_user_id: str | None


@dataclass(frozen=True)
class RefundResult:
    """Answer to a refund; refund_fee_fen is the trade's cumulative refunded amount, as Alipay reports it."""

    trade_no: str
    out_trade_no: str
    out_request_no: str
    refund_fee_fen: int
    fund_change: bool
    gmt_refund_pay: datetime | None


@dataclass(frozen=True)
class AgreementStatus:
    """A withholding agreement as Alipay holds it (status NORMAL, TEMP or STOP)."""

    agreement_no: str
    external_agreement_no: str | None
    status: str
    alipay_user_id: str | None
    sign_time: datetime | None
    valid_time: datetime | None
    invalid_time: datetime | None


# ---- calls ---------------------------------------------------------------------------------------


def trade_pay_withholding(client: AlipayClient, *, out_trade_no: str, amount_fen: int, subject: str, agreement_no: str,
                          notify_url: str | None = None) -> PayResult:
    """Charge a parking order through a signed withholding agreement (alipay.trade.pay, GENERAL_WITHHOLDING)."""
    model = AlipayTradePayModel()
    model.out_trade_no = _out_no(out_trade_no, "out_trade_no")
    model.total_amount = _yuan(amount_fen, "amount_fen")
    model.subject = _text_arg(subject, "subject", 256)
    model.product_code = "GENERAL_WITHHOLDING"
    agreement = AgreementParams()
    agreement.agreement_no = _text_arg(agreement_no, "agreement_no", 64)
    model.agreement_params = agreement
    request = AlipayTradePayRequest(biz_model=model)
    request.notify_url = notify_url or client.settings.notify_url
    response = _call(client, request, AlipayTradePayResponse(), "alipay.trade.pay", pending_ok=True)
    paid = response.code == "10000"
    return PayResult(
        status="paid" if paid else "processing",
        trade_no=_got(response.trade_no, "trade_no"),
        out_trade_no=_got(response.out_trade_no, "out_trade_no"),
        total_amount_fen=_fen(response.total_amount, "total_amount") if response.total_amount is not None else amount_fen,
        receipt_amount_fen=_fen(response.receipt_amount, "receipt_amount") if response.receipt_amount else None,
        gmt_payment=_time(response.gmt_payment, "gmt_payment") if response.gmt_payment else None,
        buyer_user_id=response.buyer_user_id,
    )


def trade_precreate(client: AlipayClient, *, out_trade_no: str, amount_fen: int, subject: str,
                    notify_url: str | None = None) -> PrecreateResult:
    """A QR code the driver scans to pay an order without an agreement (alipay.trade.precreate)."""
    model = AlipayTradePrecreateModel()
    model.out_trade_no = _out_no(out_trade_no, "out_trade_no")
    model.total_amount = _yuan(amount_fen, "amount_fen")
    model.subject = _text_arg(subject, "subject", 256)
    request = AlipayTradePrecreateRequest(biz_model=model)
    request.notify_url = notify_url or client.settings.notify_url
    response = _call(client, request, AlipayTradePrecreateResponse(), "alipay.trade.precreate")
    return PrecreateResult(out_trade_no=_got(response.out_trade_no, "out_trade_no"), qr_code=_got(response.qr_code, "qr_code"))


def trade_query(client: AlipayClient, *, out_trade_no: str | None = None, trade_no: str | None = None) -> TradeStatus:
    """Alipay's current view of one trade (alipay.trade.query); AlipayTradeNotFound when it has none."""
    model = AlipayTradeQueryModel()
    _trade_ref(model, out_trade_no, trade_no)
    response = _call(client, AlipayTradeQueryRequest(biz_model=model), AlipayTradeQueryResponse(), "alipay.trade.query")
    return TradeStatus(
        trade_no=_got(response.trade_no, "trade_no"),
        out_trade_no=_got(response.out_trade_no, "out_trade_no"),
        trade_status=_got(response.trade_status, "trade_status"),
        total_amount_fen=_fen(response.total_amount, "total_amount"),
        receipt_amount_fen=_fen(response.receipt_amount, "receipt_amount") if response.receipt_amount else None,
        buyer_pay_amount_fen=_fen(response.buyer_pay_amount, "buyer_pay_amount") if response.buyer_pay_amount else None,
        paid_at=_time(response.send_pay_date, "send_pay_date") if response.send_pay_date else None,
        buyer_user_id=response.buyer_user_id,
    )


def trade_cancel(client: AlipayClient, *, out_trade_no: str) -> str:
    """Make sure a trade whose outcome we do not know can never complete (alipay.trade.cancel): Alipay
    closes it if unpaid, refunds it if paid, and refuses a pay request that arrives for it later.
    Returns Alipay's action (`close`, `refund`, or `` when there was nothing to act on yet)."""
    model = AlipayTradeCancelModel()
    model.out_trade_no = _out_no(out_trade_no, "out_trade_no")
    response = _call(client, AlipayTradeCancelRequest(biz_model=model), AlipayTradeCancelResponse(), "alipay.trade.cancel")
    if response.retry_flag == "Y":
        raise AlipayOutcomeUnknown(f"alipay.trade.cancel of {out_trade_no} asks to be retried", field="retry_flag", value="Y")
    return str(response.action or "")


def trade_refund(client: AlipayClient, *, out_request_no: str, refund_amount_fen: int, out_trade_no: str | None = None,
                 trade_no: str | None = None, reason: str | None = None) -> RefundResult:
    """Refund part or all of a paid trade (alipay.trade.refund); repeating the same out_request_no is idempotent."""
    model = AlipayTradeRefundModel()
    _trade_ref(model, out_trade_no, trade_no)
    model.out_request_no = _out_no(out_request_no, "out_request_no")
    model.refund_amount = _yuan(refund_amount_fen, "refund_amount_fen")
    if reason:
        model.refund_reason = _text_arg(reason, "reason", 256)
    response = _call(client, AlipayTradeRefundRequest(biz_model=model), AlipayTradeRefundResponse(), "alipay.trade.refund")
    return RefundResult(
        trade_no=_got(response.trade_no, "trade_no"),
        out_trade_no=_got(response.out_trade_no, "out_trade_no"),
        out_request_no=out_request_no,
        refund_fee_fen=_fen(response.refund_fee, "refund_fee"),
        fund_change=response.fund_change == "Y",
        gmt_refund_pay=_time(response.gmt_refund_pay, "gmt_refund_pay") if response.gmt_refund_pay else None,
    )


def agreement_sign_page_url(client: AlipayClient, *, external_agreement_no: str, external_logon_id: str | None = None,
                            notify_url: str | None = None, return_url: str | None = None,
                            sign_validity_period: str | None = None) -> str:
    """The signed URL of Alipay's page where a driver signs the withholding agreement (alipay.user.agreement.page.sign)."""
    model = AlipayUserAgreementPageSignModel()
    model.product_code = "GENERAL_WITHHOLDING"
    model.personal_product_code = "GENERAL_WITHHOLDING_P"
    model.sign_scene = client.settings.sign_scene
    model.external_agreement_no = _out_no(external_agreement_no, "external_agreement_no")
    access = AccessParams()
    access.channel = "ALIPAYAPP"
    model.access_params = access
    if external_logon_id:
        model.external_logon_id = _text_arg(external_logon_id, "external_logon_id", 100)
    if sign_validity_period:
        model.sign_validity_period = _text_arg(sign_validity_period, "sign_validity_period", 8)
    request = AlipayUserAgreementPageSignRequest(biz_model=model)
    request.notify_url = notify_url or client.settings.notify_url
    request.return_url = return_url
    return client.page_execute(request, http_method="GET")


def agreement_query(client: AlipayClient, *, agreement_no: str | None = None,
                    external_agreement_no: str | None = None) -> AgreementStatus:
    """A withholding agreement's current status (alipay.user.agreement.query)."""
    if not agreement_no and not external_agreement_no:
        raise AlipayRequestInvalid("agreement_query needs agreement_no or external_agreement_no", field="agreement_no")
    model = AlipayUserAgreementQueryModel()
    model.personal_product_code = "GENERAL_WITHHOLDING_P"
    model.sign_scene = client.settings.sign_scene
    if agreement_no:
        model.agreement_no = _text_arg(agreement_no, "agreement_no", 64)
    if external_agreement_no:
        model.external_agreement_no = _out_no(external_agreement_no, "external_agreement_no")
    response = _call(client, AlipayUserAgreementQueryRequest(biz_model=model), AlipayUserAgreementQueryResponse(),
                     "alipay.user.agreement.query")
    return AgreementStatus(
        agreement_no=_got(response.agreement_no, "agreement_no"),
        external_agreement_no=response.external_agreement_no,
        status=_got(response.status, "status"),
        alipay_user_id=response.principal_id,
        sign_time=_time(response.sign_time, "sign_time") if response.sign_time else None,
        valid_time=_time(response.valid_time, "valid_time") if response.valid_time else None,
        invalid_time=_time(response.invalid_time, "invalid_time") if response.invalid_time else None,
    )


def bill_download_url(client: AlipayClient, *, bill_date: date, bill_type: str = "trade") -> str:
    """The short-lived URL of one day's bill zip (alipay.data.dataservice.bill.downloadurl.query); bills are T+1."""
    if not isinstance(bill_date, date) or isinstance(bill_date, datetime):
        raise AlipayRequestInvalid(f"bill_date must be a date, got {bill_date!r}", field="bill_date", value=str(bill_date))
    if bill_type not in ("trade", "signcustomer"):
        raise AlipayRequestInvalid(f"bill_type must be trade or signcustomer, got {bill_type!r}", field="bill_type", value=bill_type)
    model = AlipayDataDataserviceBillDownloadurlQueryModel()
    model.bill_type = bill_type
    model.bill_date = bill_date.isoformat()
    response = _call(client, AlipayDataDataserviceBillDownloadurlQueryRequest(biz_model=model),
                     AlipayDataDataserviceBillDownloadurlQueryResponse(), "alipay.data.dataservice.bill.downloadurl.query")
    return _got(response.bill_download_url, "bill_download_url")


def download_bill(client: AlipayClient, *, bill_date: date, bill_type: str = "trade") -> bytes:
    """The bill zip of one day: asks for its URL, then fetches it at once (the URL expires within about 30 s)."""
    url = bill_download_url(client, bill_date=bill_date, bill_type=bill_type)
    try:
        check_url(url, "bill_download_url")
    except ConfigError:
        raise AlipayResponseInvalid(f"bill_download_url is not an http(s) URL: {url!r}", field="bill_download_url", value=url) from None
    status, body = http_exchange("GET", url, timeout_s=client.settings.timeout_s)
    if status != 200:
        raise AlipayUnavailable(f"bill download answered HTTP {status}", field="bill_download_url", value=url.split("?")[0])
    return body


# ---- helpers -------------------------------------------------------------------------------------


def _call(client: AlipayClient, request: Any, response: AlipayResponse, method: str, *, pending_ok: bool = False) -> Any:
    """Execute through the SDK, parse into its response class, and turn non-success codes into typed errors."""
    text = client.execute(request)
    try:
        node = json.loads(text)
    except ValueError as exc:
        raise AlipayResponseInvalid(f"{method} answer is not JSON: {exc}", field="response", value=text[:200]) from None
    if not isinstance(node, dict):
        raise AlipayResponseInvalid(f"{method} answer is not a JSON object", field="response", value=text[:200])
    response.parse_response_content(text)
    if response.code == "10000" or (pending_ok and response.code == "10003"):
        return response
    args = dict(alipay_code=str(response.code), msg=str(response.msg or ""), sub_code=str(response.sub_code or ""),
                sub_msg=str(response.sub_msg or ""))
    if response.code == "20000" or args["sub_code"].endswith("SYSTEM_ERROR"):
        raise AlipayOutcomeUnknown(f"{method} outcome unknown: code={args['alipay_code']} sub_code={args['sub_code']}; query before retrying",
                                   field="code", value=args["alipay_code"], **args)
    if args["sub_code"] == "ACQ.TRADE_NOT_EXIST":
        raise AlipayTradeNotFound(method, **args)
    if args["sub_code"] == "isp.bill_not_exist":
        raise AlipayBillNotFound(method, **args)
    raise AlipayRefused(method, **args)


def _trade_ref(model: Any, out_trade_no: str | None, trade_no: str | None) -> None:
    if not out_trade_no and not trade_no:
        raise AlipayRequestInvalid("either out_trade_no or trade_no is required", field="out_trade_no")
    if out_trade_no:
        model.out_trade_no = _out_no(out_trade_no, "out_trade_no")
    if trade_no:
        model.trade_no = _text_arg(trade_no, "trade_no", 64)


def _yuan(amount_fen: int, name: str) -> str:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or not 0 < amount_fen <= MAX_AMOUNT_FEN:
        raise AlipayRequestInvalid(f"{name} must be an integer of fen in 1..{MAX_AMOUNT_FEN}, got {amount_fen!r}", field=name, value=amount_fen)
    return fen_to_yuan(amount_fen)


def _out_no(value: str, name: str) -> str:
    if not isinstance(value, str) or not _OUT_NO.fullmatch(value):
        raise AlipayRequestInvalid(f"{name} must be 1-64 letters, digits, '_' or '-', got {value!r}", field=name, value=value)
    return value


def _text_arg(value: str, name: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise AlipayRequestInvalid(f"{name} must be non-empty text of at most {max_len} characters, got {value!r}", field=name, value=value)
    return value


def _got(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise AlipayResponseInvalid(f"answer lacks {name} (got {value!r})", field=name, value=value)
    return value


def _fen(value: Any, name: str) -> int:
    try:
        return yuan_to_fen(value, field=name)
    except WireFormatError as exc:
        raise AlipayResponseInvalid(f"answer has unreadable {name}: {value!r}", field=name, value=value) from exc


def _time(value: Any, name: str) -> datetime:
    try:
        return parse_time(value, field=name)
    except WireFormatError as exc:
        raise AlipayResponseInvalid(f"answer has unreadable {name}: {value!r}", field=name, value=value) from exc



__all__ = [
    "MAX_AMOUNT_FEN", "AgreementStatus", "PayResult", "PrecreateResult", "RefundResult", "TradeStatus", "agreement_query",
    "agreement_sign_page_url", "bill_download_url", "download_bill", "trade_cancel", "trade_pay_withholding",
    "trade_precreate", "trade_query", "trade_refund",
]
