"""A value made the first time it is used: secrets the platform generates and keeps in its data dir (operators'
keys) are written by the processes that check them, never by a command that only reads the database."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class OnFirstUse(Generic[T]):
    """Stands for what `make()` returns; `make` runs once, on the first attribute read."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._made: list[T] = []

    def get(self) -> T:
        if not self._made:
            with self._lock:
                if not self._made:
                    self._made.append(self._make())
        return self._made[0]

    def made(self) -> bool:
        return bool(self._made)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)
