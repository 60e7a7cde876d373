"""The citizen web map, served by the platform itself: `/` and its files under `/static/`.

Everything the page needs ships in `gateways/web/` (Leaflet included), so it works on a
network with no way out.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent / "web"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def mount(app: FastAPI) -> None:
    """Serve the page at `/` and its scripts, styles and images at `/static/`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
