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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from itertools import chain, islice, repeat
from operator import itemgetter
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


class BillStream(Iterator[BillRow]):
    """A bill's rows as they are read, or (chunks()) the same rows a chunk of columns at a time for a reader that
    wants them in bulk; one pass, one or the other. A bad file is rejected at the end, so act only once it is read."""

    def __init__(self, chunks: Iterator[BillChunk]) -> None:
        self._chunks = chunks
        self._rows = chain.from_iterable(map(BillChunk.rows, chunks))

    def __iter__(self) -> Iterator[BillRow]:
        return self._rows

    def __next__(self) -> BillRow:
        return next(self._rows)

    def chunks(self) -> Iterator[BillChunk]:
        return self._chunks


def iter_bill_zip(data: bytes) -> BillStream:
    """The detail file's rows one by one, decompressed as they are read (a million-line bill is never whole in
    memory). The rejection of a bad file comes at the end: act on the rows only once the iteration has finished."""
    return BillStream(iter_bill_chunks(data))


def iter_bill_chunks(data: bytes) -> Iterator[BillChunk]:
    """The detail file's rows in chunks of columns (BillChunk), as iter_bill_zip reads them."""
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
            yield from iter_detail_chunks(lambda: archive.open(info))
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
    """The detail file's rows one by one (iter_detail_chunks, flattened)."""
    return chain.from_iterable(map(BillChunk.rows, iter_detail_chunks(open_stream)))


def iter_detail_chunks(open_stream: Callable[[], IO[bytes]]) -> Iterator[BillChunk]:
    """The fast path: the stream read in blocks of whole lines, a plain block split and checked column by column, any
    other read by the C CSV reader (_Detail). A decoding error there says only that some line is not GBK, so the file
    is then read again line by line (iter_detail_lines) to name each one."""
    with open_stream() as raw:
        try:
            yield from _Detail(raw).chunks()
            return
        except UnicodeDecodeError:
            pass
    with open_stream() as raw:
        for _ in iter_detail_lines(raw):
            pass
    raise BillFormatError("detail file is not GBK text", field="encoding")  # iter_detail_lines has named the line already


@dataclass(frozen=True, slots=True)
class BillChunk:
    """Consecutive rows of the detail file, column by column (COLUMNS order, converted as in BillRow): a reader that
    only sums or looks up a few columns never makes a million row objects."""

    size: int
    columns: tuple[Sequence, ...]

    def column(self, name: str) -> Sequence:
        return self.columns[_INDEX[name]]

    def rows(self) -> Iterator[BillRow]:
        return map(_as_row, zip(*self.columns))

    def row(self, i: int) -> BillRow:
        return _as_row([column[i] for column in self.columns])

    @classmethod
    def of_rows(cls, rows: list[BillRow]) -> BillChunk:
        return cls(len(rows), tuple(zip(*rows)))


_INDEX = {name: i for i, name in enumerate(BillRow._fields)}
_as_row = partial(tuple.__new__, BillRow)
BLOCK_BYTES = 32 << 10  # small: a block's cells stay in the CPU's cache (1 MiB blocks read 2.5x slower)
_END_TEXT = "业务明细列表结束"
_END_BYTES = _END_TEXT.encode("gbk").decode("latin-1")  # as it looks in a block not yet decoded
_PADDED = frozenset(FIELDS.index(n) for n in NUMBERS_PADDED)


class _Detail:
    """One pass over the detail file after its header, a block of whole lines at a time.

    A plain block (no quote, lines ended by CRLF or LF, every line 25 cells) is split with str.split and checked a
    column at a time: each distinct amount or time is read once. Anything else in a block (a blank line, a wrong
    cell, a wrong cell count) sends that block through the exact path, the C CSV reader and _parse_row a line at a
    time, which names each bad line; from the first quote on, the rest of the file goes that way (a quoted cell
    may span lines). Both read the same cells the same way, so a file reads the same whichever path a block took.

    Blocks come undecoded, as latin-1 (one character per byte, at no cost): in GBK and GB18030 no byte of a
    multi-byte character is a comma, quote, CR or LF, so the block splits into the same cells, and only the cells
    that are not ASCII (a few distinct names, mostly) are decoded, each once. A number or time that is not ASCII is
    unreadable either way; the exact path decodes its block whole. Decoding GB18030 byte by byte was a quarter of
    the time of reading a bill."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.errors: list[BillRowError] = []
        self.unreadable = 0
        self.fen: dict[str, int] = {}  # cell text -> fen
        self.times: dict[str, datetime] = {}  # cell text -> time
        self.line = HEADER_LINE  # lines read so far
        self.ended = False

    def chunks(self) -> Iterator[BillChunk]:
        blocks = self._blocks()
        first = self._header(blocks)
        for text in chain([first], blocks):
            if '"' in text:
                yield from self._quoted(map(_decoded, chain([text], blocks)))
                break
            chunk = self._plain(text)
            if chunk is None:
                chunk = self._exact(io.StringIO(_decoded(text), newline=""))
            if chunk is not None and not self.errors:
                yield chunk
            if self.ended:
                break
        if not self.ended:
            raise BillFormatError(f"detail file ends at line {self.line} without the {DETAIL_END.strip('#-')} line: truncated?",
                                  field="line", value=self.line)
        if self.errors:
            _reject(self.errors, self.unreadable)

    def _blocks(self) -> Iterator[str]:
        """Blocks of about BLOCK_BYTES as latin-1, each ending at a line end (a LF byte is never inside a GBK character)."""
        rest = b""
        while True:
            data = self.raw.read(BLOCK_BYTES)
            if not data:
                if rest:
                    yield rest.decode("latin-1")
                return
            data = rest + data if rest else data
            cut = data.rfind(b"\n") + 1
            if not cut:
                rest = data
                continue
            rest = data[cut:]
            yield data[:cut].decode("latin-1")

    def _header(self, blocks: Iterator[str]) -> str:
        """Checks line 5 (lines end at CR, LF or CRLF, as the CSV reader sees them); the text after it."""
        text = ""
        for block in blocks:
            text += block
            if text.count("\n") + text.count("\r") - text.count("\r\n") > HEADER_LINE:
                break
        lines = io.StringIO(text, newline="")
        head = [lines.readline() for _ in range(HEADER_LINE)]
        if not head[-1]:
            count = sum(bool(line) for line in head)
            raise BillFormatError(f"detail file has {count} lines, the header belongs on line {HEADER_LINE}: truncated?",
                                  field="line", value=count)
        _check_header(head[-1].encode("latin-1"))
        _decoded("".join(head[:-1]))  # the four lines above it must be GBK too
        return text[sum(map(len, head)):]

    def _plain(self, text: str) -> BillChunk | None:
        """The block's rows, read column by column; None when the block is not plain or holds a bad cell.

        The block is split at every comma at once: with 25 cells on each of its n lines that gives 24 n + 1 pieces,
        every 24th holding one line's last cell, the line end and the next line's first cell; columns 2-24 are then
        slices. Any other shape (a blank line, a line of 24 or 26 cells) is not plain."""
        crs = text.count("\r")
        end = "\r\n" if crs else "\n"  # every CR in a CRLF (the joints below show it), or no CR at all
        if crs and crs != text.count("\n"):
            return None  # a lone CR ends a line for the CSV reader; CRLF and LF mixed are left to it too
        if len(text) > csv.field_size_limit():
            return None  # a cell this long is refused by the CSV reader
        if not text.endswith("\n"):
            text += end  # the last line of the file
        ended = False
        at = text.find(_END_BYTES) if "#" in text else -1
        if at >= 0:
            start = text.rfind("\n", 0, at) + 1
            first_cell = text[start:text.find("\n", at)].split(",", 1)[0]
            if not (first_cell.startswith("#") and _END_BYTES in first_cell):
                return None
            text, ended = text[:start], True
        size = text.count("\n")
        if not size:
            return None
        width = len(COLUMNS) - 1
        pieces = text.split(",")
        if len(pieces) != width * size + 1:
            return None
        joints = list(map(str.split, pieces[width::width], repeat(end)))  # [last cell, next line's first cell]
        if set(map(len, joints)) != {2}:
            return None
        columns: list[Sequence] = [[pieces[0], *map(itemgetter(1), joints[:-1])]]
        columns += [pieces[i::width] for i in range(1, width)]
        columns.append(list(map(itemgetter(0), joints)))
        if not (self._texts(columns) and self._amounts(columns) and self._times(columns)):
            return None
        self.line += size
        self.ended = ended
        return BillChunk(size, tuple(columns))

    @staticmethod
    def _texts(columns: list[Sequence]) -> bool:
        """Text cells decoded (those not ASCII) and stripped; False if a trade number or business type is empty."""
        for i in _TEXT:
            column = columns[i]
            if i in _PADDED and "".join(column).isascii():  # a number on each line, mostly distinct
                columns[i] = list(map(str.strip, column, repeat(CELL_STRIP)))
            else:
                cells = {cell: _decoded(cell).strip(CELL_STRIP) for cell in set(column)}
                if any(cell != value for cell, value in cells.items()):
                    columns[i] = list(map(cells.__getitem__, column))
        return all("" not in columns[i] for i in _NOT_EMPTY)

    def _amounts(self, columns: list[Sequence]) -> bool:
        for i in _AMOUNTS:
            column = columns[i]
            if column.count("0.00") == len(column):
                columns[i] = [0] * len(column)
            elif (values := self._read_column(column, i, self.fen, _fen)) is not None:
                columns[i] = values
            else:
                return False
        return True

    def _times(self, columns: list[Sequence]) -> bool:
        for i in (_CREATED, _COMPLETED):
            values = self._read_column(columns[i], i, self.times, _time)
            if values is None:
                return False
            columns[i] = values
        return True

    @staticmethod
    def _read_column(column: Sequence[str], i: int, cache: dict, parse: Callable[[str, str], object]) -> list | None:
        """Column i's cells as _read reads them, each distinct one read once and remembered in `cache`; None if one is
        unreadable (the exact path then names it)."""
        missing = set(column).difference(cache)
        if len(cache) + len(missing) > _CACHE_MAX:
            cache.clear()
            missing = set(column)
        empty = {}
        for cell in missing:
            problems: list[BillRowError] = []
            value = _read(0, i, cell, cache, parse, problems)
            if problems:
                return None
            if cell not in cache:  # an empty optional cell: 0 or None, not remembered
                empty[cell] = value
        if not empty:
            return list(map(cache.__getitem__, column))
        return [empty[cell] if cell in empty else cache[cell] for cell in column]

    def _exact(self, lines: IO[str] | Iterator[str]) -> BillChunk | None:
        """The exact path over some lines: rows gathered into one chunk (None if there were none)."""
        rows = list(self._exact_rows(lines))
        return BillChunk.of_rows(rows) if rows else None

    def _quoted(self, texts: Iterator[str]) -> Iterator[BillChunk]:
        """The rest of the file through one CSV reader (a quoted cell may hold a line end), in chunks."""
        lines = chain.from_iterable(io.StringIO(text, newline="") for text in texts)
        rows = self._exact_rows(lines)
        while batch := list(islice(rows, 10_000)):
            if not self.errors:
                yield BillChunk.of_rows(batch)

    def _exact_rows(self, lines: Iterable[str]) -> Iterator[BillRow]:
        """Rows of the C CSV reader, every cell checked by _parse_row; stops after the end line."""
        last = [""]  # the line the reader took last: an unreadable line is shown as the line-by-line reader shows it

        def noted(texts: Iterable[str]) -> Iterator[str]:
            for text in texts:
                last[0] = text
                yield text

        reader = csv.reader(noted(lines), strict=True)
        base = self.line
        errors = self.errors
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                self.line = base + reader.line_num
                return
            except csv.Error as exc:
                self.unreadable += 1
                errors.append(BillRowError(base + reader.line_num, "*", last[0][:200], f"not valid CSV: {exc}"))
                continue
            number = self.line = base + reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if cells[0].startswith("#") and _END_TEXT in cells[0]:
                self.ended = True
                return
            row = _parse_row(number, cells, errors, self.fen, self.times)
            if row is None:
                self.unreadable += 1
            else:
                yield row


def _decoded(text: str) -> str:
    """Latin-1 text (bytes as they came) decoded as GBK; UnicodeDecodeError if it is not."""
    return text if text.isascii() else text.encode("latin-1").decode("gb18030")


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
