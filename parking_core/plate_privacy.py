"""Plates as logs and retention may hold them: masked for people (`苏E·***88`), keyed-hashed for records kept
past their retention (same plate, same hash: counts and dispute matching still work, the plate is gone)."""
from __future__ import annotations

import hashlib
import hmac

HASH_MARK = "#"  # a normalised plate never holds it: a stored value starting with it is a hash
HASH_HEX = 15  # plate columns are 16 wide: the mark and 60 bits of HMAC-SHA256 (10^7 plates: a collision ~1 in 20,000)


def mask_plate(plate: str | None) -> str:
    """苏ED8888 -> 苏E·***88: the province and city letter and the last two, enough to tell cars apart in a log."""
    if not plate:
        return "-"
    if plate.startswith(HASH_MARK):
        return plate
    text = plate.replace("·", "")
    return f"{text[:2]}·***{text[-2:]}" if len(text) >= 5 else "***"


def is_hashed(value: str | None) -> bool:
    return bool(value) and value.startswith(HASH_MARK)


def plate_hash(key: bytes, plate: str) -> str:
    """HMAC-SHA256 of the normalised plate under the platform's key, as `#` + 15 hex digits; a hash stays as it is."""
    if is_hashed(plate):
        return plate
    return HASH_MARK + hmac.new(key, plate.encode("utf-8"), hashlib.sha256).hexdigest()[:HASH_HEX]


__all__ = ["HASH_MARK", "is_hashed", "mask_plate", "plate_hash"]
