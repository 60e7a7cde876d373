"""Rate limits that hold across HTTP processes (counted in Redis), and operators counted as the
principal their issued key or console session belongs to, not as their address."""
from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient

from gateways.http.app import create_app
from gateways.http.ratelimit import RateLimiter
from gateways.http.ratelimit_store import RedisStore
from gateways.operator.permissions import env_principal, principals_of
from parking_core.errors import TooManyRequests

CITY = env_principal("city")


@pytest.fixture
def two_processes(make_platform, redis_url, redis_prefix, tmp_path, monkeypatch):
    """Two platforms and apps over one database and one Redis, as `--http-workers 2` runs them;
    each client may make 3 requests a minute."""
    monkeypatch.setenv("PARKING_RATE_LIMIT_PER_MIN", "3")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "REDIS_URL": redis_url, "PARKING_REDIS_PREFIX": redis_prefix}
    apps = []
    for _ in range(2):
        platform = make_platform(**env)
        apps.append((platform, TestClient(create_app(platform))))
    return apps


@pytest.mark.parametrize("backend_env", ["embedded"], indirect=True)
def test_a_client_spending_its_limit_in_one_process_is_refused_by_the_other(two_processes):
    (_, a), (_, b) = two_processes
    assert [a.get("/v1/lots/G1").status_code for _ in range(3)] == [200, 200, 200]
    r = b.get("/v1/lots/G1")
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 20
    other = TestClient(b.app, client=("10.9.9.9", 5000))
    assert other.get("/v1/lots/G1").status_code == 200  # someone else is not affected


@pytest.mark.parametrize("backend_env", ["embedded"], indirect=True)
def test_an_issued_operator_key_is_counted_as_its_principal_in_every_process(two_processes):
    (platform, a), (_, b) = two_processes
    issued = principals_of(platform).issue_key(actor=CITY, org_kind="operator", org_id="op2", role="staff", label="gate")
    key = {"X-Operator-Key": issued.secret}
    for _ in range(3):
        a.get("/v1/lots/G1")
    assert a.get("/v1/lots/G1").status_code == 429  # the address is spent...
    assert [a.get("/v1/lots/G1", headers=key).status_code for _ in range(2)] == [200, 200]  # ...the key is its own client
    assert [b.get("/v1/lots/G1", headers=key).status_code for _ in range(2)] == [200, 429]  # one bucket across processes
    made_up = [a.get("/v1/lots/G1", headers={"X-Operator-Key": f"opk_madeup{i}"}).status_code for i in range(3)]
    assert made_up == [429, 429, 429]  # a key that is no one's is the address again


@pytest.mark.parametrize("backend_env", ["embedded"], indirect=True)
def test_a_console_session_is_counted_as_its_user(two_processes):
    (platform, a), _ = two_processes
    principals_of(platform).add_user(actor=CITY, username="mei", password="a long enough password 1",
                                     org_kind="operator", org_id="op2", role="staff")
    token, _, _ = principals_of(platform).sign_in("mei", "a long enough password 1")
    for _ in range(3):
        a.get("/v1/lots/G1")
    assert a.get("/v1/lots/G1").status_code == 429
    assert a.get("/v1/lots/G1", headers={"X-Operator-Key": token}).status_code == 200


def test_open_streams_are_capped_across_processes_and_a_dead_process_gives_its_slots_back(redis_url, redis_prefix):
    first = RateLimiter(per_minute=600, max_streams=2, store=RedisStore.from_url(redis_url, prefix=redis_prefix))
    second = RateLimiter(per_minute=600, max_streams=2, store=RedisStore.from_url(redis_url, prefix=redis_prefix))
    first.acquire_stream("ip:1.1.1.1")
    second.acquire_stream("ip:1.1.1.1")
    with pytest.raises(TooManyRequests):
        first.acquire_stream("ip:1.1.1.1")
    assert second.open_streams("ip:1.1.1.1") == 2
    second.release_stream("ip:1.1.1.1")
    first.acquire_stream("ip:1.1.1.1")  # the slot given back in the other process is free again

    import redis

    dying = RedisStore(redis.Redis.from_url(redis_url), prefix=redis_prefix + "d:", lease_s=1)
    survivor = RedisStore(redis.Redis.from_url(redis_url), prefix=redis_prefix + "d:", lease_s=1)
    assert dying.acquire_stream("ip:2.2.2.2", 1) == 1
    assert survivor.acquire_stream("ip:2.2.2.2", 1) == -1
    dying._held.clear()  # the process is gone: nobody renews its lease
    time.sleep(1.3)
    assert survivor.acquire_stream("ip:2.2.2.2", 1) == 1


def test_a_held_stream_outlives_its_lease_while_its_process_renews_it(redis_url, redis_prefix):
    import redis

    holder = RedisStore(redis.Redis.from_url(redis_url), prefix=redis_prefix, lease_s=1)
    other = RedisStore(redis.Redis.from_url(redis_url), prefix=redis_prefix, lease_s=1)
    assert holder.acquire_stream("ip:3.3.3.3", 1) == 1
    time.sleep(1.6)  # the renewer runs every third of a lease
    assert other.acquire_stream("ip:3.3.3.3", 1) == -1


def test_without_redis_requests_are_let_through_and_the_outage_is_logged(caplog):
    store = RedisStore.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    limiter = RateLimiter(per_minute=1, max_streams=1, store=store)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            limiter.check("ip:4.4.4.4")
    assert [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
