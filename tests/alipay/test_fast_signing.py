"""Request signing through OpenSSL gives the Alipay SDK's own signatures, byte for byte, and is what the seam uses."""
from __future__ import annotations

import random

import alipay.aop.api.DefaultAlipayClient as sdk_client
import pytest
from alipay.aop.api.util.SignatureUtils import get_sign_content
from alipay.aop.api.util.SignatureUtils import sign_with_rsa2 as sdk_sign_with_rsa2

import billing.alipay.client  # noqa: F401  (installs the signer)
from billing.alipay.signing import CheckedSigner, fast_sign_with_rsa2, generate_keypair, private_pkcs1_pem

ALPHABET = "abcXYZ0189 _-.:/&=+%\"'{}[],苏E·支付停车场\u00e9\U0001f697"


def random_request(rnd: random.Random) -> str:
    """A request's string to sign as the SDK forms it: common parameters and a biz_content of random text."""
    text = lambda n: "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, n)))  # noqa: E731
    biz = {"out_trade_no": text(32), "total_amount": f"{rnd.randint(1, 10**8) / 100:.2f}", "subject": text(60),
           "agreement_params": {"agreement_no": text(24)}, "extra": {text(8): text(40) for _ in range(rnd.randint(0, 4))}}
    params = {"app_id": text(16), "method": "alipay.trade.pay", "charset": "utf-8", "sign_type": "RSA2",
              "timestamp": "2026-11-23 10:00:00", "version": "1.0", "biz_content": biz}
    return get_sign_content(params)


@pytest.mark.parametrize("pem_form", ["pem", "bare base64 body"])
def test_fast_signatures_equal_the_sdks_over_many_random_requests_and_keys(pem_form):
    rnd = random.Random(2026)
    for _ in range(4):
        pem = private_pkcs1_pem(generate_keypair().private_pem)
        if pem_form != "pem":  # the SDK adds the PEM markers itself when the configured key lacks them
            pem = "".join(pem.strip().splitlines()[1:-1])
        for _ in range(30):
            content = random_request(rnd)
            assert fast_sign_with_rsa2(pem, content, "utf-8") == sdk_sign_with_rsa2(pem, content, "utf-8")


def test_the_seam_signs_with_openssl_checking_the_sdks_pure_python_rsa_once_per_key(monkeypatch):
    import alipay.aop.api.util.SignatureUtils as utils

    pure = []
    real_sign = utils.rsa.sign
    monkeypatch.setattr(utils.rsa, "sign", lambda *a: pure.append(1) or real_sign(*a))
    assert isinstance(sdk_client.sign_with_rsa2, CheckedSigner)
    pem = private_pkcs1_pem(generate_keypair().private_pem)
    rnd = random.Random(1)
    for _ in range(20):
        content = random_request(rnd)
        assert sdk_client.sign_with_rsa2(pem, content, "utf-8") == fast_sign_with_rsa2(pem, content, "utf-8")
    assert len(pure) == 1  # ~24 ms once, not on each of the 20 requests


def test_a_key_whose_signatures_differ_keeps_the_sdks_signer():
    pem = private_pkcs1_pem(generate_keypair().private_pem)
    calls = []

    def other(key, content, charset):  # noqa: ANN001
        calls.append(content)
        return "sdk:" + content

    signer = CheckedSigner(other)
    assert signer(pem, "a=1", "utf-8") == "sdk:a=1"
    assert signer(pem, "b=2", "utf-8") == "sdk:b=2"
    assert calls == ["a=1", "a=1", "b=2"]
