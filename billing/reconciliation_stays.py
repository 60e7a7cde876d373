"""The second reconciliation: a car park's own list of a day's passages (CSV it sends in) against the stays the
platform recorded there, naming every entry or exit one side has and the other lacks.

The list is `direction,plate,time` with that header: `in`/`out`, the plate as read (normalised here), an
RFC 3339 time with its offset inside that Shanghai day. A list with any bad line is refused whole, each bad
line named, and nothing is stored; a good list replaces the one sent before for that car park and day.

The lines keep their plates PARKING_RETAIN_STAY_LISTS_DAYS (billing/retention.py), then only the plate's keyed hash;
comparing such a list hashes the platform's side alike (`plate_key`), so an old day still compares.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select

from billing.reconciliation import day_bounds
from billing.reconciliation_models import StayList, StayListLine
from parking_core.audit import Actor, actor_of, record_audit
from parking_core.db import UnitOfWork
from parking_core.errors import InvalidInput, NotFound
from parking_core.plate_privacy import is_hashed, plate_hash
from parking_core.plates import normalize_plate
from parking_core.session_models import ParkingSession

HEADER = ("direction", "plate", "time")
MAX_LINES = 200_000
MAX_LISTED = 50


class StayListRejected(InvalidInput):
    code = "stay_list_rejected"


class StayListNotFound(NotFound):
    code = "stay_list_not_found"


@dataclass(frozen=True)
class Passage:
    direction: str
    plate: str
    at: datetime
    line: int | None = None          # the list's line, for the car park's side
    session_id: str | None = None    # the stay, for the platform's side


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    value: str
    reason: str


def parse_stay_list(text: str, day: date) -> list[Passage]:
    """Every passage of the list, or StayListRejected naming each bad line (first ones listed, all counted)."""
    if not isinstance(text, str):
        raise StayListRejected("stay list must be text (CSV, UTF-8)", field="body")
    start, end = day_bounds(day)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), strict=True)
    errors: list[LineError] = []
    passages: list[Passage] = []
    try:
        header = next(reader, None)
        if header is None or tuple(h.strip().lower() for h in header) != HEADER:
            raise StayListRejected(f"line 1: the header must be {','.join(HEADER)}, found {','.join(header or [])[:100]!r}",
                                   field="line 1", value=",".join(header or [])[:100])
        for cells in reader:
            number = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(passages) + len(errors) >= MAX_LINES:
                raise StayListRejected(f"line {number}: a list holds at most {MAX_LINES} passages", field=f"line {number}")
            passage = _passage(number, cells, start, end, errors)
            if passage is not None:
                passages.append(passage)
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, "*", "", f"not valid CSV: {exc}"))
    if errors:
        first = errors[0]
        raise StayListRejected(f"stay list rejected, nothing stored: {len(errors)} bad line(s); line {first.line}, {first.field}: "
                               f"{first.reason}", field=f"line {first.line}", value=first.value,
                               errors=[asdict(e) for e in errors[:MAX_LISTED]], bad_lines=len(errors))
    return passages


def _passage(number: int, cells: list[str], start: datetime, end: datetime, errors: list[LineError]) -> Passage | None:
    if len(cells) != len(HEADER):
        errors.append(LineError(number, "*", ",".join(cells)[:100], f"expected {len(HEADER)} columns, found {len(cells)}"))
        return None
    direction, plate_text, when = (c.strip() for c in cells)
    bad = len(errors)
    if direction not in ("in", "out"):
        errors.append(LineError(number, "direction", direction[:50], "must be in or out"))
    plate = normalize_plate(plate_text)
    if not plate or len(plate) > 16:
        errors.append(LineError(number, "plate", plate_text[:50], "must be 1 to 16 characters once normalised"))
    try:
        at = datetime.fromisoformat(when)
    except ValueError:
        errors.append(LineError(number, "time", when[:50], "is not an RFC 3339 time like 2026-11-23T08:01:00+08:00"))
    else:
        if at.tzinfo is None:
            errors.append(LineError(number, "time", when[:50], "has no offset (+08:00)"))
        elif not start <= at < end:
            errors.append(LineError(number, "time", when[:50], f"is not within the Shanghai day {start.date()}"))
    return Passage(direction, plate, at, line=number) if len(errors) == bad else None


@dataclass
class StayComparison:
    lot_id: str
    day: date
    list_entries: int
    list_exits: int
    platform_entries: int
    platform_exits: int
    matched: int
    platform_only: list[Passage] = field(default_factory=list)
    list_only: list[Passage] = field(default_factory=list)


def compare_passages(ours: list[Passage], theirs: list[Passage], tolerance: timedelta) -> tuple[int, list[Passage], list[Passage]]:
    """Pair passages of the same direction and plate in time order when within `tolerance`; the rest are one side's."""
    by_key: dict[tuple[str, str], tuple[list[Passage], list[Passage]]] = defaultdict(lambda: ([], []))
    for p in ours:
        by_key[(p.direction, p.plate)][0].append(p)
    for p in theirs:
        by_key[(p.direction, p.plate)][1].append(p)
    matched, only_ours, only_theirs = 0, [], []
    for mine, other in by_key.values():
        mine.sort(key=lambda p: p.at)
        other.sort(key=lambda p: p.at)
        i = j = 0
        while i < len(mine) and j < len(other):
            gap = mine[i].at - other[j].at
            if abs(gap) <= tolerance:
                matched, i, j = matched + 1, i + 1, j + 1
            elif gap < timedelta(0):
                only_ours.append(mine[i])
                i += 1
            else:
                only_theirs.append(other[j])
                j += 1
        only_ours += mine[i:]
        only_theirs += other[j:]
    key = lambda p: (p.at, p.direction, p.plate)  # noqa: E731
    return matched, sorted(only_ours, key=key), sorted(only_theirs, key=key)


@dataclass
class StayLists:
    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    tolerance: timedelta = timedelta(minutes=5)
    plate_key: Callable[[], bytes] | None = None  # the plate-hash key, for lists past their retention

    def store(self, lot_id: str, day: date, text: str, *, sent_by: str | Actor, operator_id: str | None = None) -> StayList:
        """Check the whole list, then replace the lot's list of that day in one transaction, audited in it."""
        passages = parse_stay_list(text, day)
        now = self.clock()
        with self.uow() as uow:
            db = uow.session
            old = db.scalars(select(StayList).where(StayList.lot_id == lot_id, StayList.day == day).with_for_update()).first()
            if old is not None:
                db.execute(delete(StayListLine).where(StayListLine.list_id == old.id))
                db.delete(old)
                db.flush()
            who = actor_of(sent_by)
            row = StayList(lot_id=lot_id, day=day, entries=sum(p.direction == "in" for p in passages),
                           exits=sum(p.direction == "out" for p in passages),
                           sent_by=sent_by if isinstance(sent_by, str) else who.id, sent_at=now)
            db.add(row)
            db.flush()
            db.add_all([StayListLine(list_id=row.id, line=p.line, direction=p.direction, plate=p.plate, at=p.at) for p in passages])
            record_audit(db, actor=who, action="stay_list.store", subject=f"stay_list:{lot_id}:{day}", operator_id=operator_id,
                         before={"entries": old.entries, "exits": old.exits} if old is not None else None,
                         after={"entries": row.entries, "exits": row.exits}, at=now)
            uow.commit()
            db.refresh(row)
            db.expunge_all()
            return row

    def compare(self, lot_id: str, day: date) -> StayComparison:
        with self.uow() as uow:
            db = uow.session
            sent = db.scalars(select(StayList).where(StayList.lot_id == lot_id, StayList.day == day)).first()
            if sent is None:
                raise StayListNotFound(f"{lot_id} has sent no stay list for {day}", field="day", value=day.isoformat())
            theirs = [Passage(r.direction, r.plate, r.at, line=r.line)
                      for r in db.scalars(select(StayListLine).where(StayListLine.list_id == sent.id))]
            ours = _platform_passages(db, lot_id, day)
            entries, exits = sent.entries, sent.exits
        if self.plate_key is not None and any(is_hashed(p.plate) for p in theirs):
            key = self.plate_key()
            ours = [replace(p, plate=plate_hash(key, p.plate)) for p in ours]
        matched, only_ours, only_theirs = compare_passages(ours, theirs, self.tolerance)
        return StayComparison(lot_id, day, entries, exits, sum(p.direction == "in" for p in ours),
                              sum(p.direction == "out" for p in ours), matched, only_ours, only_theirs)


def _platform_passages(db, lot_id: str, day: date) -> list[Passage]:  # noqa: ANN001
    """Entries and exits the platform recorded at the car park that day (an exit under the plate read at the exit)."""
    start, end = day_bounds(day)
    rows = db.scalars(select(ParkingSession).where(
        ParkingSession.lot_id == lot_id, ParkingSession.status != "void",
        ((ParkingSession.entered_at >= start) & (ParkingSession.entered_at < end))
        | ((ParkingSession.exited_at >= start) & (ParkingSession.exited_at < end))))
    out: list[Passage] = []
    for s in rows:
        if s.entered_at is not None and start <= s.entered_at < end:
            out.append(Passage("in", s.plate, s.entered_at, session_id=s.id))
        if s.exited_at is not None and start <= s.exited_at < end:
            out.append(Passage("out", s.exit_plate or s.plate, s.exited_at, session_id=s.id))
    return out


__all__ = ["HEADER", "Passage", "StayComparison", "StayListNotFound", "StayListRejected", "StayLists", "compare_passages",
           "parse_stay_list"]
