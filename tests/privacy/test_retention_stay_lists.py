"""Car parks' stay lists (CSV passages, plates in the clear) under the retention job: PARKING_RETAIN_STAY_LISTS_DAYS
after the list's day its plates become their keyed hash, a plate in an open dispute keeps its line as it is, a second
run changes nothing, and the old day still compares with the platform's stays as before."""
from __future__ import annotations

from sqlalchemy import select

from billing.reconciliation_models import StayListLine
from gateways.retention_app import retention_job
from parking_core.clock import local
from parking_core.plate_privacy import plate_hash
from parking_core.retention import RetentionSettings
from tests.billing_flow.conftest import OPERATOR
from tests.privacy.test_account_deletion import signed_in

KEY = "s" * 40


def _lines(e) -> list[tuple[int, str]]:  # noqa: ANN001
    with e.platform.uow() as uow:
        return [(r.line, r.plate) for r in uow.session.scalars(select(StayListLine).order_by(StayListLine.line))]


def _compared(e, url: str) -> tuple:  # noqa: ANN001
    got = e.api.get(url, headers=OPERATOR).json()
    return got["matched"], [(p["direction"], p["line"]) for p in got["list_only"]], got["platform_only"]


def test_stay_list_plates_are_hashed_after_their_days_and_the_day_still_compares(billing_env, monkeypatch):
    monkeypatch.setenv("PARKING_PLATE_HASH_KEY", KEY)  # the job's key and the comparison's, as `parking serve` has it
    e = billing_env()
    stay = e.stay("苏E41111", minutes=60)  # in 12:00, out 13:00 Shanghai
    day = local(stay.exited_at).date()
    signed_in(e, "苏E42222", agreement=False)
    claimant, *_ = signed_in(e, "苏E49999", agreement=False)
    e.accounts.open_dispute(claimant, "苏E42222", reason="my car", evidence="")
    url = f"/v1/operator/reconciliation/stay-lists/G1/{day}"
    listed = (f"direction,plate,time\nin,苏E41111,{local(stay.entered_at).isoformat()}\n"
              f"out,苏E41111,{local(stay.exited_at).isoformat()}\nin,苏E42222,{day}T09:00:00+08:00\n")
    r = e.api.put(url, content=listed.encode(), headers={**OPERATOR, "Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    before = _compared(e, url)
    assert before == (2, [("in", 4)], [])

    job = retention_job(e.platform, RetentionSettings())  # the default: 180 days
    e.clock.advance(days=179)
    assert job.run(dry_run=True).due["stay_lists"] == 0
    e.clock.advance(days=2)
    assert job.run(dry_run=True).due["stay_lists"] == 2 and _lines(e)[0][1] == "苏E41111"  # a dry run changes nothing

    assert job.run().hashed["stay_lists"] == 2
    h = plate_hash(KEY.encode(), "苏E41111")
    assert _lines(e) == [(2, h), (3, h), (4, "苏E42222")]  # the disputed plate keeps its line
    assert job.run().hashed["stay_lists"] == 0
    assert _lines(e) == [(2, h), (3, h), (4, "苏E42222")]
    assert _compared(e, url) == before  # the platform's side is hashed alike for the comparison
