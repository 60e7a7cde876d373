"""Alipay's wire formats (yuan strings, Shanghai wall-clock times) converted exactly to fen and aware datetimes."""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from parking_core.clock import SHANGHAI
from parking_core.errors import InvalidInput

_YUAN = re.compile(r"-?\d{1,15}(?:\.\d{1,2})?")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class WireFormatError(InvalidInput):
    """A value in Alipay's wire format (amount or time) that cannot be read exactly."""

    code = "alipay_wire_format"


def fen_to_yuan(fen: int, *, field: str = "amount_fen") -> str:
    """Integer fen as Alipay's yuan string with two decimals: 1250 -> "12.50", -1 -> "-0.01"."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise WireFormatError(f"{field} must be an integer number of fen, got {fen!r}", field=field, value=fen)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{cents:02d}"


def yuan_to_fen(text: str, *, field: str) -> int:
    """Alipay's yuan string ("12.50", "3", "-0.01") as exact integer fen; anything else is refused."""
    if not isinstance(text, str) or not _YUAN.fullmatch(text):
        raise WireFormatError(f"{field} is not a yuan amount with at most 2 decimals: {text!r}", field=field, value=text)
    return int(Decimal(text) * 100)


def format_time(moment: datetime, *, field: str = "time") -> str:
    """An aware datetime as Alipay's Asia/Shanghai wall clock "YYYY-MM-DD HH:MM:SS"."""
    if moment.tzinfo is None:
        raise WireFormatError(f"{field} is a naive datetime {moment.isoformat()}", field=field, value=moment.isoformat())
    return moment.astimezone(SHANGHAI).strftime(_TIME_FORMAT)


def parse_time(text: str, *, field: str) -> datetime:
    """Alipay's "YYYY-MM-DD HH:MM:SS" (Asia/Shanghai wall clock) as an aware datetime."""
    if not isinstance(text, str) or not _TIME_SHAPE.fullmatch(text):
        raise WireFormatError(f"{field} is not a time like 2024-05-01 12:00:00: {text!r}", field=field, value=text)
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise WireFormatError(f"{field} is not a valid time: {text!r} ({exc})", field=field, value=text) from None
