"""What `coord=gcj02|bd09` costs: the whole city in one request (`GET /v1/lots?limit=5000`), converted
or not, and the conversion alone per point, each beside its WGS-84 baseline in the same run.

Run from the repository root: python -m bench.bench_coords [--lots 3300] [--runs 15]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from fastapi.testclient import TestClient

from gateways.bootstrap import Platform
from gateways.http.app import create_app
from gateways.operator.registry_import import import_registry
from gateways.schema import upgrade
from parking_core.coords import from_wgs84, to_wgs84
from parking_core.settings import load_settings
from sensors.simulator import generate_city


def median_ms(fn, runs: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    city = generate_city(args.lots, seed=1)
    points = [(f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0]) for f in city["features"]]

    print(f"conversion alone, {len(points)} points (median of {args.runs} runs):")
    for system in ("gcj02", "bd09"):
        out = median_ms(lambda: [from_wgs84(a, b, system) for a, b in points], args.runs)
        back = median_ms(lambda: [to_wgs84(a, b, system) for a, b in points], args.runs)
        print(f"  wgs84 -> {system}: {out:7.2f} ms ({out * 1000 / len(points):.1f} µs/point); {system} -> wgs84: {back:7.2f} ms ({back * 1000 / len(points):.1f} µs/point)")

    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(load_settings(DATABASE_URL=f"sqlite:///{tmp}/c.db"), with_ingest=False)
        upgrade(platform.engine)
        import_registry(platform, city)
        platform.start()
        try:
            client = TestClient(create_app(platform))
            results = {}
            for system in ("wgs84", "gcj02", "bd09"):
                def call(system=system) -> None:
                    r = client.get("/v1/lots", params={"limit": 5000, "coord": system})
                    assert r.status_code == 200 and len(r.json()["lots"]) == args.lots
                call()
                results[system] = median_ms(call, args.runs)
            base = results["wgs84"]
            print(f"GET /v1/lots?limit=5000, {args.lots} lots, in-process (median of {args.runs}):")
            for system, ms in results.items():
                print(f"  coord={system}: {ms:7.1f} ms  ratio to wgs84 {ms / base:.2f}")
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
