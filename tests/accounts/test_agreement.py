"""The withholding agreement: the sign page URL through the official SDK, and Alipay's sign/unsign notifications,
against the local Alipay-compatible gateway."""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import uvicorn

from alipay_standin import NotifyPolicy, start_local_alipay
from billing.agreements import AgreementActive
from billing.alipay.client import build_client
from billing.alipay.notify import NotificationRejected
from billing.alipay.signing import generate_keypair, load_private_key, rsa2_sign, sign_content
from gateways.http.app import create_app
from parking_core.accounts import agreement_of
from parking_core.errors import DependencyUnavailable
from tests.accounts.conftest import build_accounts, next_phone, wire

DEAD_URL = "http://127.0.0.1:9/v1/payments/alipay/agreement-notify"  # nobody listens: deliveries keep the signed forms


@pytest.fixture(scope="module")
def app_keys():
    return generate_keypair()


@pytest.fixture(scope="module")
def alipay_keys():
    return generate_keypair()


@pytest.fixture
def gateway(app_keys, alipay_keys):
    local = start_local_alipay(app_public_key_pem=app_keys.public_pem, alipay_keys=alipay_keys,
                               notify_policy=NotifyPolicy(time_scale=1e-6))
    yield local
    local.stop()


@pytest.fixture
def alipay(gateway, app_keys):
    return build_client(gateway.client_settings(app_private_key_pem=app_keys.private_pem,
                                                notify_url="http://127.0.0.1:9/v1/payments/alipay/notify"))


@pytest.fixture
def backend_env(tmp_path):
    """The embedded backend: the Alipay side is what these tests exercise."""
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'platform.db'}", "PARKING_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def env(tmp_path, alipay):
    return build_accounts(f"sqlite:///{tmp_path / 'a.db'}", tmp_path, alipay=alipay)


def signed_form(gateway, external_agreement_no: str, notify_type: str = "dut_user_sign") -> dict[str, str]:
    """The signed notification form the gateway sent (to a URL nobody listens on)."""
    def found():
        return [d.params for d in gateway.deliveries() if d.params.get("external_agreement_no") == external_agreement_no
                and d.params["notify_type"] == notify_type]
    return gateway.wait_for(found)[-1]


def state(env, account_id):
    a = env.accounts.account(account_id)
    return a.agreement_status, a.agreement_no


def test_sign_page_url_is_built_by_the_sdk_for_this_account(env, gateway):
    a = env.sign_up("13800138000")
    started = env.agreements.start(a, return_url="https://parking.example/back")
    query = dict(parse_qsl(urlsplit(started.sign_url).query))
    biz = json.loads(query["biz_content"])
    assert started.status == "pending" and started.sign_url.startswith(gateway.url)
    assert query["method"] == "alipay.user.agreement.page.sign" and query["app_id"] == gateway.app_id
    assert query["notify_url"] == "http://127.0.0.1:9/v1/payments/alipay/agreement-notify"  # sibling of the trade notify URL
    assert query["return_url"] == "https://parking.example/back" and query["sign_type"] == "RSA2" and query["sign"]
    assert (biz["product_code"], biz["personal_product_code"], biz["sign_scene"]) == (
        "GENERAL_WITHHOLDING", "GENERAL_WITHHOLDING_P", "DEFAULT|DEFAULT")
    assert (biz["external_agreement_no"], biz["external_logon_id"]) == (a, "138****8000")
    assert state(env, a) == ("pending", None)


def test_signing_on_the_page_activates_the_agreement_once(env, gateway, alipay_keys):
    a = env.sign_up()
    page = httpx.get(env.agreements.start(a).sign_url, trust_env=False)
    assert page.status_code == 200 and "签约成功" in page.text
    form = signed_form(gateway, a)
    assert env.agreements.record_notification(form) == "recorded"
    assert state(env, a) == ("active", form["agreement_no"])
    with env.uow() as uow:
        assert agreement_of(uow.session, a) == (form["agreement_no"], form["alipay_user_id"])
    assert env.accounts.account(a).agreement_signed_at is not None
    assert env.agreements.record_notification(form) == "unchanged"  # Alipay's retry of the same notify_id
    with pytest.raises(AgreementActive):
        env.agreements.start(a)


def test_tampered_or_foreign_notifications_change_nothing(env, gateway, app_keys):
    a = env.sign_up()
    env.agreements.start(a)
    gateway.sign_agreement(a, notify_url=DEAD_URL)
    form = signed_form(gateway, a)
    tampered = {**form, "alipay_user_id": "2088000000000666"}
    with pytest.raises(NotificationRejected) as err:
        env.agreements.record_notification(tampered)
    assert err.value.kind == "bad_signature"
    other_key = {**form, "sign": rsa2_sign(load_private_key(app_keys.private_pem), sign_content(form, drop=("sign", "sign_type")))}
    with pytest.raises(NotificationRejected):
        env.agreements.record_notification(other_key)
    stranger = env.sign_up()
    gateway.sign_agreement("not-an-account", notify_url=DEAD_URL)
    with pytest.raises(NotificationRejected) as err:
        env.agreements.record_notification(signed_form(gateway, "not-an-account"))
    assert err.value.kind == "unknown_account"
    assert state(env, a) == ("pending", None) and state(env, stranger) == ("none", None)


def test_unsign_cancels_and_a_late_retry_of_the_sign_does_not_revive_it(env, gateway):
    a = env.sign_up()
    agreement = gateway.sign_agreement(a, notify_url=DEAD_URL)
    sign = signed_form(gateway, a)
    env.agreements.record_notification(sign)
    gateway.stop_agreement(agreement.agreement_no)
    assert env.agreements.record_notification(signed_form(gateway, a, "dut_user_unsign")) == "recorded"
    assert state(env, a) == ("cancelled", agreement.agreement_no)
    assert env.agreements.record_notification(sign) == "unchanged"
    with env.uow() as uow:
        assert agreement_of(uow.session, a) is None


def test_cancel_stops_charging_and_starting_again_adopts_what_alipay_still_holds(env, gateway):
    a = env.sign_up()
    agreement = gateway.sign_agreement(a, notify_url=DEAD_URL)
    env.agreements.record_notification(signed_form(gateway, a))
    assert env.agreements.cancel(a).status == "cancelled"
    with env.uow() as uow:
        assert agreement_of(uow.session, a) is None
    again = env.agreements.start(a)
    assert (again.status, again.sign_url) == ("active", None)
    assert state(env, a) == ("active", agreement.agreement_no)


def test_a_new_agreement_after_a_stop_replaces_the_old(env, gateway):
    a = env.sign_up()
    old = gateway.sign_agreement(a, notify_url=DEAD_URL)
    env.agreements.record_notification(signed_form(gateway, a))
    gateway.stop_agreement(old.agreement_no)
    env.agreements.record_notification(signed_form(gateway, a, "dut_user_unsign"))
    time.sleep(1.1)  # Alipay's sign_time has whole seconds
    new = gateway.sign_agreement(a, notify_url=DEAD_URL)
    assert new.agreement_no != old.agreement_no
    assert env.agreements.record_notification(signed_form(gateway, a)) == "recorded"
    assert state(env, a) == ("active", new.agreement_no)


def test_without_alipay_configured_the_agreement_is_unavailable(tmp_path, accounts_api):
    env = build_accounts(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    with pytest.raises(DependencyUnavailable) as err:
        env.agreements.start(env.sign_up())
    assert err.value.field == "ALIPAY_APP_ID"
    platform, api_env, client = accounts_api()
    phone = next_phone()
    client.post("/v1/auth/code", json={"phone": phone})
    token = client.post("/v1/auth/token", json={"phone": phone, "code": api_env.sender.last_code(phone)}).json()["access_token"]
    r = client.post("/v1/me/agreement", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503 and r.json()["code"] == "dependency_unavailable"
    assert client.post("/v1/payments/alipay/agreement-notify", data={"notify_id": "x"}).text == "failure"


@pytest.fixture
def live_platform(make_platform, tmp_path, alipay):
    """The platform's HTTP app on a real port, so the local Alipay can deliver notifications to it."""
    platform = make_platform(PARKING_DATA_DIR=str(tmp_path / "data"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = wire(platform, alipay=build_client(replace(alipay.settings, agreement_notify_url=f"{base}/v1/payments/alipay/agreement-notify")))
    server = uvicorn.Server(uvicorn.Config(create_app(platform), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield env, httpx.Client(base_url=base, trust_env=False)
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_driver_signs_in_the_alipay_app_and_the_platform_hears_it(live_platform, gateway):
    env, http = live_platform
    phone = next_phone()
    http.post("/v1/auth/code", json={"phone": phone})
    token = http.post("/v1/auth/token", json={"phone": phone, "code": env.sender.last_code(phone)}).json()
    me = {"Authorization": f"Bearer {token['access_token']}"}
    started = http.post("/v1/me/agreement", json={"return_url": "https://parking.example/back"}, headers=me).json()
    assert started["status"] == "pending"
    assert httpx.get(started["sign_url"], trust_env=False).status_code == 200  # the driver taps 同意
    delivery = gateway.wait_for(lambda: [d for d in gateway.deliveries() if d.state == "acknowledged"])[0]
    assert [a.body for a in delivery.attempts] == ["success"]
    assert http.get("/v1/me", headers=me).json()["agreement"]["status"] == "active"
    gateway.stop_agreement(gateway.gateway.ledger.find_agreement(agreement_no=None, external_agreement_no=token["account_id"]).agreement_no)
    gateway.wait_for(lambda: len([d for d in gateway.deliveries() if d.state == "acknowledged"]) == 2)
    assert http.get("/v1/me", headers=me).json()["agreement"]["status"] == "cancelled"
    forged = {**delivery.params, "status": "NORMAL", "notify_id": "forged"}
    assert http.post("/v1/payments/alipay/agreement-notify", data=forged).text == "failure"
    assert http.get("/v1/me", headers=me).json()["agreement"]["status"] == "cancelled"
