"""What the joining endpoints answer (docs/DEVICES.md)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from sensors.device_credentials import CredentialRecord


class DeviceRead(BaseModel):
    id: str
    kind: Literal["berth_sensor", "gate_camera", "counter", "gateway"]
    berth: str | None = None
    gate: str | None = None
    heard_at: datetime | None = Field(description="its first accepted message since registration; null: not heard yet")


class CommissioningRead(BaseModel):
    lot_id: str
    operator: str
    state: Literal["commissioning", "live"] = Field(description="commissioning: closed to citizens until every device is heard")
    registered_at: datetime | None = Field(description="null for car parks imported from a registry file")
    live_at: datetime | None
    devices: list[DeviceRead]
    waiting_for: list[str] = Field(description="ids of the devices not heard yet")


class CredentialsRead(BaseModel):
    credentials: list[CredentialRecord]
