"""Which version of a tariff is in force at a moment: the bundled catalog, then every version operators published.

Why: a price change must never reach stays that began before it. An order is priced, and guidance quotes, with the
version in force when the stay began. Published versions live in the `tariff_versions` table; each process keeps
them compiled in memory and reads the rows it has not seen at most every REFRESH_S seconds (so a version another
worker published is seen within that time), and at once after it publishes one itself.
"""
from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from billing.tariff_versions import TariffVersion
from billing.tariffs.engine import CompiledTariff, compile_tariff
from billing.tariffs.loader import load_tariff
from billing.tariffs.schema import TariffRuleSet
from parking_core.errors import Conflict, InvalidInput

log = logging.getLogger("parking.tariffs")

REFRESH_S = 5.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class TariffBook(dict):
    """id -> the bundled (catalog) tariff, as before; `in_force(id, at)` adds the published versions.

    A dict so that code which only knows the catalog keeps working; the versions are kept per id as
    (effective from, version, compiled), sorted, so a look-up is one bisect."""

    def __init__(self, catalog: Mapping[str, CompiledTariff], *, uow: Callable[[], Any] | None = None,
                 refresh_s: float = REFRESH_S, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(catalog)
        self._uow = uow
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._published: dict[str, list[tuple[float, int, CompiledTariff, dict]]] = {}
        self._last_row = 0
        self._refreshed_at: float | None = None
        self._warned = False

    # -- look-ups ---------------------------------------------------------------------------------
    def in_force(self, tariff_id: str, at: datetime, session: Session | None = None) -> CompiledTariff | None:
        """The version in force at `at`: the latest published one effective by then, else the bundled one."""
        self._maybe_refresh(session)
        versions = self._published.get(tariff_id)
        if versions:
            i = bisect.bisect_right(versions, (at.timestamp(), float("inf")), key=lambda v: (v[0], v[1]))
            if i:
                return versions[i - 1][2]
        return self.get(tariff_id)

    def versions(self, tariff_id: str, session: Session | None = None) -> list[dict]:
        """Every version known for the id, bundled first, as plain data for the operator API."""
        self._maybe_refresh(session, force=True)
        out = []
        if tariff_id in self:
            t = self[tariff_id]
            out.append({"tariff_id": tariff_id, "version": t.version, "format": t.format, "source": "bundled",
                        "effective_from": None, "created_by": None, "created_at": None})
        for _, version, compiled, meta in self._published.get(tariff_id, []):
            out.append({"tariff_id": tariff_id, "version": version, "format": compiled.format, "source": "published",
                        **meta})
        return out

    def ids(self, session: Session | None = None) -> list[str]:
        self._maybe_refresh(session, force=True)
        return sorted(set(self) | set(self._published))

    def rules_of(self, tariff_id: str, version: int, session: Session | None = None) -> TariffRuleSet | None:
        self._maybe_refresh(session, force=True)
        for _, v, compiled, _ in self._published.get(tariff_id, []):
            if v == version:
                return compiled.rules
        bundled = self.get(tariff_id)
        return bundled.rules if bundled is not None and bundled.version == version else None

    # -- publishing -------------------------------------------------------------------------------
    def publish(self, session: Session, data: Any, *, effective_from: datetime, now: datetime,
                operator: str) -> tuple[TariffVersion, bool]:
        """Validate and store a new version (in the caller's transaction); (row, created). The same version sent
        again with the same rules and effective time is the same version (a retried request), not an error."""
        rules = load_tariff(data)
        if effective_from.tzinfo is None:
            raise InvalidInput(f"effective_from: {effective_from.isoformat()} has no timezone",
                               field="effective_from", value=effective_from.isoformat())
        stored = rules.model_dump(mode="json", exclude_unset=True)
        same = session.scalars(select(TariffVersion).where(TariffVersion.tariff_id == rules.id,
                                                           TariffVersion.version == rules.version)).first()
        if same is not None:
            if same.rules == stored and same.effective_from == effective_from:
                return same, False
            raise Conflict(f"version: tariff {rules.id!r} version {rules.version} is already published with other "
                           "rules or another effective time; publish a new version", field="version",
                           value=rules.version)
        if effective_from < now:
            raise InvalidInput(f"effective_from: {effective_from.isoformat()} is in the past; a price change never "
                               "reaches stays that already began", field="effective_from",
                               value=effective_from.isoformat())
        latest = max([v for _, v, _, _ in self._published.get(rules.id, [])] + [
            self[rules.id].version if rules.id in self else 0] + list(session.scalars(
                select(TariffVersion.version).where(TariffVersion.tariff_id == rules.id))))
        if rules.version <= latest:
            raise Conflict(f"version: {rules.version} is not above tariff {rules.id!r}'s latest version {latest}",
                           field="version", value=rules.version)
        later = session.scalars(select(TariffVersion).where(TariffVersion.tariff_id == rules.id,
                                                            TariffVersion.effective_from > effective_from)).first()
        if later is not None:
            raise Conflict(f"effective_from: version {later.version} already comes into force later "
                           f"({later.effective_from.isoformat()}); a newer version must not come into force before "
                           "an older one", field="effective_from", value=effective_from.isoformat())
        row = TariffVersion(tariff_id=rules.id, version=rules.version, format=rules.format, rules=stored,
                            effective_from=effective_from, created_by=operator, created_at=now)
        session.add(row)
        session.flush()
        return row, True

    def learn(self, row: TariffVersion) -> None:
        """Take a committed row into memory at once (the publishing process need not wait for a refresh)."""
        with self._lock:
            self._add(row, seen=False)

    # -- keeping up with the table ----------------------------------------------------------------
    def _maybe_refresh(self, session: Session | None, force: bool = False) -> None:
        now = self._monotonic()
        if not force and self._refreshed_at is not None and now - self._refreshed_at < self._refresh_s:
            return
        if session is None and self._uow is None:
            return
        with self._lock:
            self._refreshed_at = now
            try:
                if session is not None:
                    self._read(session)
                else:
                    with self._uow() as uow:
                        self._read(uow.session)
            except SQLAlchemyError as exc:  # e.g. the table is not there yet: price by what is known
                if not self._warned:
                    log.warning("tariff versions not read (%s); pricing with the versions known", exc.__class__.__name__)
                    self._warned = True

    def _read(self, session: Session) -> None:
        """The rows not read yet, taken in while the session still holds them."""
        for row in session.scalars(select(TariffVersion).where(TariffVersion.id > self._last_row)
                                   .order_by(TariffVersion.id)):
            self._add(row, seen=True)

    def _add(self, row: TariffVersion, *, seen: bool) -> None:
        """Keep a row's version compiled; only rows read from the table move the read mark (a row this process
        wrote may have overtaken another worker's that it has not read yet)."""
        if seen:
            self._last_row = max(self._last_row, row.id)
        versions = self._published.setdefault(row.tariff_id, [])
        if any(v == row.version for _, v, _, _ in versions):
            return
        try:
            compiled = compile_tariff(load_tariff(row.rules))
        except InvalidInput as exc:  # written by a newer release, say: never price with a half-understood rule set
            log.error("tariff %s version %s not usable: %s", row.tariff_id, row.version, exc.message)
            return
        meta = {"effective_from": row.effective_from, "created_by": row.created_by, "created_at": row.created_at}
        versions.append((row.effective_from.timestamp(), row.version, compiled, meta))
        versions.sort(key=lambda v: (v[0], v[1]))


def tariff_in_force(tariffs: Mapping[str, CompiledTariff], tariff_id: str, at: datetime,
                    session: Session | None = None) -> CompiledTariff | None:
    """The version in force at `at` from a TariffBook, or the one tariff a plain mapping holds."""
    if isinstance(tariffs, TariffBook):
        return tariffs.in_force(tariff_id, at, session)
    return tariffs.get(tariff_id)
