"""Start-up checks for the `parking` command: every setting that points somewhere is tried before
anything starts, so a wrong one stops the command with one line naming it (password masked)
instead of a traceback, a half-started platform or a banner for a server that never listens."""
from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

from parking_core.errors import ConfigError, ParkingError
from parking_core.settings import Settings, mask_url

CONNECT_TIMEOUT_S = 5.0


def one_line(text: str) -> str:
    """Drivers' and servers' errors often run over several lines; the command prints one."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "; ".join(lines) if len(lines) <= 2 else lines[0]


def _unreachable(setting: str, url: str, exc: BaseException) -> ConfigError:
    reason = one_line(str(exc)) or exc.__class__.__name__
    password = urlsplit(url).password
    for secret in filter(None, [password, unquote(password or "")]):
        reason = reason.replace(secret, "***")
    return ConfigError(f"{setting}={mask_url(url)}: cannot connect: {reason}", field=setting, value=mask_url(url))


def bind_http(host: str, port: int) -> socket.socket:
    """A listening socket on host:port for uvicorn, or ConfigError naming the port: binding before
    the banner and before anything starts means a busy port stops the command, not a running one."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: must be between 1 and 65535", field="--port", value=port)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address to listen on ({exc.strerror})", field="--host", value=host) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart within TIME_WAIT works
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use", field="--port", value=port) from None
        raise ConfigError(f"cannot listen on port {port} of {host}: {exc.strerror or exc}", field="--port", value=port) from None
    sock.set_inheritable(True)
    return sock


def check_tariffs(s: Settings) -> None:
    from billing.tariffs.catalog import load_tariff_catalog

    load_tariff_catalog(s.tariffs_path)


def check_database(s: Settings) -> None:
    from sqlalchemy import text

    from parking_core.db import make_engine

    url = s.resolved_database_url()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # the driver's own error: refused, unknown host, bad password, no such database
        raise _unreachable("DATABASE_URL", url, exc.orig if getattr(exc, "orig", None) is not None else exc) from None
    finally:
        engine.dispose()


def check_redis(s: Settings) -> None:
    if not s.redis_url:
        return
    import redis

    client = redis.Redis.from_url(s.redis_url, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise _unreachable("REDIS_URL", s.redis_url, exc) from None
    finally:
        client.close()


def check_mqtt(s: Settings) -> None:
    """Connect and wait for the broker's answer, so a refused user name or password is caught too."""
    if not s.mqtt_url:
        return
    import threading

    import paho.mqtt.client as mqtt

    from sensors.mqtt import MqttTarget

    target = MqttTarget.from_url(s.mqtt_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set()
    answered = threading.Event()
    outcome: list = []

    def on_connect(c, userdata, flags, reason, props) -> None:  # noqa: ANN001
        outcome.append(reason)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(target.host, target.port, keepalive=10)
    except (OSError, ValueError) as exc:
        raise _unreachable("MQTT_URL", s.mqtt_url, exc) from None
    client.loop_start()
    try:
        if not answered.wait(CONNECT_TIMEOUT_S):
            raise _unreachable("MQTT_URL", s.mqtt_url, TimeoutError(f"no answer within {CONNECT_TIMEOUT_S:g} s"))
        if outcome[0].is_failure:
            raise _unreachable("MQTT_URL", s.mqtt_url, RuntimeError(f"the broker refused: {outcome[0]}"))
    finally:
        client.disconnect()
        client.loop_stop()


def check_embedded_broker(s: Settings) -> None:
    if s.mqtt_url:
        return
    from sensors.broker import check_port_free, embedded_port

    check_port_free("127.0.0.1", embedded_port())


def check_dependencies(s: Settings, *, broker: bool = True) -> None:
    """Every configured dependency, cheapest first; the first that fails raises ConfigError."""
    check_tariffs(s)
    check_database(s)
    check_redis(s)
    if broker:
        check_mqtt(s)
        check_embedded_broker(s)


@contextmanager
def named_failures(s: Settings) -> Iterator[None]:
    """Whatever still goes wrong while the platform starts (a server that went away after the
    checks) becomes ConfigError naming the setting behind it."""
    try:
        yield
    except ParkingError:
        raise
    except Exception as exc:
        import redis
        from sqlalchemy.exc import DBAPIError, OperationalError

        if s.redis_url and isinstance(exc, redis.RedisError):
            raise _unreachable("REDIS_URL", s.redis_url, exc) from None
        if isinstance(exc, (OperationalError, DBAPIError)):
            raise _unreachable("DATABASE_URL", s.resolved_database_url(), exc.orig or exc) from None
        if s.mqtt_url and isinstance(exc, OSError):
            raise _unreachable("MQTT_URL", s.mqtt_url, exc) from None
        raise
