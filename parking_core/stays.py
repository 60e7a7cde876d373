"""Stays (a car's parking session) from device events: entries open them, exits close them, and what
goes wrong (misread plates, exits without entries, entries without exits) is kept for a person.

Everything runs in the caller's unit of work, which hears `VehicleEntered`, `VehicleExited` and
`StayCorrected`; billing's handlers run in that same transaction, so an exit and its order exist
together or not at all.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from parking_core.audit import Actor, actor_of, name_of, record_audit
from parking_core.db import UnitOfWork
from parking_core.domain_events import StayCorrected, VehicleEntered, VehicleExited
from parking_core.errors import Conflict, InvalidInput, NotFound
from parking_core.events import BerthReported, DeviceEvent, PassageReported
from parking_core.plates import normalize_plate, plate_distance
from parking_core.session_models import ParkingSession, SessionAudit

REENTRY_WINDOW = timedelta(minutes=2)  # a second `in` this soon is the same car read twice
CORRECTABLE = ("plate", "entered_at", "exited_at")


def stay_state(s: ParkingSession) -> dict:
    """A stay as the audit log's before and after show it."""
    return {"plate": s.plate, "status": s.status, "entered_at": s.entered_at.isoformat() if s.entered_at else None,
            "exited_at": s.exited_at.isoformat() if s.exited_at else None, "review": s.review}


def vehicle_of(plate: str | None, color: str | None) -> tuple[str, bool]:
    """(vehicle class, new energy) from plate colour and length: yellow is large, 8 characters or green is NEV.
    Without a plate (a berth camera that read none) only the colour can tell."""
    new_energy = color == "green" or (plate is not None and len(plate) == 8)
    return ("large" if color == "yellow" else "small"), new_energy


@dataclass
class StayBook:
    clock: Callable[[], datetime]
    fuzzy_distance: int = 1

    # -- device events ----------------------------------------------------------------------
    def apply(self, uow: UnitOfWork, events: Sequence[DeviceEvent]) -> None:
        """Apply passages and video-berth reports (others are ignored); safe to call again with the same events."""
        db = uow.session
        frees = [ev for ev in events if isinstance(ev, BerthReported) and not ev.occupied]
        watched = self._berths_with_open_sessions(db, frees)
        for ev in events:
            if isinstance(ev, PassageReported):
                if ev.direction == "in":
                    self._entry(uow, ev.lot_id, ev.plate, ev.plate_color, ev.ts, ev.dedupe_key, source="gate")
                else:
                    self._exit(uow, ev.lot_id, ev.plate, ev.ts, ev.dedupe_key)
            elif isinstance(ev, BerthReported) and (ev.plate is not None or (ev.lot_id, ev.berth_id) in watched):
                self._berth(uow, ev)
                watched.add((ev.lot_id, ev.berth_id))

    @staticmethod
    def _berths_with_open_sessions(db: Session, frees: Sequence[BerthReported]) -> set[tuple[str, str]]:
        """One query per batch: which of these berths hold an open video-berth session."""
        if not frees:
            return set()
        lots = {ev.lot_id for ev in frees}
        rows = db.execute(select(ParkingSession.lot_id, ParkingSession.berth_id).where(
            ParkingSession.lot_id.in_(lots), ParkingSession.source == "berth", ParkingSession.status == "open"))
        return {(lot, berth) for lot, berth in rows}

    def _find(self, db: Session, lot_id: str, **where) -> ParkingSession | None:
        q = select(ParkingSession).where(ParkingSession.lot_id == lot_id)
        for k, v in where.items():
            q = q.where(getattr(ParkingSession, k) == v)
        return db.scalars(q.order_by(ParkingSession.entered_at.desc()).limit(1).with_for_update()).first()

    def _entry(self, uow, lot_id, plate, color, ts, key, *, source, berth_id=None) -> None:
        db = uow.session
        if self._find(db, lot_id, entry_key=key) is not None:
            return
        prior = self._find(db, lot_id, plate=plate, status="open")
        if prior is not None:
            if prior.entered_at and abs(ts - prior.entered_at) <= REENTRY_WINDOW:
                return  # the same car read twice at the barrier
            prior.status = "void"
            prior.review = f"entered again at {ts.isoformat()} with no exit seen; set the exit time to bill this stay"
            self._audit(db, prior, "system", "superseded", reason=prior.review)
        vehicle, nev = vehicle_of(plate, color)
        now = self.clock()
        row = ParkingSession(
            id=uuid.uuid4().hex, lot_id=lot_id, plate=plate, plate_color=color, vehicle=vehicle, new_energy=nev,
            source=source, berth_id=berth_id, status="open", entry_key=key, entered_at=ts, created_at=now, updated_at=now,
        )
        db.add(row)
        db.flush()
        uow.record(VehicleEntered(row.id, lot_id, plate, ts))

    def _exit(self, uow, lot_id, plate, ts, key) -> None:
        db = uow.session
        if self._find(db, lot_id, exit_key=key) is not None:
            return
        row = self._find(db, lot_id, plate=plate, status="open")
        if row is None:
            row = self._fuzzy(db, lot_id, plate)
            if row is not None:
                row.exit_plate = plate
                row.review = f"exit read {plate}, matched entry {row.plate} ({plate_distance(plate, row.plate)} character differs): confirm"
                self._audit(db, row, "system", "fuzzy_match", "plate", plate, row.plate, row.review)
        if row is None:
            recent = self._find(db, lot_id, plate=plate, status="closed")
            if recent is not None and recent.exited_at and abs(ts - recent.exited_at) <= REENTRY_WINDOW:
                return  # a second exit camera read the same car
            now = self.clock()
            vehicle, nev = vehicle_of(plate, None)
            db.add(ParkingSession(
                id=uuid.uuid4().hex, lot_id=lot_id, plate=plate, vehicle=vehicle, new_energy=nev, source="gate",
                status="unmatched", exit_key=key, exited_at=ts, created_at=now, updated_at=now,
                review="exit without a matching entry: confirm the entry time to bill it",
            ))
            db.flush()
            return
        if row.entered_at and ts < row.entered_at:
            row.review = f"exit at {ts.isoformat()} is before the entry: check the clocks"
        self._close(uow, row, ts, key)

    def _fuzzy(self, db, lot_id, plate) -> ParkingSession | None:
        """The one car inside whose plate differs from the one read by a single character."""
        inside = db.scalars(select(ParkingSession).where(ParkingSession.lot_id == lot_id, ParkingSession.status == "open").with_for_update())
        close = [s for s in inside if plate_distance(s.plate, plate) <= self.fuzzy_distance]
        return close[0] if len(close) == 1 else None

    def _berth(self, uow, ev: BerthReported) -> None:
        row = self._find(uow.session, ev.lot_id, berth_id=ev.berth_id, status="open")
        if ev.occupied:
            if ev.plate is None:
                return  # occupied, plate unread (contract: plate is optional): availability only, no stay
            if row is not None and (row.plate == ev.plate or (row.entered_at and ev.ts <= row.entered_at)):
                return  # the same car, or a report older than the stay it would end (late delivery)
            if row is not None:
                self._close(uow, row, ev.ts, ev.dedupe_key + ":out")
            self._entry(uow, ev.lot_id, ev.plate, None, ev.ts, ev.dedupe_key, source="berth", berth_id=ev.berth_id)
        elif row is not None and ev.ts >= row.entered_at:
            self._close(uow, row, ev.ts, ev.dedupe_key)

    def _close(self, uow: UnitOfWork, row: ParkingSession, ts: datetime, key: str | None) -> None:
        row.status, row.exited_at, row.exit_key, row.updated_at = "closed", ts, key, self.clock()
        uow.session.flush()
        uow.record(VehicleExited(row.id, row.lot_id, row.plate, ts))

    def _audit(self, db, row, actor, action, field=None, old=None, new=None, reason="") -> None:
        db.add(SessionAudit(session_id=row.id, actor=actor, action=action, field=field, old=None if old is None else str(old),
                            new=None if new is None else str(new), reason=reason, at=self.clock()))

    # -- people -----------------------------------------------------------------------------------
    def get(self, db: Session, session_id: str) -> ParkingSession:
        row = db.get(ParkingSession, session_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no stay {session_id!r}", field="session_id", value=session_id)
        return row

    def confirm_entry(self, uow: UnitOfWork, session_id: str, *, entered_at: datetime, actor: str | Actor, reason: str,
                      operator_id: str | None = None) -> ParkingSession:
        """An operator supplies the missing entry of an unmatched exit (or a voided stay's exit): it is billed. Audited
        (`stay.confirm_entry`, naming `actor` and the car park's `operator_id`) in the caller's unit of work."""
        db = uow.session
        row = self.get(db, session_id)
        if row.status not in ("unmatched",):
            raise Conflict(f"session {session_id} is {row.status}, not unmatched", field="status", value=row.status)
        if entered_at.tzinfo is None or entered_at > row.exited_at:
            raise InvalidInput(f"entered_at {entered_at.isoformat()} must be an aware time before the exit {row.exited_at.isoformat()}", field="entered_at", value=entered_at.isoformat())
        before = stay_state(row)
        self._audit(db, row, name_of(actor), "confirm_entry", "entered_at", None, entered_at.isoformat(), reason)
        row.entered_at, row.review = entered_at, None
        self._close(uow, row, row.exited_at, row.exit_key)
        self._person(db, row, actor, "stay.confirm_entry", operator_id, before)
        return row

    def correct(self, uow: UnitOfWork, session_id: str, *, field: str, value: str, actor: str | Actor, reason: str,
                operator_id: str | None = None) -> ParkingSession:
        """Correct a plate or a time, keeping the old value in the stay's trail; audited (`stay.correct`) in the
        caller's unit of work, with whatever the correction set off (the order re-priced or flagged)."""
        db = uow.session
        if field not in CORRECTABLE:
            raise InvalidInput(f"field {field!r} cannot be corrected (only {', '.join(CORRECTABLE)})", field="field", value=field)
        if not reason.strip():
            raise InvalidInput("a correction needs a reason", field="reason", value=reason)
        row = self.get(db, session_id)
        before, old = stay_state(row), getattr(row, field)
        if field == "plate":
            new: object = normalize_plate(value)
            if not new:
                raise InvalidInput(f"plate {value!r} has no letters or digits", field="value", value=value)
        else:
            try:
                new = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidInput(f"{field} {value!r} is not an RFC 3339 time", field="value", value=value) from None
            if new.tzinfo is None:
                raise InvalidInput(f"{field} {value!r} has no UTC offset", field="value", value=value)
        setattr(row, field, new)
        if row.entered_at and row.exited_at and row.exited_at < row.entered_at:
            raise InvalidInput(f"after the correction the exit {row.exited_at.isoformat()} would be before the entry {row.entered_at.isoformat()}", field="value", value=value)
        was_void = row.status == "void" and field == "exited_at"
        row.updated_at = self.clock()
        self._audit(db, row, name_of(actor), "correct", field, old.isoformat() if isinstance(old, datetime) else old, value, reason)
        db.flush()
        if was_void:
            row.review = None
            self._close(uow, row, row.exited_at, row.exit_key)
        elif row.status == "closed":
            uow.record(StayCorrected(row.id, field))
        self._person(db, row, actor, "stay.correct", operator_id, before)
        return row

    def _person(self, db: Session, row: ParkingSession, actor: str | Actor, action: str, operator_id: str | None,
                before: dict) -> None:
        """The audit-log row of a person's change to a stay (the stay's own trail says it too, by name)."""
        record_audit(db, actor=actor_of(actor), action=action, subject=f"stay:{row.id}", operator_id=operator_id,
                     before=before, after=stay_state(row), at=self.clock())

    def flag_overstays(self, db: Session, *, older_than: timedelta) -> int:
        """Mark open sessions with no exit after `older_than` for review; how many were newly flagged."""
        cutoff = self.clock() - older_than
        rows = db.scalars(select(ParkingSession).where(ParkingSession.status == "open", ParkingSession.entered_at < cutoff, ParkingSession.review.is_(None)))
        n = 0
        for row in rows:
            row.review = f"no exit since {row.entered_at.isoformat()}"
            n += 1
        return n

    def long_stays(self, db: Session, *, min_days: float, lot_id: str | None = None) -> list[ParkingSession]:
        """Cars inside for at least `min_days`: possible abandoned vehicles (僵尸车)."""
        cutoff = self.clock() - timedelta(days=min_days)
        q = select(ParkingSession).where(ParkingSession.status == "open", ParkingSession.entered_at < cutoff)
        if lot_id:
            q = q.where(ParkingSession.lot_id == lot_id)
        return list(db.scalars(q.order_by(ParkingSession.entered_at)))

    def audit(self, db: Session, session_id: str) -> list[SessionAudit]:
        return list(db.scalars(select(SessionAudit).where(SessionAudit.session_id == session_id).order_by(SessionAudit.id)))
