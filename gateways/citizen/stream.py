"""Live push to citizen apps and the web map: the watched car parks' availability as it changes.

`GET /v1/stream` is a Server-Sent Events stream: first the current availability of every
watched lot, then a `ready` event, then each change as the ingest applies it, with a
keep-alive comment every 15 s so proxies keep the connection open.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from gateways.bootstrap import Platform
from gateways.citizen.hub import Dropped, Hub, availability_event
from gateways.citizen.lots_list import current
from gateways.http.coords import CoordDep, wgs84_in
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.http.ratelimit import limiter_of
from parking_core.directory import Directory
from parking_core.errors import InvalidInput, LotNotFound

router = APIRouter(prefix="/v1", tags=["citizen"])
MAX_LOTS = 200
MAX_RADIUS_M = 50_000
EVENTS = """Events: `availability` (data `{"lot_id", "free", "total", "status", "ts"}`), once per watched lot
at the start and then on every change; `ready` (data `{"lots": n}`) when the current state has been sent;
`overflow` (data `{"dropped": n, ...}`) when this client read too slowly and lost its n oldest changes
(read `GET /v1/lots` again); a comment line every 15 s to keep the connection open."""


def include(app: FastAPI) -> None:
    """Serve the stream on this app, fed by the platform's hub (an AvailabilityChanged handler)."""
    app.state.hub = app.state.platform.hub
    app.include_router(router)


def watched_lots(directory: Directory, *, lots: str | None, lat: float | None, lon: float | None, radius_m: float) -> list[str]:
    """The lot ids a stream follows: listed by id, or those within a radius of a point."""
    if lots is not None:
        if lat is not None or lon is not None:
            raise InvalidInput("query parameter 'lots': give either 'lots' or 'lat' and 'lon', not both", field="lots")
        ids = list(dict.fromkeys(part.strip() for part in lots.split(",") if part.strip()))
        if not ids:
            raise InvalidInput("query parameter 'lots': no lot id given", field="lots", value=lots)
        if len(ids) > MAX_LOTS:
            raise InvalidInput(f"query parameter 'lots': at most {MAX_LOTS} lot ids, got {len(ids)}", field="lots", value=len(ids))
        unknown = [i for i in ids if i not in directory.lots]
        if unknown:
            shown = ", ".join(repr(i) for i in unknown[:10])
            raise LotNotFound(f"no car park with id {shown}", field="lots", value=",".join(unknown[:10]))
        return ids
    if lat is None and lon is None:
        raise InvalidInput("query parameter 'lots': give 'lots' (comma-separated ids), or 'lat' and 'lon'", field="lots")
    if lat is None or lon is None:
        missing = "lat" if lat is None else "lon"
        raise InvalidInput(f"query parameter '{missing}': 'lat' and 'lon' go together", field=missing)
    return [info.id for _, info in directory.within(lat, lon, radius_m)]


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    description=EVENTS,
    responses={
        200: {"description": "a Server-Sent Events stream (see above)", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        404: {"model": ErrorBody, "description": "an unknown lot id"},
        422: {"model": ErrorBody, "description": "bad parameters, named"},
        429: {"model": ErrorBody, "description": "this client already holds as many open streams as it may"},
    },
)
async def stream(
    request: Request,
    platform: PlatformDep,
    coord: CoordDep,
    lots: str | None = Query(None, description=f"comma-separated lot ids, at most {MAX_LOTS}"),
    lat: float | None = Query(None, ge=-90, le=90, description="latitude of the centre, in the `coord` system (WGS 84 by default)"),
    lon: float | None = Query(None, ge=-180, le=180, description="longitude of the centre, in the `coord` system (WGS 84 by default)"),
    radius_m: float = Query(1000, gt=0, le=MAX_RADIUS_M, description="with lat and lon"),
) -> EventSourceResponse:
    """Live availability of the lots named, or of those within `radius_m` of (lat, lon)."""
    lat, lon = wgs84_in(coord, lat, lon)  # the radius is measured in WGS-84
    ids = watched_lots(platform.directory, lots=lots, lat=lat, lon=lon, radius_m=radius_m)
    hub: Hub = request.app.state.hub
    release = _stream_slot(request)
    # no send timeout: a client that stops reading holds only its bounded queue and one socket
    # buffer, while a timeout would cost a cancel scope on every write to every client
    return EventSourceResponse(_events(platform, hub, ids, release), ping=hub.keepalive_s, background=BackgroundTask(release))


def _stream_slot(request: Request) -> Callable[[], None]:
    """Take one of the client's open-stream slots (429 when none is left); returns its release, safe to call twice."""
    limiter = limiter_of(request.app)
    client = limiter.client_of(request.scope)
    limiter.acquire_stream(client)
    held = [True]

    def release() -> None:
        if held:
            held.clear()
            limiter.release_stream(client)

    return release


async def _events(platform: Platform, hub: Hub, lot_ids: list[str], release: Callable[[], None]) -> AsyncIterator[bytes]:
    """Current state, then changes; subscribed before the state is read so none is missed."""
    try:
        async with hub.subscription(lot_ids) as sub:
            now = platform.clock()
            sent: dict[str, tuple[int, int, str]] = {}
            frames = []
            for info, a in await anyio.to_thread.run_sync(current, platform, lot_ids):
                sent[info.id] = (a.free, a.total, a.status)
                frames.append(availability_event(info.id, a, now))
            frames.append(ServerSentEvent(event="ready", data=orjson.dumps({"lots": len(sent)}).decode()).encode())
            yield b"".join(frames)  # one write for the whole state, however many lots
            while True:
                frames = []
                for item in await sub.get():
                    if isinstance(item, Dropped):
                        frames.append(_overflow(item.count))
                    elif item.seq > sub.since and sent.get(item.lot_id) != item.key:  # else the snapshot showed it
                        sent[item.lot_id] = item.key
                        frames.append(item.frame)
                if frames:
                    yield b"".join(frames)
    finally:
        release()


def _overflow(dropped: int) -> bytes:
    message = f"this client read too slowly and lost its {dropped} oldest changes: read GET /v1/lots again"
    return ServerSentEvent(event="overflow", data=orjson.dumps({"dropped": dropped, "message": message}).decode()).encode()
