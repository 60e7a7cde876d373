"""The embedded MQTT broker (amqtt) for the zero-setup default: runs on its own thread and loop.

Production uses Mosquitto (see deploy/mosquitto/); this one keeps the demo and quick
tests free of any server install. It speaks MQTT 3.1.1 with persistent sessions and, like any
broker the platform trusts, accepts only a user name and password (the platform's own, random per
start unless given); amqtt keeps queued messages only for clients that give a user name.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import socket
import tempfile
import threading
from urllib.parse import quote

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.errors import ConfigError, DependencyUnavailable
from parking_core.settings import load_validated

DEFAULT_PORT = 1884  # 1883 is usually a real broker's


class EmbeddedBrokerSettings(BaseSettings):
    """Where the embedded broker listens when MQTT_URL is unset; devices and `parking simulate` are
    pointed at this port, so it never moves on its own."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    port: int = Field(default=DEFAULT_PORT, alias="PARKING_EMBEDDED_MQTT_PORT", ge=1, le=65535)
    password: SecretStr | None = Field(default=None, alias="PARKING_EMBEDDED_MQTT_PASSWORD", min_length=12)


def embedded_password() -> str | None:
    """PARKING_EMBEDDED_MQTT_PASSWORD (user `platform`), for devices of your own on the embedded broker; else a random one per start."""
    secret = load_validated(EmbeddedBrokerSettings, {}, secret=("PASSWORD",)).password
    return secret.get_secret_value() if secret else None


def embedded_port() -> int:
    """PARKING_EMBEDDED_MQTT_PORT (default 1884), or ConfigError naming it."""
    return load_validated(EmbeddedBrokerSettings, {}).port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_port_free(host: str, port: int, *, setting: str = "PARKING_EMBEDDED_MQTT_PORT") -> None:
    """Raise ConfigError naming the port and the setting when nobody can listen there; SO_REUSEADDR
    as the broker's own listener has it, so a port left in TIME_WAIT by a previous run is free."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be listened on ({exc.strerror or exc})"
            raise ConfigError(f"embedded MQTT broker: port {port} on {host} {why} (set {setting}, or MQTT_URL for a broker of your own)",
                              field=setting, value=port) from None


class EmbeddedBroker:
    """Requires a user name and password like any broker the platform trusts: the user `platform`
    with `password` (a random one when not given), checked against an argon2 hash."""

    USER = "platform"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, password: str | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        self.password = password or secrets.token_urlsafe(18)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """With the credentials: for the platform's own clients; show `display_url` to people."""
        return f"mqtt://{self.USER}:{quote(self.password, safe='')}@{self.host}:{self.port}"

    @property
    def display_url(self) -> str:
        return f"mqtt://{self.USER}:***@{self.host}:{self.port}"

    def start(self) -> "EmbeddedBroker":
        """Listen on exactly this port or raise ConfigError naming it: a broker that moved would
        leave the devices publishing to a port nobody reads."""
        check_port_free(self.host, self.port)
        # amqtt logs every half-open probe connection as an error; the platform reports what matters
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self._thread = threading.Thread(target=self._run, name="embedded-mqtt", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._error:
            raise DependencyUnavailable(f"embedded MQTT broker failed to start on port {self.port} of {self.host}: {self._error}",
                                        field="PARKING_EMBEDDED_MQTT_PORT", value=self.port)
        return self

    def _run(self) -> None:
        from amqtt.broker import Broker

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        from argon2 import PasswordHasher

        users = tempfile.NamedTemporaryFile("w", prefix="parking-mqtt-users-", suffix=".txt", delete=False)
        with users:
            users.write(f"{self.USER}:{PasswordHasher().hash(self.password)}\n")
        self._users_file = users.name
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 1000}},
            "plugins": {"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": users.name}},
        }

        async def boot() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        try:
            self._loop.run_until_complete(boot())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if getattr(self, "_users_file", None):
            os.unlink(self._users_file)
            self._users_file = None
        if self._loop is None or self._broker is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread:
                self._thread.join(10)
