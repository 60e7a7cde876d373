"""One root exception for the whole platform, rendered in one place by the gateways.

Every error carries a machine-readable ``code`` and an HTTP status, and names the
field and the value that were wrong where there is one.
"""
from __future__ import annotations

from typing import Any


class ParkingError(Exception):
    """Root of every error the platform raises on purpose."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, value: Any = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.value is not None:
            body["value"] = self.value if isinstance(self.value, (str, int, float, bool)) else repr(self.value)
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(ParkingError):
    code = "invalid_input"
    http_status = 422


class ConfigError(ParkingError):
    code = "config_error"
    http_status = 500


class NotFound(ParkingError):
    code = "not_found"
    http_status = 404


class LotNotFound(NotFound):
    code = "lot_not_found"


class BerthNotFound(NotFound):
    code = "berth_not_found"


class Conflict(ParkingError):
    code = "conflict"
    http_status = 409


class Unauthorized(ParkingError):
    code = "unauthorized"
    http_status = 401


class Forbidden(ParkingError):
    code = "forbidden"
    http_status = 403


class TooManyRequests(ParkingError):
    code = "too_many_requests"
    http_status = 429


class DependencyUnavailable(ParkingError):
    code = "dependency_unavailable"
    http_status = 503
