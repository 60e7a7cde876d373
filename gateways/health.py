"""Liveness with the state of each dependency, and the ingest's counters."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from gateways.deps import PlatformDep

router = APIRouter(tags=["health"])


def _check(fn) -> dict:
    try:
        fn()
        return {"ok": True}
    except Exception as exc:  # report, don't raise: this endpoint exists to say what is down
        return {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:300]}


@router.get("/healthz")
def healthz(platform: PlatformDep) -> JSONResponse:
    """200 when the platform can serve; 503 naming the dependency that is down."""

    def db() -> None:
        with platform.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def live() -> None:
        if not platform.live.ping():
            raise RuntimeError("no answer")

    deps = {
        "database": {**_check(db), "backend": platform.engine.dialect.name},
        "live_state": {**_check(live), "backend": "redis" if platform.settings.redis_url else "memory"},
    }
    ingest = platform.ingest
    deps["mqtt"] = {
        "ok": bool(ingest and ingest.connected.is_set()) if ingest else True,
        "broker": "embedded" if platform.broker else "external",
        "ingest_running": ingest is not None,
    }
    ok = all(d["ok"] for d in deps.values())
    body = {"status": "ok" if ok else "degraded", "dependencies": deps, "lots": len(platform.directory)}
    if platform.pipeline is not None:
        body["ingest"] = platform.pipeline.stats.as_dict()
    return JSONResponse(body, status_code=200 if ok else 503)
