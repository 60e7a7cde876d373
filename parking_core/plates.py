"""Chinese licence plates: one spelling for storing and comparing, validation, and a distance for misreads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parking_core.errors import InvalidInput

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
COLORS = ("blue", "green", "yellow", "white", "black")
SUFFIXES = {"学": "coach", "警": "police", "挂": "trailer", "领": "consulate", "港": "hong_kong", "澳": "macau"}
# Plates never use I or O, which read as 1 and 0.
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
SERIAL = LETTERS + "0123456789"
# plate_distance between plates of different lengths: further than any two plates of one length.
FAR = 100

PlateColor = Literal["blue", "green", "yellow", "white", "black"]
PlateKind = Literal["ordinary", "new_energy", "coach", "police", "trailer", "consulate", "hong_kong", "macau"]

_SEPARATORS = " .-·•‧・･‐‑‒–—。"


def _table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(c): None for c in _SEPARATORS}
    for code in range(0xFF01, 0xFF5F):  # full-width ASCII, as typed with a Chinese input method
        ascii_char = chr(code - 0xFEE0)
        table[code] = None if ascii_char in _SEPARATORS else ascii_char.upper()
    for c in "abcdefghijklmnopqrstuvwxyz":
        table[ord(c)] = c.upper()
    return table


_TABLE = _table()


@dataclass(frozen=True, slots=True)
class Plate:
    """A plate that passed validation, in its normalised spelling."""

    number: str
    province: str
    kind: PlateKind
    color: PlateColor | None = None

    @property
    def new_energy(self) -> bool:
        return self.kind == "new_energy"


def normalize_plate(s: str) -> str:
    """Upper case ASCII (full-width too), without whitespace, dots, dashes or middle dots: '苏e·12345' -> '苏E12345'."""
    if not isinstance(s, str):
        raise InvalidInput(f"plate: expected text, got {type(s).__name__}", field="plate", value=repr(s))
    return "".join(s.translate(_TABLE).split())


def validate_plate(s: str, color: str | None = None) -> Plate:
    """Normalise and check a mainland plate; the error names the rule the plate breaks."""
    number = normalize_plate(s)
    if color is not None and color not in COLORS:
        raise InvalidInput(f"plate_color: {color!r} is not one of {', '.join(COLORS)}",
                           field="plate_color", value=color)
    if not number:
        raise InvalidInput("plate: is empty", field="plate", value=s)
    if number[0] not in PROVINCES:
        raise InvalidInput(f"plate: {number!r} does not start with a province abbreviation ({PROVINCES})",
                           field="plate", value=s)
    if len(number) < 2 or number[1] not in LETTERS:
        got = repr(number[1]) if len(number) > 1 else "nothing"
        raise InvalidInput(f"plate: {number!r} needs a letter A-Z other than I or O after the province, got {got}",
                           field="plate", value=s)
    kind = _kind(number, s)
    if color == "green" and len(number) != 8:
        raise InvalidInput(f"plate: {number!r} is green but has {len(number)} characters; a green plate has 8",
                           field="plate", value=s)
    return Plate(number=number, province=number[0], kind=kind, color=color)


def _kind(number: str, raw: str) -> PlateKind:
    serial, last = number[2:], number[-1]
    if last in SUFFIXES and len(number) == 7:
        serial, kind = number[2:-1], SUFFIXES[last]
    elif len(number) == 7:
        kind = "ordinary"
    elif len(number) == 8:
        kind = "new_energy"
    else:
        raise InvalidInput(
            f"plate: {number!r} has {len(number)} characters; a plate has 7 (8 for new-energy)",
            field="plate", value=raw,
        )
    wrong = [c for c in serial if c not in SERIAL]
    if wrong:
        raise InvalidInput(f"plate: {number!r} has {wrong[0]!r} in its serial; only digits and letters other than "
                           "I and O", field="plate", value=raw)
    return kind


def plate_distance(a: str, b: str) -> int:
    """Characters that differ between two plates of one length (after normalising); FAR for different lengths."""
    a, b = normalize_plate(a), normalize_plate(b)
    if len(a) != len(b):
        return FAR
    return sum(x != y for x, y in zip(a, b))
