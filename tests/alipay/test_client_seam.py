"""The official SDK's request models and signing, through the port-honouring seam, against the local gateway."""
from __future__ import annotations

import json
import socket
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.domain.AlipayTradeQueryModel import AlipayTradeQueryModel
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from cryptography.hazmat.primitives import serialization

from alipay_standin import ChargeRule
from billing.alipay.client import (
    AlipayOutcomeUnknown,
    AlipayRefused,
    AlipayRequestInvalid,
    AlipaySettings,
    AlipaySignatureInvalid,
    AlipayTradeNotFound,
    AlipayUnavailable,
    agreement_query,
    build_client,
    trade_pay_withholding,
    trade_precreate,
    trade_query,
)
from billing.alipay.signing import generate_keypair, load_private_key, rsa2_sign, sign_content
from parking_core.errors import ConfigError


def test_gateway_listens_on_a_port_the_stock_sdk_cannot_reach(gateway, app_keys, alipay_keys):
    port = urlsplit(gateway.url).port
    assert port not in (80, 443)
    config = AlipayClientConfig()
    config.app_id, config.server_url = gateway.app_id, gateway.url
    config.app_private_key, config.alipay_public_key = app_keys.private_pem, alipay_keys.public_pem
    request = AlipayTradeQueryRequest(biz_model=AlipayTradeQueryModel())
    request.biz_model.out_trade_no = "x1"
    # The SDK's get_http_connection appends the int port to a str: the stock client cannot call a non-default port.
    with pytest.raises(TypeError):
        DefaultAlipayClient(config).execute(request)


def test_withholding_charge_signed_by_sdk_is_paid(gateway, client, receiver):
    agreement = gateway.sign_agreement("USER-1")
    result = trade_pay_withholding(client, out_trade_no="ORD-1", amount_fen=1250, subject="停车费 苏E12345",
                                   agreement_no=agreement.agreement_no)
    assert result.status == "paid"
    assert (result.out_trade_no, result.total_amount_fen, result.receipt_amount_fen) == ("ORD-1", 1250, 1250)
    assert result.gmt_payment is not None and result.gmt_payment.utcoffset().total_seconds() == 8 * 3600
    assert result.buyer_user_id == agreement.alipay_user_id
    trade = gateway.gateway.ledger.trades["ORD-1"]
    assert (trade.product_code, trade.agreement_no, trade.total_fen) == ("GENERAL_WITHHOLDING", agreement.agreement_no, 1250)
    status = trade_query(client, out_trade_no="ORD-1")
    assert (status.trade_status, status.total_amount_fen, status.trade_no) == ("TRADE_SUCCESS", 1250, result.trade_no)


def test_same_out_trade_no_is_never_charged_twice(gateway, client):
    agreement = gateway.sign_agreement("USER-1")
    trade_pay_withholding(client, out_trade_no="ORD-2", amount_fen=500, subject="停车费", agreement_no=agreement.agreement_no)
    with pytest.raises(AlipayRefused) as refused:
        trade_pay_withholding(client, out_trade_no="ORD-2", amount_fen=500, subject="停车费", agreement_no=agreement.agreement_no)
    assert refused.value.sub_code == "ACQ.TRADE_HAS_SUCCESS"
    assert len(gateway.gateway.ledger.trades) == 1


@pytest.mark.parametrize("sub_code", ["ACQ.BUYER_BALANCE_NOT_ENOUGH", "ACQ.PAYMENT_AUTH_CODE_INVALID"])
def test_configured_charge_failure_is_a_typed_refusal_and_a_retry_can_succeed(gateway, client, sub_code):
    agreement = gateway.sign_agreement("USER-1")
    gateway.fail_charges(sub_code, times=1)
    with pytest.raises(AlipayRefused) as refused:
        trade_pay_withholding(client, out_trade_no="ORD-3", amount_fen=800, subject="停车费", agreement_no=agreement.agreement_no)
    assert (refused.value.sub_code, refused.value.alipay_code) == (sub_code, "40004")
    assert refused.value.to_dict()["value"] == sub_code
    with pytest.raises(AlipayTradeNotFound):
        trade_query(client, out_trade_no="ORD-3")
    assert trade_pay_withholding(client, out_trade_no="ORD-3", amount_fen=800, subject="停车费",
                                 agreement_no=agreement.agreement_no).status == "paid"


def test_processing_charge_settles_later_with_a_notification(gateway, client, receiver):
    agreement = gateway.sign_agreement("USER-1")
    gateway.add_charge_rule(ChargeRule(outcome="processing", settle_after_s=1.0))
    result = trade_pay_withholding(client, out_trade_no="ORD-4", amount_fen=300, subject="停车费", agreement_no=agreement.agreement_no)
    assert result.status == "processing" and result.gmt_payment is None
    assert trade_query(client, out_trade_no="ORD-4").trade_status == "WAIT_BUYER_PAY"
    gateway.wait_for(lambda: any(f.get("out_trade_no") == "ORD-4" for f in receiver.received()))
    assert trade_query(client, out_trade_no="ORD-4").trade_status == "TRADE_SUCCESS"


def test_system_error_answer_means_query_before_retrying(gateway, client):
    agreement = gateway.sign_agreement("USER-1")
    gateway.add_charge_rule(ChargeRule(outcome="error_but_paid"))
    with pytest.raises(AlipayOutcomeUnknown):
        trade_pay_withholding(client, out_trade_no="ORD-5", amount_fen=300, subject="停车费", agreement_no=agreement.agreement_no)
    assert trade_query(client, out_trade_no="ORD-5").trade_status == "TRADE_SUCCESS"


def test_unknown_or_stopped_agreement_is_refused(gateway, client):
    with pytest.raises(AlipayRefused) as missing:
        trade_pay_withholding(client, out_trade_no="ORD-6", amount_fen=300, subject="停车费", agreement_no="20240101000000000000")
    assert missing.value.sub_code == "ACQ.AGREEMENT_NOT_EXIST"
    agreement = gateway.sign_agreement("USER-1")
    gateway.stop_agreement(agreement.agreement_no)
    with pytest.raises(AlipayRefused) as stopped:
        trade_pay_withholding(client, out_trade_no="ORD-6", amount_fen=300, subject="停车费", agreement_no=agreement.agreement_no)
    assert stopped.value.sub_code == "ACQ.AGREEMENT_STATUS_NOT_NORMAL"
    assert agreement_query(client, agreement_no=agreement.agreement_no).status == "STOP"


def test_precreate_returns_a_qr_code_the_driver_can_pay(gateway, client, receiver):
    created = trade_precreate(client, out_trade_no="ORD-7", amount_fen=1999, subject="停车费")
    assert created.out_trade_no == "ORD-7" and created.qr_code.startswith(gateway.base_url)
    assert trade_query(client, out_trade_no="ORD-7").trade_status == "WAIT_BUYER_PAY"
    page = httpx.post(created.qr_code, trust_env=False)
    assert page.status_code == 200 and "支付成功" in page.text
    status = trade_query(client, out_trade_no="ORD-7")
    assert (status.trade_status, status.total_amount_fen) == ("TRADE_SUCCESS", 1999)
    gateway.wait_for(lambda: [f for f in receiver.received() if f.get("out_trade_no") == "ORD-7"])


def test_request_signed_with_another_key_is_refused_by_the_gateway(gateway):
    stranger = build_client(gateway.client_settings(app_private_key_pem=generate_keypair().private_pem))
    with pytest.raises(AlipayRefused) as refused:
        trade_query(stranger, out_trade_no="ORD-1")
    assert (refused.value.alipay_code, refused.value.sub_code) == ("40002", "isv.invalid-signature")


def test_request_altered_after_signing_is_refused(gateway, app_keys):
    params = {"app_id": gateway.app_id, "method": "alipay.trade.query", "charset": "utf-8", "format": "json",
              "sign_type": "RSA2", "timestamp": "2024-05-01 12:00:00", "version": "1.0",
              "biz_content": json.dumps({"out_trade_no": "ORD-1"})}
    params["sign"] = rsa2_sign(load_private_key(app_keys.private_pem), sign_content(params, drop=("sign",)))
    ok = httpx.post(gateway.url, data=params, trust_env=False).json()["alipay_trade_query_response"]
    assert ok["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # signature accepted, trade simply unknown
    tampered = dict(params, biz_content=json.dumps({"out_trade_no": "ORD-2"}))
    answer = httpx.post(gateway.url, data=tampered, trust_env=False).json()
    assert answer["alipay_trade_query_response"]["sub_code"] == "isv.invalid-signature"
    assert "sign" in answer
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    answer = httpx.post(gateway.url, data=unsigned, trust_env=False).json()
    assert answer["alipay_trade_query_response"]["sub_code"] == "isv.missing-signature"


def test_wrong_app_id_and_unknown_method_are_refused(gateway, app_keys):
    settings = gateway.client_settings(app_private_key_pem=app_keys.private_pem)
    with pytest.raises(AlipayRefused) as refused:
        trade_query(build_client(replace(settings, app_id="2021999999999999")), out_trade_no="ORD-1")
    assert refused.value.sub_code == "isv.invalid-app-id"
    answer = httpx.post(gateway.url, data={"method": "alipay.no.such.thing"}, trust_env=False).json()
    assert answer["alipay_no_such_thing_response"]["sub_code"] == "isv.invalid-method"


def test_tampered_response_is_refused_by_the_sdk_check(gateway, client):
    agreement = gateway.sign_agreement("USER-1")
    trade_pay_withholding(client, out_trade_no="ORD-8", amount_fen=100, subject="停车费", agreement_no=agreement.agreement_no)
    gateway.tamper_next_responses(1)
    with pytest.raises(AlipaySignatureInvalid):
        trade_query(client, out_trade_no="ORD-8")
    assert trade_query(client, out_trade_no="ORD-8").total_amount_fen == 100


def test_answer_signed_by_another_alipay_key_is_refused(gateway, app_keys):
    settings = gateway.client_settings(app_private_key_pem=app_keys.private_pem)
    fooled = build_client(replace(settings, alipay_public_key_pem=generate_keypair().public_pem))
    with pytest.raises(AlipaySignatureInvalid) as refused:
        trade_query(fooled, out_trade_no="ORD-1")
    assert refused.value.code == "alipay_signature_invalid"


def test_unreachable_gateway_is_unavailable(app_keys, alipay_keys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = AlipaySettings(app_id="2021000000000001", app_private_key_pem=app_keys.private_pem,
                              alipay_public_key_pem=alipay_keys.public_pem, server_url=f"http://127.0.0.1:{port}/gateway.do",
                              timeout_s=2)
    with pytest.raises(AlipayUnavailable):
        trade_query(build_client(settings), out_trade_no="ORD-1")


@pytest.mark.parametrize("amount", [0, -5, 12.5, True, "1250", 10**13])
def test_bad_amount_is_refused_before_sending(client, amount):
    with pytest.raises(AlipayRequestInvalid) as refused:
        trade_precreate(client, out_trade_no="ORD-9", amount_fen=amount, subject="停车费")
    assert refused.value.field == "amount_fen"


def test_settings_validate_and_accept_alipay_console_key_forms(app_keys, alipay_keys):
    with pytest.raises(ConfigError) as bad:
        AlipaySettings(app_id="1", app_private_key_pem=app_keys.private_pem, alipay_public_key_pem=alipay_keys.public_pem,
                       sign_type="RSA")
    assert bad.value.field == "sign_type"
    with pytest.raises(ConfigError):
        AlipaySettings(app_id="1", app_private_key_pem="x", alipay_public_key_pem="y", server_url="ftp://example")
    key = load_private_key(app_keys.private_pem)
    pkcs8_body = "".join(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode().splitlines()[1:-1])
    public_body = "".join(alipay_keys.public_pem.splitlines()[1:-1])
    client = build_client(AlipaySettings(app_id="1", app_private_key_pem=pkcs8_body, alipay_public_key_pem=public_body))
    assert client.settings.app_id == "1"
    with pytest.raises(ConfigError) as unreadable:
        build_client(AlipaySettings(app_id="1", app_private_key_pem="not a key!", alipay_public_key_pem=public_body))
    assert unreadable.value.field == "app_private_key_pem"


def test_settings_from_environment(app_keys, alipay_keys, tmp_path):
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_keys.private_pem)
    settings = AlipaySettings.from_env({
        "ALIPAY_APP_ID": "2021000000000001", "ALIPAY_APP_PRIVATE_KEY_FILE": str(key_file),
        "ALIPAY_PUBLIC_KEY": alipay_keys.public_pem, "ALIPAY_NOTIFY_URL": "https://parking.example/v1/payments/alipay/notify",
    })
    assert settings.server_url == "https://openapi.alipay.com/gateway.do"
    with pytest.raises(ConfigError) as missing:
        AlipaySettings.from_env({"ALIPAY_APP_ID": "1"})
    assert missing.value.field == "ALIPAY_APP_PRIVATE_KEY"
