"""Guidance signs over HTTP and MQTT: what each sign shows now, republished retained on change.

A sign's MQTT topic `{prefix}/signs/{sign_id}` is retained, so a sign controller that
reconnects gets the current text at once; it is published at start-up and whenever one of
the sign's car parks changes availability.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateways.bootstrap import Platform
from gateways.http.coords import CoordDep, coord_out
from gateways.citizen.schemas import ErrorBody, Status
from parking_core.availability import Availability, AvailabilityRules, read_availability
from parking_core.settings import load_validated
from parking_core.signs import SignConfig, SignNotFound, SignView, load_signs, what_sign_shows
from sensors.topics import topics_of

log = logging.getLogger("parking.signs")


class SignsSettings(BaseSettings):
    """`PARKING_SIGNS`: the sign file (JSON or YAML); unset, the city has no signs."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    signs_path: Path | None = Field(default=None, alias="PARKING_SIGNS")


def load_signs_settings() -> SignsSettings:
    """PARKING_SIGNS, or ConfigError naming it (its file is read, and named if unreadable, when the app starts)."""
    return load_validated(SignsSettings, {})


class SignBoard:
    """The configured signs, what each shows now, and the retained topic of each."""

    def __init__(self, platform: Platform, signs: list[SignConfig]) -> None:
        self.platform = platform
        self.signs = {s.id: s for s in signs}
        self.by_lot: dict[str, list[SignConfig]] = {}
        for s in signs:
            for ref in s.lots:
                self.by_lot.setdefault(ref.lot_id, []).append(s)
        self._last: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def view(self, sign_id: str) -> SignView:
        sign = self.signs.get(sign_id)
        if sign is None:
            raise SignNotFound(f"no guidance sign with id {sign_id!r}", field="sign_id", value=sign_id)
        return self._show(sign)

    def views(self) -> list[SignView]:
        return [self._show(s) for s in self.signs.values()]

    def _show(self, sign: SignConfig) -> SignView:
        p = self.platform
        ids = [ref.lot_id for ref in sign.lots]
        rules = AvailabilityRules.from_settings(p.settings)
        shown = {info.id: a for info, a in read_availability(p.directory.lots, p.live, ids, p.clock(), rules)}
        return what_sign_shows(sign, p.directory.lots, shown)

    def on_availability(self, lot_id: str, _a: Availability) -> None:
        """Availability listener: republish every sign that shows this car park."""
        for sign in self.by_lot.get(lot_id, ()):
            self.publish(sign)

    def publish_all(self) -> None:
        for sign in self.signs.values():
            self.publish(sign)

    def publish(self, sign: SignConfig) -> None:
        """Publish retained, unless the sign already shows exactly this."""
        body = SignRead.of(self._show(sign)).model_dump(mode="json")
        key = orjson.dumps(body)
        with self._lock:
            if self._last.get(sign.id) == key:
                return
            self._last[sign.id] = key
        payload = orjson.dumps({**body, "ts": self.platform.clock().isoformat()})
        self.platform._publish(topics_of(self.platform.settings.topic_prefix).sign(sign.id), payload, True)


def board_of(app: FastAPI) -> SignBoard:
    """The app's sign board, loaded from `PARKING_SIGNS` on first use."""
    board = getattr(app.state, "sign_board", None)
    if board is None:
        platform: Platform = app.state.platform
        path = load_signs_settings().signs_path
        signs = load_signs(path, platform.directory.lots) if path else []
        board = app.state.sign_board = SignBoard(platform, signs)
        log.info("%d guidance signs loaded", len(signs))
    return board


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the signs at start-up (a bad file stops it), publish them, follow availability."""
    board = board_of(app)
    app.state.platform.sign_board = board  # republished by the platform's AvailabilityChanged handler
    try:
        board.publish_all()
        yield
    finally:
        app.state.platform.sign_board = None


class SignLotRead(BaseModel):
    lot_id: str
    label: str
    free: int
    total: int
    status: Status
    display: str = Field(description="the text in the count cell: free spaces, 满 (full), 关闭 (closed) or -- (no data)")
    colour: str = Field(description="green, yellow, red or grey")
    arrow: str | None = Field(description="direction to drive, relative to the way the sign faces")
    distance_m: float | None
    distance_text: str | None


class SignRead(BaseModel):
    id: str
    name: str
    lat: float
    lon: float
    lots: list[SignLotRead]
    updated_at: datetime | None

    @classmethod
    def of(cls, v: SignView) -> "SignRead":
        return cls(
            id=v.id, name=v.name, lat=v.lat, lon=v.lon, updated_at=v.updated_at,
            lots=[SignLotRead(**line.__dict__) for line in v.lines],
        )


class SignList(BaseModel):
    signs: list[SignRead]


def _board(request: Request) -> SignBoard:
    return board_of(request.app)


BoardDep = Annotated[SignBoard, Depends(_board)]
router = APIRouter(prefix="/v1/signs", tags=["guidance"], lifespan=_lifespan)


@router.get("", response_model=SignList)
def list_signs(board: BoardDep, coord: CoordDep) -> SignList:
    """Every guidance sign with what it shows now."""
    return coord_out(coord, SignList(signs=[SignRead.of(v) for v in board.views()]))


@router.get("/{sign_id}", response_model=SignRead, responses={404: {"model": ErrorBody, "description": "unknown sign id"}})
def get_sign(sign_id: str, board: BoardDep, coord: CoordDep) -> SignRead:
    """What one sign shows now: per car park its label, free spaces, status, arrow and distance."""
    return coord_out(coord, SignRead.of(board.view(sign_id)))
