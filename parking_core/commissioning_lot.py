"""How a car park still being commissioned looks to everyone reading the directory: closed.

Its devices' messages are ingested as any lot's (so commissioning can see them), but citizens,
guidance, signs and open data see `closed`, never a live count, until it goes live."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from parking_core.lots import LotInfo


@dataclass(frozen=True)
class CommissioningLot(LotInfo):
    commissioning = True

    def open_at(self, at: datetime) -> bool:
        return False
