"""The local Alipay for the module-wide city of the authorization matrix."""
from __future__ import annotations

import pytest

from alipay_standin import NotifyPolicy, start_local_alipay
from billing.alipay.signing import generate_keypair


@pytest.fixture(scope="module")
def app_keys():
    return generate_keypair()


@pytest.fixture(scope="module")
def alipay_gw_module(app_keys):
    gw = start_local_alipay(app_public_key_pem=app_keys.public_pem, alipay_keys=generate_keypair(),
                            notify_policy=NotifyPolicy(time_scale=2e-6), same_day_bills=True)
    yield gw
    gw.stop()
