"""What reacts to what: handler maps, merged once by the composition root, run by the unit of work.

Two kinds of handler (cosmicpython's message bus, split by when they may run):
- `inside`: `(uow, event)`, run as the event is recorded, in the same transaction, so what they write
  commits with the change or not at all (an exit and its order);
- `after_commit`: `(event)`, run once the transaction committed, never after a rollback (wake a worker,
  publish, notify). One that fails is logged: a commit that happened never turns into a failure.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parking_core.domain_events import Event

if TYPE_CHECKING:
    from parking_core.db import UnitOfWork

log = logging.getLogger("parking.bus")
InsideHandler = Callable[["UnitOfWork", Any], None]
AfterCommitHandler = Callable[[Any], None]


@dataclass(frozen=True)
class HandlerMap:
    """Event type → handlers, in the order they run."""

    inside: Mapping[type[Event], Sequence[InsideHandler]] = field(default_factory=dict)
    after_commit: Mapping[type[Event], Sequence[AfterCommitHandler]] = field(default_factory=dict)


def merge(*maps: HandlerMap) -> HandlerMap:
    """One map from several: for each event type, the handlers of the first map first."""
    inside: dict[type[Event], list[InsideHandler]] = {}
    after: dict[type[Event], list[AfterCommitHandler]] = {}
    for m in maps:
        for kind, handlers in m.inside.items():
            inside.setdefault(kind, []).extend(handlers)
        for kind, handlers in m.after_commit.items():
            after.setdefault(kind, []).extend(handlers)
    return HandlerMap({k: tuple(v) for k, v in inside.items()}, {k: tuple(v) for k, v in after.items()})


class MessageBus:
    """Runs a handler map; the unit of work calls it, nothing else needs to."""

    def __init__(self, handlers: HandlerMap) -> None:
        self.handlers = handlers

    def handle_inside(self, uow: UnitOfWork, event: Event) -> None:
        for handler in self.handlers.inside.get(type(event), ()):
            handler(uow, event)

    def handle_committed(self, events: Iterable[Event]) -> None:
        """After-commit handlers of events whose transaction committed (or that had none)."""
        for event in events:
            for handler in self.handlers.after_commit.get(type(event), ()):
                try:
                    handler(event)
                except Exception:
                    log.exception("after-commit handler %s failed on %s", getattr(handler, "__qualname__", handler), type(event).__name__)
