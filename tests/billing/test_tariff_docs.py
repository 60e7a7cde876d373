"""The receipts docs/tariffs.md shows for the format-2 examples are what the engine prints today."""
from __future__ import annotations

from pathlib import Path

import pytest

from billing.tariffs import compute_fee
from tests.billing import at, example

DOC = (Path(__file__).resolve().parents[2] / "docs" / "tariffs.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("stem", "entered", "exited", "kw"), [
    ("suzhou_onstreet_class1", at(1, 19, 50), at(1, 20, 15), {}),
    ("suzhou_onstreet_class1", at(1, 18), at(2, 9), {}),
    ("suzhou_offstreet_first_hour", at(1, 10), at(2, 11), {}),
    ("nantong_onstreet_berths", at(1, 18, 30), at(2, 7, 45), {}),
    ("new_energy_free_first_hours", at(1, 10), at(1, 13, 1), {"new_energy": True}),
])
def test_documented_receipt_is_true(stem, entered, exited, kw):
    lines = compute_fee(example(stem), entered_at=entered, exited_at=exited, **kw).breakdown
    text = "\n".join(f"{b.label:40s} {b.start:%m-%d %H:%M} - {b.end:%m-%d %H:%M} {b.units:3d} {b.fen:6d}"
                     for b in lines)
    assert text in DOC
