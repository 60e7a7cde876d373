"""A car park's own daily list against the platform's stays, through the operator API: every passage one side lacks
is named; a list with a bad line is refused naming it, and stores nothing; another operator's car park is refused."""
from __future__ import annotations

from datetime import datetime, timedelta

from gateways.operator.permissions import OperatorKeys
from parking_core.clock import SHANGHAI
from tests.reconciliation.money import paid_order

CITY, OP1, OP2 = "stays-city-" + "c" * 20, "stays-op1-" + "1" * 20, "stays-op2-" + "2" * 20
URL = "/v1/operator/reconciliation/stay-lists/G1/2026-11-23"
T = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


def _env(api):
    platform, client = api()
    platform.operator_keys = OperatorKeys({"city": CITY, "op1": OP1, "op2": OP2})
    with platform.uow() as uow:  # two stays at op2's G1: in 08:00 / out 09:59 each (money.paid_order)
        paid_order(uow.session, lot_id="G1", operator_id="op2", amount_fen=400, paid_at=T, plate="苏E11111")
        paid_order(uow.session, lot_id="G1", operator_id="op2", amount_fen=400, paid_at=T + timedelta(hours=3), plate="苏E22222")
        uow.commit()
    return platform, client


def _put(client, key, text):
    return client.put(URL, content=text.encode(), headers={"X-Operator-Key": key, "Content-Type": "text/csv"})


def test_every_passage_one_side_lacks_is_named(api):
    platform, client = _env(api)
    listed = ("direction,plate,time\n"
              "in,苏E·11111,2026-11-23T08:01:00+08:00\n"      # the platform's 08:00 entry, a minute apart: the same passage
              "out,苏E11111,2026-11-23T09:59:00+08:00\n"
              "in,苏E22222,2026-11-23T11:00:00+08:00\n"        # E22222 left at 12:59 on the platform's side only
              "in,苏E33333,2026-11-23T15:00:00+08:00\n")       # a car the platform never saw
    stored = _put(client, OP2, listed)
    assert stored.status_code == 201, stored.text
    assert (stored.json()["entries"], stored.json()["exits"], stored.json()["sent_by"]) == (3, 1, "env:op2")
    got = client.get(URL, headers={"X-Operator-Key": OP2}).json()
    assert (got["list_entries"], got["list_exits"], got["platform_entries"], got["platform_exits"], got["matched"]) == (3, 1, 2, 2, 3)
    assert [(p["direction"], p["plate"], p["at"][11:16]) for p in got["platform_only"]] == [("out", "苏E22222", "04:59")]
    assert [(p["direction"], p["plate"], p["line"]) for p in got["list_only"]] == [("in", "苏E33333", 5)]
    assert got["platform_only"][0]["session_id"]
    # sending again replaces the list
    assert _put(client, OP2, "direction,plate,time\n").status_code == 201
    again = client.get(URL, headers={"X-Operator-Key": CITY}).json()
    assert (again["list_entries"], again["matched"], len(again["platform_only"])) == (0, 0, 4)


def test_a_bad_list_names_its_lines_and_stores_nothing(api):
    platform, client = _env(api)
    bad = _put(client, OP2, "direction,plate,time\nin,苏E11111,2026-11-23T08:01:00+08:00\nsideways,苏E1,2026-11-23T09:00:00+08:00\n"
                            "out,苏E11111,2026-11-24T01:00:00+08:00\n")
    assert bad.status_code == 422 and bad.json()["field"] == "line 3"
    assert [(e["line"], e["field"]) for e in bad.json()["details"]["errors"]] == [(3, "direction"), (4, "time")]
    assert client.get(URL, headers={"X-Operator-Key": OP2}).status_code == 404
    assert _put(client, OP2, "plate,direction,time\n").json()["field"] == "line 1"


def test_another_operators_car_park_is_403_to_send_and_404_to_read(api):
    platform, client = _env(api)
    assert _put(client, OP1, "direction,plate,time\n").status_code == 403
    assert _put(client, OP2, "direction,plate,time\n").status_code == 201
    assert client.get(URL, headers={"X-Operator-Key": OP1}).status_code == 404
