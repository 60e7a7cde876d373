"""Objects a gateway keeps on the app's state, made by the first request that needs them (not at import)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_made = threading.Lock()


def made_once(state: object, name: str, make: Callable[[], T]) -> T:
    """`state.<name>`, made with `make()` once even when several requests ask at the same moment."""
    got = getattr(state, name, None)
    if got is None:
        with _made:
            got = getattr(state, name, None)
            if got is None:
                got = make()
                setattr(state, name, got)
    return got
