"""A stay's price under its lot's tariff, as it stood when the stay began. A problem is returned, never
raised, so a billing problem can never undo the exit it belongs to: a person prices that stay."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billing.models import Order
from billing.passes import pass_covers
from billing.tariffs import CompiledTariff, compute_fee
from billing.tariffs.versions import tariff_in_force
from parking_core.directory import Directory
from parking_core.errors import InvalidInput
from parking_core.session_models import ParkingSession


@dataclass(frozen=True)
class Priced:
    amount_fen: int
    tariff_id: str | None
    tariff_version: int | None
    pass_covered: bool
    breakdown: list[dict]
    problem: str | None = None  # why this stay could not be priced; a person prices it


def price_stay(db: Session, stay: ParkingSession, *, directory: Directory, tariffs: Mapping[str, CompiledTariff]) -> Priced:
    lot = directory.get(stay.lot_id)
    if lot is None or lot.tariff is None:
        return Priced(0, None, None, False, [])
    # the version in force when the stay began, so a later price change never reaches it
    tariff = (tariff_in_force(tariffs, lot.tariff, stay.entered_at, db) if stay.entered_at is not None
              else tariffs.get(lot.tariff))
    if tariff is None:
        return Priced(0, lot.tariff, None, False, [], f"lot {stay.lot_id} names tariff {lot.tariff!r}, which is not loaded")
    if stay.entered_at is None or stay.exited_at is None:
        return Priced(0, tariff.id, tariff.version, False, [], "the stay has no entry or exit time")
    covered = pass_covers(db, stay.plate, stay.lot_id, stay.entered_at, stay.exited_at)
    try:
        fee = compute_fee(tariff, entered_at=stay.entered_at, exited_at=stay.exited_at, vehicle=stay.vehicle,
                          new_energy=stay.new_energy, pass_covered=covered)
    except InvalidInput as exc:
        return Priced(0, tariff.id, tariff.version, covered, [], f"cannot price this stay: {exc.message}")
    lines = [{"label": b.label, "start": b.start.isoformat(), "end": b.end.isoformat(), "units": b.units, "fen": b.fen}
             for b in fee.breakdown]
    return Priced(fee.amount_fen, fee.tariff_id, fee.tariff_version, covered, lines)


def set_price(order: Order, priced: Priced) -> None:
    order.amount_fen, order.tariff_id, order.tariff_version = priced.amount_fen, priced.tariff_id, priced.tariff_version
    order.pass_covered, order.breakdown, order.review = priced.pass_covered, priced.breakdown, priced.problem
