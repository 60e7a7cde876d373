"""Drivers' tokens: short-lived access tokens refreshed with a one-time refresh token; signing out
ends a sign-in at once, everywhere when asked."""
from __future__ import annotations

from datetime import timedelta

import pytest

from parking_core.errors import Unauthorized
from tests.accounts.conftest import next_phone


def signed_in(env):
    phone = next_phone()
    env.accounts.request_code(phone)
    return env.accounts.sign_in(phone, env.sender.last_code(phone))


def test_access_tokens_last_an_hour_and_a_refresh_gives_new_ones_once(env):
    t = signed_in(env)
    assert t.expires_at - env.clock() == timedelta(hours=1)
    assert t.refresh_expires_at - env.clock() == timedelta(days=30)
    env.clock.advance(minutes=61)
    with pytest.raises(Unauthorized, match="expired"):
        env.accounts.account_from_token(t.access_token)
    again = env.accounts.refresh(t.refresh_token)
    assert env.accounts.account_from_token(again.access_token) == t.account_id
    with pytest.raises(Unauthorized, match="refresh_token"):
        env.accounts.refresh(t.refresh_token)  # each refresh token works once
    env.clock.advance(days=31)
    with pytest.raises(Unauthorized, match="expired"):
        env.accounts.refresh(again.refresh_token)


def test_logout_ends_this_sign_in_and_logout_all_every_one(env):
    phone = next_phone()
    env.accounts.request_code(phone)
    phone_a = env.accounts.sign_in(phone, env.sender.last_code(phone))
    env.clock.advance(minutes=2)
    env.accounts.request_code(phone)
    phone_b = env.accounts.sign_in(phone, env.sender.last_code(phone))
    env.clock.advance(minutes=2)
    env.accounts.request_code(phone)
    phone_c = env.accounts.sign_in(phone, env.sender.last_code(phone))

    assert env.accounts.sign_out(phone_a.access_token) == 1
    with pytest.raises(Unauthorized, match="signed out"):
        env.accounts.account_from_token(phone_a.access_token)
    with pytest.raises(Unauthorized):
        env.accounts.refresh(phone_a.refresh_token)
    assert env.accounts.account_from_token(phone_b.access_token) == phone_b.account_id  # other phones go on

    assert env.accounts.sign_out(phone_b.access_token, everywhere=True) == 2
    for t in (phone_b, phone_c):
        with pytest.raises(Unauthorized):
            env.accounts.account_from_token(t.access_token)


def test_the_http_flow_signs_in_refreshes_and_signs_out(accounts_api):
    _, env, client = accounts_api()
    phone = next_phone()
    client.post("/v1/auth/code", json={"phone": phone})
    tokens = client.post("/v1/auth/token", json={"phone": phone, "code": env.sender.last_code(phone)}).json()
    fresh = client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    me = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert client.get("/v1/me", headers=me).status_code == 200
    assert client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert client.post("/v1/auth/logout", headers=me).json() == {"signed_out": 1}
    assert client.get("/v1/me", headers=me).status_code == 401
