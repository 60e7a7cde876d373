"""Bad input: a bill that is truncated, in the wrong encoding, with its columns reordered or a malformed row is
rejected naming the line and why, and reconciling it changes nothing; a stay list with errors names each line
and stores nothing. Property tests put one bad line anywhere among good ones and expect exactly that line."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from alipay_standin.bill_writer import detail_csv, write_bill_zip
from billing.alipay.bill import COLUMNS, BillFormatError, BillRejected, BillRow, iter_bill_zip, parse_bill_zip, parse_detail_csv
from billing.reconciliation import DayReconciliation
from billing.reconciliation_models import ReconciliationCase, ReconciliationDay
from billing.reconciliation_stays import StayListRejected, parse_stay_list
from parking_core.clock import SHANGHAI
from tests.reconciliation.money import paid_order

DAY = date(2026, 11, 23)
AT = datetime(2026, 11, 23, 12, 0, 0, tzinfo=SHANGHAI)


def _row(n: int, **changes) -> BillRow:
    base = dict(trade_no=f"2026112322001{n:015d}", out_trade_no=f"O{n:010d}-1", biz_type="交易", subject="停车费", created_at=AT,
                completed_at=AT, store_id="", store_name="", operator="", terminal_id="", counterparty="abc***@local",
                order_amount_fen=400, merchant_received_fen=400, alipay_red_packet_fen=0, jifenbao_fen=0, alipay_discount_fen=0,
                merchant_discount_fen=0, coupon_fen=0, coupon_name="", merchant_red_packet_fen=0, card_fen=0, refund_request_no="",
                service_fee_fen=-2, profit_share_fen=0, remark="")
    return BillRow(**(base | changes))


def _lines(rows) -> list[bytes]:
    return detail_csv(rows, account="2088", bill_date=DAY, exported_at=AT).split(b"\r\n")


def _zip(lines: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("2088_20261123_业务明细.csv", b"\r\n".join(lines))
    return buffer.getvalue()


def _rejected(lines: list[bytes]) -> BillFormatError:
    with pytest.raises(BillFormatError) as bad:
        parse_bill_zip(_zip(lines))
    return bad.value


def test_a_truncated_bill_is_rejected_naming_where_it_ends():
    lines = _lines([_row(1), _row(2), _row(3)])
    err = _rejected(lines[:7])  # header on 5, rows 6-7, then nothing: no end line
    assert "line 7" in err.message and "truncated" in err.message
    whole = write_bill_zip([_row(1), _row(2)], account="2088", bill_date=DAY)
    assert "zip" in _rejected_bytes(whole[: len(whole) // 2]).message  # a download cut short


def _rejected_bytes(data: bytes) -> BillFormatError:
    with pytest.raises(BillFormatError) as bad:
        parse_bill_zip(data)
    return bad.value


def test_a_bill_in_utf8_is_rejected_as_the_wrong_encoding():
    text = b"\r\n".join(_lines([_row(1)])).decode("gbk")
    err = _rejected(text.encode("utf-8").split(b"\r\n"))
    assert err.field == "encoding" and "UTF-8" in err.message and "line 5" in err.message


def test_a_utf8_row_in_a_gbk_bill_is_named():
    lines = _lines([_row(1), _row(2)])
    lines[6] = lines[6].decode("gbk").encode("utf-8")
    err = _rejected(lines)
    assert isinstance(err, BillRejected) and err.details["errors"][0]["line"] == 7
    assert "UTF-8" in err.details["errors"][0]["reason"]


def test_columns_in_another_order_are_named():
    lines = _lines([_row(1)])
    swapped = list(COLUMNS)
    swapped[11], swapped[12] = swapped[12], swapped[11]
    lines[4] = ",".join(swapped).encode("gbk")
    err = _rejected(lines)
    assert err.field == "header" and "column 12 is 商家实收（元）, expected 订单金额（元）" in err.message


def test_a_malformed_row_is_named_with_its_column_and_reason():
    lines = _lines([_row(1), _row(2), _row(3)])
    lines[7] = lines[7].replace(b",4.00,", b",4.O0,", 1)
    err = _rejected(lines)
    assert isinstance(err, BillRejected) and err.field == "line 8"
    assert err.details["errors"] == [{"line": 8, "column": "订单金额（元）", "value": "4.O0",
                                      "reason": "订单金额（元） is not a yuan amount with at most 2 decimals: '4.O0'"}]


def test_a_rejected_bill_changes_nothing(make_platform):
    """The bad line comes last, after rows that match and rows that differ: still no day, no case."""
    platform = make_platform()
    with platform.uow() as uow:
        paid_order(uow.session, lot_id="G1", operator_id="op2", amount_fen=400, paid_at=AT)
        uow.commit()
    lines = _lines([_row(1), _row(99, out_trade_no="unknown-1"), _row(3)])
    lines[7] = b"not,a,row"
    with pytest.raises(BillRejected):
        DayReconciliation(platform.uow, platform.clock).run_day(DAY, iter_bill_zip(_zip(lines)))
    with platform.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ReconciliationDay)) == 0
        assert uow.session.scalar(select(func.count()).select_from(ReconciliationCase)) == 0


# ---- properties ----------------------------------------------------------------------------------

_bad_cells = st.sampled_from([
    (11, "12.345"), (11, "abc"), (12, ""), (4, "2026/11/23 12:00:00"), (5, "2026-11-31 12:00:00"), (0, ""), (2, ""),
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 40), st.data())
def test_one_bad_line_anywhere_is_the_line_named(count, data):
    rows = [_row(n, order_amount_fen=data.draw(st.integers(1, 10**7)), merchant_received_fen=1) for n in range(count)]
    lines = _lines(rows)
    where = data.draw(st.integers(0, count - 1))
    kind = data.draw(st.sampled_from(["cell", "columns", "encoding"]))
    text = lines[5 + where].decode("gbk")
    if kind == "cell":
        column, value = data.draw(_bad_cells)
        cells = text.split(",")
        cells[column] = value
        lines[5 + where] = ",".join(cells).encode("gbk")
    elif kind == "columns":
        lines[5 + where] = (text + ",extra").encode("gbk")
    else:
        lines[5 + where] = text.encode("gbk") + b"\xff\xff"
    err = _rejected(lines)
    assert isinstance(err, BillRejected)
    assert [e["line"] for e in err.details["errors"]] == [6 + where] and err.details["unreadable_lines"] == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10**7), max_size=30))
def test_every_good_bill_reads_back_in_full(amounts):
    rows = [_row(n, order_amount_fen=a, merchant_received_fen=a) for n, a in enumerate(amounts)]
    assert parse_detail_csv(b"\r\n".join(_lines(rows))) == rows


_plates = st.sampled_from(["苏E12345", "苏E·D8888", "沪A-00001", "浙B7777学"])
_passages = st.lists(st.tuples(st.sampled_from(["in", "out"]), _plates, st.integers(0, 86_399)), max_size=30)


def _stay_csv(passages) -> str:
    start = datetime(2026, 11, 23, tzinfo=SHANGHAI)
    return "direction,plate,time\n" + "".join(f"{d},{p},{(start + timedelta(seconds=s)).isoformat()}\n" for d, p, s in passages)


@settings(max_examples=60, deadline=None)
@given(_passages)
def test_every_good_stay_list_reads_back(passages):
    got = parse_stay_list(_stay_csv(passages), DAY)
    assert [(p.direction, p.at) for p in got] == [(d, datetime(2026, 11, 23, tzinfo=SHANGHAI) + timedelta(seconds=s)) for d, _, s in passages]
    assert [p.line for p in got] == list(range(2, 2 + len(passages)))


@settings(max_examples=60, deadline=None)
@given(_passages.filter(bool), st.data())
def test_one_bad_stay_list_line_anywhere_is_named(passages, data):
    lines = _stay_csv(passages).splitlines()
    where = data.draw(st.integers(1, len(lines) - 1))
    field, bad = data.draw(st.sampled_from([
        ("direction", lambda c: ["sideways", c[1], c[2]]), ("time", lambda c: [c[0], c[1], "yesterday"]),
        ("time", lambda c: [c[0], c[1], "2026-11-24T00:00:00+08:00"]), ("time", lambda c: [c[0], c[1], "2026-11-23T08:00:00"]),
        ("plate", lambda c: [c[0], " · ", c[2]]), ("*", lambda c: c[:2])]))
    lines[where] = ",".join(bad(lines[where].split(",")))
    with pytest.raises(StayListRejected) as rejected:
        parse_stay_list("\n".join(lines) + "\n", DAY)
    assert [(e["line"], e["field"]) for e in rejected.value.details["errors"]] == [(where + 1, field)]
