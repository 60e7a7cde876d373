"""The same registration sent twice at once (a client retrying before the first answer): one car park,
one set of devices, one audit row, and both requests answered with it."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from parking_core.audit import AuditRecord
from parking_core.commissioning_models import RegisteredDevice
from tests.joining.conftest import as_, joining_feature


@pytest.mark.parametrize("backend_env", ["servers"], indirect=True)
def test_two_identical_registrations_at_once_make_one_car_park(joining_api):
    platform, client = joining_api()
    barrier, answers = threading.Barrier(2), []

    def post() -> None:
        barrier.wait()
        try:
            answers.append(client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")))
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            answers.append(exc)

    with client:  # the app started once, before the two requests race
        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(getattr(r, "status_code", 0) for r in answers) == [200, 201], [getattr(r, "text", repr(r)) for r in answers]
    assert all(r.json()["state"] == "commissioning" for r in answers)
    with platform.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(RegisteredDevice)) == 3
        assert uow.session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "lot.register")) == 1
