"""Running a day's reconciliation and sending a car park's stay list are changes a person makes: each is audited in
its own transaction, so a refused audit row leaves the day unrun and the list unstored (503 naming the action), and
once the log takes rows again the same request is audited exactly once."""
from __future__ import annotations

from sqlalchemy import select

from billing.reconciliation_models import ReconciliationDay
from parking_core.audit import audit_rows
from parking_core.clock import local
from tests.operators.test_audit_rollback import _refused, _rows, refusing
from tests.reconciliation.test_stay_lists import OP2, URL, _env, _put

RECON = "/v1/operator/reconciliation"
LIST = "direction,plate,time\nin,苏E11111,2026-11-23T08:01:00+08:00\nout,苏E11111,2026-11-23T09:59:00+08:00\n"


def _stored(platform) -> list:
    with platform.uow() as uow:
        return [(r.operator_id, r.before, r.after)
                for r in audit_rows(uow.session, operator_ids=None, org_id=None, actions=["stay_list.store"])]


def test_a_stay_list_the_audit_log_refuses_is_not_stored(api):
    platform, client = _env(api)
    with refusing(platform.engine, "stay_list.store"):
        _refused(_put(client, OP2, LIST), "stay_list.store")
    assert client.get(URL, headers={"X-Operator-Key": OP2}).status_code == 404
    assert _put(client, OP2, LIST).status_code == 201
    assert _rows(platform, "stay_list.store") == [("op2", "stay_list:G1:2026-11-23")]
    (row,) = _stored(platform)
    assert row == ("op2", None, {"entries": 1, "exits": 1})
    assert _put(client, OP2, "direction,plate,time\n").status_code == 201  # replaced: before and after both told
    latest = _stored(platform)
    assert len(latest) == 2 and latest[0] == ("op2", {"entries": 1, "exits": 1}, {"entries": 0, "exits": 0})


def test_a_run_the_audit_log_refuses_leaves_the_day_unrun(recon_env):
    env, keys = recon_env
    env.driver("苏E11111")
    env.stay("苏E11111")
    env.work()
    day = local(env.clock()).date()
    with refusing(env.platform.engine, "reconciliation.run"):
        _refused(env.api.post(f"{RECON}/days/{day}/run", headers=keys.city), "reconciliation.run")
    with env.platform.uow() as uow:
        assert uow.session.scalars(select(ReconciliationDay)).all() == []  # no day, no case
    ran = env.api.post(f"{RECON}/days/{day}/run", headers=keys.city)
    assert ran.status_code == 200, ran.text
    assert ran.json()["runs"] == 1
    assert [s for _, s in _rows(env.platform, "reconciliation.run")] == [f"reconciliation_day:{day}"]

