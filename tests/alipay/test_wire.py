"""Yuan strings and Shanghai wall-clock times converted exactly, never through float."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.alipay.wire import WireFormatError, fen_to_yuan, format_time, parse_time, yuan_to_fen


@pytest.mark.parametrize("fen, yuan", [(0, "0.00"), (1, "0.01"), (1250, "12.50"), (-1, "-0.01"), (10_000_000_000, "100000000.00")])
def test_fen_to_yuan(fen, yuan):
    assert fen_to_yuan(fen) == yuan and yuan_to_fen(yuan, field="x") == fen


@pytest.mark.parametrize("text", ["12.505", "1e3", "+1", " 1.00", "1,00", "", "NaN", "0x10", "1.", ".5"])
def test_unreadable_yuan_is_refused_naming_field_and_value(text):
    with pytest.raises(WireFormatError) as bad:
        yuan_to_fen(text, field="total_amount")
    assert (bad.value.field, bad.value.value) == ("total_amount", text)


def test_short_forms_read_exactly():
    assert yuan_to_fen("3", field="x") == 300 and yuan_to_fen("0.1", field="x") == 10 and yuan_to_fen("19.99", field="x") == 1999


@given(st.integers(min_value=-10**15, max_value=10**15))
def test_fen_yuan_round_trip(fen):
    assert yuan_to_fen(fen_to_yuan(fen), field="x") == fen


def test_times_are_shanghai_wall_clock():
    moment = datetime(2024, 5, 1, 4, 0, 0, tzinfo=timezone.utc)
    assert format_time(moment) == "2024-05-01 12:00:00"
    assert parse_time("2024-05-01 12:00:00", field="gmt_payment") == moment
    with pytest.raises(WireFormatError):
        format_time(datetime(2024, 5, 1, 12, 0))
    with pytest.raises(WireFormatError) as bad:
        parse_time("2024-02-30 12:00:00", field="gmt_payment")
    assert bad.value.field == "gmt_payment"
