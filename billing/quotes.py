"""What a stay would cost before it happens (guidance's expected price), under the tariff version in force
when it would begin, by the same fee engine that prices orders."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from billing.tariffs import CompiledTariff, compute_fee
from billing.tariffs.versions import tariff_in_force


def quote_stay(tariffs: Mapping[str, CompiledTariff], tariff_id: str, entered_at: datetime, exited_at: datetime,
               vehicle: str, new_energy: bool) -> int | None:
    """The fee in fen, or None when no such tariff is loaded."""
    tariff = tariff_in_force(tariffs, tariff_id, entered_at)
    if tariff is None:
        return None
    return compute_fee(tariff, entered_at=entered_at, exited_at=exited_at, vehicle=vehicle, new_energy=new_energy).amount_fen


__all__ = ["quote_stay"]
