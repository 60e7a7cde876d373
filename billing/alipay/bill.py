"""Alipay's daily bill zip (GBK CSV, header on line 5) read into typed rows in fen, and written back for the local gateway."""
from __future__ import annotations

import csv
import io
import lzma
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import NamedTuple

from billing.alipay.wire import WireFormatError, fen_to_yuan, format_time, parse_time, yuan_to_fen
from parking_core.clock import SHANGHAI
from parking_core.errors import InvalidInput

HEADER_LINE = 5
COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员", "终端号",
    "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）",
    "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
)
DETAIL_END = "#-----------------------------------------业务明细列表结束------------------------------------"
_DETAIL_START = "#-----------------------------------------业务明细列表----------------------------------------"
_SUMMARY_END = "#-----------------------------------------业务汇总列表结束------------------------------------"
_SUMMARY_COLUMNS = ("门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）", "支付宝优惠（元）",
                    "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）", "实收净额（元）")
_MAX_MEMBER_BYTES = 256 * 1024 * 1024
_MAX_MEMBERS = 64
_TRADE_NO = re.compile(r"[0-9A-Za-z_\-]+")
_CELL_STRIP = " \t"


class BillFormatError(InvalidInput):
    """A bill file that is not Alipay's daily bill at all (not a zip, no detail file, wrong header, truncated)."""

    code = "alipay_bill_format"


class BillWriteError(InvalidInput):
    """A row that cannot be written into a bill file and read back unchanged."""

    code = "alipay_bill_write"


@dataclass(frozen=True)
class BillRow:
    """One line of the detail file (业务明细), in column order; amounts in fen (negative on refunds), times aware."""

    trade_no: str                      # 支付宝交易号
    out_trade_no: str                  # 商户订单号
    biz_type: str                      # 业务类型 (交易 / 退款)
    subject: str                       # 商品名称
    created_at: datetime               # 创建时间
    completed_at: datetime | None      # 完成时间
    store_id: str                      # 门店编号
    store_name: str                    # 门店名称
    operator: str                      # 操作员
    terminal_id: str                   # 终端号
    counterparty: str                  # 对方账户
    order_amount_fen: int              # 订单金额（元）
    merchant_received_fen: int         # 商家实收（元）
    alipay_red_packet_fen: int         # 支付宝红包（元）
    jifenbao_fen: int                  # 集分宝（元）
    alipay_discount_fen: int           # 支付宝优惠（元）
    merchant_discount_fen: int         # 商家优惠（元）
    coupon_fen: int                    # 券核销金额（元）
    coupon_name: str                   # 券名称
    merchant_red_packet_fen: int       # 商家红包消费金额（元）
    card_fen: int                      # 卡消费金额（元）
    refund_request_no: str             # 退款批次号/请求号
    service_fee_fen: int               # 服务费（元）
    profit_share_fen: int              # 分润（元）
    remark: str                        # 备注


_FIELDS = tuple(f.name for f in fields(BillRow))
_REQUIRED_AMOUNTS = frozenset({"order_amount_fen", "merchant_received_fen"})
_NUMBERS_PADDED = frozenset({"trade_no", "out_trade_no", "refund_request_no"})  # Alipay appends a tab so spreadsheets keep the digits


@dataclass(frozen=True)
class BillRowError:
    """One unreadable cell or line of the detail file: where it is and what was there."""

    line: int
    column: str
    value: str
    reason: str


class ParsedBill(NamedTuple):
    """The readable rows and, separately, every line that could not be read."""

    rows: list[BillRow]
    errors: list[BillRowError]


def parse_bill_zip(data: bytes) -> ParsedBill:
    """Read the detail file (业务明细, not 汇总) out of Alipay's bill zip."""
    if not isinstance(data, (bytes, bytearray)):
        raise BillFormatError(f"bill must be bytes, got {type(data).__name__}", field="bill_zip")
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) > _MAX_MEMBERS:
                raise BillFormatError(f"bill zip has {len(members)} files, more than {_MAX_MEMBERS}", field="bill_zip", value=len(members))
            names = {_member_name(info): info for info in members}
            details = [name for name in names if "业务明细" in name and "汇总" not in name]
            if len(details) != 1:
                raise BillFormatError(f"bill zip must hold exactly one 业务明细 file (not 汇总), found {sorted(names)}",
                                      field="bill_zip", value=sorted(names))
            info = names[details[0]]
            if info.file_size > _MAX_MEMBER_BYTES:
                raise BillFormatError(f"{details[0]} is {info.file_size} bytes, over {_MAX_MEMBER_BYTES}", field=details[0], value=info.file_size)
            content = archive.read(info)
    except BillFormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            ValueError, OSError, struct.error, KeyError, IndexError, OverflowError, UnicodeError, lzma.LZMAError) as exc:
        raise BillFormatError(f"bill is not a readable zip: {type(exc).__name__}: {exc}", field="bill_zip") from None
    return parse_detail_csv(content)


def _member_name(info: zipfile.ZipInfo) -> str:
    """Alipay stores GBK names without the zip UTF-8 flag; Python then shows them as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except UnicodeError:
        return info.filename


def parse_detail_csv(content: bytes) -> ParsedBill:
    """Read a detail CSV (GBK): header checked on line 5, rows until the 业务明细列表结束 line."""
    lines = content.split(b"\n")
    if len(lines) < HEADER_LINE:
        raise BillFormatError(f"detail file has {len(lines)} lines, the header belongs on line {HEADER_LINE}", field="line", value=len(lines))
    header_text = _decode(lines[HEADER_LINE - 1])
    if header_text is None:
        raise BillFormatError(f"line {HEADER_LINE} (header) is not GBK text", field="line", value=HEADER_LINE)
    header = _split(header_text)
    if header is None or tuple(cell.strip(_CELL_STRIP) for cell in header) != COLUMNS:
        found = [cell.strip(_CELL_STRIP) for cell in header] if header is not None else header_text[:200]
        raise BillFormatError(f"line {HEADER_LINE} is not the detail header: expected {len(COLUMNS)} columns "
                              f"{COLUMNS[0]},{COLUMNS[1]},...,{COLUMNS[-1]}; found {found}", field="header", value=header_text[:200])
    rows: list[BillRow] = []
    errors: list[BillRowError] = []
    for number, raw in enumerate(lines[HEADER_LINE:], start=HEADER_LINE + 1):
        text = _decode(raw)
        if text is None:
            errors.append(BillRowError(number, "*", raw[:200].decode("gb18030", "replace"), "line is not GBK text"))
            continue
        if text.startswith(DETAIL_END[:20]) and "业务明细列表结束" in text:
            return ParsedBill(rows, errors)
        if not text.strip():
            continue
        row = _parse_row(number, text, errors)
        if row is not None:
            rows.append(row)
    raise BillFormatError(f"detail file has no {DETAIL_END.strip('#-')} line: truncated?", field="line", value=len(lines))


def _decode(raw: bytes) -> str | None:
    try:
        return raw.rstrip(b"\r").decode("gb18030")
    except UnicodeDecodeError:
        return None


def _split(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None


def _parse_row(number: int, text: str, errors: list[BillRowError]) -> BillRow | None:
    cells = _split(text)
    if cells is None:
        errors.append(BillRowError(number, "*", text[:200], "line is not valid CSV (unbalanced quotes)"))
        return None
    if len(cells) != len(COLUMNS):
        errors.append(BillRowError(number, "*", text[:200], f"expected {len(COLUMNS)} columns, found {len(cells)}"))
        return None
    values: dict[str, object] = {}
    row_errors: list[BillRowError] = []
    for name, column, cell in zip(_FIELDS, COLUMNS, cells):
        cell = cell.strip(_CELL_STRIP)
        try:
            if name.endswith("_fen"):
                if not cell and name not in _REQUIRED_AMOUNTS:
                    values[name] = 0
                else:
                    values[name] = yuan_to_fen(cell, field=column)
            elif name in ("created_at", "completed_at"):
                values[name] = None if (not cell and name == "completed_at") else parse_time(cell, field=column)
            elif name in ("trade_no", "biz_type") and not cell:
                raise WireFormatError(f"{column} is empty", field=column, value=cell)
            else:
                values[name] = cell
        except WireFormatError as exc:
            row_errors.append(BillRowError(number, column, cell, exc.message))
    if row_errors:
        errors.extend(row_errors)
        return None
    return BillRow(**values)  # type: ignore[arg-type]


# ---- writing -------------------------------------------------------------------------------------


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
    for name in _FIELDS:
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
            cells.append(_text_cell(value, where) + ("\t" if name in _NUMBERS_PADDED and value else ""))
    return cells


def _text_cell(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise BillWriteError(f"{where} must be text, got {value!r}", field=where, value=repr(value))
    if value != value.strip(_CELL_STRIP) or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
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
