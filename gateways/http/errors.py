"""The one place errors become HTTP answers: ParkingError by its code, bad parameters by name."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from parking_core.errors import ParkingError


class ErrorBody(BaseModel):
    """Every error answer of every audience, as `install_error_handlers` renders it."""

    code: str
    message: str
    field: str | None = None
    value: str | int | float | bool | None = None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ParkingError)
    async def _parking_error(request: Request, exc: ParkingError) -> JSONResponse:
        headers = {"Retry-After": str(exc.details["retry_after"])} if "retry_after" in exc.details else None
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("request",), "msg": "invalid"}
        loc = [str(p) for p in first["loc"]]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or where
        got = first.get("input")
        msg = f"{where} parameter '{name}': {first['msg']}" if where in ("query", "path", "header") else f"{'.'.join(loc)}: {first['msg']}"
        if got is not None and not isinstance(got, (dict, list)):
            msg += f" (got {got!r})"
        body = {"code": "invalid_input", "message": msg, "field": name, "detail": [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors
        ]}
        return JSONResponse(body, status_code=422)
