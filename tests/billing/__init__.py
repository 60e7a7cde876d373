"""Billing tests; helpers shared by the tariff tests: Shanghai wall-clock times and the example rule sets."""
from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path

from billing.tariffs import CompiledTariff, compile_tariff, load_tariff
from parking_core.clock import SHANGHAI

EXAMPLES = Path(__file__).resolve().parents[2] / "billing" / "tariffs" / "examples"


def at(day: int, hour: int, minute: int = 0, second: int = 0, *, month: int = 5, year: int = 2024) -> datetime:
    """A Shanghai wall-clock time; May 2024 unless told otherwise."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


@cache
def example(stem: str) -> CompiledTariff:
    """A compiled example rule set from billing/tariffs/examples."""
    return compile_tariff(load_tariff(EXAMPLES / f"{stem}.json"))
