"""The city's car parks held in memory for fast reads and geo search.

The registry changes rarely (an import); reads happen on every request and message, so
the directory is loaded from the database once and reloaded when its version changes.

Nearby search: a grid of 0.01-degree cells gives the lots in the query's box; a plain-float
local-plane distance (no trigonometry per lot) ranks them cheaply; the WGS-84 distance (see
`geodesic_m`) is then computed only for the lots a caller actually takes, in exact nearest-first
order, because the cheap distance is within a known bound of the true one.
"""
from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator

from geopy.distance import geodesic

from parking_core.errors import LotNotFound
from parking_core.lots import LotInfo

CELL_DEG = 0.01  # about 1.1 km north-south
_LON_CELLS = round(360 / CELL_DEG)
# WGS-84, for the local radii of curvature
_A = 6_378_137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
# Where the local-plane formula is used as the geodesic: within 0.07 m of geopy's geodesic (Karney) there,
# measured in tests/core/test_directory.py; beyond it geopy's geodesic itself is computed.
FAST_MAX_M = 20_000.0
FAST_MAX_LAT = 70.0
# The cheap ranking distance (scale of the query's latitude) is within CHEAP_REL * d + CHEAP_ABS_M of the
# geodesic for lots within 0.5 degrees of latitude of a query at |lat| <= FAST_MAX_LAT (1.1 % worst case).
CHEAP_REL = 0.02
CHEAP_ABS_M = 2.0


def _radii(lat_deg: float) -> tuple[float, float]:
    """(meridional, prime-vertical) radius of curvature of the WGS-84 ellipsoid at a latitude, in metres."""
    s = math.sin(math.radians(lat_deg))
    w = 1 - _E2 * s * s
    n = _A / math.sqrt(w)
    return n * (1 - _E2) / w, n


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """WGS-84 geodesic distance in metres, within 0.1 m of geopy's `geodesic`.

    Short lines away from the poles (all a city search asks for) take the ellipsoid's local plane at the
    mid-latitude, ~0.3 us instead of Karney's series at ~50 us; anything else is geopy's geodesic."""
    if abs(lat1) <= FAST_MAX_LAT and abs(lat2) <= FAST_MAX_LAT:
        m, n = _radii((lat1 + lat2) / 2)
        dlon = (lon2 - lon1 + 180.0) % 360.0 - 180.0
        x = n * math.cos(math.radians((lat1 + lat2) / 2)) * math.radians(dlon)
        y = m * math.radians(lat2 - lat1)
        d = math.hypot(x, y)
        if d <= FAST_MAX_M:
            return d
    return geodesic((lat1, lon1), (lat2, lon2)).meters


class Directory:
    def __init__(self, lots: Iterable[LotInfo] = ()) -> None:
        self.lots: dict[str, LotInfo] = {}
        self.berth_sets: dict[str, frozenset[str]] = {}
        self._grid: dict[tuple[int, int], list[tuple[float, float, LotInfo]]] = {}
        self.replace(lots)

    def replace(self, lots: Iterable[LotInfo]) -> None:
        lots = list(lots)
        grid: dict[tuple[int, int], list[tuple[float, float, LotInfo]]] = defaultdict(list)
        for info in lots:
            grid[self._cell(info.lat, info.lon)].append((info.lat, info.lon, info))
        self.lots = {info.id: info for info in lots}
        self.berth_sets = {info.id: frozenset(info.berths) for info in lots}
        self._grid = dict(grid)

    @staticmethod
    def _cell(lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / CELL_DEG), _wrap(math.floor(lon / CELL_DEG)))

    def get(self, lot_id: str) -> LotInfo | None:
        return self.lots.get(lot_id)

    def require(self, lot_id: str, *, field: str = "lot_id") -> LotInfo:
        """The lot, or LotNotFound naming the field and the id (a 404 in every gateway)."""
        info = self.lots.get(lot_id)
        if info is None:
            raise LotNotFound(f"no car park with id {lot_id!r}", field=field, value=lot_id)
        return info

    def has_berth(self, lot_id: str, berth_id: str) -> bool:
        return berth_id in self.berth_sets.get(lot_id, ())

    def _cells(self, lat: float, lon: float, radius_m: float) -> Iterator[tuple[int, int, list]]:
        """(row, unwrapped column, lots) of every non-empty cell covering the circle; one pseudo-cell holding
        every lot when the box has more cells than the city has lots (a pole, a huge radius)."""
        dlat = radius_m / 110_000
        dlon = radius_m / (111_000 * max(1e-3, math.cos(math.radians(min(89.9, abs(lat) + dlat)))))
        i0, i1 = math.floor((lat - dlat) / CELL_DEG), math.floor((lat + dlat) / CELL_DEG)
        j0, j1 = math.floor((lon - dlon) / CELL_DEG), math.floor((lon + dlon) / CELL_DEG)
        if j1 - j0 + 1 >= _LON_CELLS or (i1 - i0 + 1) * (j1 - j0 + 1) > len(self.lots):
            yield None, None, [x for cell in self._grid.values() for x in cell]
            return
        grid = self._grid
        for j in range(j0, j1 + 1):
            jw = _wrap(j)
            for i in range(i0, i1 + 1):
                cell = grid.get((i, jw))
                if cell:
                    yield i, j, cell

    def nearest(self, lat: float, lon: float, radius_m: float) -> Iterator[tuple[float, LotInfo]]:
        """(geodesic metres, lot) within the radius, nearest first (ties by id), computed lazily: cells are
        opened nearest first and a lot's exact distance is computed only once it could be the next one out, so
        a caller that takes k lots pays for about k, whatever the radius holds."""
        if abs(lat) > FAST_MAX_LAT or radius_m > 50_000:  # the cheap bound is not proven there: exact for all
            yield from self.within(lat, lon, radius_m)
            return
        m, n = _radii(lat)
        ky = m * math.pi / 180
        kx = n * math.cos(math.radians(lat)) * math.pi / 180
        reach = radius_m * (1 + CHEAP_REL) + CHEAP_ABS_M
        reach2 = reach * reach
        # cells by their nearest corner or edge, in the cheap metric (a lot is never nearer than its cell)
        cells = []
        for i, j, cell in self._cells(lat, lon, radius_m):
            if i is None:
                cells.append((0.0, 0, 0, cell))
                continue
            south, west = i * CELL_DEG - lat, j * CELL_DEG - lon
            dy = 0.0 if south <= 0 <= south + CELL_DEG else min(abs(south), abs(south + CELL_DEG)) * ky
            dx = 0.0 if west <= 0 <= west + CELL_DEG else min(abs(west), abs(west + CELL_DEG)) * kx
            d2 = dx * dx + dy * dy
            if d2 <= reach2:
                cells.append((d2, i, j, cell))
        cells.sort()
        cands: list[tuple[float, str, LotInfo]] = []  # opened, by cheap distance
        heap: list[tuple[float, str, LotInfo]] = []  # exact distance known
        opened, n_cells = 0, len(cells)
        push, pop, sqrt, exact = heapq.heappush, heapq.heappop, math.sqrt, geodesic_m
        while True:
            while True:
                while opened < n_cells and (not cands or cells[opened][0] <= cands[0][0]):
                    for la, lo, info in cells[opened][3]:
                        y = (la - lat) * ky
                        dl = lo - lon
                        if dl > 180.0 or dl < -180.0:
                            dl = (dl + 180.0) % 360.0 - 180.0
                        x = dl * kx
                        d2 = x * x + y * y
                        if d2 <= reach2:
                            push(cands, (d2, info.id, info))
                    opened += 1
                # cands[0] is now the cheapest lot not yet measured: measure it unless the best measured is surely nearer
                if not cands or (heap and sqrt(cands[0][0]) / (1 + CHEAP_REL) - CHEAP_ABS_M > heap[0][0]):
                    break
                info = pop(cands)[2]
                d = exact(lat, lon, info.lat, info.lon)
                if d <= radius_m:
                    push(heap, (d, info.id, info))
            if not heap:
                return
            d, _, info = pop(heap)
            yield d, info

    def within(self, lat: float, lon: float, radius_m: float) -> list[tuple[float, LotInfo]]:
        """(geodesic metres, lot) within the radius, nearest first (ties by id): all of them, so measured
        all at once and sorted, cheaper than `nearest` when every lot is wanted."""
        found = []
        cheap = abs(lat) <= FAST_MAX_LAT and radius_m <= 50_000  # where the cheap bound holds (see `nearest`)
        if cheap:
            m, n = _radii(lat)
            ky, kx = m * math.pi / 180, n * math.cos(math.radians(lat)) * math.pi / 180
            reach = radius_m * (1 + CHEAP_REL) + CHEAP_ABS_M
            reach2 = reach * reach
        for _, _, cell in self._cells(lat, lon, radius_m):
            for la, lo, info in cell:
                if cheap:  # the box's corners hold most lots: those surely outside are never measured
                    y, dl = (la - lat) * ky, lo - lon
                    if dl > 180.0 or dl < -180.0:
                        dl = (dl + 180.0) % 360.0 - 180.0
                    x = dl * kx
                    if x * x + y * y > reach2:
                        continue
                d = geodesic_m(lat, lon, la, lo)
                if d <= radius_m:
                    found.append((d, info.id, info))
        found.sort(key=_distance_then_id)
        return [(d, info) for d, _, info in found]

    def __len__(self) -> int:
        return len(self.lots)


def _distance_then_id(x: tuple) -> tuple[float, str]:
    return x[0], x[1]


def _wrap(j: int) -> int:
    """A longitude cell index folded into [-180, 180) degrees, so a search across the antimeridian finds both sides."""
    return (j + _LON_CELLS // 2) % _LON_CELLS - _LON_CELLS // 2
