"""The operator gateway's knobs (documented in docs/OPERATORS.md), layered like every other setting."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.settings import load_validated


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    refund_approval_above_fen: int = Field(default=20_000, alias="PARKING_REFUND_APPROVAL_ABOVE_FEN", ge=0)
    long_stay_h: float = Field(default=72, alias="PARKING_LONG_STAY_H", gt=0, le=24 * 365)
    low_battery_mv: int = Field(default=3_300, alias="PARKING_LOW_BATTERY_MV", ge=0, le=10_000)
    console_session_s: int = Field(default=3_600, alias="PARKING_CONSOLE_SESSION_S", ge=60, le=86_400)


def operator_settings(platform) -> OperatorSettings:  # noqa: ANN001
    """Read once per platform (tests build a platform per environment)."""
    found = platform.__dict__.get("_operator_settings")
    if found is None:
        found = platform.__dict__["_operator_settings"] = load_validated(OperatorSettings, {}, secret=())
    return found
