"""Guidance signs over HTTP and MQTT: what each sign shows now, republished retained on change.

A sign's MQTT topic `{prefix}/signs/{sign_id}` is retained, so a sign controller that
reconnects gets the current text at once; it is published at start-up and whenever one of
the sign's car parks changes availability.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field

from gateways.citizen.schemas import ErrorBody, Status
from gateways.citizen.sign_board import SignBoard, SignsSettings, load_signs_settings  # noqa: F401 (the app's board; config)
from gateways.http.coords import CoordDep, coord_out
from parking_core.signs import SignView

log = logging.getLogger("parking.signs")


def board_of(app: FastAPI) -> SignBoard:
    """The platform's sign board (built with it, loaded when it started)."""
    return app.state.platform.sign_board


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Publish every sign when the app starts; the platform's AvailabilityChanged handler keeps them current."""
    board_of(app).publish_all()
    yield


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
