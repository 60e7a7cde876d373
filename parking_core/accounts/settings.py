"""The accounts' settings: token lifetimes, the JWT key, plates per account, operators' keys."""
from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.settings import load_validated


class AccountSettings(BaseSettings):
    """The accounts' knobs, layered like parking_core.settings (defaults < .env < environment)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    jwt_secret: SecretStr | None = Field(default=None, alias="PARKING_JWT_SECRET")
    token_ttl_s: int = Field(default=3600, alias="PARKING_TOKEN_TTL_S", ge=60, le=86_400)  # access tokens: short, refreshed
    refresh_ttl_s: int = Field(default=30 * 86_400, alias="PARKING_REFRESH_TTL_S", ge=3600, le=180 * 86_400)
    max_plates: int = Field(default=3, alias="PARKING_MAX_PLATES", ge=1, le=20)
    operator_keys: SecretStr | None = Field(default=None, alias="PARKING_OPERATOR_KEYS")

    @field_validator("jwt_secret")
    @classmethod
    def _secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        if len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (HS256 needs a 256-bit key)")
        return v


def load_account_settings(**overrides) -> AccountSettings:
    """Build the accounts' settings or raise ConfigError naming the bad variable (never echoing a secret)."""
    return load_validated(AccountSettings, overrides, secret=("SECRET", "KEYS"))


__all__ = ["AccountSettings", "load_account_settings"]
