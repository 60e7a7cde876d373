"""The billing flow's platform (real Alipay stand-in, ingest, driver and operator API) with operator keys per role:
op1 runs S1, op2 runs G1 (district gusu) and C1; the city admin is the billing flow's OPERATOR key."""
from __future__ import annotations

import pytest

from tests.billing_flow.conftest import PNG, alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401  (fixtures)
from tests.operators.conftest import Ops, standard_keys


@pytest.fixture
def owned(billing_env):  # noqa: F811
    """(env, ops): the billing env and a client per operator role over its platform."""
    env = billing_env()
    return env, standard_keys(Ops(env.platform, env.api))


def upload(env, headers: dict, plate: str, content: bytes = PNG, name: str = "licence.png"):  # noqa: ANN001, ANN201
    return env.api.post(f"/v1/me/plates/{plate}/evidence", headers=headers, files={"file": (name, content, "image/png")})
