"""Contract section 1: the registry import, all or nothing, and in place on a second run."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from gateways.schema import upgrade
from parking_core.db import UnitOfWork, make_engine
from parking_core.errors import InvalidInput
from parking_core.models import Berth, Lot
from parking_core.registry import load_lots, parse_registry, save_registry
from tests.factories import city_registry, feature, registry


@pytest.fixture
def uow_factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    yield lambda: UnitOfWork(factory)
    engine.dispose()


def test_parses_lots_with_their_fields():
    lots = {x.id: x for x in parse_registry(city_registry())}
    s1 = lots["S1"]
    assert (s1.kind, s1.total, s1.berths, s1.lat, s1.lon) == ("on_street", 4, ("b1", "b2", "b3", "b4"), 31.3, 120.6)
    assert lots["G1"].tariff == "suzhou-offstreet"
    assert str(lots["C1"].shared_hours) == "18:00-08:00"


@pytest.mark.parametrize(
    "bad, where",
    [
        (feature("X", kind="garage"), "features[1].properties.kind"),
        (feature("X", total=-1), "features[1].properties.total"),
        (feature("X", total="12"), "features[1].properties.total"),
        (feature("X", lat=95), "features[1].geometry.coordinates"),
        (feature("X", shared_hours="25:00-08:00"), "features[1].properties.shared_hours"),
        (feature("X", berths=["a", "a"], total=2), "features[1].properties.berths"),
        (feature("X", berths=["a", "b", "c"], total=2), "features[1].properties"),
        (feature("X", name=None), "features[1].properties.name"),
        (feature("L1"), "features[1].properties.id"),
        ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {}}, "features[1].geometry"),
    ],
)
def test_a_bad_feature_rejects_the_file_naming_index_and_field(bad, where):
    with pytest.raises(InvalidInput) as err:
        parse_registry(registry(feature("L1"), bad))
    assert err.value.field.startswith(where), err.value.message
    assert where in err.value.message


def test_not_a_feature_collection_is_rejected():
    with pytest.raises(InvalidInput, match="FeatureCollection"):
        parse_registry(b'{"type": "Feature"}')
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_registry(b"\xff\xfe")


def test_import_then_reimport_updates_in_place(uow_factory):
    with uow_factory() as uow:
        r = save_registry(uow.session, parse_registry(city_registry()))
        uow.commit()
    assert (r.created, r.updated, r.berths) == (3, 0, 4)
    changed = city_registry()
    changed["features"][0]["properties"]["berths"] = ["b1", "b2"]
    changed["features"][0]["properties"]["total"] = 2
    changed["features"][1]["properties"]["name"] = "Mall car park P2"
    with uow_factory() as uow:
        r = save_registry(uow.session, parse_registry(changed))
        uow.commit()
    assert (r.created, r.updated, r.berths) == (0, 3, 2)
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Lot)) == 3
        assert uow.session.scalar(select(func.count()).select_from(Berth)) == 2
        lots = {x.id: x for x in load_lots(uow.session)}
    assert lots["G1"].name == "Mall car park P2"
    assert lots["S1"].berths == ("b1", "b2")


def test_nothing_is_written_when_the_file_is_bad(uow_factory):
    with pytest.raises(InvalidInput):
        lots = parse_registry(registry(feature("A"), feature("B", total=-5)))
        with uow_factory() as uow:
            save_registry(uow.session, lots)
            uow.commit()
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Lot)) == 0
