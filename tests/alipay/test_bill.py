"""Daily bill zips: written and read back unchanged, real-looking files read in fen, and junk refused with one specific error."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alipay_standin.bill_writer import BillWriteError, write_bill_zip
from billing.alipay.bill import COLUMNS, DETAIL_END, BillFormatError, BillRejected, BillRow, parse_bill_zip, parse_detail_csv
from parking_core.clock import SHANGHAI

DAY = date(2024, 5, 1)
AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=SHANGHAI)

SAMPLE = (
    "#支付宝业务明细查询\r\n"
    "#账号：[20880000000000010156]\r\n"
    "#起始日期：[2024年05月01日 00:00:00]   终止日期：[2024年05月02日 00:00:00]\r\n"
    "#-----------------------------------------业务明细列表----------------------------------------\r\n"
    + ",".join(COLUMNS) + "\r\n"
    "2024050122001400000000000001\t,ORD-1\t,交易,停车费 苏E12345,2024-05-01 08:00:00,2024-05-01 08:00:01,,,,,"
    "abc***@example.com,12.50,12.50,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.08,0.00,\r\n"
    "2024050122001400000000000001\t,ORD-1\t,退款,停车费 苏E12345,2024-05-01 08:00:00,2024-05-01 09:30:00,,,,,"
    "abc***@example.com,12.50,-2.50,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,RF-1\t,0.02,0.00,多收退还\r\n"
    "#-----------------------------------------业务明细列表结束------------------------------------\r\n"
    "#交易合计：1笔，商家实收共：12.50元，商家优惠共：0.00元\r\n"
    "#退款合计：1笔，商家实收退款：-2.50元，商家优惠退款：0.00元\r\n"
    "#导出时间：[2024年05月02日 09:11:07]\r\n"
)


def _row(**changes) -> BillRow:
    base = dict(
        trade_no="2024050122001400000000000001", out_trade_no="ORD-1", biz_type="交易", subject="停车费", created_at=AT,
        completed_at=AT, store_id="", store_name="", operator="", terminal_id="", counterparty="abc***@example.com",
        order_amount_fen=1250, merchant_received_fen=1250, alipay_red_packet_fen=0, jifenbao_fen=0, alipay_discount_fen=0,
        merchant_discount_fen=0, coupon_fen=0, coupon_name="", merchant_red_packet_fen=0, card_fen=0, refund_request_no="",
        service_fee_fen=-8, profit_share_fen=0, remark="",
    )
    return BillRow(**(base | changes))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_real_looking_file_reads_in_fen_with_tabs_stripped():
    rows = parse_bill_zip(_zip({"20880000000000010156_20240501_业务明细.csv": SAMPLE.encode("gbk"),
                                "20880000000000010156_20240501_业务明细(汇总).csv": b"#summary\r\n"}))
    trade, refund = rows
    assert (trade.trade_no, trade.out_trade_no, trade.order_amount_fen, trade.merchant_received_fen, trade.service_fee_fen) == (
        "2024050122001400000000000001", "ORD-1", 1250, 1250, -8)
    assert (refund.biz_type, refund.merchant_received_fen, refund.refund_request_no, refund.remark) == ("退款", -250, "RF-1", "多收退还")
    assert refund.completed_at == datetime(2024, 5, 1, 9, 30, tzinfo=SHANGHAI)


def test_gbk_member_names_without_the_utf8_flag_are_found():
    name = "20880000000000010156_20240501_业务明细.csv"
    placeholder = "P" * len(name.encode("gbk"))
    data = _zip({placeholder: SAMPLE.encode("gbk")}).replace(placeholder.encode(), name.encode("gbk"))
    assert len(parse_bill_zip(data)) == 2


def test_bad_cells_reject_the_bill_naming_line_column_and_value():
    lines = SAMPLE.split("\r\n")
    lines[5] = lines[5].replace("12.50,12.50", "12.5.0,12.50").replace("2024-05-01 08:00:00", "2024/05/01 08:00")
    lines[6] = "only,three,cells"
    with pytest.raises(BillRejected) as bad:
        parse_detail_csv("\r\n".join(lines).encode("gbk"))
    errors = bad.value.details["errors"]
    assert {(e["line"], e["column"], e["value"]) for e in errors} == {
        (6, "创建时间", "2024/05/01 08:00"), (6, "订单金额（元）", "12.5.0"), (7, "*", "only,three,cells")}
    assert all(e["reason"] for e in errors) and bad.value.details["unreadable_lines"] == 2


def test_not_a_zip_is_a_format_error():
    with pytest.raises(BillFormatError) as bad:
        parse_bill_zip(b"<html>expired link</html>")
    assert bad.value.field == "bill_zip"


def test_zip_without_detail_file_names_what_it_holds():
    with pytest.raises(BillFormatError) as bad:
        parse_bill_zip(_zip({"readme.txt": b"hi"}))
    assert "readme.txt" in bad.value.message


def test_wrong_header_is_a_format_error_naming_line_5():
    shifted = SAMPLE.replace("#账号：[20880000000000010156]\r\n", "")
    with pytest.raises(BillFormatError) as bad:
        parse_detail_csv(shifted.encode("gbk"))
    assert "line 5" in bad.value.message
    renamed = SAMPLE.replace("商户订单号", "订单号", 1)
    with pytest.raises(BillFormatError) as bad:
        parse_detail_csv(renamed.encode("gbk"))
    assert bad.value.field == "header"


def test_truncated_file_without_end_line_is_a_format_error():
    truncated = SAMPLE.split("#-----------------------------------------业务明细列表结束")[0]
    with pytest.raises(BillFormatError) as bad:
        parse_detail_csv(truncated.encode("gbk"))
    assert "业务明细列表结束" in bad.value.message


@pytest.mark.parametrize("change, field", [
    ({"subject": "停车\n费"}, "subject"),
    ({"subject": " 停车费"}, "subject"),
    ({"remark": "🚗"}, "remark"),
    ({"trade_no": "#1"}, "trade_no"),
    ({"created_at": datetime(2024, 5, 1, 12, 0)}, "created_at"),
    ({"order_amount_fen": 12.5}, "order_amount_fen"),
])
def test_writer_refuses_what_it_could_not_read_back(change, field):
    with pytest.raises(BillWriteError) as bad:
        write_bill_zip([_row(), _row(**change)], account="20880000000000010156", bill_date=DAY)
    assert bad.value.field == f"rows[1].{field}"


# ---- properties ----------------------------------------------------------------------------------

_text = st.text(st.characters(codec="gbk", exclude_categories=("Cc", "Cs")), max_size=12).map(lambda s: s.strip(" \t"))
_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                      timezones=st.just(SHANGHAI)).map(lambda d: d.replace(microsecond=0, fold=0))
_fen = st.integers(min_value=-10**13, max_value=10**13)
_rows = st.builds(
    BillRow, trade_no=st.from_regex(r"[0-9A-Za-z_\-]{1,32}", fullmatch=True), out_trade_no=_text,
    biz_type=st.one_of(st.sampled_from(["交易", "退款"]), _text.filter(bool)), subject=_text, created_at=_times,
    completed_at=st.none() | _times, store_id=_text, store_name=_text, operator=_text, terminal_id=_text, counterparty=_text,
    order_amount_fen=_fen, merchant_received_fen=_fen, alipay_red_packet_fen=_fen, jifenbao_fen=_fen,
    alipay_discount_fen=_fen, merchant_discount_fen=_fen, coupon_fen=_fen, coupon_name=_text,
    merchant_red_packet_fen=_fen, card_fen=_fen, refund_request_no=_text, service_fee_fen=_fen, profit_share_fen=_fen,
    remark=_text,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_rows, max_size=8), st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 30)))
def test_write_then_parse_round_trips(rows, day):
    parsed = parse_bill_zip(write_bill_zip(rows, account="20880000000000010156", bill_date=day))
    assert parsed == rows


def _only_format_errors(data: bytes) -> None:
    try:
        result = parse_bill_zip(data)
    except BillFormatError:
        return
    assert isinstance(result, list)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_only_ever_raise_the_format_error(data):
    _only_format_errors(data)


_VALID = write_bill_zip([_row(), _row(biz_type="退款", merchant_received_fen=-100)], account="2088", bill_date=DAY)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupted_bill_zip_only_ever_raises_the_format_error(flips):
    data = bytearray(_VALID)
    for position, value in flips:
        data[position] = value
    _only_format_errors(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=12))
def test_arbitrary_detail_lines_only_ever_give_rows_or_the_format_error(lines):
    head = SAMPLE.encode("gbk").split(b"\r\n")[:5]
    tail = [DETAIL_END.encode("gbk")]
    _only_format_errors(_zip({"x_业务明细.csv": b"\r\n".join(head + lines + tail)}))
