"""Bill zips shaped like Alipay's (detail and summary files, GBK, CRLF) for the local stand-in and the tests; every
row is checked so that what is written reads back unchanged through billing.alipay.bill."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime, timedelta

from billing.alipay.bill import CELL_STRIP, COLUMNS, DETAIL_END, FIELDS, NUMBERS_PADDED, BillRow
from billing.alipay.wire import WireFormatError, fen_to_yuan, format_time
from parking_core.clock import SHANGHAI
from parking_core.errors import InvalidInput

_DETAIL_START = "#-----------------------------------------业务明细列表----------------------------------------"
_SUMMARY_END = "#-----------------------------------------业务汇总列表结束------------------------------------"
_SUMMARY_COLUMNS = ("门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）", "支付宝优惠（元）",
                    "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）", "实收净额（元）")
_TRADE_NO = re.compile(r"[0-9A-Za-z_\-]+")


class BillWriteError(InvalidInput):
    """A row that cannot be written into a bill file and read back unchanged."""

    code = "alipay_bill_write"


def write_bill_zip(rows: list[BillRow], *, account: str, bill_date: date, exported_at: datetime | None = None) -> bytes:
    """A bill zip shaped like Alipay's: detail file and summary file, GBK, CRLF, for one account and day."""
    if not _TRADE_NO.fullmatch(account or ""):
        raise BillWriteError(f"account must be letters and digits, got {account!r}", field="account", value=account)
    exported = exported_at or datetime.now(SHANGHAI)
    stem = f"{account}_{bill_date:%Y%m%d}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}_业务明细.csv", detail_csv(rows, account=account, bill_date=bill_date, exported_at=exported))
        archive.writestr(f"{stem}_业务明细(汇总).csv", _summary_csv(rows, account=account, bill_date=bill_date, exported_at=exported))
    return buffer.getvalue()


def detail_csv(rows: list[BillRow], *, account: str, bill_date: date, exported_at: datetime) -> bytes:
    """The detail file's bytes: four comment lines, the header on line 5, rows, the end line and totals."""
    out = [
        "#支付宝业务明细查询",
        f"#账号：[{account}]",
        f"#起始日期：[{_cn_day(bill_date)} 00:00:00]   终止日期：[{_cn_day(bill_date + timedelta(days=1))} 00:00:00]",
        _DETAIL_START,
        ",".join(COLUMNS),
    ]
    out += [_csv_line(_row_cells(index, row)) for index, row in enumerate(rows)]
    trades = [row for row in rows if row.biz_type != "退款"]
    refunds = [row for row in rows if row.biz_type == "退款"]
    out += [
        DETAIL_END,
        f"#交易合计：{len(trades)}笔，商家实收共：{fen_to_yuan(sum(r.merchant_received_fen for r in trades))}元，"
        f"商家优惠共：{fen_to_yuan(sum(r.merchant_discount_fen for r in trades))}元",
        f"#退款合计：{len(refunds)}笔，商家实收退款：{fen_to_yuan(sum(r.merchant_received_fen for r in refunds))}元，"
        f"商家优惠退款：{fen_to_yuan(sum(r.merchant_discount_fen for r in refunds))}元",
        f"#导出时间：[{_cn_time(exported_at)}]",
    ]
    return _encode(out)


def _summary_csv(rows: list[BillRow], *, account: str, bill_date: date, exported_at: datetime) -> bytes:
    """The summary file (业务明细(汇总)): one line per store and a total line."""
    stores: dict[tuple[str, str], list[BillRow]] = {}
    for row in rows:
        stores.setdefault((row.store_id, row.store_name), []).append(row)

    def line(store_id: str, store_name: str, group: list[BillRow]) -> str:
        received = sum(r.merchant_received_fen for r in group)
        fee = sum(r.service_fee_fen for r in group)
        sums = [sum(getattr(r, name) for r in group) for name in
                ("order_amount_fen", "merchant_received_fen", "alipay_discount_fen", "merchant_discount_fen", "card_fen",
                 "service_fee_fen", "profit_share_fen")]
        counts = [sum(r.biz_type != "退款" for r in group), sum(r.biz_type == "退款" for r in group)]
        return _csv_line([store_id, store_name, *map(str, counts), *map(fen_to_yuan, sums), fen_to_yuan(received + fee)])

    out = [
        "#支付宝业务汇总查询",
        f"#账号：[{account}]",
        f"#起始日期：[{_cn_day(bill_date)} 00:00:00]   终止日期：[{_cn_day(bill_date + timedelta(days=1))} 00:00:00]",
        "#-----------------------------------------业务汇总列表----------------------------------------",
        ",".join(_SUMMARY_COLUMNS),
        *(line(store_id, store_name, group) for (store_id, store_name), group in sorted(stores.items())),
        line("合计", "", rows),
        _SUMMARY_END,
        f"#导出时间：[{_cn_time(exported_at)}]",
    ]
    return _encode(out)


def _row_cells(index: int, row: BillRow) -> list[str]:
    if not isinstance(row, BillRow):
        raise BillWriteError(f"rows[{index}] is a {type(row).__name__}, not a BillRow", field=f"rows[{index}]")
    if not _TRADE_NO.fullmatch(row.trade_no):
        raise BillWriteError(f"rows[{index}].trade_no must be letters and digits, got {row.trade_no!r}",
                             field=f"rows[{index}].trade_no", value=row.trade_no)
    if not row.biz_type:
        raise BillWriteError(f"rows[{index}].biz_type is empty", field=f"rows[{index}].biz_type", value=row.biz_type)
    cells = []
    for name in FIELDS:
        value = getattr(row, name)
        where = f"rows[{index}].{name}"
        if name.endswith("_fen"):
            try:
                cells.append(fen_to_yuan(value, field=where))
            except WireFormatError as exc:
                raise BillWriteError(exc.message, field=where, value=repr(value)) from None
        elif name in ("created_at", "completed_at"):
            if value is None and name == "completed_at":
                cells.append("")
            elif isinstance(value, datetime) and value.tzinfo is not None and value.microsecond == 0:
                cells.append(format_time(value, field=where))
            else:
                raise BillWriteError(f"{where} must be an aware datetime in whole seconds, got {value!r}", field=where, value=repr(value))
        else:
            cells.append(_text_cell(value, where) + ("\t" if name in NUMBERS_PADDED and value else ""))
    return cells


def _text_cell(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise BillWriteError(f"{where} must be text, got {value!r}", field=where, value=repr(value))
    if value != value.strip(CELL_STRIP) or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise BillWriteError(f"{where} has control characters or edge blanks the file cannot keep: {value!r}", field=where, value=value)
    try:
        value.encode("gbk")
    except UnicodeEncodeError:
        raise BillWriteError(f"{where} has characters GBK cannot encode: {value!r}", field=where, value=value) from None
    return value


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def _encode(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def _cn_day(day: date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _cn_time(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{_cn_day(local.date())} {local:%H:%M:%S}"
