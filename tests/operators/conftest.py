"""Operators as people and keys: a platform over the small city (S1: op1 in gusu; G1: op2 in gusu; C1: op2 in sip)
with keys for each kind of principal, issued the way the CLI issues them, and a client per role."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from gateways.operator.permissions import env_principal, principals_of
from tests.factories import passage_msg

CITY = env_principal("city")
_events = itertools.count(1)


@dataclass
class Ops:
    platform: object
    client: object
    keys: dict[str, dict] = field(default_factory=dict)

    def key(self, name: str, *, org_kind: str, org_id: str, role: str, valid_days: int = 30) -> dict:
        """Issue a key (as `parking operators key issue` does) and keep its header under `name`."""
        issued = principals_of(self.platform).issue_key(actor=CITY, org_kind=org_kind, org_id=org_id, role=role,
                                                        label=name, valid_days=valid_days)
        self.keys[name] = {"X-Operator-Key": issued.secret}
        return {"id": issued.key.id, "secret": issued.secret}

    def get(self, who: str, path: str, **kw):  # noqa: ANN201
        return self.client.get(path, headers=self.keys[who], **kw)

    def post(self, who: str, path: str, json=None, **kw):  # noqa: ANN001, ANN201
        return self.client.post(path, headers=self.keys[who], json=json, **kw)

    def stay(self, plate: str, *, lot: str, minutes: int = 90, exit_: bool = True, exit_plate: str | None = None) -> None:
        """A car enters (and leaves) through the ingest pipeline."""
        start = self.platform.clock() - timedelta(minutes=minutes)
        self.platform.pipeline.process([passage_msg(lot, "in1", f"op-e{next(_events)}", "in", plate, start)])
        if exit_:
            self.platform.pipeline.process([passage_msg(lot, "out1", f"op-e{next(_events)}", "out", exit_plate or plate,
                                                        self.platform.clock())])


def standard_keys(ops: Ops) -> Ops:
    ops.key("op1", org_kind="operator", org_id="op1", role="staff")
    ops.key("op1_admin", org_kind="operator", org_id="op1", role="admin")
    ops.key("op2", org_kind="operator", org_id="op2", role="staff")
    ops.key("op2_viewer", org_kind="operator", org_id="op2", role="viewer")
    ops.key("gusu", org_kind="district", org_id="gusu", role="admin")
    ops.key("city_viewer", org_kind="city", org_id="city", role="viewer")
    ops.key("city", org_kind="city", org_id="city", role="admin")
    return ops


@pytest.fixture
def ops(api):
    """An Ops over both backends with a key per kind of principal."""
    platform, client = api()
    return standard_keys(Ops(platform, client))
