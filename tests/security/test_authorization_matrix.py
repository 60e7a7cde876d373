"""Issue 12 §8: every operation of the OpenAPI document × every kind of caller, each answer written below.

Principals: anon (no credentials), A (driver with a verified plate, a stay and an order at X1), B (driver with
nothing), Xstaff / Xfin / Xadmin (operator X = opx, car parks X1 and XS in district dx), Yadmin (operator Y = opy,
car park Y1 in dy), D (viewer of district dx), city (the city's admin). Path parameters are A's and X's real ids,
so `B` on A's order is "another driver's data", `Yadmin` on X's order "another operator's", `D` on X's order
"in my district, read only". A cell that changes something runs on data made for that cell alone (see `Call`), so
no cell depends on the order the cells run in. Run `MATRIX_PRINT=1 pytest tests/security -s` to print the answers
as a table (to add a row for a new endpoint: print, judge each cell, paste)."""
from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.billing_flow.conftest import PNG
from tests.security.world import PRINCIPALS, World, build_world

_n = itertools.count(1)
DAY = "2026-11-23"
RULES = json.loads(open("billing/tariffs/examples/suzhou_offstreet.json", encoding="utf-8").read())


@dataclass(frozen=True)
class Call:
    """How to call one operation. `params` and `json` run for each cell: where the operation changes something they
    make its target anew (a new order, dispute, key, ...), so every cell acts on data of its own."""

    params: Callable[[World], dict] = lambda w: {}
    query: dict | None = None
    json: Callable[[World], Any] | None = None
    files: dict | None = None
    csv: bytes | None = None
    own_driver: bool = False  # A and B are fresh drivers (the cell ends a session, deletes an account, ...)


def _n_str(prefix: str) -> str:
    return f"{prefix}{next(_n)}"


def _open_dispute(w: World) -> dict:
    """A new driver's verified plate that parked at X1, disputed by another new driver: X decides."""
    _, plate = w.driver()
    w.stay(plate)
    claimant, _ = w.driver(plate=False)
    r = w.api.post(f"/v1/me/plates/{plate}/dispute", headers=claimant, json={"reason": "my car", "evidence": "licence"})
    assert r.status_code == 201, r.text
    return {"dispute_id": r.json()["id"]}


def _waiting_approval(w: World) -> dict:
    """A refund of A's new order at X1 asked for by X's staff above the approval limit."""
    order = w.paid_order()
    r = w.api.post(f"/v1/operator/orders/{order}/refund", headers=w.headers["Xstaff"],
                   json={"amount_fen": 200, "reason": "matrix", "request_id": _n_str("ap")})
    assert r.status_code == 202, r.text
    return {"approval_id": r.json()["approval_id"]}



ORDER = lambda w: {"order_id": w.ids["order_a"]}  # noqa: E731
FRESH_ORDER = lambda w: {"order_id": w.new_order()}  # noqa: E731
LOT_X = lambda w: {"lot_id": "X1"}  # noqa: E731
PLATE_A = lambda w: {"plate": w.cell.get("plate", w.ids["plate_a"])}  # noqa: E731

CALLS: dict[str, Call] = {
    "GET /healthz": Call(),
    "GET /metrics": Call(),
    "GET /v1/lots/nearby": Call(query={"lat": 31.3, "lon": 120.6}),
    "GET /v1/lots/{lot_id}": Call(LOT_X),
    "GET /v1/lots/{lot_id}/berths": Call(lambda w: {"lot_id": "XS"}),
    "GET /v1/lots/{lot_id}/forecast": Call(LOT_X),
    "GET /v1/lots/{lot_id}/history": Call(LOT_X),
    "GET /v1/lots": Call(),
    "GET /v1/stream": Call(query={"lots": "NO-SUCH-LOT"}),  # an unknown lot: the answer ends (the stream is public)
    "GET /v1/map": Call(),
    "GET /v1/open/lots.geojson": Call(),
    "GET /v1/open/datex2/parking-light.json": Call(),
    "GET /v1/open/ngsi-ld/entities": Call(),
    "GET /v1/signs": Call(),
    "GET /v1/signs/{sign_id}": Call(lambda w: {"sign_id": "no-such-sign"}),
    "GET /v1/guidance": Call(query={"lat": 31.3, "lon": 120.6}),
    "GET /v1/places": Call(query={"q": "X"}),
    "GET /v1/coords": Call(query={"lat": 31.3, "lon": 120.6, "from": "wgs84", "to": "gcj02"}),
    "POST /v1/payments/alipay/notify": Call(),
    "POST /v1/payments/alipay/agreement-notify": Call(),
    "POST /v1/auth/code": Call(json=lambda w: {"phone": str(13_900_000_000 + next(_n))}),
    "POST /v1/auth/token": Call(json=lambda w: w.fresh_code()),
    "POST /v1/auth/refresh": Call(json=lambda w: {"refresh_token": w.fresh_refresh()}),
    "POST /v1/auth/logout": Call(own_driver=True),
    "POST /v1/auth/logout-all": Call(own_driver=True),
    "GET /v1/me": Call(),
    "DELETE /v1/me": Call(json=lambda w: {"refresh_token": w.cell.get("refresh", "nope")}, own_driver=True),
    "GET /v1/me/plates": Call(),
    "POST /v1/me/plates": Call(json=lambda w: {"plate": f"苏G{next(_n):05d}"}),
    "DELETE /v1/me/plates/{plate}": Call(PLATE_A, own_driver=True),
    "POST /v1/me/plates/{plate}/dispute": Call(PLATE_A, json=lambda w: {"reason": "my car", "evidence": "licence"}, own_driver=True),
    "GET /v1/me/disputes": Call(),
    "POST /v1/me/agreement": Call(json=lambda w: {}, own_driver=True),
    "DELETE /v1/me/agreement": Call(own_driver=True),
    "POST /v1/me/plates/{plate}/evidence": Call(PLATE_A, files={"file": ("licence.png", PNG, "image/png")}, own_driver=True),
    "GET /v1/me/plate-verifications": Call(),
    "GET /v1/me/sessions": Call(),
    "GET /v1/me/orders": Call(),
    "GET /v1/me/orders/{order_id}": Call(ORDER),
    "POST /v1/me/orders/{order_id}/pay": Call(FRESH_ORDER),
    "GET /v1/me/receipts": Call(),
    "GET /v1/operator/disputes": Call(),
    "POST /v1/operator/disputes/{dispute_id}/grant": Call(_open_dispute, json=lambda w: {}),
    "POST /v1/operator/disputes/{dispute_id}/reject": Call(_open_dispute, json=lambda w: {}),
    "GET /v1/operator/plate-verifications": Call(),
    "GET /v1/operator/plate-verifications/{verification_id}/file": Call(lambda w: {"verification_id": w.ids["verification"]}),
    "POST /v1/operator/plate-verifications/{verification_id}/approve": Call(lambda w: {"verification_id": w.pending_verification()}, json=lambda w: {}),
    "POST /v1/operator/plate-verifications/{verification_id}/reject": Call(lambda w: {"verification_id": w.pending_verification()}, json=lambda w: {"reason": "blurred"}),
    "GET /v1/operator/orders": Call(),
    "GET /v1/operator/orders/{order_id}": Call(ORDER),
    "POST /v1/operator/orders/{order_id}/refund": Call(lambda w: {"order_id": w.paid_order()}, json=lambda w: {"amount_fen": 50, "reason": "matrix", "request_id": _n_str("r")}),
    "POST /v1/operator/orders/{order_id}/void": Call(FRESH_ORDER, json=lambda w: {"reason": "matrix"}),
    "POST /v1/operator/passes": Call(json=lambda w: {"plate": f"苏H{next(_n):05d}", "lot_id": "X1", "valid_from": "2026-12-01T00:00:00+08:00",
                                                       "valid_to": "2026-12-31T00:00:00+08:00"}),
    "GET /v1/operator/passes": Call(),
    "GET /v1/operator/reconciliation/{day}": Call(lambda w: {"day": DAY}),
    "GET /v1/operator/settlement/{day}": Call(lambda w: {"day": DAY}, query={"operator_id": "opx"}),
    "POST /v1/operator/tariffs/check": Call(json=lambda w: RULES),
    "GET /v1/operator/tariffs": Call(),
    "POST /v1/operator/tariffs": Call(json=lambda w: {"rules": {**RULES, "id": _n_str("matrix-tariff-"), "version": 1}}),
    "GET /v1/operator/tariffs/{tariff_id}/versions": Call(lambda w: {"tariff_id": "suzhou-offstreet"}),
    "GET /v1/operator/tariffs/{tariff_id}/versions/{version}": Call(lambda w: {"tariff_id": "suzhou-offstreet", "version": 1}),
    "GET /v1/operator/tariffs/{tariff_id}/quote": Call(lambda w: {"tariff_id": "suzhou-offstreet"},
                                                       query={"entered_at": "2026-11-23T09:00:00+08:00", "exited_at": "2026-11-23T11:00:00+08:00"}),
    "GET /v1/operator/plates/{plate}/arrears": Call(PLATE_A),
    "GET /v1/operator/me": Call(),
    "POST /v1/operator/session": Call(json=lambda w: {"username": "x.staff", "password": w.ids["password"]}),
    "DELETE /v1/operator/session": Call(),  # with an API key: nothing to end (keys are revoked), so harmless
    "GET /v1/operator/keys": Call(),
    "POST /v1/operator/keys": Call(json=lambda w: {"label": "matrix", "role": "viewer", "valid_days": 1}),
    "POST /v1/operator/keys/{key_id}/revoke": Call(lambda w: {"key_id": w.key_id("opx")}),
    "GET /v1/operator/audit": Call(),
    "GET /v1/operator/refund-approvals": Call(),
    "POST /v1/operator/refund-approvals/{approval_id}/approve": Call(_waiting_approval, json=lambda w: {}),
    "POST /v1/operator/refund-approvals/{approval_id}/reject": Call(_waiting_approval, json=lambda w: {}),
    "GET /v1/operator/refunds": Call(),
    "GET /v1/operator/lots": Call(),
    "POST /v1/operator/lots": Call(json=lambda w: {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.61, 31.31]},
                                                   "properties": {"id": _n_str("XN"), "name": "new", "kind": "off_street", "operator": "opx",
                                                                  "district": "dx", "total": 5, "gates": ["in1"],
                                                                  "devices": [{"id": "cam1", "kind": "gate_camera", "gate": "in1"}]}}),
    "GET /v1/operator/lots/{lot_id}/devices": Call(LOT_X),
    "POST /v1/operator/lots/{lot_id}/devices": Call(LOT_X, json=lambda w: {"id": _n_str("cam"), "kind": "gate_camera", "gate": "in1"}),
    "GET /v1/operator/devices": Call(),
    "GET /v1/operator/lots/{lot_id}/occupancy": Call(LOT_X),
    "GET /v1/operator/stays": Call(),
    "GET /v1/operator/long-stays": Call(),
    "GET /v1/operator/stays/{stay_id}": Call(lambda w: {"stay_id": w.ids["stay_a"]}),
    "POST /v1/operator/stays/{stay_id}/correct": Call(lambda w: {"stay_id": w.stay_of(w.new_order())},
                                                      json=lambda w: {"field": "plate", "value": f"苏J{next(_n):05d}", "reason": "misread"}),
    "POST /v1/operator/stays/{stay_id}/confirm-entry": Call(lambda w: {"stay_id": w.stay_of(w.new_order())},
                                                            json=lambda w: {"entered_at": "2026-11-23T08:00:00+08:00", "reason": "camera"}),
    "GET /v1/operator/lots/{lot_id}/figures": Call(LOT_X, query={"day": DAY}),
    "GET /v1/operator/figures": Call(query={"day": DAY}),
    "GET /v1/operator/reconciliation/months/{month}": Call(lambda w: {"month": DAY[:7]}),
    "GET /v1/operator/reconciliation/days/{day}": Call(lambda w: {"day": DAY}),
    "POST /v1/operator/reconciliation/days/{day}/run": Call(lambda w: {"day": DAY}),
    "GET /v1/operator/reconciliation/days/{day}/cases": Call(lambda w: {"day": DAY}),
    "GET /v1/operator/reconciliation/cases/{case_id}": Call(lambda w: {"case_id": "no-such-case"}),
    "POST /v1/operator/reconciliation/cases/{case_id}/resolve": Call(lambda w: {"case_id": "no-such-case"}, json=lambda w: {"action": "query"}),
    "PUT /v1/operator/reconciliation/stay-lists/{lot_id}/{day}": Call(lambda w: {"lot_id": "X1", "day": DAY}, csv="direction,plate,time\nin,苏E10000,2026-11-23T08:01:00+08:00\n".encode()),
    "GET /v1/operator/reconciliation/stay-lists/{lot_id}/{day}": Call(lambda w: {"lot_id": "X1", "day": DAY}),
    "GET /v1/operator/settlement/statements/{day}": Call(lambda w: {"day": DAY}),
    "GET /v1/operator/settlement/months/{month}": Call(lambda w: {"month": "2026-11"}),
    "GET /v1/operator/lots/{lot_id}/commissioning": Call(LOT_X),
    "POST /v1/operator/lots/{lot_id}/devices/{device_id}/credentials": Call(lambda w: {"lot_id": "X1", "device_id": w.device()}),
    "DELETE /v1/operator/lots/{lot_id}/devices/{device_id}/credentials": Call(lambda w: {"lot_id": "X1", "device_id": w.device()}),
    "GET /v1/operator/lots/{lot_id}/credentials": Call(LOT_X),
}

MATRIX = """
# METHOD path                                                        anon      A      B Xstaff   Xfin Xadmin Yadmin      D   city
GET /healthz                                                          200    200    200    200    200    200    200    200    200  # public
GET /v1/lots/nearby                                                   200    200    200    200    200    200    200    200    200
GET /v1/lots/{lot_id}                                                 200    200    200    200    200    200    200    200    200
GET /v1/lots/{lot_id}/berths                                          200    200    200    200    200    200    200    200    200
POST /v1/auth/code                                                    202    202    202    202    202    202    202    202    202  # public: sign-in (rate limits: tests/accounts)
POST /v1/auth/token                                                   200    200    200    200    200    200    200    200    200  # the code is the credential
POST /v1/auth/refresh                                                 200    200    200    200    200    200    200    200    200  # the refresh token is the credential
POST /v1/auth/logout                                                  401    200    200    401    401    401    401    401    401  # A, B: fresh drivers
POST /v1/auth/logout-all                                              401    200    200    401    401    401    401    401    401
GET /v1/me                                                            401    200    200    401    401    401    401    401    401
DELETE /v1/me                                                         401    200    200    401    401    401    401    401    401  # A, B: fresh drivers, each deleting themselves
GET /v1/me/plates                                                     401    200    200    401    401    401    401    401    401
POST /v1/me/plates                                                    401    201    201    401    401    401    401    401    401
DELETE /v1/me/plates/{plate}                                          401    204    404    401    401    401    401    401    401  # B on A's plate: 404
POST /v1/me/plates/{plate}/dispute                                    401    409    201    401    401    401    401    401    401  # A: already A's (409); B claims A's plate (X decides)
GET /v1/me/disputes                                                   401    200    200    401    401    401    401    401    401
POST /v1/me/agreement                                                 401    200    200    401    401    401    401    401    401
DELETE /v1/me/agreement                                               401    200    200    401    401    401    401    401    401
GET /v1/operator/disputes                                             401    401    401    200    200    200    200    200    200  # lists are scoped (tests/operators)
POST /v1/operator/disputes/{dispute_id}/grant                         401    401    401    200    200    200    403    403    200  # the plate last parked at X1: X decides; Y 403; a district reads only
POST /v1/operator/disputes/{dispute_id}/reject                        401    401    401    200    200    200    403    403    200  # same
POST /v1/me/plates/{plate}/evidence                                   401    409    404    401    401    401    401    401    401  # A: already verified (409); B on A's plate: 404
GET /v1/me/plate-verifications                                        401    200    200    401    401    401    401    401    401
GET /v1/operator/plate-verifications                                  401    401    401    200    200    200    200    200    200
GET /v1/operator/plate-verifications/{verification_id}/file           401    401    401    200    200    200    404    200    200  # a plate of X1's: Y 404
POST /v1/operator/plate-verifications/{verification_id}/approve       401    401    401    200    200    200    404    403    200  # Y 404; a district reads only
POST /v1/operator/plate-verifications/{verification_id}/reject        401    401    401    200    200    200    404    403    200
GET /v1/lots                                                          200    200    200    200    200    200    200    200    200
GET /v1/stream                                                        404    404    404    404    404    404    404    404    404  # an unknown lot, so the answer ends (public)
GET /v1/map                                                           200    200    200    200    200    200    200    200    200
GET /v1/open/lots.geojson                                             200    200    200    200    200    200    200    200    200
GET /v1/open/datex2/parking-light.json                                200    200    200    200    200    200    200    200    200
GET /v1/open/ngsi-ld/entities                                         200    200    200    200    200    200    200    200    200
GET /v1/signs                                                         200    200    200    200    200    200    200    200    200
GET /v1/signs/{sign_id}                                               404    404    404    404    404    404    404    404    404  # no sign configured (public)
POST /v1/payments/alipay/notify                                       200    200    200    200    200    200    200    200    200  # Alipay's, proved by signature: answered 'failure' (tests/billing_flow)
POST /v1/payments/alipay/agreement-notify                             200    200    200    200    200    200    200    200    200  # same
GET /v1/me/sessions                                                   401    200    200    401    401    401    401    401    401
GET /v1/me/orders                                                     401    200    200    401    401    401    401    401    401
GET /v1/me/orders/{order_id}                                          401    200    404    401    401    401    401    401    401  # B on A's order: 404 (was 403: fixed)
POST /v1/me/orders/{order_id}/pay                                     401    200    404    401    401    401    401    401    401  # B on A's order: 404 (was 403: fixed)
GET /v1/me/receipts                                                   401    200    200    401    401    401    401    401    401
GET /v1/operator/orders                                               401    401    401    200    200    200    200    200    200
GET /v1/operator/orders/{order_id}                                    401    401    401    200    200    200    404    200    200  # A's order at X1: Y 404, district D reads
POST /v1/operator/orders/{order_id}/refund                            401    401    401    201    201    201    403    403    201  # 50 fen, under the approval limit; Y 403; a district 403
POST /v1/operator/orders/{order_id}/void                              401    401    401    200    200    200    403    403    200  # Y 403; a district 403
POST /v1/operator/passes                                              401    401    401    201    201    201    403    403    201  # a pass at X1
GET /v1/operator/passes                                               401    401    401    200    200    200    200    200    200
GET /v1/operator/reconciliation/{day}                                 401    401    401    403    403    403    403    403    200  # Alipay's whole bill: the city only
GET /v1/operator/settlement/{day}                                     401    401    401    200    200    200    404    403    200  # ?operator_id=opx: Y 404, a district 403
POST /v1/operator/tariffs/check                                       401    401    401    200    200    200    200    200    200  # validates only, changes nothing
GET /v1/operator/tariffs                                              401    401    401    200    200    200    200    200    200
POST /v1/operator/tariffs                                             401    401    401    403    403    201    201    403    201  # a new id: admins (it becomes theirs)
GET /v1/operator/tariffs/{tariff_id}/versions                         401    401    401    200    200    200    200    200    200
GET /v1/operator/tariffs/{tariff_id}/versions/{version}               401    401    401    200    200    200    200    200    200
GET /v1/operator/tariffs/{tariff_id}/quote                            401    401    401    200    200    200    200    200    200
GET /v1/operator/plates/{plate}/arrears                               401    401    401    200    200    200    200    200    200  # city-wide by design (docs/OPERATORS.md), lot shown only when yours
GET /v1/operator/me                                                   401    401    401    200    200    200    200    200    200
POST /v1/operator/session                                             201    201    201    201    201    201    201    201    201  # user name and password are the credential
DELETE /v1/operator/session                                           401    401    401    204    204    204    204    204    204  # with an API key: nothing to end
GET /v1/operator/keys                                                 401    401    401    403    403    200    200    403    200  # admins, of their own organisation
POST /v1/operator/keys                                                401    401    401    403    403    201    201    403    201
POST /v1/operator/keys/{key_id}/revoke                                401    401    401    403    403    200    404    403    404  # a key of X: Y 404; the city's API revokes its own (CLI for others)
GET /v1/operator/audit                                                401    401    401    200    200    200    200    200    200
GET /v1/operator/refund-approvals                                     401    401    401    200    200    200    200    200    200
POST /v1/operator/refund-approvals/{approval_id}/approve              401    401    401    403    200    200    403    403    200  # X staff asked: finance decides; Y 403
POST /v1/operator/refund-approvals/{approval_id}/reject               401    401    401    403    200    200    403    403    200  # same
GET /v1/operator/refunds                                              401    401    401    200    200    200    200    200    200
GET /v1/operator/lots                                                 401    401    401    200    200    200    200    200    200
POST /v1/operator/lots                                                401    401    401    201    201    201    403    403    201  # a new car park of operator X
GET /v1/operator/lots/{lot_id}/devices                                401    401    401    200    200    200    404    200    200
POST /v1/operator/lots/{lot_id}/devices                               401    401    401    201    201    201    403    403    201  # at X1
GET /v1/operator/devices                                              401    401    401    200    200    200    200    200    200
GET /v1/operator/lots/{lot_id}/occupancy                              401    401    401    200    200    200    404    200    200
GET /v1/operator/stays                                                401    401    401    200    200    200    200    200    200
GET /v1/operator/long-stays                                           401    401    401    200    200    200    200    200    200
GET /v1/operator/stays/{stay_id}                                      401    401    401    200    200    200    404    200    200  # A's stay at X1
POST /v1/operator/stays/{stay_id}/correct                             401    401    401    200    200    200    403    403    200  # A's stay at X1
POST /v1/operator/stays/{stay_id}/confirm-entry                       401    401    401    409    409    409    403    403    409  # the stay has its entry: 409 once allowed
GET /v1/operator/lots/{lot_id}/figures                                401    401    401    200    200    200    404    200    200
GET /v1/operator/figures                                              401    401    401    200    200    200    200    200    200
GET /v1/operator/reconciliation/months/{month}                        401    401    401    200    200    200    200    200    200
GET /v1/operator/reconciliation/days/{day}                            401    401    401    200    200    200    200    200    200
POST /v1/operator/reconciliation/days/{day}/run                       401    401    401    403    403    403    403    403    200  # the city only
GET /v1/operator/reconciliation/days/{day}/cases                      401    401    401    200    200    200    200    200    200
GET /v1/operator/reconciliation/cases/{case_id}                       401    401    401    404    404    404    404    404    404  # no case in this city: proves the 401s only
POST /v1/operator/reconciliation/cases/{case_id}/resolve              401    401    401    404    404    404    404    404    404  # same
PUT /v1/operator/reconciliation/stay-lists/{lot_id}/{day}             401    401    401    201    201    201    403    403    201  # X1's list
GET /v1/operator/reconciliation/stay-lists/{lot_id}/{day}             401    401    401    200    200    200    404    200    200
GET /v1/operator/settlement/statements/{day}                          401    401    401    200    200    200    200    200    200
GET /v1/operator/settlement/months/{month}                            401    401    401    200    200    200    200    200    200
GET /v1/operator/lots/{lot_id}/commissioning                          401    401    401    200    200    200    404    200    200
POST /v1/operator/lots/{lot_id}/devices/{device_id}/credentials       401    401    401    409    409    409    403    403    409  # no broker here: 409 once allowed
DELETE /v1/operator/lots/{lot_id}/devices/{device_id}/credentials     401    401    401    404    404    404    403    403    404  # no credential yet: 404 once allowed
GET /v1/operator/lots/{lot_id}/credentials                            401    401    401    200    200    200    404    200    200
GET /v1/guidance                                                      200    200    200    200    200    200    200    200    200
GET /v1/lots/{lot_id}/forecast                                        200    200    200    200    200    200    200    200    200
GET /v1/lots/{lot_id}/history                                         200    200    200    200    200    200    200    200    200
GET /v1/places                                                        200    200    200    200    200    200    200    200    200
GET /v1/coords                                                        200    200    200    200    200    200    200    200    200
GET /metrics                                                          200    200    200    200    200    200    200    200    200  # public (Prometheus scrape)
"""


def parse(table: str) -> dict[str, dict[str, set[int]]]:
    rows: dict[str, dict[str, set[int]]] = {}
    for line in table.strip().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        method, path, *cells = line.split("#")[0].split()
        assert len(cells) == len(PRINCIPALS), f"{method} {path}: {len(cells)} cells for {len(PRINCIPALS)} principals"
        rows[f"{method} {path}"] = {who: {int(s) for s in cell.strip("{}").split(",")} for who, cell in zip(PRINCIPALS, cells)}
    return rows


def operations(world: World) -> list[str]:
    doc = world.api.app.openapi()
    return [f"{m.upper()} {path}" for path, item in doc["paths"].items() for m in item
            if m in ("get", "post", "put", "patch", "delete")]


@pytest.fixture(scope="module")
def world(tmp_path_factory, alipay_gw_module, app_keys):
    w = build_world(tmp_path_factory.mktemp("matrix"), alipay_gw_module, app_keys)
    yield w
    w.platform.stop()
    w.served.stop()


def call(w: World, op: str, who: str) -> int:
    spec = CALLS[op]
    method, template = op.split(" ", 1)
    w.cell = {}
    headers = w.headers[who]
    if spec.own_driver and who in ("A", "B"):
        a_headers, plate = w.driver()
        w.cell = {"plate": plate, "refresh": w.refresh[a_headers["Authorization"]]}
        if who == "A":
            headers = a_headers
        else:
            headers, _ = w.driver(plate=False)
            w.cell["refresh"] = w.refresh[headers["Authorization"]]
    path = template.format(**spec.params(w))
    kw: dict[str, Any] = {"headers": headers, "params": spec.query}
    if spec.json is not None:
        kw["json"] = spec.json(w)
    if spec.files is not None:
        kw["files"] = spec.files
    if spec.csv is not None:
        kw["content"] = spec.csv
        kw["headers"] = {**headers, "Content-Type": "text/csv"}
    return w.api.request(method, path, **kw).status_code


def test_every_operation_has_a_row(world):
    """A new endpoint without a row (or a row for an endpoint that is gone) fails here: add its row."""
    ops, rows = set(operations(world)), set(parse(MATRIX))
    assert sorted(ops - rows) == [], "operations with no row in MATRIX"
    assert sorted(rows - ops) == [], "rows of MATRIX for operations that no longer exist"
    assert sorted(ops - set(CALLS)) == [] and sorted(set(CALLS) - ops) == []


@pytest.mark.parametrize("op", list(parse(MATRIX)))
def test_matrix_row(world, op):
    """Each cell of the row answers as written (a cell that changes state acted on data of its own)."""
    expected = parse(MATRIX)[op]
    if op not in CALLS:
        pytest.fail(f"{op}: no way to call it in CALLS")
    got = {who: call(world, op, who) for who in PRINCIPALS}
    wrong = {who: (sorted(expected[who]), got[who]) for who in PRINCIPALS if got[who] not in expected[who]}
    assert wrong == {}, f"{op}: principal -> (expected, got)"


def test_print_matrix(world):
    if not os.environ.get("MATRIX_PRINT"):
        pytest.skip("MATRIX_PRINT=1 prints every cell's answer")
    width = max(map(len, CALLS))
    print("\n" + "# " + " " * (width - 2) + "".join(f"{p:>7}" for p in PRINCIPALS))
    for op in operations(world):
        if op in CALLS:
            print(op.ljust(width) + "".join(f"{call(world, op, who):>7}" for who in PRINCIPALS), flush=True)
