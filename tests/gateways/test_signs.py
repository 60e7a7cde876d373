"""Guidance signs: what each shows over HTTP, its retained MQTT topic, and a sign file's errors."""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from parking_core.errors import ConfigError
from parking_core.signs import load_signs
from tests.factories import berth_msg, passage_msg

EXAMPLE = Path(__file__).resolve().parents[2] / "gateways" / "citizen" / "signs_example.json"
TOPIC = "parking/v1/signs/renmin-rd-north"


@pytest.fixture
def signs_api(api, monkeypatch):
    """(platform, app) with the bundled example signs over the small city."""
    monkeypatch.setenv("PARKING_SIGNS", str(EXAMPLE))

    def build(**kw):
        platform, client = api(**kw)
        return platform, client.app

    return build


def _sign_messages(platform, topic=TOPIC):
    return [(orjson.loads(p), retain) for t, p, retain in platform.published if t == topic]


def test_without_a_sign_file_there_are_no_signs(api, monkeypatch):
    monkeypatch.delenv("PARKING_SIGNS", raising=False)
    _, client = api()
    assert client.get("/v1/signs").json() == {"signs": []}
    r = client.get("/v1/signs/anything")
    assert r.status_code == 404 and r.json()["code"] == "sign_not_found"


def test_a_sign_shows_each_lot_with_label_count_arrow_and_distance(signs_api):
    platform, app = signs_api()
    now = platform.clock()
    platform.pipeline.process([berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", False, 1, now)])
    platform.pipeline.process([passage_msg("G1", "g", f"e{i}", "in", f"苏E1000{i}", now) for i in range(3)])
    body = TestClient(app).get("/v1/signs/renmin-rd-north").json()
    assert body["name"] == "人民路北口 Renmin Rd north"
    rows = [(x["lot_id"], x["label"], x["display"], x["status"], x["colour"], x["arrow"]) for x in body["lots"]]
    assert rows == [
        ("S1", "人民路", "2", "spacesAvailable", "green", "↑"),  # 170 m due north of the sign
        ("G1", "商场", "满", "full", "red", "↗"),
        ("C1", "Gov centre", "关闭", "closed", "red", "→"),  # 10 km east-north-east; no label configured: the lot's name; 10:00 is outside 18:00-08:00
    ]
    s1 = body["lots"][0]
    assert 160 < s1["distance_m"] < 180 and s1["distance_text"] == "170 m"
    assert body["lots"][2]["distance_text"].endswith(" km")
    assert body["updated_at"].startswith("2026-11-23T02:00:00")


def test_arrows_turn_with_the_way_the_sign_faces(signs_api):
    _, app = signs_api()
    east = TestClient(app).get("/v1/signs/gov-centre-east").json()["lots"][0]
    assert east["arrow"] == "↑"  # C1 lies due west; the sign faces west-bound traffic (heading 270)


def test_sign_list_and_unknown_sign(signs_api):
    _, app = signs_api()
    client = TestClient(app)
    assert [s["id"] for s in client.get("/v1/signs").json()["signs"]] == ["renmin-rd-north", "gov-centre-east"]
    r = client.get("/v1/signs/nope")
    assert r.status_code == 404
    assert r.json() == {"code": "sign_not_found", "message": "no guidance sign with id 'nope'", "field": "sign_id", "value": "nope"}


def test_signs_are_published_retained_at_start_and_on_change_only(signs_api):
    platform, app = signs_api()
    with TestClient(app):
        first = _sign_messages(platform)
        assert len(first) == 1 and first[0][1] is True  # retained
        assert [x["display"] for x in first[0][0]["lots"]] == ["--", "--", "关闭"]
        now = platform.clock()
        platform.pipeline.process([berth_msg("S1", "b1", False, 1, now), berth_msg("S1", "b2", True, 1, now)])  # half the berths known
        changed = _sign_messages(platform)
        assert len(changed) == 2 and changed[-1][0]["lots"][0]["display"] == "1" and "ts" in changed[-1][0]
        platform.pipeline.process([berth_msg("S1", "b1", False, 2, now)])  # same state again
        assert len(_sign_messages(platform)) == 2
        assert len(_sign_messages(platform, "parking/v1/signs/gov-centre-east")) == 1  # C1 did not change
    platform.pipeline.process([berth_msg("S1", "b3", False, 1, now)])
    assert len(_sign_messages(platform)) == 3  # the signs are the platform's: kept current while it runs, with or without the app


def _write(tmp_path, doc, name="signs.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def _sign(**kw):
    return {"id": "s1", "name": "Sign", "location": {"lat": 31.3, "lon": 120.6}, "lots": ["G1"], **kw}


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({"signs": [_sign(), {"id": "s2", "location": {"lat": 31.3, "lon": 120.6}, "lots": ["G1"]}]}, "signs[1] ('s2').name: Field required"),
        ({"signs": [_sign(location={"lat": 95, "lon": 120.6})]}, "signs[0] ('s1').location.lat"),
        ({"signs": [_sign(lots=[{"lot_id": "G1", "lable": "x"}])]}, "signs[0] ('s1').lots[0].lable: Extra inputs are not permitted"),
        ({"signs": [_sign(lots=["G1", "NOPE"])]}, "signs[0] ('s1').lots[1].lot_id: no car park 'NOPE' in the registry"),
        ({"signs": [_sign(), _sign()]}, "signs[1].id: 's1' is already the id of signs[0]"),
        ({"signs": [_sign(id="a/b")]}, "signs[0] ('a/b').id: String should match pattern"),
        ({"signs": [_sign(lots=[])]}, "signs[0] ('s1').lots: List should have at least 1 item"),
        ({"signs": [_sign(lots=["G1", "G1"])]}, "lots[1] 'G1' is already lots[0]"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_bad_sign_file_is_refused_naming_the_sign_and_field(tmp_path, doc, expected):
    with pytest.raises(ConfigError) as err:
        load_signs(_write(tmp_path, doc), {"G1", "S1", "C1"})
    assert expected in str(err.value)
    assert err.value.field == "PARKING_SIGNS"


def test_signs_may_be_written_in_yaml(tmp_path):
    path = _write(tmp_path, "signs:\n  - id: s1\n    name: 北门\n    location: {lat: 31.3, lon: 120.6}\n    lots: [G1, {lot_id: S1, label: 人民路}]\n", "signs.yaml")
    (sign,) = load_signs(path, {"G1", "S1"})
    assert [(r.lot_id, r.label) for r in sign.lots] == [("G1", None), ("S1", "人民路")]


def test_a_missing_sign_file_stops_start_up_naming_the_setting(api, monkeypatch, tmp_path):
    monkeypatch.setenv("PARKING_SIGNS", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="PARKING_SIGNS=.*missing.json.*cannot read"):
        api()  # the platform loads its signs when it starts
