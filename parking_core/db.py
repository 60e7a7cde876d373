"""Engines and the unit of work; nothing connects at import. The schema and its migrations: gateways/schema.py."""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from parking_core.settings import normalise_database_url

if TYPE_CHECKING:
    from parking_core.domain_events import Event
    from parking_core.messagebus import MessageBus


def make_engine(url: str) -> Engine:
    """An engine for PostgreSQL (psycopg 3) or SQLite (WAL, foreign keys, shared across threads)."""
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


T = TypeVar("T")


class UnitOfWork:
    """Owns one transaction: commits only when told, rolls back otherwise. Events recorded during it
    go to the bus's handlers: `inside` ones at once, in this transaction; `after_commit` ones once
    `commit()` succeeded, never after a rollback."""

    def __init__(self, session_factory: sessionmaker[Session], bus: MessageBus | None = None) -> None:
        self._factory = session_factory
        self._bus = bus
        self.session: Session
        self.events: list[Event] = []  # recorded since the last commit
        self._pending: deque[Event] = deque()
        self._handling = False

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.events.clear()  # what was not committed did not happen
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def record(self, event: Event) -> None:
        """Note what happened; its in-transaction handlers run now (events they record, after it)."""
        self.events.append(event)
        if self._bus is None:
            return
        self._pending.append(event)
        if self._handling:
            return
        self._handling = True
        try:
            while self._pending:
                self._bus.handle_inside(self, self._pending.popleft())
        finally:
            self._pending.clear()
            self._handling = False

    def commit(self) -> None:
        self.session.commit()
        committed, self.events = self.events, []
        if self._bus is not None:
            self._bus.handle_committed(committed)


def kept(db: Session, value: T) -> T:
    """Detach what was read, so the unit of work's closing rollback does not expire it."""
    db.expunge_all()
    return value
