"""The platform's one road to Alipay, in one import: settings (`settings.py`), the SDK seam that honours the
URL's port (`sdk.py`), typed calls (`calls.py`) and their errors (`errors.py`). Callers import from here."""
from __future__ import annotations

from billing.alipay.calls import (
    MAX_AMOUNT_FEN,
    AgreementStatus,
    PayResult,
    PrecreateResult,
    RefundResult,
    TradeStatus,
    agreement_query,
    agreement_sign_page_url,
    bill_download_url,
    download_bill,
    trade_cancel,
    trade_pay_withholding,
    trade_precreate,
    trade_query,
    trade_refund,
)
from billing.alipay.errors import (
    AlipayError,
    AlipayOutcomeUnknown,
    AlipayRefused,
    AlipayRequestInvalid,
    AlipayResponseInvalid,
    AlipaySignatureInvalid,
    AlipayTradeNotFound,
    AlipayUnavailable,
)
from billing.alipay.sdk import AlipayClient, build_client, http_exchange
from billing.alipay.settings import (
    PRODUCTION_GATEWAY,
    AlipayEnv,
    AlipaySettings,
    load_alipay_settings,
)

__all__ = [
    "MAX_AMOUNT_FEN", "PRODUCTION_GATEWAY", "AgreementStatus", "AlipayClient", "AlipayEnv", "AlipayError",
    "AlipayOutcomeUnknown", "AlipayRefused", "AlipayRequestInvalid", "AlipayResponseInvalid", "AlipaySettings",
    "AlipaySignatureInvalid", "AlipayTradeNotFound", "AlipayUnavailable", "PayResult", "PrecreateResult",
    "RefundResult", "TradeStatus", "agreement_query", "agreement_sign_page_url", "bill_download_url", "build_client",
    "download_bill", "http_exchange", "load_alipay_settings", "trade_cancel", "trade_pay_withholding",
    "trade_precreate", "trade_query", "trade_refund",
]
