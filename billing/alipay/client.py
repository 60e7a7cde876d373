"""The platform's one road to Alipay: the official SDK client (with a port-honouring transport seam) and typed calls on it."""
from __future__ import annotations

import functools
import http.client
import json
import logging
import os
import re
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import alipay.aop.api.DefaultAlipayClient as _sdk_client_module
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.constant.CommonConstants import ALIPAY_SDK_PYTHON_VERSION, THREAD_LOCAL
from alipay.aop.api.domain.AccessParams import AccessParams
from alipay.aop.api.domain.AgreementParams import AgreementParams
from alipay.aop.api.domain.AlipayDataDataserviceBillDownloadurlQueryModel import AlipayDataDataserviceBillDownloadurlQueryModel
from alipay.aop.api.domain.AlipayTradeCancelModel import AlipayTradeCancelModel
from alipay.aop.api.domain.AlipayTradePayModel import AlipayTradePayModel
from alipay.aop.api.domain.AlipayTradePrecreateModel import AlipayTradePrecreateModel
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.domain.AlipayTradeRefundModel import AlipayTradeRefundModel
from alipay.aop.api.domain.AlipayUserAgreementPageSignModel import AlipayUserAgreementPageSignModel
from alipay.aop.api.domain.AlipayUserAgreementQueryModel import AlipayUserAgreementQueryModel
from alipay.aop.api.exception.Exception import RequestException, ResponseException
from alipay.aop.api.request.AlipayTradeCancelRequest import AlipayTradeCancelRequest
from alipay.aop.api.request.AlipayDataDataserviceBillDownloadurlQueryRequest import AlipayDataDataserviceBillDownloadurlQueryRequest
from alipay.aop.api.request.AlipayTradePayRequest import AlipayTradePayRequest
from alipay.aop.api.request.AlipayTradePrecreateRequest import AlipayTradePrecreateRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.request.AlipayTradeRefundRequest import AlipayTradeRefundRequest
from alipay.aop.api.request.AlipayUserAgreementPageSignRequest import AlipayUserAgreementPageSignRequest
from alipay.aop.api.request.AlipayUserAgreementQueryRequest import AlipayUserAgreementQueryRequest
from alipay.aop.api.response.AlipayTradeCancelResponse import AlipayTradeCancelResponse
from alipay.aop.api.response.AlipayDataDataserviceBillDownloadurlQueryResponse import AlipayDataDataserviceBillDownloadurlQueryResponse
from alipay.aop.api.response.AlipayResponse import AlipayResponse
from alipay.aop.api.response.AlipayTradePayResponse import AlipayTradePayResponse
from alipay.aop.api.response.AlipayTradePrecreateResponse import AlipayTradePrecreateResponse
from alipay.aop.api.response.AlipayTradeQueryResponse import AlipayTradeQueryResponse
from alipay.aop.api.response.AlipayTradeRefundResponse import AlipayTradeRefundResponse
from alipay.aop.api.response.AlipayUserAgreementQueryResponse import AlipayUserAgreementQueryResponse
from alipay.aop.api.util.WebUtils import MultiPartForm, url_encode

from billing.alipay.signing import CheckedSigner, load_public_key, private_pkcs1_pem, public_pem_of
from billing.alipay.wire import WireFormatError, fen_to_yuan, parse_time, yuan_to_fen
from parking_core.errors import ConfigError, InvalidInput, ParkingError

log = logging.getLogger(__name__)

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"
MAX_AMOUNT_FEN = 100_000_000_00  # Alipay's ceiling for one trade: 100,000,000.00 yuan
_OUT_NO = re.compile(r"[A-Za-z0-9_\-]{1,64}")

# The seam below drives these two private steps of the SDK's own execute(); fail loudly at import if an SDK upgrade renames them.
_PREPARE = "_DefaultAlipayClient__prepare_request"
_PARSE = "_DefaultAlipayClient__parse_response"
if not (hasattr(DefaultAlipayClient, _PREPARE) and hasattr(DefaultAlipayClient, _PARSE)):
    raise ImportError(f"alipay-sdk-python {ALIPAY_SDK_PYTHON_VERSION} lacks {_PREPARE}/{_PARSE}; billing.alipay.client needs review")
# The SDK signs every request with pure-Python RSA (~24 ms of CPU holding the GIL, the most of an exit -> charge);
# its prepare step looks `sign_with_rsa2` up in its module, where the same signature through OpenSSL takes its place.
if not callable(getattr(_sdk_client_module, "sign_with_rsa2", None)):
    raise ImportError(f"alipay-sdk-python {ALIPAY_SDK_PYTHON_VERSION} lacks sign_with_rsa2; billing.alipay.client needs review")
if not isinstance(_sdk_client_module.sign_with_rsa2, CheckedSigner):
    _sdk_client_module.sign_with_rsa2 = CheckedSigner(_sdk_client_module.sign_with_rsa2)


class AlipayError(ParkingError):
    """Alipay could not be asked, or answered with something other than success."""

    code = "alipay_error"
    http_status = 502


class AlipayUnavailable(AlipayError):
    """The gateway could not be reached or answered with a non-200 HTTP status."""

    code = "alipay_unavailable"
    http_status = 503


class AlipaySignatureInvalid(AlipayError):
    """The answer is not signed by the configured Alipay public key (tampered, or wrong key configured)."""

    code = "alipay_signature_invalid"


class AlipayResponseInvalid(AlipayError):
    """The answer is signed but lacks a field or carries an unreadable value."""

    code = "alipay_response_invalid"


class AlipayOutcomeUnknown(AlipayError):
    """Alipay answered a system error (code 20000): the call may or may not have taken effect; query before retrying."""

    code = "alipay_outcome_unknown"


class AlipayRefused(AlipayError):
    """Alipay answered a definite refusal (code 40001/40002/40004...), with its sub_code saying why."""

    code = "alipay_refused"

    def __init__(self, method: str, *, alipay_code: str, msg: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(
            f"{method} refused: code={alipay_code} sub_code={sub_code} ({sub_msg or msg})",
            field="sub_code", value=sub_code, method=method, alipay_code=alipay_code,
        )
        self.method, self.alipay_code, self.msg, self.sub_code, self.sub_msg = method, alipay_code, msg, sub_code, sub_msg


class AlipayTradeNotFound(AlipayRefused):
    """Alipay has no trade with that number (ACQ.TRADE_NOT_EXIST)."""

    code = "alipay_trade_not_found"


class AlipayRequestInvalid(InvalidInput):
    """A call was asked with an argument Alipay would refuse; nothing was sent."""

    code = "alipay_request_invalid"


@dataclass(frozen=True)
class AlipaySettings:
    """What the platform needs to talk to one Alipay app (real, sandbox, or the local gateway)."""

    app_id: str
    app_private_key_pem: str = field(repr=False)
    alipay_public_key_pem: str = field(repr=False)
    server_url: str = PRODUCTION_GATEWAY
    sign_type: str = "RSA2"
    timeout_s: float = 15.0
    notify_url: str | None = None
    sign_scene: str = "DEFAULT|DEFAULT"
    seller_id: str | None = None  # the merchant's PID (2088…): notifications naming another seller are refused

    def __post_init__(self) -> None:
        if not isinstance(self.app_id, str) or not self.app_id.strip():
            raise ConfigError(f"alipay app_id is empty: {self.app_id!r}", field="app_id", value=self.app_id)
        if self.sign_type != "RSA2":
            raise ConfigError(f"alipay sign_type must be RSA2, got {self.sign_type!r}", field="sign_type", value=self.sign_type)
        _check_url(self.server_url, "server_url")
        if self.notify_url is not None:
            _check_url(self.notify_url, "notify_url")
        if not self.timeout_s > 0:
            raise ConfigError(f"alipay timeout_s must be positive, got {self.timeout_s!r}", field="timeout_s", value=self.timeout_s)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlipaySettings:
        """Settings from ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY[_FILE], ALIPAY_PUBLIC_KEY[_FILE], ALIPAY_SERVER_URL, ALIPAY_NOTIFY_URL, ALIPAY_SIGN_SCENE, ALIPAY_TIMEOUT_S, ALIPAY_SELLER_ID."""
        env = os.environ if environ is None else environ

        def secret(name: str) -> str:
            if env.get(f"{name}_FILE"):
                try:
                    with open(env[f"{name}_FILE"], encoding="ascii") as handle:
                        return handle.read()
                except OSError as exc:
                    raise ConfigError(f"{name}_FILE cannot be read: {exc}", field=f"{name}_FILE", value=env[f"{name}_FILE"]) from None
            if not env.get(name):
                raise ConfigError(f"{name} (or {name}_FILE) is not set", field=name)
            return env[name]

        if not env.get("ALIPAY_APP_ID"):
            raise ConfigError("ALIPAY_APP_ID is not set", field="ALIPAY_APP_ID")
        try:
            timeout = float(env.get("ALIPAY_TIMEOUT_S", "15"))
        except ValueError:
            raise ConfigError(f"ALIPAY_TIMEOUT_S is not a number: {env['ALIPAY_TIMEOUT_S']!r}", field="ALIPAY_TIMEOUT_S", value=env["ALIPAY_TIMEOUT_S"]) from None
        return cls(
            app_id=env["ALIPAY_APP_ID"],
            app_private_key_pem=secret("ALIPAY_APP_PRIVATE_KEY"),
            alipay_public_key_pem=secret("ALIPAY_PUBLIC_KEY"),
            server_url=env.get("ALIPAY_SERVER_URL") or PRODUCTION_GATEWAY,
            timeout_s=timeout,
            notify_url=env.get("ALIPAY_NOTIFY_URL") or None,
            sign_scene=env.get("ALIPAY_SIGN_SCENE") or "DEFAULT|DEFAULT",
            seller_id=env.get("ALIPAY_SELLER_ID") or None,
        )


def _check_url(url: Any, name: str) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"alipay {name} must be an http(s) URL with a host, got {url!r}", field=name, value=url)
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"alipay {name} has an invalid port: {url!r}", field=name, value=url) from None


def http_exchange(method: str, url: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None,
                  timeout_s: float = 15.0) -> tuple[int, bytes]:
    """One HTTP exchange with the scheme, host and port the URL names (the SDK's own HTTP layer ignores the port)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout_s, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise AlipayUnavailable(f"{method} {parts.scheme}://{parts.netloc}{parts.path} failed: {exc}", field="server_url", value=url.split("?")[0]) from None
    finally:
        connection.close()


class AlipayClient(DefaultAlipayClient):
    """The SDK's DefaultAlipayClient with its HTTP step replaced: it connects to the server URL's own port and scheme.

    Signing the request and verifying the answer's signature stay the SDK's own code; only the socket changes
    (and the RSA arithmetic of signing, done by OpenSSL with the same result: see the module's import-time note).
    Used alike against real Alipay (https, port 443) and the local gateway (http, any port).
    """

    def __init__(self, config: AlipayClientConfig, settings: AlipaySettings, logger: Any = None) -> None:
        super().__init__(config, logger)
        self.settings = settings
        self._config = config

    def execute(self, request: Any) -> str:
        """Sign and send `request` like the SDK does, then return the response node the SDK verified."""
        THREAD_LOCAL.uuid = str(uuid.uuid1())
        try:
            query_string, params = getattr(self, _PREPARE)(request)
        except RequestException as exc:
            raise AlipayError(f"the SDK could not sign {request.get_params().get('method')}: {exc}", field="app_private_key") from None
        headers = {
            "Content-type": f"application/x-www-form-urlencoded;charset={self._config.charset}",
            "Cache-Control": "no-cache",
            "User-Agent": ALIPAY_SDK_PYTHON_VERSION,
            "log-uuid": THREAD_LOCAL.uuid,
        }
        multipart = request.get_multipart_params()
        if multipart:
            form = MultiPartForm(self._config.charset)
            for key, value in params.items():
                form.add_field(key, value)
            for key, item in multipart.items():
                form.add_file(key, item.get_file_name(), item.get_file_content(), item.get_mime_type())
            body: bytes | None = form.build_body()
            headers["Content-type"] = form.get_content_type()
        else:
            body = url_encode(params, self._config.charset).encode(self._config.charset) if params else None
        separator = "&" if "?" in self._config.server_url else "?"
        status, raw = http_exchange("POST", f"{self._config.server_url}{separator}{query_string}", body=body,
                                    headers=headers, timeout_s=self._config.timeout)
        if status != 200:
            raise AlipayUnavailable(f"Alipay answered HTTP {status}: {raw[:200].decode('utf-8', 'replace')!r}", field="server_url", value=self._config.server_url)
        try:
            return getattr(self, _PARSE)(raw)
        except ResponseException as exc:
            raise AlipaySignatureInvalid(f"answer failed the SDK's signature check: {str(exc)[:300]}", field="sign") from None
        except UnicodeDecodeError as exc:
            raise AlipayResponseInvalid(f"answer is not {self._config.charset}: {exc}", field="charset") from None


def build_client(settings: AlipaySettings, *, logger: Any = None) -> AlipayClient:
    """The SDK client for these settings, keys normalised to the PEM forms the SDK can read."""
    config = AlipayClientConfig()
    config.app_id = settings.app_id
    config.app_private_key = private_pkcs1_pem(settings.app_private_key_pem, field_name="app_private_key_pem")
    config.alipay_public_key = public_pem_of(load_public_key(settings.alipay_public_key_pem, field_name="alipay_public_key_pem"))
    config.server_url = settings.server_url
    config.sign_type = settings.sign_type
    config.charset = "utf-8"
    config.format = "json"
    config.timeout = settings.timeout_s
    _warn_if_not_shanghai_time()
    return AlipayClient(config, settings, logger)


@functools.cache
def _warn_if_not_shanghai_time() -> None:
    """The SDK stamps `timestamp` with the host's local wall clock; Alipay reads it as Asia/Shanghai."""
    if datetime.now().astimezone().utcoffset() != timedelta(hours=8):
        log.warning("host time zone is not UTC+8: the Alipay SDK stamps requests with the host's local wall clock, "
                    "while Alipay expects Asia/Shanghai; run the platform with TZ=Asia/Shanghai")


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
        _check_url(url, "bill_download_url")
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
    "PRODUCTION_GATEWAY", "AlipayClient", "AlipayError", "AlipayOutcomeUnknown", "AlipayRefused", "AlipayRequestInvalid",
    "AlipayResponseInvalid", "AlipaySettings", "AlipaySignatureInvalid", "AlipayTradeNotFound", "AlipayUnavailable",
    "AgreementStatus", "PayResult", "PrecreateResult", "RefundResult", "TradeStatus", "agreement_query",
    "agreement_sign_page_url", "bill_download_url", "build_client", "download_bill", "http_exchange",
    "trade_pay_withholding", "trade_precreate", "trade_query", "trade_refund",
]
