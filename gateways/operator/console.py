"""The operator console: one bundled page (no CDN, works offline) at /operator/ over the operator API."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

CONSOLE_DIR = Path(__file__).parent / "console_web"


def mount(app: FastAPI) -> None:
    app.add_api_route("/operator", lambda: RedirectResponse("/operator/", status_code=308), include_in_schema=False)
    app.mount("/operator", StaticFiles(directory=CONSOLE_DIR, html=True), name="operator-console")
