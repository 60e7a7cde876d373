"""`parking lots import` refuses a car park whose tariff the catalog does not have (its stays would
become orders of 0 fen), naming the feature, and imports nothing of that file."""
from __future__ import annotations

import json

from tests.cli.conftest import assert_one_line
from tests.factories import feature, registry


def test_an_unknown_tariff_rejects_the_file(parking, tmp_path):
    assert parking("db", "upgrade").code == 0
    good = [feature("A1", tariff="suzhou-offstreet"), feature("A2")]
    (tmp_path / "good.geojson").write_text(json.dumps(registry(*good)))
    assert "2 new" in parking("lots", "import", "good.geojson").stderr
    (tmp_path / "bad.geojson").write_text(json.dumps(registry(*good, feature("A3"), feature("A4", tariff="no-such-tariff"))))
    line = assert_one_line(parking("lots", "import", "bad.geojson"), "features[3].properties.tariff", "'no-such-tariff'")
    assert "suzhou-offstreet" in line  # says which ids there are
    (tmp_path / "more.geojson").write_text(json.dumps(registry(*good, feature("A3"))))
    ran = parking("lots", "import", "more.geojson")
    assert ran.code == 0, ran.stderr
    assert "1 new, 2 updated" in ran.stderr  # nothing of the rejected file was written


def test_a_tariff_from_PARKING_TARIFFS_is_known(parking, tmp_path):
    rates = tmp_path / "rates"
    rates.mkdir()
    src = json.loads((__import__("billing.tariffs.catalog", fromlist=["BUNDLED"]).BUNDLED / "suzhou_offstreet.json").read_text())
    src["id"] = "my-town"
    (rates / "my_town.json").write_text(json.dumps(src))
    assert parking("db", "upgrade").code == 0
    (tmp_path / "city.geojson").write_text(json.dumps(registry(feature("A1", tariff="my-town"))))
    ran = parking("lots", "import", "city.geojson", PARKING_TARIFFS=str(rates))
    assert (ran.code, ran.stderr.splitlines()[-1]) == (0, "imported city.geojson: 1 new, 0 updated car parks, 0 berths"), ran.stderr
    assert_one_line(parking("lots", "import", "city.geojson"), "'my-town'")  # the bundled catalog has no my-town
