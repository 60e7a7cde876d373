"""Format 2 of the fee engine: the rules cities publish that format 1 cannot say, walked stretch by stretch.

Why a second walk rather than flags on the first: format-1 rule sets must keep pricing exactly as they did
(tests/billing/test_v1_snapshot.py), and format 2 changes where units start. The walk is the same idea as
format 1's (consecutive units from where charging starts, each priced by the instant it starts, started units
charged in full, batches of equal units per stretch of a period) with these additions:

- allowances in order: free minutes and new-energy free time are granted one after another (as listed in
  `allowance_order`), nothing is charged in them, and units start where they end; the first window starts
  where its predecessors in the list end (from the entry when it is not listed);
- `restart_units`: the stay is split at the start and the end of such a period; a unit never crosses the split;
- `counting: chargeable_time`: the minutes of periods that price nothing are not counted: a unit started before
  a free night is completed by the morning's first minutes (its carry), not charged again;
- `occurrence_cap_fen`: each occurrence of the period ("per night") charges at most this;
- `first_window.per`: the first window starts again in each 24 h from the entry or each calendar day;
- `pass_free`: for a pass holder such a period costs nothing and is not counted, and units are split at it.

Caps are applied as units come (an occurrence's cap, then the window's), which gives each scope min(sum, cap)
and keeps a longer stay from costing less.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from billing.tariffs.schema import TariffRuleSet

DAY = 86_400
NEVER = 1 << 62
LABEL_MAX = 40


class Prices2:
    """One vehicle class's pieces of the day (as tuples) and its cap."""

    __slots__ = ("pieces", "cap")

    def __init__(self, pieces: tuple[tuple, ...], cap: int | None) -> None:
        self.pieces = pieces
        self.cap = cap


class Compiled2:
    """The format-2 parts of a compiled tariff."""

    __slots__ = ("free_chained", "nev_chained", "first_chained", "first_per", "first_unit_s", "chargeable",
                 "prices", "pass_prices", "has_pass_free", "first_label_min", "free_first", "calendar")

    def __init__(self, rules: TariffRuleSet, pieces: list[tuple], large_cap: int | None) -> None:
        order = rules.allowance_order
        self.free_chained = "free_minutes" in order
        self.nev_chained = "new_energy" in order
        self.first_chained = "first_window" in order
        self.free_first = not self.nev_chained or not self.free_chained or (
            order.index("free_minutes") < order.index("new_energy"))
        first = rules.first_window
        self.first_per = {"stay": 0, "rolling_24h": 1, "calendar_day": 2}[first.per] if first else 0
        self.first_unit_s = first.unit_minutes * 60 if first else 0
        self.first_label_min = first.minutes if first else 0
        self.chargeable = rules.counting == "chargeable_time"
        # the windows a receipt names: the cap's, or without a cap those the first window starts again in
        self.calendar = rules.cap_mode == "calendar_day" if rules.cap_fen is not None else self.first_per == 2
        self.has_pass_free = any(p.pass_free for p in rules.periods)
        self.prices = {
            "small": Prices2(_pieces(rules, pieces, large=False, holder=False), rules.cap_fen),
            "large": Prices2(_pieces(rules, pieces, large=True, holder=False), large_cap),
        }
        self.pass_prices = {
            "small": Prices2(_pieces(rules, pieces, large=False, holder=True), rules.cap_fen),
            "large": Prices2(_pieces(rules, pieces, large=True, holder=True), large_cap),
        }


def _pieces(rules: TariffRuleSet, pieces: list[tuple], *, large: bool, holder: bool) -> tuple[tuple, ...]:
    """Per stretch of the day: (end s, occurrence start offset s, occurrence end offset s, unit s, rate,
    first unit s, first rate, flat, label, counts, hard end, occurrence cap, first-window label)."""
    periods = rules.periods
    index = {id(p): i for i, p in enumerate(periods)}
    spans = sorted((p.span[0], i) for i, p in enumerate(periods))
    following = {i: spans[(k + 1) % len(spans)][1] for k, (_, i) in enumerate(spans)}

    def price(period, name: str) -> int | None:
        small = getattr(period, name)
        if not large or small is None:
            return small
        own = getattr(period.large, name) if period.large else None
        return own if own is not None else small * rules.large_multiplier_percent // 100

    def free_for(period) -> bool:
        return holder and period.pass_free

    first = rules.first_window
    out = []
    for start, end, occurrence_end, period in pieces:
        i = index[id(period)]
        nxt = periods[following[i]]
        occ_start = period.span[0]
        occ_start_off = (occ_start if occ_start <= start else occ_start - 1440) * 60
        occ_end_off = occ_start_off + period.span[1] * 60
        free = free_for(period)
        rate, first_rate, flat = (0, None, None) if free else (
            price(period, "rate_fen"), price(period, "first_rate_fen"), price(period, "flat_fen"))
        if flat is not None:
            rate = None
        counts = not free and (rules.counting == "clock" or not period.prices_nothing)
        at_occurrence_end = end == occurrence_end
        hard_end = at_occurrence_end and (period.restart_units or nxt.restart_units or free or free_for(nxt))
        label = period.label
        out.append((
            end * 60, occ_start_off, occ_end_off, (period.unit_minutes or rules.unit_minutes) * 60, rate,
            first.unit_minutes * 60 if first else 0, first_rate, flat,
            f"{label} (pass)" if free else label, counts, hard_end,
            None if free else price(period, "occurrence_cap_fen"),
            f"{label}, first {first.minutes} min" if first else label,
        ))
    return tuple(piece + (clear,) for piece, clear in zip(out, _clear_until(out)))


def _clear_until(pieces: list[tuple]) -> list[int]:
    """Per piece, how far (seconds from its day's midnight) a unit started in it may run with nothing to stop it:
    up to the first hard split or piece that does not count. Lets the walk jump over boundaries at once."""
    n = len(pieces)
    out = []
    for i in range(n):
        k, wraps = i, 0
        while True:
            end, hard = pieces[k][0], pieces[k][10]
            nxt = (k + 1) % n
            if hard or not pieces[nxt][9] or wraps > 2:
                break
            if nxt == 0:
                wraps += 1
            k = nxt
        out.append(NEVER if wraps > 2 else end + wraps * DAY)
    return out


def fee2(ct, prices: Prices2, e: int, x: int, new_energy: bool, lines: list | None) -> int:
    """Capped total (before a new-energy discount) of the stay [e, x) in local seconds; receipt lines if asked."""
    c2: Compiled2 = ct.v2
    free = 0 if ct.free_lost else ct.free_s
    nev = ct.nev_free_s if new_energy else 0
    # where each allowance starts: in the listed order one after another, the unlisted from the entry
    free_at = nev_at = e
    if free or nev:
        chain = e
        if c2.free_first:
            if c2.free_chained:
                free_at, chain = chain, chain + free
            if c2.nev_chained:
                nev_at, chain = chain, chain + nev
        else:
            nev_at, chain = chain, chain + nev
            free_at, chain = chain, chain + free
        fs = chain if c2.first_chained else e
        start = max(chain, free_at + free, nev_at + nev)
    else:
        fs = start = e
    if lines is not None:
        if ct.free_s and ct.free_lost:
            m = ct.free_s // 60
            lines.append((f"no free {m} min: stay over {m} min", e, e, 0, 0, -2))
        elif free:
            lines.append((f"first {free // 60} min free", free_at, min(free_at + free, x), 0, 0, -2))
        if nev:
            lines.append((f"new-energy {nev // 60} min free", nev_at, min(nev_at + nev, x), 0, 0, -2))
    if start >= x:
        return 0
    pieces = prices.pieces
    piece_at = ct.piece_at
    cap = prices.cap
    first_s = ct.first_s
    per = c2.first_per
    chargeable = c2.chargeable
    t = start
    carry = 0
    if per == 0:
        fw_next = NEVER
    elif per == 1:
        fw_next = e + ((t - e) // DAY + 1) * DAY
    else:
        fw_next = t - t % DAY + DAY
    if first_s:
        begin = fs if per == 0 else max(fs, fw_next - DAY)
        used = (t - begin if not chargeable else _counted(pieces, piece_at, begin, t)) if t > begin else 0
        first_left = first_s - used if used < first_s else 0
    else:
        first_left = 0
    calendar = c2.calendar
    we = e - e % DAY + DAY if calendar else e + DAY
    window = 0
    window_fen = 0
    total = 0
    occ_key = None
    occ_fen = 0
    seen: dict | None = {} if lines is None else None
    carry_label = ""
    gap = False
    while t < x:
        if t >= we:
            total += window_fen
            window_fen = 0
            while t >= we:
                we += DAY
                window += 1
            if seen is not None:
                # Days repeat: a window that starts in the same state as an earlier one repeats its sequence,
                # so whole cycles of windows that end before the exit are added by arithmetic.
                ws = we - DAY
                state = (t - ws, carry, first_left, fw_next if fw_next == NEVER else fw_next - ws,
                         None if occ_key is None else occ_key - ws, occ_fen)
                then = seen.get(state)
                if then is None:
                    seen[state] = (window, total)
                else:
                    cycle = window - then[0]
                    cycles = (x - ws) // DAY // cycle
                    if cycles:
                        shift = cycles * cycle * DAY
                        total += cycles * (total - then[1])
                        t += shift
                        we += shift
                        window += cycles * cycle
                        if fw_next != NEVER:
                            fw_next += shift
                        if occ_key is not None:
                            occ_key += shift
                        seen = None
                        continue  # the shifted walk may already stand past the exit
                    seen = None
        if t >= fw_next:
            first_left = first_s
            while t >= fw_next:
                fw_next += DAY
        sod = t % DAY
        day0 = t - sod
        (end_sod, occ_off, occ_end_off, unit, rate, first_unit, first_rate, flat, label, counts, hard_end,
         occ_cap, first_label, clear) = pieces[piece_at[sod // 60]]
        end = day0 + end_sod
        bound = end if end < fw_next else fw_next
        if not counts:
            t = bound
            gap = True
            if hard_end and t == end:
                carry = 0
            continue
        if carry:
            step = bound - t
            if carry < step:
                step = carry
            if lines is not None and (label != carry_label or gap):
                # the rest of a unit started earlier, in another period or after uncounted time: shown, not charged
                lines.append((f"{carry_label} (continued)", t, t + step, 0, 0, window))
            t += step
            carry -= step
            if first_left:
                first_left = first_left - step if first_left > step else 0
            if hard_end and t == end:
                carry = 0
            continue
        if flat is not None:
            n = 1
            price = flat
            nxt = day0 + occ_end_off
            in_first = False
        else:
            if first_left and first_rate is not None:
                unit = first_unit
                price = first_rate
                in_first = True
                lim = t + first_left
                if lim > bound:
                    lim = bound
            else:
                price = rate
                in_first = False
                lim = bound
            if lim > x:
                lim = x
            if lim > we:
                lim = we
            n = (lim - t - 1) // unit + 1
            nxt = t + n * unit
        fen = n * price
        if nxt > bound and nxt <= day0 + clear and nxt <= fw_next and lines is None:
            tn = nxt  # nothing stops the unit between here and its end: jump, no carry to walk off
        else:
            tn = nxt if nxt < bound else bound
        if lines is not None:
            lines.append((first_label if in_first else label, t, tn, n, fen, window))
        if occ_cap is not None and fen:
            key = day0 + occ_off
            if key != occ_key:
                occ_key = key
                occ_fen = 0
            room = occ_cap - occ_fen
            if fen > room:
                if lines is not None:
                    lines.append((f"{label} cap {_cny(occ_cap)}", max(key, e), min(day0 + occ_end_off, x), 0,
                                  room - fen, ("occ", key)))
                fen = room
            occ_fen += fen
        if cap is not None:
            room = cap - window_fen
            if fen > room:
                if lines is not None:
                    ws = we - DAY
                    lines.append((f"cap {_cny(cap)} per {'day' if calendar else '24 h'}", max(ws, e), min(we, x), 0,
                                  room - fen, ("cap", window)))
                fen = room
        window_fen += fen
        if first_left:
            step = tn - t
            first_left = first_left - step if first_left > step else 0
        carry = nxt - tn
        t = tn
        if hard_end and t == end:
            carry = 0
        if lines is not None:
            carry_label = first_label if in_first else label
            gap = False
    return total + window_fen


def _counted(pieces: tuple, piece_at: tuple, a: int, b: int) -> int:
    """Counted (chargeable) seconds in [a, b): the seconds of pieces that count."""
    got = 0
    t = a
    while t < b:
        sod = t % DAY
        piece = pieces[piece_at[sod // 60]]
        end = t - sod + piece[0]
        if end > b:
            end = b
        if piece[9]:
            got += end - t
        t = end
    return got


def window_tags(ct, e: int, x: int) -> dict[int, str]:
    """Window number -> a short tag, when the stay spans several cap or first-window windows (else empty)."""
    if ct.rules.cap_fen is None and ct.v2.first_per == 0:
        return {}
    calendar = ct.v2.calendar
    we = e - e % DAY + DAY if calendar else e + DAY
    count = 1 + max(0, -(-(x - we) // DAY))
    if count <= 1:
        return {}
    tags = {}
    for k in range(count):
        if calendar:
            day = datetime.fromtimestamp(e - e % DAY + k * DAY, timezone.utc)
            tags[k] = f"{day:%m-%d}"
        else:
            tags[k] = f"24 h #{k + 1}"
    return tags


def fit(label: str, prefix: str = "") -> str:
    """A receipt label of at most 40 characters: the prefix kept, the rest shortened with an ellipsis."""
    text = f"{prefix}: {label}" if prefix else label
    if len(text) <= LABEL_MAX:
        return text
    return text[: LABEL_MAX - 1] + "…"


def _cny(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d} CNY"
