"""The citizen web map, served by the platform itself: `/` and its files under `/static/`; and the
API's own pages, `/docs` (Swagger UI) and `/redoc`.

Everything these pages need ships in `gateways/web/` (Leaflet, Swagger UI and ReDoc under
`vendor/`, with their licences), so they work on a network with no way out. `GET /v1/map`
tells the map its basemap (PARKING_BASEMAP_URL, or Tianditu with PARKING_TIANDITU_KEY; neither:
the offline map) and the coordinate system to ask the API in, so markers sit on its streets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from gateways.http.deps import PlatformDep
from parking_core.settings import Settings

WEB_DIR = Path(__file__).resolve().parent / "web"

router = APIRouter(include_in_schema=False)
map_router = APIRouter(prefix="/v1", tags=["citizen"])
# Tianditu's Web Mercator vector map and its Chinese labels; CGCS2000, which is WGS-84 to within centimetres
TIANDITU = (
    "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec&STYLE=default"
    "&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=",
    "https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=cva&STYLE=default"
    "&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=",
)


class TileLayer(BaseModel):
    url: str = Field(description="an XYZ template for Leaflet: {s}, {z}, {x}, {y}")
    subdomains: str
    attribution: str = Field(description="plain text, shown in the corner of the map")
    max_zoom: int = 18


class MapConfig(BaseModel):
    coord: Literal["wgs84", "gcj02"] = Field(description="the basemap's coordinate system: pass it as `coord` to every API call")
    layers: list[TileLayer] = Field(description="tile layers, bottom first; empty: the offline map (district outlines, no tiles)")


def map_config(settings: Settings) -> MapConfig:
    """The basemap the settings ask for: an XYZ template, else Tianditu with a key, else none."""
    if settings.basemap_url:
        return MapConfig(coord=settings.basemap_coord, layers=[TileLayer(
            url=settings.basemap_url, subdomains=settings.basemap_subdomains, attribution=settings.basemap_attribution,
        )])
    if settings.tianditu_key:
        credit = settings.basemap_attribution or "© 天地图 Tianditu"
        return MapConfig(coord="wgs84", layers=[
            TileLayer(url=url + settings.tianditu_key, subdomains="01234567", attribution=credit if i == 0 else "")
            for i, url in enumerate(TIANDITU)
        ])
    return MapConfig(coord="wgs84", layers=[])


@map_router.get("/map", response_model=MapConfig)
def basemap(platform: PlatformDep) -> MapConfig:
    """What the web map draws under the car parks, and in which coordinate system."""
    return map_config(platform.settings)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


SWAGGER = "/static/vendor/swagger-ui"
REDOC = "/static/vendor/redoc"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """FastAPI's Swagger UI page, with its script and style from our own files instead of a CDN."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{SWAGGER}/swagger-ui-bundle.js", swagger_css_url=f"{root}{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{root}{SWAGGER}/favicon-32x32.png", oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
    )


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc, from our own copy of its standalone bundle and without Google Fonts."""
    root = request.scope.get("root_path", "")
    return get_redoc_html(openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - ReDoc",
                          redoc_js_url=f"{root}{REDOC}/redoc.standalone.js", redoc_favicon_url=f"{root}{SWAGGER}/favicon-32x32.png",
                          with_google_fonts=False)


def mount(app: FastAPI) -> None:
    """Serve the page at `/`, the API's pages at `/docs` and `/redoc` (create the app with
    docs_url=None, redoc_url=None), and their scripts, styles and images at `/static/`."""
    app.include_router(router)
    app.include_router(map_router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
