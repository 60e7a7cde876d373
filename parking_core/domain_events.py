"""What happened in the domain, in the past tense. Recorded on the unit of work; handlers react
(parking_core/messagebus.py). Events carry ids and values, never ORM rows: after-commit handlers
run outside the transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parking_core.availability import Availability


class Event:
    """Base of every domain event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class VehicleEntered(Event):
    stay_id: str
    lot_id: str
    plate: str
    at: datetime


@dataclass(frozen=True, slots=True)
class VehicleExited(Event):
    """A stay closed (an exit, a berth freed, or a person supplying the missing entry or exit)."""

    stay_id: str
    lot_id: str
    plate: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StayCorrected(Event):
    """A person corrected a closed stay's plate or times."""

    stay_id: str
    field: str


@dataclass(frozen=True, slots=True)
class AvailabilityChanged(Event):
    """A car park's free count or status changed, as published on its retained topic."""

    lot_id: str
    availability: Availability
