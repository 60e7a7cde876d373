"""Per-client rate limits: a fast client gets 429 with Retry-After, others do not, buckets refill;
open streams are capped per client."""
from __future__ import annotations

import ipaddress

import anyio
import pytest
from fastapi.testclient import TestClient

from gateways.http.app import create_app
from gateways.http.ratelimit import RateLimiter, client_of
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
    forged = [client.get("/v1/lots/G1", headers={"X-API-Key": f"k{i}", "X-Forwarded-For": f"9.9.9.{i}"}).status_code for i in range(3)]
    assert forged == [429, 429, 429]  # headers anyone can invent make no new client


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


def test_a_client_is_its_address_and_x_forwarded_for_counts_only_through_trusted_proxies():
    proxies = (ipaddress.ip_network("10.0.0.0/8"),)
    forwarded = [(b"x-forwarded-for", b"6.6.6.6, 1.2.3.4, 10.0.0.7")]
    assert client_of({"headers": [(b"x-api-key", b"k1")], "client": ("1.2.3.4", 1)}) == "ip:1.2.3.4"
    assert client_of({"headers": forwarded, "client": ("5.5.5.5", 1)}, trusted_proxies=proxies) == "ip:5.5.5.5"  # not a proxy of ours
    # through our proxies: the rightmost untrusted hop; what the client wrote before it is ignored
    assert client_of({"headers": forwarded, "client": ("10.0.0.1", 1)}, trusted_proxies=proxies) == "ip:1.2.3.4"


def test_signed_in_drivers_and_operators_are_limited_as_themselves_not_by_address(limited):
    platform, client, _ = limited
    platform.accounts.request_code("13900000001")
    token = platform.accounts.sign_in("13900000001", platform.accounts.sender.last_code("13900000001")).access_token
    for _ in range(3):
        client.get("/v1/lots/G1")
    assert client.get("/v1/lots/G1").status_code == 429  # the address is spent
    signed = {"Authorization": f"Bearer {token}"}
    assert [client.get("/v1/lots/G1", headers=signed).status_code for _ in range(4)] == [200, 200, 200, 429]
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.get("/v1/lots/G1", headers=bad).status_code == 429  # an invalid token is no identity


def test_a_body_over_the_limit_is_refused_before_it_is_read(api):
    from gateways.http.body_limit import BodyLimitMiddleware

    _, client = api()
    big = b'{"phone": "' + b"1" * (2 << 20) + b'"}'
    r = client.post("/v1/auth/code", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

    async def endless(scope, receive, send):  # an app that would read a chunked body to the end
        while (await receive()).get("more_body"):
            pass

    chunks = iter([{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 3 + [{"type": "http.request", "body": b"", "more_body": False}])
    sent = []

    async def receive():
        return next(chunks)

    async def send(message):
        sent.append(message)

    anyio.run(BodyLimitMiddleware(endless, max_bytes=1024), {"type": "http", "headers": []}, receive, send)
    assert sent[0]["status"] == 413


def test_operator_and_driver_answers_are_never_kept_by_caches(api):
    _, client = api()
    r = client.get("/v1/lots/G1", headers={"X-Operator-Key": "whatever"})
    assert r.headers["Cache-Control"] == "private, no-store"
    assert client.get("/v1/lots/G1").headers["Cache-Control"].startswith("max-age=")
