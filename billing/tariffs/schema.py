"""A tariff rule set as validated data: what an operator may publish, checked once before it is compiled."""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Fen = Annotated[int, Field(strict=True, ge=0)]
Minutes = Annotated[int, Field(strict=True, ge=1, le=1440)]
Percent = Annotated[int, Field(strict=True, ge=0, le=100)]

_CLOCK = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|24:00)$")


def clock_minutes(text: str) -> int:
    """Minutes after midnight of an "HH:MM" wall-clock time ("24:00" is 1440)."""
    return 1440 if text == "24:00" else int(text[:2]) * 60 + int(text[3:])


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LargePrices(_Rules):
    """A period's own prices for large vehicles; whatever is left out is the small price times the multiplier."""

    rate_fen: Fen | None = None
    first_rate_fen: Fen | None = None
    flat_fen: Fen | None = None
    occurrence_cap_fen: Fen | None = None


# Fields that only format 2 understands, and where they live: a format-1 rule set that uses one is rejected,
# so that an old engine (or an old reading of the file) can never price it silently by the old rules.
FORMAT_2_TARIFF_FIELDS = ("counting", "allowance_order")
FORMAT_2_PERIOD_FIELDS = ("restart_units", "occurrence_cap_fen", "pass_free")
ALLOWANCES = ("free_minutes", "new_energy", "first_window")


class Period(_Rules):
    """A wall-clock stretch of every day with its price: per started unit, or flat once per occurrence."""

    label: Annotated[str, Field(strict=True, min_length=1, max_length=40)]
    start: str
    end: str
    unit_minutes: Minutes | None = None
    rate_fen: Fen | None = None
    first_rate_fen: Fen | None = None
    flat_fen: Fen | None = None
    large: LargePrices | None = None
    # format 2
    restart_units: Annotated[bool, Field(strict=True)] = False
    occurrence_cap_fen: Fen | None = None
    pass_free: Annotated[bool, Field(strict=True)] = False

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a wall-clock time HH:MM between 00:00 and 24:00")
        return value

    @field_validator("start")
    @classmethod
    def _start_before_midnight(cls, value: str) -> str:
        if value == "24:00":
            raise ValueError("'24:00' cannot start a period; write '00:00'")
        return value

    @model_validator(mode="after")
    def _one_pricing(self) -> Period:
        if (self.rate_fen is None) == (self.flat_fen is None):
            raise ValueError("give exactly one of rate_fen (per started unit) or flat_fen (once per occurrence)")
        if self.flat_fen is not None:
            for name in ("unit_minutes", "first_rate_fen"):
                if getattr(self, name) is not None:
                    given = getattr(self, name)
                    raise ValueError(f"{name}: {given} does not apply to a flat period (flat_fen {self.flat_fen})")
        if self.large is not None:
            self._check_large(self.large)
        return self

    def _check_large(self, large: LargePrices) -> None:
        for name in ("rate_fen", "first_rate_fen", "flat_fen", "occurrence_cap_fen"):
            own, small = getattr(large, name), getattr(self, name)
            if own is None:
                continue
            if small is None:
                raise ValueError(f"large.{name}: {own} is set but the period has no {name}")
            if own < small:
                raise ValueError(f"large.{name}: {own} is below the small-vehicle {name} {small}")

    @property
    def prices_nothing(self) -> bool:
        """True for a free period: under chargeable-time counting its minutes are not counted."""
        return not (self.rate_fen or self.first_rate_fen or self.flat_fen)

    @property
    def span(self) -> tuple[int, int]:
        """(start minute of the day, length in minutes); an end equal to the start means the whole day."""
        start = clock_minutes(self.start)
        return start, (clock_minutes(self.end) - start) % 1440 or 1440


class FirstWindow(_Rules):
    """The stay's first minutes, charged in their own unit at the periods' first_rate_fen (e.g. "first hour 10 CNY")."""

    minutes: Minutes
    unit_minutes: Minutes
    # format 2: the first window starts again in each 24 h from the entry, or each calendar day
    per: Literal["stay", "rolling_24h", "calendar_day"] = "stay"

    @model_validator(mode="after")
    def _whole_units(self) -> FirstWindow:
        if self.minutes % self.unit_minutes:
            raise ValueError(f"minutes: {self.minutes} is not a whole number of unit_minutes {self.unit_minutes}")
        return self


class NewEnergy(_Rules):
    """Concessions for new-energy (green plate) vehicles."""

    discount_percent: Percent = 0
    free_minutes: Annotated[int, Field(strict=True, ge=0, le=1440)] = 0


class TariffRuleSet(_Rules):
    """One versioned tariff; an order records the id and version it was priced with."""

    format: Literal[1, 2] = 1
    id: Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    version: Annotated[int, Field(strict=True, ge=1)]
    name: Annotated[str, Field(strict=True, min_length=1, max_length=200)]
    currency: Literal["CNY"] = "CNY"
    notes: Annotated[str, Field(strict=True, max_length=2000)] = ""
    unit_minutes: Minutes
    free_minutes: Annotated[int, Field(strict=True, ge=0, le=1440)] = 0
    free_minutes_lost_if_longer: Annotated[bool, Field(strict=True)] = False
    first_window: FirstWindow | None = None
    periods: Annotated[list[Period], Field(min_length=1, max_length=48)]
    cap_fen: Fen | None = None
    cap_mode: Literal["rolling_24h", "calendar_day"] = "rolling_24h"
    large_multiplier_percent: Annotated[int, Field(strict=True, ge=100, le=1000)] = 100
    large_cap_fen: Fen | None = None
    new_energy: NewEnergy | None = None
    monthly_pass_fen: Fen | None = None
    # format 2
    counting: Literal["clock", "chargeable_time"] = "clock"
    allowance_order: Annotated[list[Literal["free_minutes", "new_energy", "first_window"]], Field(max_length=3)] = [
        "free_minutes", "new_energy", "first_window"]

    @field_validator("allowance_order")
    @classmethod
    def _order(cls, order: list[str]) -> list[str]:
        for name in set(order):
            if order.count(name) > 1:
                raise ValueError(f"{name!r} is listed {order.count(name)} times; list each allowance once")
        if "first_window" in order and order[-1] != "first_window":
            raise ValueError(f"{order!r}: first_window must come last (free time is granted before the priced "
                             "first window, never inside it)")
        return order

    @field_validator("periods")
    @classmethod
    def _tile_the_day(cls, periods: list[Period]) -> list[Period]:
        spans = sorted((*p.span, i) for i, p in enumerate(periods))
        covered = sum(length for _, length, _ in spans)
        for (start, length, i), (next_start, _, j) in zip(spans, spans[1:] + spans[:1]):
            end = (start + length) % 1440
            if len(spans) > 1 and end != next_start:
                a, b = periods[i], periods[j]
                gap = "overlaps" if covered > 1440 else "leaves a gap before"
                raise ValueError(
                    f"periods[{i}] {a.start}-{a.end} {gap} periods[{j}] {b.start}-{b.end}; "
                    "periods must cover the 24 hours once"
                )
        if covered != 1440:
            raise ValueError(f"periods cover {covered} minutes of the day, not 1440")
        return periods

    @model_validator(mode="after")
    def _format(self) -> TariffRuleSet:
        if self.format == 2:
            return self
        for name in FORMAT_2_TARIFF_FIELDS:
            if name in self.model_fields_set:
                raise ValueError(f"{name}: {getattr(self, name)!r} needs \"format\": 2 (this rule set is format 1)")
        if self.first_window is not None and "per" in self.first_window.model_fields_set:
            raise ValueError(f"first_window.per: {self.first_window.per!r} needs \"format\": 2 "
                             "(this rule set is format 1)")
        for i, period in enumerate(self.periods):
            extra = [n for n in FORMAT_2_PERIOD_FIELDS if n in period.model_fields_set]
            if period.large is not None and "occurrence_cap_fen" in period.large.model_fields_set:
                extra.append("large.occurrence_cap_fen")
            if extra:
                raise ValueError(f"periods[{i}].{extra[0]}: {_get(period, extra[0])!r} needs \"format\": 2 "
                                 "(this rule set is format 1)")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> TariffRuleSet:
        with_first = [i for i, p in enumerate(self.periods) if p.first_rate_fen is not None]
        if self.first_window is None and with_first:
            first = self.periods[with_first[0]].first_rate_fen
            raise ValueError(f"periods[{with_first[0]}].first_rate_fen: {first} is set but first_window is missing")
        if self.first_window is not None and not with_first:
            raise ValueError("first_window: is set but no period has a first_rate_fen")
        if self.large_cap_fen is not None:
            if self.cap_fen is None:
                raise ValueError(f"large_cap_fen: {self.large_cap_fen} is set but cap_fen is missing")
            if self.large_cap_fen < self.cap_fen:
                raise ValueError(f"large_cap_fen: {self.large_cap_fen} is below cap_fen {self.cap_fen}")
        for i, period in enumerate(self.periods):
            if period.occurrence_cap_fen is not None and period.flat_fen is not None:
                raise ValueError(f"periods[{i}].occurrence_cap_fen: {period.occurrence_cap_fen} does not apply to "
                                 f"a flat period (flat_fen {period.flat_fen} is already one charge per occurrence)")
        return self


def _get(model: BaseModel, dotted: str) -> object:
    for part in dotted.split("."):
        model = getattr(model, part)
    return model
