"""The driver API on both backends: sign in, see only your own account, bind and unbind plates; bad tokens get 401."""
from __future__ import annotations

import jwt

from tests.accounts.conftest import next_phone, sign_in


def test_sign_in_registers_once_and_me_shows_the_account(accounts_api):
    platform, env, client = accounts_api()
    phone = next_phone()
    r = client.post("/v1/auth/code", json={"phone": f"+86 {phone}"})
    assert r.status_code == 202
    assert r.json() == {"phone": f"{phone[:3]}****{phone[-4:]}", "expires_at": "2026-11-23T02:05:00Z",
                        "resend_after": "2026-11-23T02:01:00Z"}
    r = client.post("/v1/auth/token", json={"phone": phone, "code": env.sender.last_code(phone)})
    assert r.status_code == 200
    token = r.json()
    assert set(token) == {"access_token", "token_type", "expires_at", "account_id", "refresh_token", "refresh_expires_at"}
    assert (token["token_type"], token["expires_at"], token["refresh_expires_at"]) == ("bearer", "2026-11-23T03:00:00Z", "2026-12-23T02:00:00Z")
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {"account_id": token["account_id"], "phone": phone, "created_at": "2026-11-23T02:00:00Z",
                         "agreement": {"status": "none", "signed_at": None}, "plates": [], "max_plates": 3}
    platform.clock.advance(minutes=1)
    client.post("/v1/auth/code", json={"phone": phone})
    again = client.post("/v1/auth/token", json={"phone": phone, "code": env.sender.last_code(phone)}).json()
    assert again["account_id"] == token["account_id"]


def test_bad_phone_wrong_code_and_rate_limit_are_named(accounts_api):
    _, env, client = accounts_api()
    r = client.post("/v1/auth/code", json={"phone": "12345"})
    assert r.status_code == 422 and (r.json()["field"], r.json()["value"]) == ("phone", "12345")
    phone = next_phone()
    assert client.post("/v1/auth/code", json={"phone": phone}).status_code == 202
    r = client.post("/v1/auth/code", json={"phone": phone})
    assert r.status_code == 429 and r.headers["Retry-After"] == "60" and r.json()["code"] == "too_many_requests"
    code = env.sender.last_code(phone)
    r = client.post("/v1/auth/token", json={"phone": phone, "code": f"{(int(code) + 1) % 10**6:06d}"})
    assert r.status_code == 401 and r.json()["field"] == "code" and code not in r.text
    r = client.post("/v1/auth/token", json={"phone": phone, "code": "12ab56"})
    assert r.status_code == 422 and r.json()["field"] == "code"


def test_plates_bind_list_and_unbind(accounts_api):
    _, env, client = accounts_api()
    me = sign_in(client, env)
    r = client.post("/v1/me/plates", json={"plate": "苏e·12345", "color": "blue"}, headers=me)
    assert r.status_code == 201 and r.json() == {"plate": "苏E12345", "color": "blue", "bound_at": "2026-11-23T02:00:00Z",
                                                 "status": "unverified"}
    assert client.post("/v1/me/plates", json={"plate": "苏E 12345"}, headers=me).status_code == 200
    r = client.post("/v1/me/plates", json={"plate": "苏E1234"}, headers=me)
    assert r.status_code == 422 and r.json()["field"] == "plate" and "7 (8 for new-energy)" in r.json()["message"]
    r = client.post("/v1/me/plates", json={"plate": "苏E12345", "color": "pink"}, headers=me)
    assert r.status_code == 422 and r.json()["field"] == "plate_color"
    assert client.get("/v1/me/plates", headers=me).json() == {
        "plates": [{"plate": "苏E12345", "color": "blue", "bound_at": "2026-11-23T02:00:00Z", "status": "unverified"}], "max_plates": 3}
    assert client.delete("/v1/me/plates/苏e-12345", headers=me).status_code == 204
    assert client.get("/v1/me/plates", headers=me).json()["plates"] == []
    assert client.delete("/v1/me/plates/苏E12345", headers=me).status_code == 404


def test_plate_limit_is_a_conflict(accounts_api):
    _, env, client = accounts_api(PARKING_MAX_PLATES="2")
    me = sign_in(client, env)
    for plate in ("苏E11111", "苏E22222"):
        assert client.post("/v1/me/plates", json={"plate": plate}, headers=me).status_code == 201
    r = client.post("/v1/me/plates", json={"plate": "苏E33333"}, headers=me)
    assert r.status_code == 409 and r.json()["code"] == "plate_limit_reached" and r.json()["details"]["limit"] == 2


def test_nobody_sees_or_touches_another_accounts_data(accounts_api):
    _, env, client = accounts_api()
    first, second = sign_in(client, env), sign_in(client, env)
    client.post("/v1/me/plates", json={"plate": "苏E12345"}, headers=first)
    client.post("/v1/me/plates", json={"plate": "苏E99999"}, headers=second)
    first_me = client.get("/v1/me", headers=first).json()
    second_me = client.get("/v1/me", headers=second).json()
    assert first_me["account_id"] != second_me["account_id"] and first_me["phone"] != second_me["phone"]
    assert [p["plate"] for p in first_me["plates"]] == ["苏E12345"]
    assert [p["plate"] for p in second_me["plates"]] == ["苏E99999"]
    assert [p["plate"] for p in client.get("/v1/me/plates", headers=second).json()["plates"]] == ["苏E99999"]
    r = client.delete("/v1/me/plates/苏E12345", headers=second)
    assert r.status_code == 404 and r.json()["code"] == "plate_not_bound"
    r = client.post("/v1/me/plates", json={"plate": "苏E12345"}, headers=second)
    assert r.status_code == 409 and r.json()["code"] == "plate_bound_elsewhere"
    assert first_me["account_id"] not in r.text and first_me["phone"] not in r.text
    assert [p["plate"] for p in client.get("/v1/me/plates", headers=first).json()["plates"]] == ["苏E12345"]


def test_missing_forged_and_expired_tokens_get_401(accounts_api):
    platform, env, client = accounts_api()
    me = sign_in(client, env)
    account_id = client.get("/v1/me", headers=me).json()["account_id"]
    now = int(platform.clock().timestamp())
    claims = {"sub": account_id, "iat": now, "exp": now + 3600, "iss": "city-parking", "aud": "driver"}
    forged = jwt.encode(claims, "f" * 40, algorithm="HS256")
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer junk"},
                    {"Authorization": f"Bearer {forged}"}, {"Authorization": me["Authorization"].replace("Bearer", "Basic")}):
        for method, path in (("GET", "/v1/me"), ("GET", "/v1/me/plates"), ("POST", "/v1/me/agreement"),
                             ("DELETE", "/v1/me/plates/苏E12345")):
            r = client.request(method, path, headers=headers)
            assert r.status_code == 401 and r.json()["code"] == "unauthorized", (headers, path)
    assert client.get("/v1/me", headers=me).status_code == 200
    platform.clock.advance(days=7)
    r = client.get("/v1/me", headers=me)
    assert r.status_code == 401 and "expired" in r.json()["message"]
