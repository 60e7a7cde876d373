"""Figures for docs/DEVICES.md, not a test (its name keeps it out of the suite). Run:

    python -m pytest tests/joining/measure_issuance.py -s

Against the test's own Mosquitto with the shipped dynamic-security config: how long an operator waits
for a credential and for a revocation (HTTP request to answer, broker round trip included), and how
long after a car park's last device first speaks it is live."""
from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

from tests.joining.conftest import Device, as_, joining_feature, wait_for


def _ms(xs: list[float]) -> str:
    return f"n={len(xs)} median {statistics.median(xs) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms"


def test_measure_issuance_revocation_and_going_live(platform_on_broker, dynsec_broker):
    _, client = platform_on_broker
    devices = [{"id": f"gw{i}", "kind": "gateway"} for i in range(30)]
    assert client.post("/v1/operator/lots", json=joining_feature(berths=["b1"], gates=[], devices=devices), headers=as_("op1")).status_code == 201
    issue, revoke = [], []
    for d in devices:
        t = time.perf_counter()
        assert client.post(f"/v1/operator/lots/J1/devices/{d['id']}/credentials", headers=as_("op1")).status_code == 201
        issue.append(time.perf_counter() - t)
    for d in devices[:15]:
        t = time.perf_counter()
        assert client.delete(f"/v1/operator/lots/J1/devices/{d['id']}/credentials", headers=as_("op1")).status_code == 200
        revoke.append(time.perf_counter() - t)
    live = []
    for i in range(5):
        lot = f"K{i}"
        feature = joining_feature(lot, berths=["b1"], gates=[], devices=[{"id": "gw", "kind": "gateway"}])
        assert client.post("/v1/operator/lots", json=feature, headers=as_("op1")).status_code == 201
        cred = client.post(f"/v1/operator/lots/{lot}/devices/gw/credentials", headers=as_("op1")).json()
        device = Device(dynsec_broker.port, cred["username"], cred["password"])
        try:
            t = time.perf_counter()
            assert device.publish(f"{dynsec_broker.prefix}/lots/{lot}/devices/gw/heartbeat", {"ts": datetime.now(UTC).isoformat()}) == 0
            wait_for(lambda lot=lot: client.get(f"/v1/operator/lots/{lot}/commissioning", headers=as_("op1")).json()["state"] == "live",
                     10, "live")
            live.append(time.perf_counter() - t)
        finally:
            device.close()
    print(f"\nissue a credential: {_ms(issue)}\nrevoke: {_ms(revoke)}\nlast device's first message to live: {_ms(live)}")
