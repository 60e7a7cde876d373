"""Settings layered as defaults < .env < environment, validated once at start-up.

A bad value stops the platform with a message that names the setting and the value.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.errors import ConfigError
from parking_core.geo_settings import SECRET_WORDS, BaiduKey, BasemapCoord, HttpBase, TiandituKey, TileUrl

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "city-parking"


class Settings(BaseSettings):
    """Every knob the platform reads; names match the contract's environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    mqtt_url: str | None = Field(default=None, alias="MQTT_URL")
    topic_prefix: str = Field(default="parking/v1", alias="PARKING_TOPIC_PREFIX")
    heartbeat_timeout_s: float = Field(default=900.0, alias="PARKING_HEARTBEAT_TIMEOUT_S", gt=0)
    debounce_s: float = Field(default=0.0, alias="PARKING_DEBOUNCE_S", ge=0)
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, alias="PARKING_DATA_DIR")
    redis_prefix: str = Field(default="parking:", alias="PARKING_REDIS_PREFIX")
    mqtt_client_id: str = Field(default="parking-ingest", alias="PARKING_MQTT_CLIENT_ID")
    ingest_batch_size: int = Field(default=500, alias="PARKING_INGEST_BATCH", ge=1, le=100_000)
    ingest_flush_ms: float = Field(default=0.0, alias="PARKING_INGEST_FLUSH_MS", ge=0)  # 0: group commit, no wait
    tariffs_path: Path | None = Field(default=None, alias="PARKING_TARIFFS")
    almost_full_ratio: float = Field(default=0.1, alias="PARKING_ALMOST_FULL_RATIO", ge=0, le=1)
    ingest_max_lag_s: float = Field(default=60.0, alias="PARKING_INGEST_MAX_LAG_S", gt=0)  # /healthz degraded past this
    worker_report_s: float = Field(default=1.0, alias="PARKING_WORKER_REPORT_S", gt=0, le=60)  # ingest workers report this often
    # ingest processes of their own (`serve --workers`/`--http-workers`) run this much nicer than the API: on shared cores
    # a burst of sensor traffic waits in the broker (lag on /healthz, nothing lost) rather than slowing every request
    ingest_nice: int = Field(default=10, alias="PARKING_INGEST_NICE", ge=0, le=19)
    min_known_share: float = Field(default=0.5, alias="PARKING_MIN_KNOWN_SHARE", ge=0, le=1)  # berth-sensor lots below it: unknown
    # the citizen map's basemap and place search (docs/web.md); checks in geo_settings.py
    basemap_url: TileUrl = Field(default=None, alias="PARKING_BASEMAP_URL")
    basemap_coord: BasemapCoord = Field(default="wgs84", alias="PARKING_BASEMAP_COORD")
    basemap_attribution: str = Field(default="", alias="PARKING_BASEMAP_ATTRIBUTION", max_length=300)
    basemap_subdomains: str = Field(default="abc", alias="PARKING_BASEMAP_SUBDOMAINS", pattern=r"^[0-9A-Za-z]{1,16}$")
    tianditu_key: TiandituKey = Field(default=None, alias="PARKING_TIANDITU_KEY")
    baidu_ak: BaiduKey = Field(default=None, alias="PARKING_BAIDU_AK")
    baidu_sk: BaiduKey = Field(default=None, alias="PARKING_BAIDU_SK")
    baidu_url: HttpBase = Field(default="https://api.map.baidu.com", alias="PARKING_BAIDU_URL")
    geocoder_timeout_s: float = Field(default=3.0, alias="PARKING_GEOCODER_TIMEOUT_S", gt=0, le=30)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        v = v.strip("/")
        if not v or any(c in v for c in "+#"):
            raise ValueError("must be a non-empty MQTT topic without wildcards")
        return v

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        scheme = urlsplit(v).scheme
        if not scheme.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return normalise_database_url(v)

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if not v:
            return None
        if urlsplit(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis:// URL")
        return v

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt(cls, v: str | None) -> str | None:
        if not v:
            return None
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError("must be a mqtt://user:pass@host:port URL")
        if not parts.hostname:
            raise ValueError("has no host")
        try:
            _ = parts.port  # urlsplit checks the port only when asked
        except ValueError as exc:
            raise ValueError(f"has a bad port ({exc})") from None
        return v

    def resolved_database_url(self) -> str:
        """The URL to connect to: the setting, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'parking.db'}"


def normalise_database_url(url: str) -> str:
    """Accept plain postgresql:// (and postgres://) URLs and pick the psycopg 3 driver."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def load_validated(model: type[BaseSettings], overrides: dict, *, secret: tuple[str, ...] = ()) -> BaseSettings:
    """Build a settings model or raise ConfigError naming the bad variable and, unless its name
    contains one of `secret`, the value (a URL's password shown as ***); every settings model of the
    platform loads through here."""
    try:
        return model(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "settings"
        field = model.model_fields.get(name)
        env = field.alias if field is not None and field.alias else name
        if any(word in env for word in secret) and not env.endswith("_FILE"):  # a secret's file: its path is no secret
            raise ConfigError(f"{env}: {err['msg']}", field=env) from None
        value = masked(err.get("input"))
        raise ConfigError(f"{env}={value!r}: {err['msg']}", field=env, value=value) from None


def mask_url(url: str) -> str:
    """The URL with its password (if any) shown as ***, for messages and logs."""
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:  # a bad port: hide whatever sits between '//' and '@'
        head, sep, tail = url.partition("//")
        if "@" not in tail:
            return url
        user = tail.split("@", 1)[0].split(":", 1)[0]
        return f"{head}{sep}{user}:***@{tail.split('@', 1)[1]}"
    if password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def masked(value: Any) -> Any:
    """`value` fit to print: a URL's password replaced by ***."""
    return mask_url(value) if isinstance(value, str) and "://" in value else value


def load_settings(**overrides) -> Settings:
    """The platform's settings, or ConfigError naming the bad variable and its value."""
    return load_validated(Settings, overrides, secret=SECRET_WORDS)
