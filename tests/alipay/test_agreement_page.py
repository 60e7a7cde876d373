"""The agreement sign page: built by the SDK, visited like a browser, signs the agreement and notifies dut_user_sign."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from billing.alipay.client import agreement_query, agreement_sign_page_url, trade_pay_withholding
from billing.alipay.notify import verify_notification


def test_visiting_the_sign_page_signs_and_notifies(gateway, client, receiver, alipay_keys):
    url = agreement_sign_page_url(client, external_agreement_no="USER-42", external_logon_id="138****0000",
                                  return_url="https://parking.example/bound")
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(gateway.url) and query["method"] == "alipay.user.agreement.page.sign"
    assert '"personal_product_code":"GENERAL_WITHHOLDING_P"' in query["biz_content"]
    assert '"product_code":"GENERAL_WITHHOLDING"' in query["biz_content"]
    page = httpx.get(url, trust_env=False)
    assert page.status_code == 200 and "签约成功" in page.text and "https://parking.example/bound" in page.text
    form = gateway.wait_for(lambda: receiver.received())[0]
    note = verify_notification(form, alipay_public_key_pem=alipay_keys.public_pem, app_id=gateway.app_id)
    assert (note.notify_type, note.external_agreement_no, note.agreement_status) == ("dut_user_sign", "USER-42", "NORMAL")
    assert note.agreement_no in page.text and note.alipay_user_id and note.sign_time is not None
    status = agreement_query(client, external_agreement_no="USER-42")
    assert (status.agreement_no, status.status, status.alipay_user_id) == (note.agreement_no, "NORMAL", note.alipay_user_id)
    charged = trade_pay_withholding(client, out_trade_no="ORD-1", amount_fen=600, subject="停车费", agreement_no=note.agreement_no)
    assert charged.status == "paid"


def test_altered_sign_page_url_is_refused(gateway, client, receiver):
    url = agreement_sign_page_url(client, external_agreement_no="USER-42")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["biz_content"] = query["biz_content"].replace("USER-42", "USER-43")
    page = httpx.get(f"{gateway.url}?{urlencode(query)}", trust_env=False)
    assert page.status_code == 400 and "isv.invalid-signature" in page.text
    assert gateway.gateway.ledger.agreements == {} and receiver.received() == []


def test_stopping_an_agreement_notifies_unsign(gateway, client, receiver, alipay_keys):
    agreement = gateway.sign_agreement("USER-7", notify_url=receiver.url)
    gateway.stop_agreement(agreement.agreement_no)
    forms = gateway.wait_for(lambda: len(receiver.received()) >= 2 and receiver.received())
    notes = [verify_notification(f, alipay_public_key_pem=alipay_keys.public_pem, app_id=gateway.app_id) for f in forms]
    assert sorted((n.notify_type, n.agreement_status) for n in notes) == [("dut_user_sign", "NORMAL"), ("dut_user_unsign", "STOP")]
