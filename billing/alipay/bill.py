"""Alipay's daily bill zip (GBK CSV, header on line 5) read, streaming, into typed rows in fen.

A bill is all or nothing: any unreadable line (wrong encoding, wrong column count, a bad amount or time) or a
missing end line rejects the whole file, naming each line and why, so a caller that reads it to the end before
acting never applies half a bill. The writer the local stand-in uses lives in alipay_standin/bill_writer.py."""
from __future__ import annotations

import csv
import io
import lzma
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO, NamedTuple

from billing.alipay.wire import WireFormatError, yuan_to_fen
from parking_core.clock import SHANGHAI
from parking_core.errors import InvalidInput

HEADER_LINE = 5
COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员", "终端号",
    "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）",
    "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
)
DETAIL_END = "#-----------------------------------------业务明细列表结束------------------------------------"
_MAX_MEMBER_BYTES = 2 * 1024 ** 3  # streamed, so only a guard against zip bombs
_MAX_MEMBERS = 64
CELL_STRIP = " \t"


class BillFormatError(InvalidInput):
    """A bill file that is not Alipay's daily bill at all (not a zip, no detail file, wrong header, truncated)."""

    code = "alipay_bill_format"


class BillRejected(BillFormatError):
    """A bill with unreadable lines: every one is listed (line, column, value, reason) and nothing of it is used."""

    code = "alipay_bill_rejected"


class BillRow(NamedTuple):
    """One line of the detail file (业务明细), in column order; amounts in fen (negative on refunds), times aware.
    A named tuple: a million of them are made per bill, and a tuple is made several times faster than a dataclass."""

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


FIELDS = BillRow._fields
_REQUIRED_AMOUNTS = frozenset({"order_amount_fen", "merchant_received_fen"})
NUMBERS_PADDED = frozenset({"trade_no", "out_trade_no", "refund_request_no"})  # Alipay appends a tab so spreadsheets keep the digits
_AMOUNTS = tuple(i for i, n in enumerate(FIELDS) if n.endswith("_fen"))
_REQUIRED = frozenset([*(FIELDS.index(n) for n in _REQUIRED_AMOUNTS), FIELDS.index("created_at")])
_CREATED, _COMPLETED = FIELDS.index("created_at"), FIELDS.index("completed_at")
_NOT_EMPTY = (FIELDS.index("trade_no"), FIELDS.index("biz_type"))
_CACHE_MAX = 100_000
_TEXT = tuple(i for i, n in enumerate(FIELDS) if not n.endswith("_fen") and n not in ("created_at", "completed_at"))
_ZEROS_13_17, _ZEROS_19_20 = ["0.00"] * 5, ["0.00"] * 2
_FEN_13_17, _FEN_19_20 = [0] * 5, [0] * 2
_BUSY_AMOUNTS = (11, 12, 22)  # 订单金额, 商家实收, 服务费: the amounts that are not "0.00" on an ordinary line
assert [FIELDS[i] for i in (*range(13, 18), 19, 20, 23)] == [
    "alipay_red_packet_fen", "jifenbao_fen", "alipay_discount_fen", "merchant_discount_fen", "coupon_fen", "merchant_red_packet_fen",
    "card_fen", "profit_share_fen"] and [FIELDS[i] for i in _BUSY_AMOUNTS] == ["order_amount_fen", "merchant_received_fen", "service_fee_fen"]
MAX_LISTED = 50  # unreadable lines listed in a rejection; the count covers them all


@dataclass(frozen=True)
class BillRowError:
    """One unreadable cell or line of the detail file: where it is and what was there."""

    line: int
    column: str
    value: str
    reason: str


def parse_bill_zip(data: bytes) -> list[BillRow]:
    """Every row of the bill's detail file, or BillFormatError / BillRejected and no rows at all."""
    return list(iter_bill_zip(data))


def iter_bill_zip(data: bytes) -> Iterator[BillRow]:
    """The detail file's rows one by one, decompressed as they are read (a million-line bill is never whole in
    memory). The rejection of a bad file comes at the end: act on the rows only once the iteration has finished."""
    if not isinstance(data, (bytes, bytearray)):
        raise BillFormatError(f"bill must be bytes, got {type(data).__name__}", field="bill_zip")
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
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
        archive.open(info).close()  # a member that cannot even be opened (encrypted, unknown method) is refused here
    except BillFormatError:
        raise
    except _ZIP_ERRORS as exc:
        raise BillFormatError(f"bill is not a readable zip: {type(exc).__name__}: {exc}", field="bill_zip") from None
    with archive:
        try:
            yield from iter_detail(lambda: archive.open(info))
        except BillFormatError:
            raise
        except _ZIP_ERRORS as exc:  # a zip cut short or corrupted inside the detail file
            raise BillFormatError(f"bill zip is damaged inside {details[0]}: {type(exc).__name__}: {exc}", field="bill_zip") from None


_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError,
               OSError, struct.error, KeyError, IndexError, OverflowError, UnicodeError, lzma.LZMAError)


def _member_name(info: zipfile.ZipInfo) -> str:
    """Alipay stores GBK names without the zip UTF-8 flag; Python then shows them as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except UnicodeError:
        return info.filename


def parse_detail_csv(content: bytes) -> list[BillRow]:
    """Every row of a detail CSV (GBK bytes), or BillFormatError / BillRejected."""
    return list(iter_detail(lambda: io.BytesIO(content)))


def iter_detail(open_stream: Callable[[], IO[bytes]]) -> Iterator[BillRow]:
    """The fast path: the stream decoded in bulk and split by the C CSV reader. A decoding error there says only
    that some line is not GBK, so the file is then read again line by line (iter_detail_lines) to name each one."""
    with open_stream() as raw:
        try:
            yield from _iter_text(io.TextIOWrapper(raw, encoding="gb18030", newline=""))
            return
        except UnicodeDecodeError:
            pass
    with open_stream() as raw:
        for _ in iter_detail_lines(raw):
            pass
    raise BillFormatError("detail file is not GBK text", field="encoding")  # iter_detail_lines has named the line already


def _iter_text(text: IO[str]) -> Iterator[BillRow]:
    head = [text.readline() for _ in range(HEADER_LINE)]
    if not head[-1]:
        count = sum(bool(line) for line in head)
        raise BillFormatError(f"detail file has {count} lines, the header belongs on line {HEADER_LINE}: truncated?", field="line", value=count)
    _check_header(head[-1].encode("gb18030"))
    errors: list[BillRowError] = []
    unreadable = 0
    reader = csv.reader(text, strict=True)
    cache: dict[str, int] = {}  # cell text -> fen
    times: dict[str, datetime] = {}  # cell text -> time
    number = HEADER_LINE
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            raise BillFormatError(f"detail file ends at line {HEADER_LINE + reader.line_num} without the {DETAIL_END.strip('#-')} "
                                  "line: truncated?", field="line", value=HEADER_LINE + reader.line_num) from None
        except csv.Error as exc:
            unreadable += 1
            errors.append(BillRowError(HEADER_LINE + reader.line_num, "*", "", f"not valid CSV: {exc}"))
            continue
        number = HEADER_LINE + reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if cells[0].startswith("#") and "业务明细列表结束" in cells[0]:
            break
        row = _parse_row(number, cells, errors, cache, times)
        if row is None:
            unreadable += 1
        elif not errors:
            yield row
    if errors:
        _reject(errors, unreadable)


def _reject(errors: list[BillRowError], unreadable: int) -> None:
    first = errors[0]
    listed = [asdict(e) for e in errors[:MAX_LISTED]]
    raise BillRejected(f"bill rejected, nothing used: {unreadable} unreadable line(s); line {first.line}, {first.column}: {first.reason}",
                       field=f"line {first.line}", value=first.value, errors=listed, unreadable_lines=unreadable)


def iter_detail_lines(raw_lines) -> Iterator[BillRow]:  # noqa: ANN001 - any iterable of bytes lines
    """The exact path, a line decoded at a time: header checked on line 5, rows until the 业务明细列表结束 line;
    errors gathered (a line that is not GBK among them), then raised together."""
    lines = iter(raw_lines)
    head = [next(lines, None) for _ in range(HEADER_LINE)]
    if head[-1] is None:
        count = sum(line is not None for line in head)
        raise BillFormatError(f"detail file has {count} lines, the header belongs on line {HEADER_LINE}: truncated?", field="line", value=count)
    _check_header(head[-1])
    errors: list[BillRowError] = []
    unreadable = 0
    numbers = _Numbered(lines, HEADER_LINE, errors)
    reader = csv.reader(numbers, strict=True)
    cache: dict[str, int] = {}  # cell text -> fen
    times: dict[str, datetime] = {}  # cell text -> time
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            raise BillFormatError(f"detail file ends at line {numbers.number} without the {DETAIL_END.strip('#-')} line: truncated?",
                                  field="line", value=numbers.number) from None
        except csv.Error as exc:
            unreadable += 1
            errors.append(BillRowError(numbers.number, "*", numbers.last[:200], f"not valid CSV: {exc}"))
            continue
        if numbers.ended:
            break
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        row = _parse_row(numbers.number, cells, errors, cache, times)
        if row is None:
            unreadable += 1
        elif not errors:
            yield row
    unreadable += numbers.undecodable
    if errors:
        _reject(errors, unreadable)


class _Numbered:
    """Decodes each line as GBK (gb18030) for the CSV reader, counting lines and noting the end marker."""

    def __init__(self, lines: Iterator[bytes], start: int, errors: list[BillRowError]) -> None:
        self.lines, self.number, self.errors = lines, start, errors
        self.last, self.ended, self.undecodable = "", False, 0

    def __iter__(self) -> "_Numbered":
        return self

    def __next__(self) -> str:
        while True:
            raw = next(self.lines)
            self.number += 1
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                self.undecodable += 1
                self.errors.append(BillRowError(self.number, "*", raw[:200].decode("gb18030", "replace"), _encoding_reason(raw)))
                continue
            self.last = text
            if text.startswith("#") and "业务明细列表结束" in text:
                self.ended = True
                return ""
            return text


def _encoding_reason(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "line is not GBK text"
    return "line is UTF-8 text, Alipay's bills are GBK"


def _check_header(raw: bytes) -> None:
    """Line 5 must be the 25 detail columns in Alipay's order; say which column moved, or that the file is not GBK."""
    try:
        text = raw.rstrip(b"\r\n").decode("gb18030")
    except UnicodeDecodeError:
        reason = _encoding_reason(raw)
        raise BillFormatError(f"line {HEADER_LINE} (header): {reason}", field="encoding" if "UTF-8" in reason else "line",
                              value=HEADER_LINE) from None
    header = _split(text)
    found = tuple(cell.strip(CELL_STRIP) for cell in header) if header is not None else ()
    if found == COLUMNS:
        return
    try:
        if tuple(c.strip(CELL_STRIP) for c in (_split(raw.rstrip(b"\r\n").decode("utf-8")) or ())) == COLUMNS:
            raise BillFormatError(f"line {HEADER_LINE} (header) is UTF-8 text, Alipay's bills are GBK", field="encoding", value="utf-8")
    except UnicodeDecodeError:
        pass
    if sorted(found) == sorted(COLUMNS):
        moved = next(i for i, (a, b) in enumerate(zip(found, COLUMNS)) if a != b)
        raise BillFormatError(f"line {HEADER_LINE} (header): the columns are in another order: column {moved + 1} is {found[moved]}, "
                              f"expected {COLUMNS[moved]}", field="header", value=found[moved])
    raise BillFormatError(f"line {HEADER_LINE} is not the detail header: expected {len(COLUMNS)} columns "
                          f"{COLUMNS[0]},{COLUMNS[1]},...,{COLUMNS[-1]}; found {list(found) or text[:200]}", field="header", value=text[:200])


def _split(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None


def _parse_row(number: int, cells: list[str], errors: list[BillRowError], cache: dict[str, int],
               times: dict[str, datetime]) -> BillRow | None:
    """Every cell checked; amounts and times are remembered by their text (a day's bill repeats them a great deal),
    and the columns that are "0.00" on nearly every line are compared as one slice."""
    if len(cells) != len(COLUMNS):
        errors.append(BillRowError(number, "*", ",".join(cells)[:200], f"expected {len(COLUMNS)} columns, found {len(cells)}"))
        return None
    values: list[object] = cells
    before = len(errors)
    for i in _TEXT:
        values[i] = cells[i].strip(CELL_STRIP)
    if cells[13:18] == _ZEROS_13_17 and cells[19:21] == _ZEROS_19_20 and cells[23] == "0.00":
        values[13:18], values[19:21], values[23] = _FEN_13_17, _FEN_19_20, 0
        amounts = _BUSY_AMOUNTS
    else:
        amounts = _AMOUNTS
    for i in amounts:
        fen = cache.get(cells[i])
        values[i] = fen if fen is not None else _read(number, i, cells[i], cache, _fen, errors)
    for i in (_CREATED, _COMPLETED):
        moment = times.get(cells[i])
        values[i] = moment if moment is not None else _read(number, i, cells[i], times, _time, errors)
    for i in _NOT_EMPTY:
        if not values[i]:
            errors.append(BillRowError(number, COLUMNS[i], "", f"{COLUMNS[i]} is empty"))
    return None if len(errors) > before else tuple.__new__(BillRow, values)


def _read(number: int, i: int, cell: str, cache: dict, parse: Callable[[str, str], object], errors: list[BillRowError]) -> object:
    """A cell the cache did not hold: stripped, read (an empty optional cell is 0, or None for 完成时间), remembered;
    an unreadable one is added to `errors` (and the row is dropped by the caller)."""
    stripped = cell.strip(CELL_STRIP)
    if not stripped and i not in _REQUIRED:
        return None if i == _COMPLETED else 0
    try:
        value = parse(stripped, COLUMNS[i]) if stripped else _empty(COLUMNS[i])
    except WireFormatError as exc:
        errors.append(BillRowError(number, COLUMNS[i], stripped, exc.message))
        return None
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[cell] = value
    return value


def _empty(column: str) -> object:
    raise WireFormatError(f"{column} is empty", field=column, value="")


def _fen(text: str, column: str) -> int:
    return yuan_to_fen(text, field=column)


def _time(text: str, column: str) -> datetime:
    """Alipay's "YYYY-MM-DD HH:MM:SS" (Shanghai wall clock); fromisoformat after a shape check, for speed."""
    if len(text) != 19 or text[4] != "-" or text[7] != "-" or text[10] != " " or text[13] != ":" or text[16] != ":" \
            or not (text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:]).isdigit() \
            or not text.isascii():
        raise WireFormatError(f"{column} is not a time like 2024-05-01 12:00:00: {text!r}", field=column, value=text)
    try:
        return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise WireFormatError(f"{column} is not a valid time: {text!r} ({exc})", field=column, value=text) from None
