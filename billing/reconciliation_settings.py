"""Reconciliation's and settlement's knobs (documented in docs/RECONCILIATION.md), layered like every other setting."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.settings import load_validated


class ReconciliationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Shanghai hour at which yesterday's bill is fetched and reconciled (Alipay's bills are ready from about 09:00); -1: never
    reconcile_hour: int = Field(default=10, alias="PARKING_RECONCILE_HOUR", ge=-1, le=23)
    # Alipay's service fee on each payment (and given back on each refund), e.g. 0.006 for 0.6%
    fee_rate: Decimal = Field(default=Decimal("0.006"), alias="PARKING_SETTLEMENT_FEE_RATE", ge=0, lt=Decimal("0.1"),
                              max_digits=8, decimal_places=6)
    # how far apart in time a car park's listed passage and the platform's may be and still be the same passage
    stay_list_tolerance_s: int = Field(default=300, alias="PARKING_STAY_LIST_TOLERANCE_S", ge=0, le=86_400)


def load_reconciliation_settings(**overrides: Any) -> ReconciliationSettings:
    """Build the settings or raise ConfigError naming the bad variable and its value."""
    return load_validated(ReconciliationSettings, overrides)


def reconciliation_settings(platform: Any) -> ReconciliationSettings:
    """Read once per platform (tests build a platform per environment)."""
    found = platform.__dict__.get("_reconciliation_settings")
    if found is None:
        found = platform.__dict__["_reconciliation_settings"] = load_reconciliation_settings()
    return found


__all__ = ["ReconciliationSettings", "load_reconciliation_settings", "reconciliation_settings"]
