"""Per-client rate limits: a fast client gets 429 with Retry-After, others do not, buckets refill;
open streams are capped per client."""
from __future__ import annotations

import anyio
import pytest
from fastapi.testclient import TestClient

from gateways.app import create_app
from gateways.ratelimit import RateLimiter, client_of
from parking_core.errors import ConfigError, TooManyRequests


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def limited(api):
    """(platform, client, clock) where each client may make 3 requests a minute and hold 2 streams."""
    platform, client = api()
    clock = Ticks()
    client.app.state.rate_limiter = RateLimiter(per_minute=3, max_streams=2, clock=clock)
    return platform, client, clock


def test_a_client_calling_too_fast_gets_429_with_retry_after(limited):
    _, client, _ = limited
    assert [client.get("/v1/lots/G1").status_code for _ in range(3)] == [200, 200, 200]
    r = client.get("/v1/lots/G1")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "20"  # one request every 20 s at 3 a minute
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["code"] == "too_many_requests" and body["details"]["retry_after"] == 20


def test_other_clients_are_not_affected(limited):
    _, client, _ = limited
    for _ in range(4):
        client.get("/v1/lots/G1")
    assert client.get("/v1/lots/G1").status_code == 429
    elsewhere = TestClient(client.app, client=("10.1.2.3", 40000))
    assert elsewhere.get("/v1/lots/G1").status_code == 200
    with_key = client.get("/v1/lots/G1", headers={"X-API-Key": "integrator-7"})
    assert with_key.status_code == 200  # an API key is its own client, even from a limited address


def test_the_bucket_refills(limited):
    _, client, clock = limited
    for _ in range(3):
        client.get("/v1/open/lots.geojson")
    assert client.get("/v1/open/lots.geojson").status_code == 429
    clock.t += 19
    assert client.get("/v1/open/lots.geojson").status_code == 429
    clock.t += 1
    assert client.get("/v1/open/lots.geojson").status_code == 200
    clock.t += 600  # a long pause refills to the burst, no further
    assert [client.get("/v1/lots/G1").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_health_is_never_limited(limited):
    _, client, _ = limited
    assert {client.get("/healthz").status_code for _ in range(10)} == {200}
    assert client.get("/v1/lots/G1").status_code == 200


def test_limits_come_from_the_environment(api, monkeypatch):
    monkeypatch.setenv("PARKING_RATE_LIMIT_PER_MIN", "2")
    platform, _ = api()
    client = TestClient(create_app(platform))
    assert [client.get("/v1/lots/G1").status_code for _ in range(3)] == [200, 200, 429]
    monkeypatch.setenv("PARKING_RATE_LIMIT_PER_MIN", "0")  # 0: no limit
    unlimited = TestClient(create_app(platform))
    assert {unlimited.get("/v1/lots/G1").status_code for _ in range(20)} == {200}


@pytest.mark.parametrize("name, value", [("PARKING_RATE_LIMIT_PER_MIN", "lots"), ("PARKING_MAX_STREAMS_PER_CLIENT", "0")])
def test_a_bad_limit_setting_is_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        RateLimiter.from_env()
    assert err.value.field == name and name in str(err.value)


def test_open_streams_are_capped_per_client():
    limiter = RateLimiter(per_minute=600, max_streams=2)
    limiter.acquire_stream("ip:1.1.1.1")
    limiter.acquire_stream("ip:1.1.1.1")
    with pytest.raises(TooManyRequests) as err:
        limiter.acquire_stream("ip:1.1.1.1")
    assert err.value.details["retry_after"] > 0
    limiter.acquire_stream("ip:2.2.2.2")  # someone else may still open one
    limiter.release_stream("ip:1.1.1.1")
    limiter.acquire_stream("ip:1.1.1.1")
    assert limiter.open_streams("ip:1.1.1.1") == 2


def test_a_stream_slot_is_given_back_however_the_stream_ends():
    limiter = RateLimiter(per_minute=600, max_streams=1)

    async def broken_stream() -> None:
        async with limiter.stream("ip:1.1.1.1"):
            raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        anyio.run(broken_stream)
    assert limiter.open_streams("ip:1.1.1.1") == 0
    limiter.acquire_stream("ip:1.1.1.1")


def test_a_client_is_its_api_key_else_its_address():
    assert client_of({"headers": [(b"x-api-key", b"k1")], "client": ("1.2.3.4", 1)}) == "key:k1"
    assert client_of({"headers": [], "client": ("1.2.3.4", 1)}) == "ip:1.2.3.4"
