"""Short-horizon availability forecasts per car park, learnt from the `availability_changes` log.

The model, after Helsinki's park-and-ride forecasts:

1. A profile: the share of spaces occupied in each 15-minute slot of the day, averaged over past days of
   the same kind (same weekday; public holidays and make-up working days by the Chinese calendar fall back
   to working day / rest day), shrunk toward the working/rest-day profile and that toward the all-days
   profile when a weekday has few days behind it.
2. The deviation now: how far the current occupancy sits from the profile.
3. The forecast at now + h: the profile at now + h plus the deviation times rho(h), the persistence of
   deviations in this car park measured on its own history (1 at h = 0, falling toward 0 as the horizon grows,
   so the forecast blends toward the profile).

The interval is the 80 % band of the errors this rule made on the lot's own history at that horizon; the
confidence says how narrow that band is (see docs/guidance.md). Profiles are learnt once per local day;
the log is read incrementally, at most every `refresh_s` per lot.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from parking_core.live.base import LiveLot
from parking_core.lots import LotInfo
from parking_core.models import AvailabilityChange

SLOT_S = 900
SLOTS = 96
DAY_S = 86_400
OFFSET_S = 28_800  # the Shanghai wall clock has been UTC+8 without daylight saving since 1991
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
LAGS = (0, 1, 2, 4, 8)  # slots at which persistence and error are measured; between them, interpolated
SHRINK_DAYS = 2.0  # a weekday's own mean counts as much as the wider profile once it has this many days
RHO_PRIOR_PAIRS = 96  # one day of evidence before the measured persistence outweighs "deviations persist"
ERROR_PRIOR_DAYS = 1.0  # history days the assumed error counts for before the measured one takes over
MIN_COVER_S = SLOT_S / 4  # a slot with less data than this is not used for learning
BAND_PER_MAE = 1.6  # 80 % half-width per mean absolute error, for normal errors (no history to measure it)
CONFIDENCE_ZERO = 0.2  # an expected absolute error this large (share of capacity) means no confidence at all
OPEN = ("spacesAvailable", "almostFull", "full")
WORKER_CHUNK = 50  # lots per first-read query
LATE_ROWS = timedelta(hours=1)  # a refresh also looks this far before its last read, for rows logged late
WORKER_IDLE_S = 30.0
WORKER_RETRY_S = 5.0  # pause after a failed read, so a database outage is not hammered
LEARN_SHARE = 0.25  # the learner rests between lots so it holds the GIL at most this share of the time

log = logging.getLogger("parking.forecast")

Row = tuple  # (id, lot_id, ts: datetime, free, total, status)
Loader = Callable[[Sequence[str], datetime, int], list[Row]]


@dataclass(frozen=True)
class Prediction:
    free: int
    low: int
    high: int
    confidence: float  # 0..1
    basis: str


@dataclass(frozen=True)
class Observation:
    """A free count and when it was known to hold."""

    free: int
    total: int
    at: datetime


def observe(live: LiveLot | None, now: datetime, heartbeat_timeout_s: float) -> Observation | None:
    """The live count as an observation: valid now while its devices talk, else as of when they last did."""
    if live is None or not live.known or live.total <= 0:
        return None
    seen = live.last_seen or live.updated_at
    at = now if seen is not None and (now - seen).total_seconds() <= heartbeat_timeout_s else (seen or now)
    return Observation(free=max(0, min(live.free, live.total)), total=live.total, at=min(at, now))


def prior_error(lag_slots: float) -> float:
    """Mean absolute error (share of capacity) assumed before a lot has history: large, growing with the horizon."""
    if lag_slots <= 0:
        return 0.0
    return 0.06 + 0.09 * math.sqrt(min(1.0, lag_slots / 4))


@lru_cache(maxsize=4096)
def day_group(day: int) -> tuple[int | None, bool]:
    """(weekday when the day is an ordinary one for it, else None; whether people work that day)."""
    d = date.fromordinal(EPOCH_ORDINAL + day)
    working = _calendar().is_working_day(d)
    ordinary = working == (d.weekday() < 5)
    return (d.weekday() if ordinary else None), working


@lru_cache(maxsize=1)
def _calendar() -> holidays.HolidayBase:
    return holidays.China()


def local_seconds(t: float) -> float:
    return t + OFFSET_S


def _day(t: float) -> int:
    """Local (Shanghai) day number of an instant, counted from 1970-01-01."""
    return int(local_seconds(t) // DAY_S)


@dataclass(frozen=True)
class _Model:
    """What was learnt about one lot: a profile per kind of day, persistence and error per lag."""

    weekday: tuple[array, ...]  # 7 x 96 float32, already shrunk toward the day-type profile
    daytype: dict[bool, array]  # working -> 96
    rho: tuple[float, ...]  # per LAGS
    mae: tuple[float, ...]  # mean absolute error per LAGS, share of capacity
    band: tuple[float, ...]  # 80 % of errors are within this, per LAGS
    days: int

    def level(self, t: float) -> float:
        """The profile's occupancy at an instant, interpolated between slot centres."""
        x = local_seconds(t) / SLOT_S - 0.5
        i = math.floor(x)
        f = x - i
        return self._slot(i) * (1 - f) + self._slot(i + 1) * f

    def _slot(self, i: int) -> float:
        day, s = divmod(i, SLOTS)
        weekday, working = day_group(day)
        return (self.weekday[weekday] if weekday is not None else self.daytype[working])[s]


def _interp(values: Sequence[float], lag_slots: float) -> float:
    if lag_slots >= LAGS[-1]:
        return values[-1]
    for k in range(1, len(LAGS)):
        if lag_slots <= LAGS[k]:
            a, b = LAGS[k - 1], LAGS[k]
            f = (lag_slots - a) / (b - a)
            return values[k - 1] * (1 - f) + values[k] * f
    return values[-1]


class _Series:
    """One lot's log folded into time-weighted occupancy per 15-minute slot (local time), kept for a window.
    Float32 arrays: with its model about 30 KB a lot for four weeks, ~100 MB for a city of 3,300 lots."""

    def __init__(self, window_days: int) -> None:
        self.window_days = window_days
        self.base = 0  # local slot index of sums[0], always a day start
        self.sums = array("f")  # occupancy x seconds
        self.cover = array("f")  # seconds with a known occupancy
        self.until: float | None = None  # integrated up to here (epoch s)
        self.value: float | None = None  # occupancy in force at `until`, None while unknown or closed
        self.total = 0
        self.last_id = 0
        self.refreshed = -math.inf  # monotonic time of the last read of the log
        self.learnt_day: int | None = None
        self.model: _Model | None = None

    def extend(self, rows: Iterable[Row], until: float) -> None:
        for row_id, _, ts, free, total, status in rows:
            t = ts.timestamp()
            if self.until is None:
                self._start(t)
            else:
                t = max(t, self.until)
                self._add(self.until, t, self.value)
            self.until = t
            self.value = 1 - free / total if status in OPEN and total > 0 else None
            self.total = total
            self.last_id = max(self.last_id, row_id)
        if self.until is not None and until > self.until:
            self._add(self.until, until, self.value)
            self.until = until
        self._trim()

    def _start(self, t: float) -> None:
        self.base = int(local_seconds(t) // DAY_S) * SLOTS

    def _add(self, a: float, b: float, v: float | None) -> None:
        if v is None or b <= a:
            return
        la, lb = local_seconds(a), local_seconds(b)
        while la < lb:
            slot = int(la // SLOT_S)
            end = min(lb, (slot + 1) * SLOT_S)
            i = slot - self.base
            if i >= len(self.sums):
                grow = (i // SLOTS + 1) * SLOTS - len(self.sums)
                self.sums.extend(array("f", bytes(4 * grow)))
                self.cover.extend(array("f", bytes(4 * grow)))
            if i >= 0:
                self.sums[i] += v * (end - la)
                self.cover[i] += end - la
            la = end

    def _trim(self) -> None:
        if self.until is None:
            return
        first_day = int(local_seconds(self.until) // DAY_S) - self.window_days
        drop = (first_day * SLOTS - self.base) if first_day * SLOTS > self.base else 0
        if drop:
            del self.sums[:drop], self.cover[:drop]
            self.base += drop

    def slots(self) -> list[tuple[int, float | None]]:
        """(day index, occupancy or None) per slot, in time order."""
        out = []
        for i, (s, c) in enumerate(zip(self.sums, self.cover)):
            out.append(((self.base + i) // SLOTS, s / c if c >= MIN_COVER_S else None))
        return out


def learn(cells: list[tuple[int, float | None]]) -> _Model | None:
    """Profiles per kind of day, then persistence and error of deviations per lag, from the lot's own slots."""
    if not any(v is not None for _, v in cells):
        return None
    # sums and counts per (group, slot): ("weekday", 0..6), ("working", bool), all days "*"
    acc: dict[object, list[list[float]]] = {}
    days_seen: set[int] = set()
    for k, (day, v) in enumerate(cells):
        if v is None:
            continue
        days_seen.add(day)
        s = k % SLOTS
        weekday, working = day_group(day)
        for g in _groups(weekday, working):
            a = acc.setdefault(g, [[0.0] * SLOTS, [0.0] * SLOTS])
            a[0][s] += v
            a[1][s] += 1
    overall = _fill(_mean(acc["*"], None))
    daytype = {w: array("f", _smooth(_mean(acc.get(("working", w)), overall))) for w in (True, False)}
    weekday = tuple(array("f", _smooth(_mean(acc.get(("weekday", d)), daytype[d < 5]))) for d in range(7))
    none = (0.0,) * len(LAGS)
    model = _Model(weekday=weekday, daytype=daytype, rho=none, mae=none, band=none, days=len(days_seen))
    rho, mae, band = _persistence(cells, model)
    return _Model(weekday=weekday, daytype=daytype, rho=rho, mae=mae, band=band, days=len(days_seen))


def _groups(weekday: int | None, working: bool) -> tuple:
    """The profiles a day feeds, narrowest first: its weekday (ordinary days only), its day type, all days."""
    wide = (("working", working), "*")
    return (("weekday", weekday), *wide) if weekday is not None else wide


def _mean(a: list[list[float]] | None, wider: Sequence[float] | None) -> tuple[float, ...]:
    """Per-slot mean, shrunk toward `wider` by SHRINK_DAYS pseudo-days (None where nothing is known)."""
    out = []
    for s in range(SLOTS):
        total, n = (a[0][s], a[1][s]) if a else (0.0, 0.0)
        if wider is None:
            out.append(total / n if n else None)
        else:
            out.append((total + SHRINK_DAYS * wider[s]) / (n + SHRINK_DAYS))
    return tuple(out)


def _fill(profile: tuple[float | None, ...]) -> tuple[float, ...]:
    """Slots never seen (a lot closed at night) take the nearest known slot's value."""
    known = [i for i, v in enumerate(profile) if v is not None]
    return tuple(
        v if v is not None else profile[min(known, key=lambda j: min(abs(j - i), SLOTS - abs(j - i)))]
        for i, v in enumerate(profile)
    )


def _smooth(profile: tuple[float, ...]) -> tuple[float, ...]:
    """A 1-2-1 filter across neighbouring slots: fewer days make noisier slots."""
    n = len(profile)
    return tuple((profile[i - 1] + 2 * profile[i] + profile[(i + 1) % n]) / 4 for i in range(n))


def _persistence(cells: list[tuple[int, float | None]], model: _Model) -> tuple[tuple[float, ...], ...]:
    """Per lag: rho, how much of a deviation is left that many slots later; then the rule's mean absolute
    error and the width that holds 80 % of its errors (measured, so a lot with events gets wide bands)."""
    res = [None if v is None else v - model._slot(day * SLOTS + k % SLOTS) for k, (day, v) in enumerate(cells)]
    rho, mae, band = [1.0], [0.0], [0.0]
    for lag in LAGS[1:]:
        pairs = [(a, b) for a, b in zip(res, res[lag:]) if a is not None and b is not None]
        sxx = sum(a * a for a, _ in pairs)
        r = sum(a * b for a, b in pairs) / sxx if sxx > 1e-9 else 1.0
        r = min(1.0, max(0.0, (len(pairs) * r + RHO_PRIOR_PAIRS) / (len(pairs) + RHO_PRIOR_PAIRS)))
        errors = sorted(abs(b - r * a) for a, b in pairs)
        prior = prior_error(lag)
        w = model.days / (model.days + ERROR_PRIOR_DAYS)
        measured_mae = sum(errors) / len(errors) if errors else prior
        measured_band = errors[int(0.8 * (len(errors) - 1))] if errors else BAND_PER_MAE * prior
        rho.append(r)
        mae.append(w * measured_mae + (1 - w) * prior)
        band.append(w * measured_band + (1 - w) * BAND_PER_MAE * prior)
    return tuple(rho), tuple(mae), tuple(band)


def _db_loader(session_factory: sessionmaker[Session]) -> Loader:
    def load(lot_ids: Sequence[str], since: datetime, after_id: int) -> list[Row]:
        A = AvailabilityChange
        q = (
            select(A.id, A.lot_id, A.ts, A.free, A.total, A.status)
            .where(A.lot_id.in_(list(lot_ids)), A.ts >= since, A.id > after_id)
            .order_by(A.lot_id, A.ts, A.id)
        )
        with session_factory() as session:
            return [tuple(r) for r in session.execute(q)]

    return load


class Forecaster:
    """Forecasts for any lot from state cached in memory; `prepare` keeps that state up to date.

    A request never waits for the database: `prepare` only queues work. A lot's first read (weeks of rows),
    its incremental refreshes and its daily relearning run on a background thread; until a lot's history is
    in, it is forecast from its current count with the wide error assumed without history (a low confidence)
    and its basis says the history is still loading."""

    def __init__(self, load: Loader | None = None, *, refresh_s: float = 300.0, window_days: int = 28,
                 monotonic: Callable[[], float] = time.monotonic, learn_share: float = LEARN_SHARE) -> None:
        self._load = load
        self.learn_share = learn_share
        self.refresh_s = refresh_s
        self.window_days = window_days
        self._monotonic = monotonic
        self._series: dict[str, _Series] = {}
        self._lock = threading.Lock()  # guards every _Series
        self._work = threading.Condition()  # guards the queues below and the worker
        self._cold: dict[str, None] = {}  # lots waiting for their first read, most recently asked for last
        self._due: dict[str, None] = {}  # lots whose new log rows are to be read
        self._stale: dict[str, None] = {}  # lots whose profile was learnt on an earlier day
        self._busy = False
        self._asked_at: datetime | None = None
        self._worker: threading.Thread | None = None

    @classmethod
    def for_database(cls, session_factory: sessionmaker[Session], **kw) -> "Forecaster":
        return cls(_db_loader(session_factory), **kw)

    @classmethod
    def from_rows(cls, rows: Iterable[Row], now: datetime, **kw) -> "Forecaster":
        """Learn from rows (id, lot_id, ts, free, total, status) as they stand at `now`; never reads a database."""
        f = cls(None, **kw)
        by_lot: dict[str, list[Row]] = {}
        for row in rows:
            by_lot.setdefault(row[1], []).append(row)
        for lot_id, lot_rows in by_lot.items():
            f._series[lot_id] = f._first_read(sorted(lot_rows, key=lambda r: (r[2], r[0])), now)
        return f

    def _first_read(self, rows: list[Row], now: datetime) -> _Series:
        series = _Series(self.window_days)
        series.extend(rows, now.timestamp())
        series.refreshed = self._monotonic()
        series.learnt_day = _day(now.timestamp())
        series.model = learn(series.slots())
        return series

    def prepare(self, lot_ids: Iterable[str], now: datetime, *, wait_s: float | None = None) -> None:
        """Queue what these lots need (a first read, new rows, relearning) for the background thread; returns
        at once. `wait_s` is ignored: no request waits for learning (use `wait_idle` in tests and benches)."""
        if self._load is None:
            return
        ids = list(dict.fromkeys(lot_ids))
        mono = self._monotonic()
        series = self._series
        due, cold = [], []
        for i in ids:
            s = series.get(i)
            if s is None:
                cold.append(i)
            elif mono - s.refreshed >= self.refresh_s:
                s.refreshed = mono  # queued once; a failed read is retried a refresh_s later
                due.append(i)
        if not due and not cold:
            return
        with self._work:
            for i in cold:  # asked again: to the back, which the worker takes first
                self._cold.pop(i, None)
                self._cold[i] = None
            self._due.update(dict.fromkeys(due))
            self._asked_at = now
            self._start_worker()
            self._work.notify_all()

    def loading(self, lot_id: str) -> bool:
        """True while the lot's history has not been read yet."""
        return self._load is not None and lot_id not in self._series

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until every queued read and relearning is done (tests, benches, warm-up); False on timeout."""
        with self._work:
            return self._work.wait_for(lambda: not (self._cold or self._due or self._stale or self._busy), timeout=timeout_s)

    def _refresh(self, lot_ids: list[str], now: datetime) -> None:
        """Append the rows logged since each lot's last read: one small query (an index range per lot)."""
        lot_ids = [i for i in lot_ids if i in self._series]
        if not lot_ids:
            return
        until = min((self._series[i].until for i in lot_ids if self._series[i].until is not None), default=None)
        since = now - timedelta(days=self.window_days)
        if until is not None:
            since = max(since, datetime.fromtimestamp(until, now.tzinfo) - LATE_ROWS)
        rows = self._load(lot_ids, since, min(self._series[i].last_id for i in lot_ids))
        by_lot: dict[str, list[Row]] = {i: [] for i in lot_ids}
        for row in rows:
            by_lot[row[1]].append(row)
        t = now.timestamp()
        relearn = []
        with self._lock:
            for lot_id, lot_rows in by_lot.items():
                series = self._series[lot_id]
                series.extend([r for r in lot_rows if r[0] > series.last_id], t)
                if series.learnt_day != _day(t):
                    relearn.append(lot_id)
        if relearn:
            with self._work:
                self._stale.update(dict.fromkeys(relearn))

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="forecast-learner", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        """First reads (most recently asked first), refreshes and relearning, a chunk at a time; ends when idle."""
        while True:
            with self._work:
                self._busy = False
                self._work.notify_all()
                if not self._work.wait_for(lambda: self._cold or self._due or self._stale, timeout=WORKER_IDLE_S):
                    self._worker = None
                    return
                cold = list(self._cold)[-WORKER_CHUNK:]
                due = list(self._due)[:WORKER_CHUNK]
                stale = list(self._stale)[:WORKER_CHUNK]
                for i in cold:
                    del self._cold[i]
                for i in due:
                    del self._due[i]
                for i in stale:
                    del self._stale[i]
                now = self._asked_at
                self._busy = True
            try:
                self._read_first(cold, now)
                if due:
                    self._refresh(due, now)
                for lot_id in stale:
                    t = time.perf_counter()
                    self._relearn(lot_id)
                    self._rest(time.perf_counter() - t)
            except Exception:  # a database outage: answers go on without (new) history; asked again, retried
                log.exception("forecast learning failed for %d lots", len(cold) + len(due) + len(stale))
                time.sleep(WORKER_RETRY_S)

    def _rest(self, worked_s: float) -> None:
        """Sleep so learning takes at most `learn_share` of the time: requests in this process share its GIL."""
        time.sleep(worked_s * (1 - self.learn_share) / self.learn_share if 0 < self.learn_share < 1 else 0)

    def _read_first(self, lot_ids: list[str], now: datetime) -> None:
        lot_ids = [i for i in lot_ids if i not in self._series]
        if not lot_ids:
            return
        by_lot: dict[str, list[Row]] = {i: [] for i in lot_ids}
        for row in self._load(lot_ids, now - timedelta(days=self.window_days), 0):
            by_lot[row[1]].append(row)
        for lot_id, rows in by_lot.items():
            t = time.perf_counter()
            series = self._first_read(rows, now)
            with self._lock:
                self._series.setdefault(lot_id, series)
            self._rest(time.perf_counter() - t)

    def _relearn(self, lot_id: str) -> None:
        with self._lock:
            series = self._series[lot_id]
            cells, day = series.slots(), _day(series.until or 0.0)
        model = learn(cells)
        with self._lock:
            series.model, series.learnt_day = model, day

    def predict(self, lot_id: str, now: datetime, horizon_min: float, *, current: Observation | None = None) -> Prediction:
        """Free spaces at now + horizon from what is in memory (call `prepare` first); `current` defaults to
        the last value the log shows."""
        series = self._series.get(lot_id)
        model = series.model if series is not None else None
        if current is None and series is not None and series.value is not None and series.until is not None:
            current = Observation(free=round(series.total * (1 - series.value)), total=series.total,
                                  at=datetime.fromtimestamp(min(series.until, now.timestamp()), now.tzinfo))
        total = current.total if current else (series.total if series else 0)
        target = now.timestamp() + horizon_min * 60
        if total <= 0:
            return Prediction(0, 0, 0, 0.0, "no data: nothing heard from this car park" + (", history still loading" if self.loading(lot_id) else ""))
        if current is not None:
            lag = max(0.0, (target - current.at.timestamp()) / SLOT_S)
            occ_now = 1 - current.free / total
            if model is None:
                occ, mae, band = occ_now, prior_error(lag), BAND_PER_MAE * prior_error(lag)
                basis = ("current count carried forward: no history yet, still loading" if self.loading(lot_id)
                         else "current count carried forward: no history yet")
            else:
                occ = model.level(target) + _interp(model.rho, lag) * (occ_now - model.level(current.at.timestamp()))
                mae, band = _interp(model.mae, lag), _interp(model.band, lag)
                basis = f"profile of {model.days} days, adjusted by the current count"
        elif model is not None:
            occ, mae, band = model.level(target), model.mae[-1], model.band[-1]
            basis = f"profile of {model.days} days only: no current count"
        else:
            return Prediction(0, 0, total, 0.0, "no data: no current count and no history yet, still loading" if self.loading(lot_id)
                              else "no data: no current count and no history")
        occ = min(1.0, max(0.0, occ))
        free = round(total * (1 - occ))
        low = max(0, min(free, round(total * (1 - occ - band))))
        high = min(total, max(free, round(total * (1 - occ + band))))
        confidence = round(max(0.0, 1 - mae / CONFIDENCE_ZERO), 2)
        return Prediction(free, low, high, confidence, basis)


def forecast_lot(forecaster: Forecaster, info: LotInfo, live: LiveLot | None, now: datetime, horizon_min: float,
                 *, heartbeat_timeout_s: float) -> Prediction:
    """A lot's forecast as drivers see it: nothing free while outside its shared hours."""
    at = now + timedelta(minutes=horizon_min)
    if not info.open_at(at):
        return Prediction(0, 0, 0, 1.0, f"closed then: open to the public {info.shared_hours} only")
    return forecaster.predict(info.id, now, horizon_min, current=observe(live, now, heartbeat_timeout_s))
