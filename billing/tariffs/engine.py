"""The fee for one stay, fast enough to price every exit of a city: rules compiled once, stays walked period by period.

Pricing rule: the stay is cut into consecutive units starting where charging starts (the entry, or the end of
free minutes that are kept). Every unit is priced by the instant it starts: the rate of the period it starts in,
the first-window rate if it starts inside the first window, nothing if it starts inside a new-energy vehicle's
free minutes. A unit runs for its own length even across a period boundary, and the next one starts where it
ends. A flat period's unit runs to the end of that occurrence of the period ("per night"). A started unit counts
in full. Caps apply per window (24 h from the entry, or calendar day) to the units starting in that window.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from math import floor
from typing import Literal, NamedTuple

from billing.tariffs.engine2 import Compiled2, fee2, fit, window_tags
from billing.tariffs.schema import TariffRuleSet
from parking_core.clock import SHANGHAI, local
from parking_core.errors import InvalidInput

DAY = 86_400
# Shanghai's clock has been UTC+08:00 since its last daylight-saving period ended (1991-09-14T17:00:00Z).
_FIXED_OFFSET_SINCE = 684_867_600
_FIXED_OFFSET = 28_800

Vehicle = Literal["small", "large"]


class BreakdownLine(NamedTuple):
    """One line of a receipt; the fen of all lines add up to the fee."""

    label: str
    start: datetime
    end: datetime
    units: int
    fen: int


class _Prices:
    """One vehicle class's prices, as tuples the walk unpacks without attribute look-ups."""

    __slots__ = ("pieces", "cap")

    def __init__(self, pieces: tuple[tuple, ...], cap: int | None) -> None:
        self.pieces = pieces
        self.cap = cap


class CompiledTariff:
    """A validated rule set turned into plain numbers (seconds, fen) for the hot path."""

    __slots__ = (
        "id", "version", "rules", "free_s", "free_lost", "first_s", "calendar",
        "nev_free_s", "nev_keep_percent", "piece_at", "prices", "format", "v2",
    )

    def __init__(self, rules: TariffRuleSet) -> None:
        self.id = rules.id
        self.version = rules.version
        self.rules = rules
        self.free_s = rules.free_minutes * 60
        self.free_lost = rules.free_minutes_lost_if_longer
        self.first_s = rules.first_window.minutes * 60 if rules.first_window else 0
        self.calendar = rules.cap_mode == "calendar_day"
        nev = rules.new_energy
        self.nev_free_s = nev.free_minutes * 60 if nev else 0
        self.nev_keep_percent = 100 - nev.discount_percent if nev else 100
        spans = sorted((p.span, p) for p in rules.periods)
        pieces: list[tuple[int, int, int, object]] = []  # (start min, end min, occurrence end min, period)
        for (start, length), period in spans:
            if start + length <= 1440:
                pieces.append((start, start + length, start + length, period))
            else:
                pieces.append((start, 1440, start + length, period))
                pieces.append((0, start + length - 1440, start + length - 1440, period))
        pieces.sort(key=lambda piece: piece[0])
        self.piece_at = tuple(i for i, (start, end, _, _) in enumerate(pieces) for _ in range(start, end))
        self.prices = {
            "small": _Prices(tuple(_piece(rules, *p, large=False) for p in pieces), rules.cap_fen),
            "large": _Prices(tuple(_piece(rules, *p, large=True) for p in pieces), _large_cap(rules)),
        }
        self.format = rules.format
        self.v2 = Compiled2(rules, pieces, _large_cap(rules)) if rules.format == 2 else None


def _piece(rules: TariffRuleSet, start: int, end: int, occurrence_end: int, period, *, large: bool) -> tuple:
    """(end s, occurrence end s, unit s, rate, first unit s, first rate, flat, label) of one stretch of the day."""
    def price(name: str) -> int | None:
        small = getattr(period, name)
        if not large or small is None:
            return small
        own = getattr(period.large, name) if period.large else None
        return own if own is not None else small * rules.large_multiplier_percent // 100

    first = rules.first_window
    return (
        end * 60,
        occurrence_end * 60,
        (period.unit_minutes or rules.unit_minutes) * 60,
        price("rate_fen"),
        first.unit_minutes * 60 if first else 0,
        price("first_rate_fen"),
        price("flat_fen"),
        period.label,
    )


def _large_cap(rules: TariffRuleSet) -> int | None:
    if rules.large_cap_fen is not None or rules.cap_fen is None:
        return rules.large_cap_fen
    return rules.cap_fen * rules.large_multiplier_percent // 100


def compile_tariff(rules: TariffRuleSet) -> CompiledTariff:
    """Compile once per tariff version and keep the result; compute_fee on a compiled tariff never touches pydantic."""
    if not isinstance(rules, TariffRuleSet):
        raise InvalidInput(f"tariff: expected a TariffRuleSet, got {type(rules).__name__}", field="tariff")
    return CompiledTariff(rules)


@dataclass(frozen=True, slots=True)
class Fee:
    """What a stay costs under one tariff version; equal when amount, tariff id and version agree."""

    amount_fen: int
    tariff_id: str
    tariff_version: int
    _stay: tuple = field(repr=False, compare=False)

    @property
    def entered_at(self) -> datetime:
        return self._stay[1]

    @property
    def exited_at(self) -> datetime:
        return self._stay[2]

    @property
    def breakdown(self) -> list[BreakdownLine]:
        """Receipt lines, rebuilt on demand by a full walk (the fast path keeps none)."""
        return _explain(*self._stay)


def compute_fee(
    tariff: CompiledTariff | TariffRuleSet,
    *,
    entered_at: datetime,
    exited_at: datetime,
    vehicle: Vehicle = "small",
    new_energy: bool = False,
    pass_covered: bool = False,
) -> Fee:
    """Price one stay. Times are to the whole second; exiting at the entry time costs 0, before it is an error."""
    ct = tariff if tariff.__class__ is CompiledTariff else compile_tariff(tariff)
    try:
        if entered_at.tzinfo is None or exited_at.tzinfo is None:
            raise AttributeError
        e = floor(entered_at.timestamp())
        x = floor(exited_at.timestamp())
    except AttributeError:
        _reject_times(entered_at, exited_at)
        raise
    prices = ct.prices.get(vehicle)
    if prices is None:
        raise InvalidInput(f"vehicle: {vehicle!r} is not one of 'small', 'large'", field="vehicle", value=vehicle)
    stay = (ct, entered_at, exited_at, vehicle, new_energy, pass_covered)
    if x <= e:
        if exited_at < entered_at:
            raise InvalidInput(
                f"exited_at: {exited_at.isoformat()} is before entered_at {entered_at.isoformat()}",
                field="exited_at", value=exited_at.isoformat(),
            )
        return Fee(0, ct.id, ct.version, stay)
    v2 = ct.v2
    if (pass_covered and (v2 is None or not v2.has_pass_free)) or x - e <= ct.free_s:
        return Fee(0, ct.id, ct.version, stay)
    offset = _FIXED_OFFSET if e >= _FIXED_OFFSET_SINCE else _offset_at(entered_at)
    e += offset
    if v2 is not None:
        amount = fee2(ct, (v2.pass_prices if pass_covered else v2.prices)[vehicle], e, x + offset, new_energy, None)
        if new_energy and ct.nev_keep_percent != 100:
            amount = amount * ct.nev_keep_percent // 100
        return Fee(amount, ct.id, ct.version, stay)
    amount = _charge(ct, prices, e, x + offset, e if ct.free_lost else e + ct.free_s,
                     e + ct.nev_free_s if new_energy else e, None)
    if new_energy and ct.nev_keep_percent != 100:
        amount = amount * ct.nev_keep_percent // 100
    return Fee(amount, ct.id, ct.version, stay)


def _charge(ct: CompiledTariff, prices: _Prices, e: int, x: int, t: int, nev_end: int, lines: list | None) -> int:
    """Capped total of the units starting in [t, x) (local seconds); records receipt lines when given a list."""
    pieces = prices.pieces
    piece_at = ct.piece_at
    cap = prices.cap
    first_end = t + ct.first_s
    ws = e
    we = e - e % DAY + DAY if ct.calendar else e + DAY
    total = 0
    window = 0
    seen: dict[int, tuple[int, int]] | None = None
    may_skip = lines is None
    tag = 0  # receipt lines merge across windows unless a cap separates them
    while True:
        lim = x if x < we else we
        window_fen = 0
        while t < lim:
            sod = t % DAY
            end_sod, occurrence_end, unit, rate, first_unit, first_rate, flat, label = pieces[piece_at[sod // 60]]
            if flat is not None:
                n = 1
                price = flat
                nxt = t - sod + occurrence_end
            else:
                end = t - sod + end_sod
                in_first = first_rate is not None and t < first_end
                if in_first:
                    unit = first_unit
                    price = first_rate
                    if first_end < end:
                        end = first_end
                else:
                    price = rate
                if lim < end:
                    end = lim
                if t < nev_end < end:
                    end = nev_end
                n = (end - t - 1) // unit + 1
                nxt = t + n * unit
            free = t < nev_end
            fen = 0 if free else n * price
            window_fen += fen
            if lines is not None:
                kind = "" if flat is not None or not in_first else f", first {ct.first_s // 60} min"
                lines.append((label + kind + (", new-energy free" if free else ""), t, nxt, n, fen, tag))
            t = nxt
        if cap is not None and window_fen > cap:
            if lines is not None:
                per = "calendar day" if ct.calendar else "24 h from entry"
                lines.append((f"cap {_cny(cap)} per {per}", ws, lim, 0, cap - window_fen, tag))
            window_fen = cap
        total += window_fen
        if x <= we:
            return total
        ws = we
        we += DAY
        window += 1
        if cap is not None:
            tag = window
        if may_skip and t >= first_end and t >= nev_end:
            # Every later window starts at the same time of day, so one that starts with the same unit phase
            # as an earlier one repeats it: jump over whole cycles of days that end before the exit.
            phase = t - ws
            if seen is None:
                seen = {phase: (window, total)}
            elif phase not in seen:
                seen[phase] = (window, total)
            else:
                first_window, total_then = seen[phase]
                cycle = window - first_window
                cycles = (x - ws) // DAY // cycle
                shift = cycles * cycle * DAY
                total += cycles * (total - total_then)
                ws += shift
                we += shift
                t += shift
                window += cycles * cycle
                may_skip = False


def _explain(ct: CompiledTariff, entered_at: datetime, exited_at: datetime, vehicle: str,
             new_energy: bool, pass_covered: bool) -> list[BreakdownLine]:
    """The receipt of a stay: the same walk as compute_fee, day by day, keeping every line."""
    e, x = floor(entered_at.timestamp()), floor(exited_at.timestamp())
    if x <= e:
        return []
    offset = _FIXED_OFFSET if e >= _FIXED_OFFSET_SINCE else _offset_at(entered_at)
    e, x = e + offset, x + offset
    free_min = ct.free_s // 60
    if ct.v2 is not None and not (pass_covered and not ct.v2.has_pass_free) and x - e > ct.free_s:
        return _explain2(ct, e, x, offset, vehicle, new_energy, pass_covered)
    if pass_covered:
        raw = [("monthly pass", e, x, 0, 0, 0)]
    elif x - e <= ct.free_s:
        raw = [(f"first {free_min} min free", e, x, 0, 0, 0)]
    else:
        raw = []
        if ct.free_s and ct.free_lost:
            raw.append((f"no free {free_min} min: stay over {free_min} min", e, e, 0, 0, 0))
        elif ct.free_s:
            raw.append((f"first {free_min} min free", e, e + ct.free_s, 0, 0, 0))
        start = e if ct.free_lost else e + ct.free_s
        amount = _charge(ct, ct.prices[vehicle], e, x, start, e + ct.nev_free_s if new_energy else e, raw)
        if new_energy and ct.nev_keep_percent != 100 and amount:
            discount = amount - amount * ct.nev_keep_percent // 100
            raw.append((f"new-energy discount {100 - ct.nev_keep_percent}%", e, x, 0, -discount, -1))
    return [
        BreakdownLine(fit(label), _wall(start, offset), _wall(min(end, x), offset), units, fen)
        for label, start, end, units, fen in _merge(raw)
    ]


def _explain2(ct: CompiledTariff, e: int, x: int, offset: int, vehicle: str, new_energy: bool,
              pass_covered: bool) -> list[BreakdownLine]:
    """A format-2 receipt: lines never run past the period they were priced in, and carry their window's tag
    (and every cap applied is a line of its own) when the stay spans several windows."""
    raw: list[tuple] = []
    v2 = ct.v2
    if pass_covered:
        raw.append(("pass: free periods not charged", e, e, 0, 0, -2))
    amount = fee2(ct, (v2.pass_prices if pass_covered else v2.prices)[vehicle], e, x, new_energy, raw)
    merged = _merge(raw, keep_caps=True)
    if new_energy and ct.nev_keep_percent != 100 and amount:
        discount = amount - amount * ct.nev_keep_percent // 100
        merged.append((f"new-energy discount {100 - ct.nev_keep_percent}%", e, x, 0, -discount, -1))
    tags = window_tags(ct, e, x)
    out = []
    for label, start, end, units, fen, window in merged:
        tag = tags.get(window if isinstance(window, int) else window[1] if window[0] == "cap" else None)
        out.append(BreakdownLine(fit(label, tag or ""), _wall(start, offset), _wall(min(end, x), offset), units, fen))
    return out


def _merge(raw: list[tuple], keep_caps: bool = False) -> list[tuple]:
    """Join consecutive lines of the same kind in the same cap window (a night split at midnight is one line)."""
    merged: list[list] = []
    caps: dict[object, list] = {}
    for label, start, end, units, fen, window in raw:
        if keep_caps and isinstance(window, tuple):  # one line per cap applied (an occurrence's, a window's), last
            if window in caps:
                caps[window][4] += fen
            else:
                caps[window] = [label, start, end, units, fen, window]
            continue
        last = merged[-1] if merged else None
        if last and last[0] == label and last[2] == start and last[5] == window and units:
            last[2], last[3], last[4] = end, last[3] + units, last[4] + fen
        else:
            merged.append([label, start, end, units, fen, window])
    if keep_caps:
        return [tuple(line) for line in merged + sorted(caps.values(), key=lambda line: line[1])]
    return [tuple(line[:5]) for line in merged]


def _wall(local_seconds: int, offset: int) -> datetime:
    return datetime.fromtimestamp(local_seconds - offset, SHANGHAI)


def _cny(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d} CNY"


def _offset_at(moment: datetime) -> int:
    """UTC offset of the Shanghai wall clock at a moment before 1991, when it still had daylight saving."""
    return int(local(moment).utcoffset().total_seconds())


def _reject_times(entered_at: object, exited_at: object) -> None:
    for name, value in (("entered_at", entered_at), ("exited_at", exited_at)):
        if not isinstance(value, datetime):
            raise InvalidInput(f"{name}: expected a datetime, got {type(value).__name__}", field=name, value=value)
        if value.tzinfo is None:
            raise InvalidInput(f"{name}: {value.isoformat()} has no timezone", field=name, value=value.isoformat())
