"""The bill is read a block of lines at a time, each plain block split in bulk and checked column by column; any
block that is not plain (a quote, a blank line, a bad cell) goes through the CSV reader line by line. Whatever
path each block takes, a bill must read exactly as the line-by-line reader (iter_detail_lines) reads it: the same
rows, or the same rejection naming the same lines. Tiny blocks here put block edges everywhere. The comparison
reads bills in bulk too, and must find the same differences in a bill streamed in chunks as in a list of rows."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from alipay_standin.bill_writer import detail_csv
from billing.alipay import bill
from billing.alipay.bill import BillFormatError, BillRow, iter_bill_zip, iter_detail_lines, parse_detail_csv
from billing.models import Payment
from billing.reconciliation import compare_day
from parking_core.clock import SHANGHAI
from tests.reconciliation.money import paid_order

DAY = date(2026, 11, 23)
AT = datetime(2026, 11, 23, 12, 0, 0, tzinfo=SHANGHAI)
_gbk_text = st.text(st.characters(codec="gbk", exclude_categories=("Cc", "Cs")), max_size=8).map(lambda s: s.strip(" \t"))


def _row(n: int, **changes) -> BillRow:
    base = dict(trade_no=f"2026112322001{n:015d}", out_trade_no=f"O{n:010d}-1", biz_type="交易", subject="停车费", created_at=AT,
                completed_at=AT + timedelta(seconds=n % 7), store_id="", store_name="", operator="", terminal_id="",
                counterparty="abc***@local", order_amount_fen=400 + n % 3, merchant_received_fen=400, alipay_red_packet_fen=0,
                jifenbao_fen=0, alipay_discount_fen=0, merchant_discount_fen=0, coupon_fen=0, coupon_name="",
                merchant_red_packet_fen=0, card_fen=0, refund_request_no="", service_fee_fen=-2, profit_share_fen=0, remark="")
    return BillRow(**(base | changes))


def _content(rows: list[BillRow], *, newline: bytes = b"\r\n") -> bytes:
    return detail_csv(rows, account="2088", bill_date=DAY, exported_at=AT).replace(b"\r\n", newline)


def _read(content: bytes, reader) -> tuple[str, object]:  # noqa: ANN001
    """("rows", rows) or ("rejected", what the rejection says), to compare two readers."""
    try:
        return "rows", reader(content)
    except BillFormatError as exc:
        return "rejected", (type(exc).__name__, exc.message, exc.field, exc.details)


def _line_by_line(content: bytes) -> list[BillRow]:
    return list(iter_detail_lines(io.BytesIO(content)))


def _in_blocks(content: bytes, size: int) -> list[BillRow]:
    with patch.object(bill, "BLOCK_BYTES", size):
        return parse_detail_csv(content)


_mutations = st.sampled_from(["none", "bad amount", "bad time", "empty trade number", "extra cell", "missing cell",
                              "cell moved to the next line", "blank line", "quoted cell", "quoted line end", "not GBK", "utf-8 line",
                              "fullwidth digits"])


def _mutate(lines: list[bytes], where: int, mutation: str) -> list[bytes]:
    """Line `where` (0-based, a row) changed as named."""
    text = lines[where].decode("gbk")
    cells = text.split(",")
    if mutation == "bad amount":
        cells[11] = "4.O0"
    elif mutation == "bad time":
        cells[4] = "2026-11-31 12:00:00"
    elif mutation == "empty trade number":
        cells[0] = "\t"
    elif mutation == "extra cell":
        cells.append("x")
    elif mutation in ("missing cell", "cell moved to the next line"):
        cells.pop()
    elif mutation == "quoted cell":
        cells[3] = '"停车费, 含税"'
    elif mutation == "quoted line end":
        cells[24] = '"第一行\r\n第二行"'
    elif mutation == "fullwidth digits":
        cells[11] = "４.００"
    changed = ",".join(cells).encode("gbk")
    if mutation == "not GBK":
        changed += b"\xff\xfe"
    elif mutation == "utf-8 line":
        changed = text.encode("utf-8")
    out = [*lines[:where], changed, *lines[where + 1:]]
    if mutation == "blank line":
        out.insert(where, b"")
    elif mutation == "cell moved to the next line":  # as many cells in all, 24 on one line and 26 on the next
        out[where + 1] = out[where + 1].replace(b",", b",x,", 1)
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 60), st.integers(40, 2000), st.sampled_from([b"\r\n", b"\n"]), _mutations, st.data())
def test_a_bill_read_in_blocks_reads_as_it_reads_line_by_line(count, block, newline, mutation, data):
    rows = [_row(n, subject=data.draw(_gbk_text), remark=data.draw(_gbk_text), order_amount_fen=data.draw(st.integers(-10**6, 10**6)))
            for n in range(count)]
    lines = _content(rows, newline=newline).split(newline)
    if mutation != "none":
        lines = _mutate(lines, 5 + data.draw(st.integers(0, count - 1)), mutation)
    content = newline.join(lines)
    fast, exact = _read(content, lambda c: _in_blocks(c, block)), _read(content, _line_by_line)
    assert fast == exact
    if mutation == "none":
        assert fast == ("rows", rows)


def test_the_line_named_is_the_line_of_the_file_however_far_into_it():
    rows = [_row(n) for n in range(3000)]
    lines = _content(rows).split(b"\r\n")
    lines = _mutate(_mutate(lines, 5 + 2_500, "bad amount"), 5 + 10, "quoted cell")  # the quote sends the rest line by line
    lines = _mutate(lines, 5 + 1_200, "extra cell")
    with pytest.raises(bill.BillRejected) as bad:
        _in_blocks(b"\r\n".join(lines), 4096)
    assert [e["line"] for e in bad.value.details["errors"]] == [1_206, 2_506]
    lines = _mutate(_content(rows).split(b"\r\n"), 5 + 2_900, "bad time")
    with pytest.raises(bill.BillRejected) as bad:
        _in_blocks(b"\r\n".join(lines), 4096)
    assert [e["line"] for e in bad.value.details["errors"]] == [2_906]


def _zip(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("2088_20261123_业务明细.csv", content)
    return buffer.getvalue()


def _key(d) -> tuple:  # noqa: ANN001
    return (d.kind, d.line, d.out_trade_no, d.trade_no, d.request_no, d.ours_fen, d.alipay_fen, d.alipay_at, d.order_id, d.note)


def test_a_bill_compared_in_chunks_finds_what_it_finds_row_by_row(make_platform):
    """Matches, an amount that differs, a payment taken twice (in one chunk and across chunks), trades of nobody's,
    refunds that match, differ or are unknown, one of ours the bill lacks: the same differences and totals both ways."""
    platform = make_platform()
    with platform.uow() as uow:
        orders = [paid_order(uow.session, lot_id="G1", operator_id="op2", amount_fen=400 + n, paid_at=AT,
                             refunds=((100, AT + timedelta(hours=1)),) if n % 50 == 0 else ()) for n in range(300)]
        uow.commit()
    payments = {o.id: f"{o.id}-1" for o in orders}
    rows = []
    for n, order in enumerate(orders[:-1]):  # the last one: ours only
        amount = 400 + n + (7 if n == 120 else 0)
        rows.append(_row(n, out_trade_no=payments[order.id], order_amount_fen=amount, merchant_received_fen=amount))
        if n in (30, 31, 200):  # taken twice: right after (one chunk) and, for 200, again at the end (another chunk)
            rows.append(_row(10_000 + n, out_trade_no=payments[order.id], order_amount_fen=amount, merchant_received_fen=amount))
        if n % 50 == 0:
            refund = 100 if n != 100 else 90
            rows.append(_row(20_000 + n, out_trade_no=payments[order.id], biz_type="退款", order_amount_fen=amount,
                             merchant_received_fen=-refund, refund_request_no=f"R{order.id[1:]}0"))
    rows += [_row(30_000, out_trade_no="X1-1"), _row(30_001, out_trade_no=payments[orders[200].id], order_amount_fen=600,
                                                                     merchant_received_fen=600),
             _row(30_002, biz_type="退款", merchant_received_fen=-5, refund_request_no="R-nobody")]
    with platform.uow() as uow, patch.object(bill, "BLOCK_BYTES", 3000):
        streamed = compare_day(uow.session, DAY, iter_bill_zip(_zip(_content(rows))))
        listed = compare_day(uow.session, DAY, list(rows))
    assert sorted(map(_key, streamed.differences)) == sorted(map(_key, listed.differences))
    assert (streamed.bill_lines, streamed.matched, streamed.alipay_net_fen, streamed.service_fee_fen) == (
        listed.bill_lines, listed.matched, listed.alipay_net_fen, listed.service_fee_fen) == (len(rows), 298 + 5,
        sum(r.order_amount_fen for r in rows if r.biz_type != "退款") + sum(r.merchant_received_fen for r in rows if r.biz_type == "退款"),
        -2 * len(rows))
    kinds = sorted(d.kind for d in streamed.differences)
    assert kinds == ["alipay_only", "alipay_only", "amount_mismatch", "amount_mismatch"] + ["duplicate_payment"] * 4 + ["ours_only"]


def test_a_trade_number_holding_a_separator_is_still_matched(make_platform):
    """Our side is read as one joined string; a key holding its separators is read row by row instead, not misread."""
    platform = make_platform()
    with platform.uow() as uow:
        odd, plain = (paid_order(uow.session, lot_id="G1", operator_id="op2", amount_fen=500, paid_at=AT) for _ in range(2))
        uow.session.execute(update(Payment).where(Payment.order_id == odd.id).values(out_trade_no="odd\x1f1\x1e2"))
        uow.commit()
    rows = [_row(1, out_trade_no="odd\x1f1\x1e2", order_amount_fen=500), _row(2, out_trade_no=f"{plain.id}-1", order_amount_fen=500)]
    with platform.uow() as uow:
        result = compare_day(uow.session, DAY, rows)
    assert result.matched == 2 and result.differences == [] and result.ours_net_fen == 1000
