"""The platform's log during the month, kept instead of printed: refusals outside one's scope must be logged
(issue 11), and an error logged by any part of the platform is a disagreement."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

REFUSED = ("operator scope: refused", "reconciliation: case")


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def refusals(self, since: int = 0) -> int:
        return sum(r.getMessage().startswith(REFUSED) for r in self.records[since:])

    def errors(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()[:300]}" for r in self.records if r.levelno >= logging.ERROR]


@contextmanager
def kept() -> Iterator[Kept]:
    """Every record of the `parking` loggers, at INFO and above, for the duration."""
    log = logging.getLogger("parking")
    handler, level, propagate = Kept(), log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate
