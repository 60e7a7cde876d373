"""The city's car parks held in memory for fast reads and geo search.

The registry changes rarely (an import); reads happen on every request and message, so
the directory is loaded from the database once and reloaded when its version changes.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from geopy.distance import great_circle

from parking_core.lots import LotInfo

CELL_DEG = 0.01  # about 1.1 km north-south


class Directory:
    def __init__(self, lots: Iterable[LotInfo] = ()) -> None:
        self.lots: dict[str, LotInfo] = {}
        self.berth_sets: dict[str, frozenset[str]] = {}
        self._grid: dict[tuple[int, int], list[LotInfo]] = defaultdict(list)
        self.replace(lots)

    def replace(self, lots: Iterable[LotInfo]) -> None:
        lots = list(lots)
        grid: dict[tuple[int, int], list[LotInfo]] = defaultdict(list)
        for info in lots:
            grid[self._cell(info.lat, info.lon)].append(info)
        self.lots = {info.id: info for info in lots}
        self.berth_sets = {info.id: frozenset(info.berths) for info in lots}
        self._grid = grid

    @staticmethod
    def _cell(lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG))

    def get(self, lot_id: str) -> LotInfo | None:
        return self.lots.get(lot_id)

    def has_berth(self, lot_id: str, berth_id: str) -> bool:
        return berth_id in self.berth_sets.get(lot_id, ())

    def within(self, lat: float, lon: float, radius_m: float) -> list[tuple[float, LotInfo]]:
        """(distance in metres, lot) within the radius, nearest first."""
        dlat = radius_m / 111_000 + CELL_DEG
        dlon = radius_m / (111_000 * max(0.01, math.cos(math.radians(lat)))) + CELL_DEG
        c0 = self._cell(lat - dlat, lon - dlon)
        c1 = self._cell(lat + dlat, lon + dlon)
        here = (lat, lon)
        found: list[tuple[float, LotInfo]] = []
        for i in range(c0[0], c1[0] + 1):
            for j in range(c0[1], c1[1] + 1):
                for info in self._grid.get((i, j), ()):
                    d = great_circle(here, (info.lat, info.lon)).meters
                    if d <= radius_m:
                        found.append((d, info))
        found.sort(key=lambda x: (x[0], x[1].id))
        return found

    def __len__(self) -> int:
        return len(self.lots)
