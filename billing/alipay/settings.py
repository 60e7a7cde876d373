"""Which Alipay app the platform talks to: `AlipaySettings` (the value the client is built from) and
`AlipayEnv`, the same read from the environment or `.env` through pydantic-settings, keys from files
(`*_FILE`) so they stay out of the environment. A bad value names the variable, never a key."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.errors import ConfigError
from parking_core.settings import load_validated

PRODUCTION_GATEWAY = "https://openapi.alipay.com/gateway.do"


@dataclass(frozen=True)
class AlipaySettings:
    """What the platform needs to talk to one Alipay app (real, sandbox, or the local gateway)."""

    app_id: str
    app_private_key_pem: str = field(repr=False)
    alipay_public_key_pem: str = field(repr=False)
    server_url: str = PRODUCTION_GATEWAY
    sign_type: str = "RSA2"
    timeout_s: float = 15.0
    notify_url: str | None = None
    sign_scene: str = "DEFAULT|DEFAULT"
    seller_id: str | None = None  # the merchant's PID (2088…): notifications naming another seller are refused
    agreement_notify_url: str | None = None  # where dut_user_sign/unsign go; None: the sibling of notify_url

    def __post_init__(self) -> None:
        if not isinstance(self.app_id, str) or not self.app_id.strip():
            raise ConfigError(f"alipay app_id is empty: {self.app_id!r}", field="app_id", value=self.app_id)
        if self.sign_type != "RSA2":
            raise ConfigError(f"alipay sign_type must be RSA2, got {self.sign_type!r}", field="sign_type", value=self.sign_type)
        check_url(self.server_url, "server_url")
        for name in ("notify_url", "agreement_notify_url"):
            if getattr(self, name) is not None:
                check_url(getattr(self, name), name)
        if not self.timeout_s > 0:
            raise ConfigError(f"alipay timeout_s must be positive, got {self.timeout_s!r}", field="timeout_s", value=self.timeout_s)

    def agreement_notify(self) -> str | None:
        """Where Alipay posts agreement notifications: the setting, else `…/agreement-notify` beside `…/notify`."""
        if self.agreement_notify_url:
            return self.agreement_notify_url
        return urljoin(self.notify_url, "agreement-notify") if self.notify_url else None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AlipaySettings:
        """Settings from the ALIPAY_* variables (`environ` overrides them); ConfigError when ALIPAY_APP_ID is unset."""
        settings = load_alipay_settings(**(environ or {}))
        if settings is None:
            raise ConfigError("ALIPAY_APP_ID is not set", field="ALIPAY_APP_ID")
        return settings


class AlipayEnv(BaseSettings):
    """The ALIPAY_* variables; unset ALIPAY_APP_ID means no Alipay (no agreements, no charging)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    app_id: str | None = Field(default=None, alias="ALIPAY_APP_ID", max_length=32)
    app_private_key: SecretStr | None = Field(default=None, alias="ALIPAY_APP_PRIVATE_KEY")
    app_private_key_file: Path | None = Field(default=None, alias="ALIPAY_APP_PRIVATE_KEY_FILE")
    public_key: str | None = Field(default=None, alias="ALIPAY_PUBLIC_KEY")
    public_key_file: Path | None = Field(default=None, alias="ALIPAY_PUBLIC_KEY_FILE")
    server_url: str = Field(default=PRODUCTION_GATEWAY, alias="ALIPAY_SERVER_URL")
    notify_url: str | None = Field(default=None, alias="ALIPAY_NOTIFY_URL")
    agreement_notify_url: str | None = Field(default=None, alias="ALIPAY_AGREEMENT_NOTIFY_URL")
    sign_scene: str = Field(default="DEFAULT|DEFAULT", alias="ALIPAY_SIGN_SCENE", min_length=1, max_length=64)
    timeout_s: float = Field(default=15.0, alias="ALIPAY_TIMEOUT_S", gt=0, le=120)
    seller_id: str | None = Field(default=None, alias="ALIPAY_SELLER_ID", pattern=r"^2088\d{12}$")

    @field_validator("app_id", "app_private_key", "public_key", "notify_url", "agreement_notify_url", "seller_id",
                     "app_private_key_file", "public_key_file", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("server_url", "notify_url", "agreement_notify_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None:
            url_problem = _url_problem(v)
            if url_problem:
                raise ValueError(url_problem)
        return v

    @field_validator("app_private_key_file", "public_key_file")
    @classmethod
    def _readable(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError("no such file")
        return v

    def client_settings(self) -> AlipaySettings | None:
        """The client's settings, reading key files now; None without ALIPAY_APP_ID."""
        if self.app_id is None:
            return None
        return AlipaySettings(
            app_id=self.app_id,
            app_private_key_pem=_secret(self.app_private_key, self.app_private_key_file, "ALIPAY_APP_PRIVATE_KEY"),
            alipay_public_key_pem=_secret(self.public_key, self.public_key_file, "ALIPAY_PUBLIC_KEY"),
            server_url=self.server_url, timeout_s=self.timeout_s, notify_url=self.notify_url, sign_scene=self.sign_scene,
            seller_id=self.seller_id, agreement_notify_url=self.agreement_notify_url,
        )


def load_alipay_settings(**overrides: Any) -> AlipaySettings | None:
    """Alipay's settings from the environment (None when ALIPAY_APP_ID is unset), or ConfigError naming the variable."""
    env = load_validated(AlipayEnv, overrides, secret=("PRIVATE_KEY",))
    return env.client_settings()


def check_url(url: Any, name: str) -> None:
    """ConfigError unless `url` is an http(s) URL with a host and a valid port."""
    problem = _url_problem(url)
    if problem:
        raise ConfigError(f"alipay {name} {problem}, got {url!r}", field=name, value=url)


def _url_problem(url: Any) -> str | None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    try:
        _ = parts.port
    except ValueError:
        return "has an invalid port"
    return None


def _secret(value: SecretStr | str | None, path: Path | None, name: str) -> str:
    if path is not None:
        try:
            return path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{name}_FILE={str(path)!r} cannot be read: {type(exc).__name__}",
                              field=f"{name}_FILE", value=str(path)) from None
    if value is None:
        raise ConfigError(f"{name} (or {name}_FILE) is not set", field=name)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


__all__ = ["PRODUCTION_GATEWAY", "AlipayEnv", "AlipaySettings", "check_url", "load_alipay_settings"]
