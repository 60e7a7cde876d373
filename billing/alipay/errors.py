"""What can go wrong talking to Alipay, as typed errors callers act on (retry, query first, or give up)."""
from __future__ import annotations

from parking_core.errors import InvalidInput, ParkingError


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


class AlipayBillNotFound(AlipayRefused):
    """Alipay has no bill for that day (isp.bill_not_exist): too old, not yet made (bills are T+1), or before the account."""

    code = "alipay_bill_not_found"
    http_status = 404


class AlipayRequestInvalid(InvalidInput):
    """A call was asked with an argument Alipay would refuse; nothing was sent."""

    code = "alipay_request_invalid"

__all__ = [
    "AlipayBillNotFound", "AlipayError", "AlipayOutcomeUnknown", "AlipayRefused", "AlipayRequestInvalid", "AlipayResponseInvalid",
    "AlipaySignatureInvalid", "AlipayTradeNotFound", "AlipayUnavailable",
]
