"""The HTTP gateways' limits: requests a minute and open streams per client, the largest request body, and
the reverse proxies whose X-Forwarded-For is believed."""
from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.settings import load_validated


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    per_minute: int = Field(default=600, alias="PARKING_RATE_LIMIT_PER_MIN", ge=0, description="0 turns the limit off")
    max_streams: int = Field(default=5, alias="PARKING_MAX_STREAMS_PER_CLIENT", ge=1)
    trusted_proxies: str = Field(default="", alias="PARKING_TRUSTED_PROXIES", description="addresses or CIDRs, comma-separated")
    max_body_bytes: int = Field(default=1 << 20, alias="PARKING_MAX_BODY_BYTES", ge=1024, description="larger request bodies get 413")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: str) -> str:
        for part in filter(None, (p.strip() for p in v.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or network") from None
        return v

    def networks(self) -> tuple:
        return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip())


def load_http_settings(**overrides) -> HttpSettings:
    """The HTTP limits, or ConfigError naming the bad variable and its value."""
    return load_validated(HttpSettings, overrides)


__all__ = ["HttpSettings", "load_http_settings"]
