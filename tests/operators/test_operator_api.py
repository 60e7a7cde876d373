"""The operator API over real ingest: devices silent or low on battery, stays by state with corrections that
are audited, long stays, daily figures and occupancy, paging with a stated maximum."""
from __future__ import annotations

from datetime import timedelta

import orjson

from parking_core.clock import SHANGHAI
from sensors.topics import topics_of
from tests.factories import PREFIX, berth_msg, ts


def heartbeat(ops, lot: str, device: str, battery_mv: int, ago_s: float = 0) -> None:
    at = ops.platform.clock() - timedelta(seconds=ago_s)
    ops.platform.pipeline.process([(topics_of(PREFIX).heartbeat(lot, device),
                                    orjson.dumps({"ts": ts(at), "battery_mv": battery_mv}))])
    ops.platform.pipeline.tick()  # heartbeats reach the device table once a tick


def test_devices_show_last_heard_silence_and_low_battery(ops):
    heartbeat(ops, "S1", "b1", 3600)
    heartbeat(ops, "S1", "b2", 3100)
    heartbeat(ops, "S1", "b3", 3600, ago_s=1000)  # beyond the 900 s heartbeat timeout
    heartbeat(ops, "G1", "cam1", 3000)
    devices = {d["id"]: d for d in ops.get("op1", "/v1/operator/lots/S1/devices").json()["devices"]}
    assert {k: (d["silent"], d["low_battery"], d["battery_mv"]) for k, d in devices.items()} == {
        "b1": (False, False, 3600), "b2": (False, True, 3100), "b3": (True, False, 3600), "b4": (True, False, None)}
    assert devices["b4"]["last_heard"] is None  # a sensor berth never heard
    low = ops.get("op1", "/v1/operator/devices", params={"problem": "low_battery"}).json()["devices"]
    assert [(d["lot_id"], d["id"]) for d in low] == [("S1", "b2")]  # G1's camera is op2's
    lot = next(x for x in ops.get("op1", "/v1/operator/lots").json()["lots"] if x["id"] == "S1")
    assert (lot["devices"], lot["silent_devices"], lot["low_battery_devices"]) == (4, 2, 1)


def test_stays_by_state_and_a_correction_written_to_both_trails(ops):
    ops.stay("苏E11111", lot="G1")
    ops.stay("苏E22222", lot="G1", exit_=False)
    ops.stay("苏E33333", lot="G1", exit_plate="苏E33338")  # one character off: matched, to be confirmed
    stays = lambda state: sorted(s["plate"] for s in ops.get("op2", "/v1/operator/stays", params={"state": state}).json()["stays"])  # noqa: E731
    assert stays("open") == ["苏E22222"]
    assert stays("misread") == ["苏E33333"] and stays("needs_confirmation") == ["苏E33333"]
    assert stays("closed") == ["苏E11111", "苏E33333"]
    assert ops.get("op1", "/v1/operator/stays").json()["stays"] == []
    misread = ops.get("op2", "/v1/operator/stays", params={"state": "misread"}).json()["stays"][0]
    assert ops.post("op1", f"/v1/operator/stays/{misread['id']}/correct",
                    json={"field": "plate", "value": "苏E33338", "reason": "camera"}).status_code == 403
    assert ops.post("op2_viewer", f"/v1/operator/stays/{misread['id']}/correct",
                    json={"field": "plate", "value": "苏E33338", "reason": "camera"}).status_code == 403
    bad = ops.post("op2", f"/v1/operator/stays/{misread['id']}/correct", json={"field": "exited_at", "value": "yesterday", "reason": "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "value"
    r = ops.post("op2", f"/v1/operator/stays/{misread['id']}/correct",
                 json={"field": "plate", "value": "苏e 33338", "reason": "the exit camera read it right"})
    assert r.status_code == 200, r.text
    assert r.json()["plate"] == "苏E33338" and [(a["action"], a["old"], a["new"]) for a in r.json()["audit"]][-1] == (
        "correct", "苏E33333", "苏e 33338")
    (row,) = [e for e in ops.get("op2", "/v1/operator/audit", params={"action": "stay.correct"}).json()["entries"]]
    assert (row["subject"], row["before"]["plate"], row["after"]["plate"], row["actor_name"]) == (
        f"stay:{misread['id']}", "苏E33333", "苏E33338", "op2")


def test_long_stays_are_open_stays_past_the_threshold(ops):
    ops.stay("苏E44444", lot="G1", minutes=80 * 60, exit_=False)
    ops.stay("苏E55555", lot="G1", minutes=60, exit_=False)
    assert [s["plate"] for s in ops.get("op2", "/v1/operator/long-stays").json()["stays"]] == ["苏E44444"]  # 72 h default
    assert [s["plate"] for s in ops.get("op2", "/v1/operator/long-stays", params={"min_hours": 0.5}).json()["stays"]] == [
        "苏E44444", "苏E55555"]
    assert ops.get("op1", "/v1/operator/long-stays").json()["stays"] == []


def test_daily_figures_count_stays_money_turnover_and_hourly_occupancy(ops):
    ops.stay("苏E11111", lot="G1", minutes=60)
    ops.stay("苏E22222", lot="G1", minutes=120)
    ops.stay("苏E66666", lot="S1", minutes=30)
    day = ops.platform.clock().astimezone(SHANGHAI).date().isoformat()
    f = ops.get("op2", "/v1/operator/lots/G1/figures", params={"from": day}).json()["days"][0]
    assert (f["stays_entered"], f["stays_closed"], f["average_stay_min"], f["turnover"]) == (2, 2, 90.0, round(2 / 3, 3))
    assert (f["payments_fen"], f["refunds_fen"], f["revenue_fen"]) == (0, 0, 0)  # nobody has paid yet
    assert len(f["occupancy_by_hour"]) == 24
    every = {x["lot_id"]: x for x in ops.get("city_viewer", "/v1/operator/figures", params={"day": day}).json()["lots"]}
    assert (every["S1"]["stays_closed"], every["G1"]["stays_closed"], every["C1"]["stays_closed"]) == (1, 2, 0)
    assert [x["lot_id"] for x in ops.get("op1", "/v1/operator/figures", params={"day": day}).json()["lots"]] == ["S1"]
    r = ops.get("op2", "/v1/operator/lots/G1/figures", params={"from": "2026-10-01", "to": "2026-11-23"})
    assert r.status_code == 422 and r.json()["field"] == "to"


def test_hourly_occupancy_follows_the_sensors(ops):
    clock = ops.platform.clock
    hour = clock().astimezone(SHANGHAI).hour
    clock.advance(minutes=10)
    for seq, berth in enumerate(("b1", "b2", "b3", "b4"), 1):
        ops.platform.pipeline.process([berth_msg("S1", berth, berth in ("b1", "b2"), seq, clock())])
    clock.advance(hours=2)
    f = ops.get("op1", "/v1/operator/lots/S1/figures", params={"from": clock().astimezone(SHANGHAI).date().isoformat()}).json()
    by_hour = f["days"][0]["occupancy_by_hour"]
    assert by_hour[hour] is None  # at its start nothing had been heard: unknown, not empty
    assert by_hour[hour + 1] == by_hour[hour + 2] == 0.5  # two of four berths taken


def test_lists_page_with_offset_up_to_a_stated_maximum(ops):
    for n in range(5):
        ops.stay(f"苏E1000{n}", lot="G1")
    first = ops.get("op2", "/v1/operator/stays", params={"limit": 2}).json()
    second = ops.get("op2", "/v1/operator/stays", params={"limit": 2, "offset": first["next_offset"]}).json()
    last = ops.get("op2", "/v1/operator/stays", params={"limit": 2, "offset": second["next_offset"]}).json()
    plates = [s["plate"] for page in (first, second, last) for s in page["stays"]]
    assert sorted(plates) == [f"苏E1000{n}" for n in range(5)] and last["next_offset"] is None
    r = ops.get("op2", "/v1/operator/stays", params={"limit": 1001})
    assert r.status_code == 422 and "1000" in r.text
