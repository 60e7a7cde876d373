"""The citizen web map, served by the platform itself: `/` and its files under `/static/`; and the
API's own pages, `/docs` (Swagger UI) and `/redoc`.

Everything these pages need ships in `gateways/web/` (Leaflet, Swagger UI and ReDoc under
`vendor/`, with their licences), so they work on a network with no way out.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent / "web"

router = APIRouter(include_in_schema=False)


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
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
