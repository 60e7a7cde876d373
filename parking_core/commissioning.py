"""A car park joining the platform (第三方社会停车场接入): registered with its devices, it stays
`commissioning` (closed to citizens) until an accepted message from each registered device is in
the event log, then goes `live` by itself, audited.

A device is heard by a heartbeat under its own id, or by a message on the topic it reports on: a
berth sensor its berth's state, a gate camera its gate's passages, a counter the lot's counts.
A gateway (forwarding for many sensors) is heard by its heartbeat only.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parking_core.audit import record_audit
from parking_core.commissioning_models import LotCommissioning, RegisteredDevice
from parking_core.errors import Conflict, InvalidInput, LotNotFound, NotFound
from parking_core.lots import LotInfo
from parking_core.models import Lot, OccupancyEvent
from parking_core.registry import parse_registry, save_registry

TopicId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
MAX_DEVICES = 5000


@dataclass(frozen=True)
class SystemActor:
    """Who the audit log names for what the platform did by itself."""

    id: str = "platform"
    kind: str = "system"
    org_id: str = "city"
    name: str = "commissioning"


SYSTEM = SystemActor()


class DeviceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = TopicId
    kind: Literal["berth_sensor", "gate_camera", "counter", "gateway"]
    berth: str | None = None
    gate: str | None = None

    @model_validator(mode="after")
    def _reports_on(self) -> DeviceSpec:
        need = {"berth_sensor": "berth", "gate_camera": "gate"}.get(self.kind)
        for name in ("berth", "gate"):
            given = getattr(self, name) is not None
            if name == need and not given:
                raise ValueError(f"a {self.kind} names the {name} it reports on")
            if name != need and given:
                raise ValueError(f"a {self.kind} has no {name}")
        return self


class JoiningExtras(BaseModel):
    """What joining adds to a registry feature's properties: the gates and the devices."""

    model_config = ConfigDict(extra="ignore", strict=True)

    gates: list[str] = Field(default_factory=list, max_length=200)
    devices: list[DeviceSpec] = Field(min_length=1, max_length=MAX_DEVICES)


@dataclass(frozen=True)
class Joining:
    lot: LotInfo
    gates: tuple[str, ...]
    devices: tuple[DeviceSpec, ...]

    def as_dict(self) -> dict[str, Any]:
        """What is compared when the same registration comes again (a retried request)."""
        lot = self.lot
        return {"lot": {"id": lot.id, "name": lot.name, "kind": lot.kind, "operator": lot.operator, "district": lot.district,
                        "lat": lot.lat, "lon": lot.lon, "total": lot.total, "berths": sorted(lot.berths), "tariff": lot.tariff,
                        "shared_hours": str(lot.shared_hours) if lot.shared_hours else None},
                "devices": sorted((d.model_dump() for d in self.devices), key=lambda d: d["id"])}


def parse_joining(feature: Any, *, tariffs: Collection[str] | None = None) -> Joining:
    """A GeoJSON Feature as in the registry file (contract section 1), whose properties also list
    `gates` and `devices`; validated as the import validates, InvalidInput naming the field."""
    if not isinstance(feature, dict):
        raise InvalidInput("body must be a GeoJSON Feature", field="body")
    try:
        [lot] = parse_registry({"type": "FeatureCollection", "features": [feature]}, tariffs=tariffs)
    except InvalidInput as exc:
        field = (exc.field or "").removeprefix("features[0].")
        raise InvalidInput(exc.message.replace("features[0].", "", 1), field=field, value=exc.value) from None
    props = feature["properties"]
    try:
        extras = JoiningExtras.model_validate(props)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        raise InvalidInput(f"properties.{where}: {err['msg']} (got {err.get('input')!r})",
                           field=f"properties.{where}", value=err.get("input") if isinstance(err.get("input"), (str, int)) else None) from None
    gates = set()
    for i, gate in enumerate(extras.gates):
        if not gate or len(gate) > 64 or any(c in gate for c in "/+#") or gate in gates:
            raise InvalidInput(f"properties.gates[{i}]: {gate!r} is not a gate id or is listed twice", field=f"properties.gates[{i}]", value=gate)
        gates.add(gate)
    seen: set[str] = set()
    berths = set(lot.berths)
    for i, d in enumerate(extras.devices):
        where = f"properties.devices[{i}]"
        if d.id in seen:
            raise InvalidInput(f"{where}.id: {d.id!r} is listed twice", field=f"{where}.id", value=d.id)
        seen.add(d.id)
        if d.berth is not None and d.berth not in berths:
            raise InvalidInput(f"{where}.berth: {d.berth!r} is not one of the car park's berths", field=f"{where}.berth", value=d.berth)
        if d.gate is not None and d.gate not in gates:
            raise InvalidInput(f"{where}.gate: {d.gate!r} is not one of the car park's gates", field=f"{where}.gate", value=d.gate)
    return Joining(lot, tuple(extras.gates), tuple(extras.devices))


def register(session: Session, joining: Joining, *, actor: Any, now: datetime) -> bool:
    """Write the car park, its devices and its `commissioning` state in the caller's transaction, audited.
    The same registration again changes nothing (False); a lot id already taken otherwise is a Conflict."""
    lot = joining.lot
    row = session.get(LotCommissioning, lot.id)
    if row is not None and _registered(session, lot.id) == joining.as_dict():
        return False
    if row is not None or session.get(Lot, lot.id) is not None:
        raise Conflict(f"properties.id: car park {lot.id!r} is already in the registry", field="properties.id", value=lot.id)
    save_registry(session, [lot])
    session.add(LotCommissioning(lot_id=lot.id, state="commissioning", registered_at=now, registered_by=actor.id))
    session.add_all(RegisteredDevice(lot_id=lot.id, id=d.id, kind=d.kind, berth_id=d.berth, gate_id=d.gate, registered_at=now)
                    for d in joining.devices)
    session.flush()
    record_audit(session, actor=actor, action="lot.register", subject=f"lot:{lot.id}", operator_id=lot.operator,
                 before=None, after={**joining.as_dict(), "state": "commissioning"}, at=now)
    return True


def _registered(session: Session, lot_id: str) -> dict[str, Any]:
    """What was registered for this lot, in the shape of Joining.as_dict."""
    from parking_core.lots import SharedHours
    from parking_core.models import Berth

    r = session.get(Lot, lot_id)
    berths = tuple(session.scalars(select(Berth.id).where(Berth.lot_id == lot_id).order_by(Berth.id)))
    lot = LotInfo(id=r.id, name=r.name, kind=r.kind, operator=r.operator_id, district=r.district_id, lat=r.lat, lon=r.lon,
                  total=r.total, berths=berths, tariff=r.tariff_id,
                  shared_hours=SharedHours.parse(r.shared_hours) if r.shared_hours else None)
    devices = session.scalars(select(RegisteredDevice).where(RegisteredDevice.lot_id == lot_id))
    specs = tuple(DeviceSpec(id=d.id, kind=d.kind, berth=d.berth_id, gate=d.gate_id) for d in devices)
    return Joining(lot, (), specs).as_dict()


def add_device(session: Session, lot: LotInfo, spec: Any, *, actor: Any, now: datetime) -> bool:
    """Register one more device of a car park (one imported from a registry file too, so it can get a
    credential); it does not take a live car park back to commissioning. The same device again changes
    nothing (False); another with its id is a Conflict. InvalidInput names the field."""
    try:
        device = DeviceSpec.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        value = err.get("input")
        raise InvalidInput(f"{where}: {err['msg']} (got {value!r})", field=where,
                           value=value if isinstance(value, (str, int)) else None) from None
    if device.berth is not None and device.berth not in lot.berths:
        raise InvalidInput(f"berth: {device.berth!r} is not one of car park {lot.id!r}'s berths", field="berth", value=device.berth)
    if device.gate is not None and any(c in device.gate for c in "/+#"):
        raise InvalidInput(f"gate: {device.gate!r} is not a gate id", field="gate", value=device.gate)
    row = session.get(RegisteredDevice, (lot.id, device.id))
    if row is not None:
        if DeviceSpec(id=row.id, kind=row.kind, berth=row.berth_id, gate=row.gate_id) == device:
            return False
        raise Conflict(f"id: car park {lot.id!r} already has a device {device.id!r}", field="id", value=device.id)
    session.add(RegisteredDevice(lot_id=lot.id, id=device.id, kind=device.kind, berth_id=device.berth, gate_id=device.gate,
                                 registered_at=now))
    session.flush()
    record_audit(session, actor=actor, action="device.register", subject=f"device:{lot.id}/{device.id}", operator_id=lot.operator,
                 before=None, after=device.model_dump(), at=now)
    return True


@dataclass(frozen=True)
class DeviceState:
    id: str
    kind: str
    berth: str | None
    gate: str | None
    heard_at: datetime | None


@dataclass(frozen=True)
class CommissioningState:
    lot_id: str
    operator: str
    state: str
    registered_at: datetime | None
    live_at: datetime | None
    devices: tuple[DeviceState, ...]


def heard(session: Session, lot_id: str, devices: Iterable[RegisteredDevice]) -> dict[str, datetime | None]:
    """Each device's first accepted message since it was registered (None: not heard yet)."""
    E = OccupancyEvent
    firsts: dict[tuple[str, str], datetime] = {}
    for kind, subject, first in session.execute(
            select(E.kind, E.subject, func.min(E.received_at)).where(E.lot_id == lot_id).group_by(E.kind, E.subject)):
        firsts[(kind, subject)] = first
    out = {}
    for d in devices:
        keys = [("heartbeat", d.id)]
        if d.kind == "berth_sensor":
            keys.append(("berth", d.berth_id))
        elif d.kind == "gate_camera":
            keys.append(("passage", d.gate_id))
        elif d.kind == "counter":
            keys.append(("counts", ""))
        times = [t for k in keys if (t := firsts.get(k)) is not None and t >= d.registered_at]
        out[d.id] = min(times) if times else None
    return out


def state_of(session: Session, lot_id: str) -> CommissioningState:
    """How far a car park is, from the database (a directory may not have reloaded yet): `live` with no
    devices listed for lots that never went through joining."""
    operator = session.scalar(select(Lot.operator_id).where(Lot.id == lot_id))
    if operator is None:
        raise LotNotFound(f"no car park with id {lot_id!r}", field="lot_id", value=lot_id)
    row = session.get(LotCommissioning, lot_id)
    if row is None:
        return CommissioningState(lot_id, operator, "live", None, None, ())
    devices = list(session.scalars(select(RegisteredDevice).where(RegisteredDevice.lot_id == lot_id).order_by(RegisteredDevice.id)))
    times = heard(session, lot_id, devices)
    return CommissioningState(lot_id, operator, row.state, row.registered_at, row.live_at,
                              tuple(DeviceState(d.id, d.kind, d.berth_id, d.gate_id, times[d.id]) for d in devices))


def commissioning_ids(session: Session) -> set[str]:
    return set(session.scalars(select(LotCommissioning.lot_id).where(LotCommissioning.state == "commissioning")))


def promote_heard(session: Session, *, now: datetime, lot_ids: Iterable[str] | None = None) -> list[str]:
    """Make `live` every commissioning lot (of `lot_ids`, or all) whose devices have all been heard,
    audited as done by the platform; in the caller's transaction. Returns the lots that went live."""
    q = select(LotCommissioning).where(LotCommissioning.state == "commissioning")
    if lot_ids is not None:
        q = q.where(LotCommissioning.lot_id.in_(sorted(set(lot_ids))))
    promoted = []
    for row in session.scalars(q.with_for_update()):
        devices = list(session.scalars(select(RegisteredDevice).where(RegisteredDevice.lot_id == row.lot_id)))
        times = heard(session, row.lot_id, devices)
        if not devices or any(t is None for t in times.values()):
            continue
        row.state, row.live_at = "live", now
        operator = session.scalar(select(Lot.operator_id).where(Lot.id == row.lot_id))
        record_audit(session, actor=SYSTEM, action="lot.live", subject=f"lot:{row.lot_id}", operator_id=operator,
                     before={"state": "commissioning"},
                     after={"state": "live", "heard": {k: v.isoformat() for k, v in sorted(times.items())}}, at=now)
        promoted.append(row.lot_id)
    return promoted


class DeviceNotFound(NotFound):
    code = "device_not_found"


def require_registered_device(session: Session, lot_id: str, device_id: str) -> RegisteredDevice:
    device = session.get(RegisteredDevice, (lot_id, device_id))
    if device is None:
        raise DeviceNotFound(f"car park {lot_id!r} has no registered device {device_id!r}", field="device_id", value=device_id)
    return device


__all__ = ["SYSTEM", "CommissioningState", "DeviceNotFound", "DeviceSpec", "DeviceState", "Joining", "add_device", "commissioning_ids",
           "heard", "parse_joining", "promote_heard", "register", "require_registered_device", "state_of"]
