"""Liveness with the state of each dependency, and the ingest's counters."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from gateways.http.deps import PlatformDep
from parking_core.settings import mask_url

router = APIRouter(tags=["health"])


def _check(fn, target: str) -> dict:
    """{"ok": True}, or the failure as its class name and the target with its password masked: a driver's own
    text may carry a DSN, a user name or a host layout, and /healthz is for anyone who can reach it."""
    try:
        fn()
        return {"ok": True}
    except Exception as exc:  # report, don't raise: this endpoint exists to say what is down
        return {"ok": False, "error": exc.__class__.__name__, "target": mask_url(target)}


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
        "database": {**_check(db, platform.engine.url.render_as_string(hide_password=True)),
                     "backend": platform.engine.dialect.name},
        "live_state": {**_check(live, platform.settings.redis_url or "memory"),
                       "backend": "redis" if platform.settings.redis_url else "memory"},
    }
    ingest = platform.ingest
    deps["mqtt"] = {
        "ok": bool(ingest and ingest.connected.is_set()) if ingest else True,
        "broker": "embedded" if platform.broker else "external",
        "ingest_running": ingest is not None,
    }
    body: dict = {"dependencies": deps, "lots": len(platform.directory)}
    problems = [name for name, d in deps.items() if not d["ok"]]
    if ingest is not None or platform.worker_board is not None:  # the ingest here, or in processes of its own
        workers = platform.workers_status()
        max_lag = platform.settings.ingest_max_lag_s
        for w in workers:
            if not w.get("alive"):
                age = w.get("report_age_s")
                problems.append(f"ingest worker {w['worker']} is not alive" + (f" (last report {age:.0f} s ago)" if age is not None else ""))
            elif float(w.get("lag_s", 0)) > max_lag:
                problems.append(f"ingest worker {w['worker']} is {w['lag_s']:.0f} s behind (limit {max_lag:g} s)")
        lag = max((float(w.get("lag_s", 0)) for w in workers), default=0.0)
        body["ingest"] = {"lag_s": lag, "max_lag_s": max_lag, "workers": workers, **platform.pipeline.stats.as_dict()}
    elif platform.pipeline is not None:
        body["ingest"] = platform.pipeline.stats.as_dict()
    body["status"] = "degraded" if problems else "ok"
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=503 if problems else 200)
