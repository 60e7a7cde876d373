"""Loading rule sets: every format accepted, and every mistake named by tariff, rule and field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from billing.tariffs import TariffRuleSet, compute_fee, load_tariff, load_tariffs
from parking_core.errors import InvalidInput
from tests.billing import EXAMPLES, at

GOOD = {
    "id": "flat-rate", "version": 1, "name": "Flat rate", "unit_minutes": 60,
    "periods": [{"label": "all day", "start": "00:00", "end": "24:00", "rate_fen": 100}],
}


def rejected(source) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        load_tariffs(source)
    return err.value


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_loads(path: Path):
    rule = load_tariff(path)
    assert isinstance(rule, TariffRuleSet)
    assert rule.currency == "CNY" and rule.version == 1 and rule.notes


def test_yaml_reads_times_as_text_not_base_60():
    # plain YAML 1.1 would read 19:00 as the integer 1140 and 07:00 as text
    rule = load_tariff("""
id: yaml-lot
version: 2
name: From YAML
unit_minutes: 30
periods:
  - {label: day, start: 07:00, end: 19:00, rate_fen: 200}
  - {label: night, start: 19:00, end: 07:00, flat_fen: 500}
""")
    assert [(p.start, p.end) for p in rule.periods] == [("07:00", "19:00"), ("19:00", "07:00")]
    # 18:00-19:30: units at 18:00, 18:30 by day (400) and the night from 19:00 (500)
    assert compute_fee(rule, entered_at=at(1, 18), exited_at=at(1, 19, 30)).amount_fen == 900


def test_files_lists_and_parsed_data(tmp_path: Path):
    second = GOOD | {"version": 2}
    (tmp_path / "many.json").write_text(json.dumps({"tariffs": [GOOD, second]}), encoding="utf-8")
    (tmp_path / "many.yaml").write_text(json.dumps([GOOD, second]), encoding="utf-8")
    for source in (tmp_path / "many.json", tmp_path / "many.yaml", json.dumps([GOOD, second]).encode(), [GOOD, second]):
        assert [(r.id, r.version) for r in load_tariffs(source)] == [("flat-rate", 1), ("flat-rate", 2)]
    assert [r.id for r in load_tariffs(GOOD)] == ["flat-rate"]  # one rule set alone is a file of one


def test_the_wrong_value_is_named_with_tariff_rule_and_field():
    bad = GOOD | {"id": "street-7", "periods": [{"label": "all day", "start": "00:00", "end": "24:00",
                                                 "rate_fen": -5}]}
    err = rejected({"tariffs": [GOOD, GOOD | {"id": "other"}, bad]})
    assert err.message == "tariffs[2].periods[0].rate_fen: -5 is below 0 (tariff 'street-7')"
    assert (err.field, err.value) == ("tariffs[2].periods[0].rate_fen", -5)


def test_every_problem_of_every_tariff_is_reported_at_once():
    err = rejected([GOOD | {"unit_minutes": 0}, GOOD | {"id": "b", "cap_mode": "weekly", "colour": "red"}])
    assert err.message == (
        "tariffs[0].unit_minutes: 0 is below 1 (tariff 'flat-rate'); "
        "tariffs[1].cap_mode: 'weekly' is not one of 'rolling_24h' or 'calendar_day' (tariff 'b'); "
        "tariffs[1].colour: is not a known field (given 'red') (tariff 'b')"
    )
    assert [e["field"] for e in err.details["errors"]] == [
        "tariffs[0].unit_minutes", "tariffs[1].cap_mode", "tariffs[1].colour"]


def period(**kw) -> dict:
    return {"label": "all day", "start": "00:00", "end": "24:00"} | kw


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"periods": [period(rate_fen=2.5)]}, "periods[0].rate_fen", "2.5 is not a whole number"),
    ({"periods": [period(rate_fen="100")]}, "periods[0].rate_fen", "'100' is not a whole number"),
    ({"periods": [period(rate_fen=1, start="7:00")]}, "periods[0].start",
     "'7:00' is not a wall-clock time HH:MM between 00:00 and 24:00"),
    ({"periods": [period(rate_fen=1, flat_fen=5)]}, "periods[0]", "give exactly one of rate_fen"),
    ({"periods": [period(flat_fen=5, unit_minutes=30)]}, "periods[0].unit_minutes",
     "30 does not apply to a flat period"),
    ({"periods": [period(rate_fen=100, large={"rate_fen": 50})]}, "periods[0].large.rate_fen",
     "50 is below the small-vehicle rate_fen 100"),
    ({"periods": [period(rate_fen=100, large={"flat_fen": 500})]}, "periods[0].large.flat_fen",
     "500 is set but the period has no flat_fen"),
    ({"periods": [period(rate_fen=100, first_rate_fen=50)]}, "periods[0].first_rate_fen",
     "50 is set but first_window is missing"),
    ({"first_window": {"minutes": 60, "unit_minutes": 60}}, "first_window",
     "is set but no period has a first_rate_fen"),
    ({"first_window": {"minutes": 45, "unit_minutes": 30}}, "first_window.minutes",
     "45 is not a whole number of unit_minutes 30"),
    ({"periods": [period(rate_fen=1, start="07:00", end="19:00"), period(rate_fen=1, start="18:00", end="07:00")]},
     "periods", "periods[0] 07:00-19:00 overlaps periods[1] 18:00-07:00; periods must cover the 24 hours once"),
    ({"periods": [period(rate_fen=1, start="07:00", end="19:00"), period(rate_fen=1, start="20:00", end="07:00")]},
     "periods", "periods[0] 07:00-19:00 leaves a gap before periods[1] 20:00-07:00"),
    ({"periods": [period(rate_fen=1, start="07:00", end="19:00")]}, "periods",
     "periods cover 720 minutes of the day, not 1440"),
    ({"periods": [period(rate_fen=1, start="24:00", end="07:00")]}, "periods[0].start", "'24:00' cannot start"),
    ({"periods": []}, "periods", "has 0 item(s), needs at least 1"),
    ({"cap_fen": 1000, "large_cap_fen": 500}, "large_cap_fen", "500 is below cap_fen 1000"),
    ({"large_cap_fen": 500}, "large_cap_fen", "500 is set but cap_fen is missing"),
    ({"large_multiplier_percent": 80}, "large_multiplier_percent", "80 is below 100"),
    ({"new_energy": {"discount_percent": 120}}, "new_energy.discount_percent", "120 is above 100"),
    ({"currency": "USD"}, "currency", "'USD' is not one of 'CNY'"),
    ({"version": True}, "version", "true is not a whole number"),
    ({"id": "has space"}, "id", "'has space' does not match"),
])
def test_rule_mistakes(change, field, text):
    err = rejected([GOOD | change])
    assert err.field == f"tariffs[0].{field}"
    assert f"tariffs[0].{field}: {text}" in err.message
    assert err.message.endswith("(tariff 'flat-rate')") or "id" in change


def test_a_single_rule_set_names_fields_without_a_list_index():
    with pytest.raises(InvalidInput) as err:
        load_tariff(GOOD | {"free_minutes": -1})
    assert err.value.message == "free_minutes: -1 is below 0 (tariff 'flat-rate')"


def test_missing_fields_and_duplicate_versions():
    assert rejected([{"name": "x"}]).message == (
        "tariffs[0].id: is required; tariffs[0].version: is required; "
        "tariffs[0].unit_minutes: is required; tariffs[0].periods: is required")
    err = rejected([GOOD, GOOD])
    assert err.message == "tariffs[1].version: id 'flat-rate' version 1 is already defined by tariffs[0]"


@pytest.mark.parametrize(("source", "text"), [
    ("{bad json", "source: text is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
    ("a: [b\n c: d", "source: text is not valid YAML at line 2 column 3"),
    ("tariffs: 5", "tariffs: expected a list of rule sets, got int 5"),
    ("billing/tariffs/examples/suzhou_offstreet.json", "got str 'billing/tariffs/examples/suzhou_offstreet.json'"),
    ({"tariffs": [], "extra": 1}, "extra: is not a known top-level field"),
    (Path("/nonexistent/tariffs.yaml"), "source: cannot read /nonexistent/tariffs.yaml"),
    (42, "source: expected text, a Path or parsed data, got int"),
    ("名称".encode("gbk"), "source: text is not UTF-8 (byte 0)"),
])
def test_unreadable_sources(source, text):
    assert text in rejected(source).message


def test_load_tariff_wants_exactly_one():
    with pytest.raises(InvalidInput) as err:
        load_tariff([GOOD])
    assert err.value.message.startswith("tariff: expected one rule set (a mapping), got list")


V2 = GOOD | {"format": 2}


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"format": 3}, "format", "3 is not one of 1 or 2"),
    ({"periods": [period(rate_fen=1, restart_units=True)]}, "periods[0].restart_units",
     "True needs \"format\": 2 (this rule set is format 1)"),
    ({"periods": [period(rate_fen=1, occurrence_cap_fen=500)]}, "periods[0].occurrence_cap_fen",
     "500 needs \"format\": 2"),
    # a large-vehicle cap without a small one is named before the format (the period's own check runs first)
    ({"periods": [period(rate_fen=1, large={"occurrence_cap_fen": 500})]}, "periods[0].large.occurrence_cap_fen",
     "500 is set but the period has no occurrence_cap_fen"),
    ({"periods": [period(rate_fen=1, pass_free=True)]}, "periods[0].pass_free", "True needs \"format\": 2"),
    ({"counting": "chargeable_time"}, "counting", "'chargeable_time' needs \"format\": 2"),
    ({"periods": [period(rate_fen=1, first_rate_fen=2)], "first_window": {"minutes": 60, "unit_minutes": 60,
                                                                          "per": "rolling_24h"}},
     "first_window.per", "'rolling_24h' needs \"format\": 2"),
])
def test_format_2_rules_in_a_format_1_rule_set_are_named(change, field, text):
    err = rejected([GOOD | change])
    assert err.field == f"tariffs[0].{field}"
    assert f"tariffs[0].{field}: {text}" in err.message and err.message.endswith("(tariff 'flat-rate')")


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"counting": "minutes"}, "counting", "'minutes' is not one of 'clock' or 'chargeable_time'"),
    ({"allowance_order": ["first_window", "new_energy"]}, "allowance_order",
     "['first_window', 'new_energy']: first_window must come last"),
    ({"allowance_order": ["new_energy", "new_energy"]}, "allowance_order", "'new_energy' is listed 2 times"),
    ({"allowance_order": ["coupon"]}, "allowance_order[0]", "'coupon' is not one of"),
    ({"periods": [period(flat_fen=300, occurrence_cap_fen=500)]}, "periods[0].occurrence_cap_fen",
     "500 does not apply to a flat period"),
    ({"periods": [period(rate_fen=100, occurrence_cap_fen=500, large={"occurrence_cap_fen": 400})]},
     "periods[0].large.occurrence_cap_fen", "400 is below the small-vehicle occurrence_cap_fen 500"),
    ({"periods": [period(rate_fen=100, occurrence_cap_fen=-1)]}, "periods[0].occurrence_cap_fen", "-1 is below 0"),
    ({"periods": [period(rate_fen=100, restart_units="yes")]}, "periods[0].restart_units",
     "'yes' is not true or false"),
    ({"periods": [period(rate_fen=1, first_rate_fen=2)], "first_window": {"minutes": 60, "unit_minutes": 60,
                                                                          "per": "week"}},
     "first_window.per", "'week' is not one of 'stay', 'rolling_24h' or 'calendar_day'"),
])
def test_format_2_mistakes_are_named_by_tariff_rule_and_field(change, field, text):
    err = rejected([V2 | change])
    assert err.field == f"tariffs[0].{field}"
    assert f"tariffs[0].{field}: {text}" in err.message and err.message.endswith("(tariff 'flat-rate')")
