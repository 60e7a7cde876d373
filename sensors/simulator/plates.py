"""Plausible mainland plates for simulated cars: mostly Suzhou (苏E, 苏U), some visitors, ~20% new-energy."""
from __future__ import annotations

import random

from parking_core.plates import LETTERS, SERIAL

DIGITS = "0123456789"
# (province + city letter, weight): Suzhou's own plates first, then neighbours and visitors.
ORIGINS = (("苏E", 0.62), ("苏U", 0.12), ("苏A", 0.05), ("苏B", 0.04), ("沪A", 0.06), ("浙A", 0.04), ("苏F", 0.03), ("皖A", 0.02), ("京N", 0.02))
_CUM = []
_acc = 0.0
for _origin, _w in ORIGINS:
    _acc += _w
    _CUM.append((_acc, _origin))


class PlateMaker:
    """Draws plates and their colour; new-energy plates are green and have 8 characters."""

    def __init__(self, rng: random.Random, *, new_energy_share: float = 0.2, large_share: float = 0.03) -> None:
        self.rng = rng
        self.new_energy_share = new_energy_share
        self.large_share = large_share

    def _origin(self) -> str:
        x = self.rng.random() * _acc
        for edge, origin in _CUM:
            if x < edge:
                return origin
        return _CUM[-1][1]

    def make(self) -> tuple[str, str]:
        """(plate, plate_color) such as ('苏E5K2X9', 'blue') or ('苏UD12345', 'green')."""
        r = self.rng
        x = r.random()
        origin = self._origin()
        if x < self.new_energy_share:
            # small new-energy cars: D (pure electric) or F (hybrid), then five digits
            return origin + r.choice("DF") + "".join(r.choices(DIGITS, k=5)), "green"
        serial = r.choice(LETTERS + DIGITS) + "".join(r.choices(SERIAL, k=4))
        return origin + serial, "yellow" if x > 1 - self.large_share else "blue"
