"""Every operator endpoint answers within the caller's scope: an operator its own car parks, a district its
district read-only, the city all. Outside it, 404 for reads (the very answer an unknown id gets) and 403 for
actions, each logged."""
from __future__ import annotations

import logging
from datetime import date

import pytest

from gateways.operator.permissions import principals_of
from gateways.operator.registry_import import import_registry
from parking_core.errors import Forbidden
from tests.factories import feature, registry

PASS = {"plate": "苏E12345", "valid_from": "2026-11-01", "valid_to": "2026-11-30"}


def test_an_operator_reads_only_its_own_car_parks(ops):
    lots = lambda who: [lot["id"] for lot in ops.get(who, "/v1/operator/lots").json()["lots"]]  # noqa: E731
    assert lots("op1") == ["S1"]
    assert lots("op2") == ["C1", "G1"]
    assert lots("gusu") == ["G1", "S1"]
    assert lots("city_viewer") == ["C1", "G1", "S1"]
    assert ops.get("op1", "/v1/operator/me").json()["lots"] == ["S1"]


def test_another_operators_car_park_reads_as_unknown_and_the_refusal_is_logged(ops, caplog):
    unknown = ops.get("op1", "/v1/operator/lots/NOPE/devices")
    with caplog.at_level(logging.WARNING, logger="parking.operators"):
        theirs = ops.get("op1", "/v1/operator/lots/G1/devices")
    assert theirs.status_code == unknown.status_code == 404
    assert {k: v for k, v in theirs.json().items() if k not in ("message", "value")} == \
           {k: v for k, v in unknown.json().items() if k not in ("message", "value")}
    assert theirs.json()["message"] == "lot_id: no car park 'G1'"
    assert any("refused 404" in r.message and "op1" in r.message and "G1" in r.message for r in caplog.records)
    for path in ("/v1/operator/lots/G1/occupancy", "/v1/operator/lots/G1/figures", "/v1/operator/stays?lot_id=G1",
                 "/v1/operator/orders?lot_id=G1", "/v1/operator/passes?lot_id=G1", "/v1/operator/long-stays?lot_id=G1"):
        assert ops.get("op1", path).status_code == 404, path
        assert ops.get("op2", path).status_code == 200, path


def test_an_action_on_another_operators_car_park_is_forbidden_and_logged(ops, caplog):
    with caplog.at_level(logging.WARNING, logger="parking.operators"):
        r = ops.post("op1", "/v1/operator/passes", json={**PASS, "lot_id": "G1"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden" and r.json()["field"] == "lot_id"
    assert any("refused 403" in rec.message and "G1" in rec.message for rec in caplog.records)
    assert ops.post("op1", "/v1/operator/passes", json={**PASS, "lot_id": "NOPE"}).status_code == 404
    assert ops.post("op1", "/v1/operator/passes", json={**PASS, "lot_id": "S1"}).status_code == 201
    assert [p["lot_id"] for p in ops.get("op2", "/v1/operator/passes").json()["passes"]] == []
    assert [p["lot_id"] for p in ops.get("op1", "/v1/operator/passes").json()["passes"]] == ["S1"]


def test_a_district_reads_its_district_and_changes_nothing(ops):
    assert ops.get("gusu", "/v1/operator/lots/S1/devices").status_code == 200
    assert ops.get("gusu", "/v1/operator/lots/C1/devices").status_code == 404  # sip, not gusu
    r = ops.post("gusu", "/v1/operator/passes", json={**PASS, "lot_id": "S1"})
    assert r.status_code == 403 and "district reads only" in r.json()["message"]
    assert ops.get("gusu", "/v1/operator/settlement/2026-11-23").status_code == 403


def test_the_city_sees_all_and_only_a_role_high_enough_acts(ops):
    for lot in ("S1", "G1", "C1"):
        assert ops.get("city_viewer", f"/v1/operator/lots/{lot}/devices").status_code == 200
    r = ops.post("city_viewer", "/v1/operator/passes", json={**PASS, "lot_id": "G1"})
    assert r.status_code == 403 and r.json()["details"] == {"needed": "staff"}
    assert ops.post("op2_viewer", "/v1/operator/passes", json={**PASS, "lot_id": "G1"}).status_code == 403
    assert ops.post("city", "/v1/operator/passes", json={**PASS, "lot_id": "G1"}).status_code == 201


def test_orders_are_listed_read_and_voided_only_within_scope(ops):
    ops.stay("苏E11111", lot="S1")
    ops.stay("苏E22222", lot="G1")
    mine = ops.get("op1", "/v1/operator/orders").json()["orders"]
    assert [o["lot_id"] for o in mine] == ["S1"]
    theirs = ops.get("op2", "/v1/operator/orders").json()["orders"]
    assert [o["lot_id"] for o in theirs] == ["G1"]
    assert {o["lot_id"] for o in ops.get("city_viewer", "/v1/operator/orders").json()["orders"]} == {"S1", "G1"}
    other = theirs[0]["id"]
    assert ops.get("op1", f"/v1/operator/orders/{other}").status_code == 404
    assert ops.get("op1", "/v1/operator/orders/nope").json()["code"] == ops.get("op1", f"/v1/operator/orders/{other}").json()["code"]
    assert ops.post("op1", f"/v1/operator/orders/{other}/void", json={"reason": "mine now"}).status_code == 403
    assert ops.get("op2", f"/v1/operator/orders/{other}").json()["status"] == theirs[0]["status"]  # unchanged
    r = ops.post("op2", f"/v1/operator/orders/{other}/void", json={"reason": "test car"})
    assert r.status_code == 200 and r.json()["status"] == "void"


def test_settlement_shows_an_operator_its_own_money_only(ops):
    day = date(2026, 11, 23).isoformat()
    assert {s["operator_id"] for s in ops.get("op1", f"/v1/operator/settlement/{day}").json()["operators"]} == {"op1"}
    assert ops.get("op1", f"/v1/operator/settlement/{day}", params={"operator_id": "op2"}).status_code == 404
    assert ops.get("op1", "/v1/operator/reconciliation/2026-11-22").status_code == 403



def test_an_operator_imports_only_its_own_car_parks_and_the_file_is_all_or_nothing(ops):
    op1_admin = principals_of(ops.platform).resolve(ops.keys["op1_admin"]["X-Operator-Key"])
    mine, theirs = feature("N1", operator="op1"), feature("G1", operator="op1", total=3)  # G1 is op2's
    with pytest.raises(Forbidden) as refused:
        import_registry(ops.platform, registry(mine, theirs), actor=op1_admin)
    assert refused.value.field == "features[1].properties.operator"
    assert ops.platform.directory.get("N1") is None  # nothing of the file was written
    with pytest.raises(Forbidden):
        import_registry(ops.platform, registry(feature("N2", operator="op2")), actor=op1_admin)
    import_registry(ops.platform, registry(mine), actor=op1_admin)
    assert [lot["id"] for lot in ops.get("op1", "/v1/operator/lots").json()["lots"]] == ["N1", "S1"]
