"""The billing flow's environment (platform, local Alipay, drivers) with keys for the city, districts and operators
at each role, so every rule of scope and approval can be tried as the person it is about."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateways.operator.permissions import OperatorKeys, env_principal, principals_of
from gateways.operator.registry_import import import_registry
from tests.billing_flow.conftest import OPERATOR_KEY, alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures reused
from tests.factories import city_registry, feature, registry

CITY_KEY = OPERATOR_KEY  # the billing environment signs its drivers' plates off with the city's key
OP1_KEY = "recon-op1-" + "1" * 24
OP2_KEY = "recon-op2-" + "2" * 24


def city():
    """The small city plus P1, op1's car park in gusu (G1 is op2's in gusu, C1 op2's in sip)."""
    return registry(*city_registry()["features"], feature("P1", operator="op1", tariff="suzhou-offstreet", lat=31.31, lon=120.61))


@dataclass
class Keys:
    platform: object

    def header(self, secret: str) -> dict[str, str]:
        return {"X-Operator-Key": secret}

    def issue(self, org_kind: str, org_id: str, role: str) -> dict[str, str]:
        """A new person's key (an API key of its own: its own principal id)."""
        issued = principals_of(self.platform).issue_key(actor=env_principal("city"), org_kind=org_kind, org_id=org_id, role=role,
                                                        label=f"{org_id}-{role}")
        return self.header(issued.secret)

    city = {"X-Operator-Key": CITY_KEY}
    op1 = {"X-Operator-Key": OP1_KEY}
    op2 = {"X-Operator-Key": OP2_KEY}


@pytest.fixture
def recon_env(billing_env):  # noqa: F811 - the fixture imported above
    """(env, keys): the billing environment on the city above with env keys for the city (admin), op1 and op2 (admins)."""
    env = billing_env()
    import_registry(env.platform, city())
    env.platform.operator_keys = OperatorKeys({"city": CITY_KEY, "op1": OP1_KEY, "op2": OP2_KEY})
    return env, Keys(env.platform)
