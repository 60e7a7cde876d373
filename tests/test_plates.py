"""Plates: one spelling for storing and comparing, the rules of a valid mainland plate, distance for misreads."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parking_core.errors import InvalidInput
from parking_core.plates import (
    FAR,
    LETTERS,
    PROVINCES,
    SERIAL,
    SUFFIXES,
    Plate,
    normalize_plate,
    plate_distance,
    validate_plate,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("苏E12345", "苏E12345"),
    ("苏e·12345", "苏E12345"),
    (" 苏 E-123.45 ", "苏E12345"),
    ("京Ａ・１２３４５", "京A12345"),       # full-width letters and digits, katakana middle dot
    ("粤b\u3000d12345", "粤BD12345"),      # ideographic space
    ("沪A－12345", "沪A12345"),            # full-width hyphen
    ("", ""),
])
def test_normalize(raw, expected):
    assert normalize_plate(raw) == expected


@pytest.mark.parametrize(("raw", "color", "expected"), [
    ("苏E12345", "blue", Plate("苏E12345", "苏", "ordinary", "blue")),
    ("苏e·d12345", "green", Plate("苏ED12345", "苏", "new_energy", "green")),
    ("粤B1234学", "yellow", Plate("粤B1234学", "粤", "coach", "yellow")),
    ("京A0123警", "white", Plate("京A0123警", "京", "police", "white")),
    ("粤Z1234港", "black", Plate("粤Z1234港", "粤", "hong_kong", "black")),
    ("粤Z1234澳", None, Plate("粤Z1234澳", "粤", "macau", None)),
    ("鲁B1234挂", None, Plate("鲁B1234挂", "鲁", "trailer", None)),
    ("沪A1234领", None, Plate("沪A1234领", "沪", "consulate", None)),
])
def test_valid_plates(raw, color, expected):
    assert validate_plate(raw, color) == expected


def test_new_energy_flag():
    assert validate_plate("浙AD12345").new_energy and not validate_plate("浙A12345").new_energy


@pytest.mark.parametrize(("raw", "color", "field", "text"), [
    ("", None, "plate", "plate: is empty"),
    ("北A12345", None, "plate", "'北A12345' does not start with a province abbreviation"),
    ("台A12345", None, "plate", "does not start with a province abbreviation"),
    ("苏I12345", None, "plate", "needs a letter A-Z other than I or O after the province, got 'I'"),
    ("苏", None, "plate", "got nothing"),
    ("苏E1234", None, "plate", "'苏E1234' has 6 characters; a plate has 7 (8 for new-energy)"),
    ("苏E1234567", None, "plate", "has 9 characters"),
    ("苏E12O45", None, "plate", "'苏E12O45' has 'O' in its serial"),
    ("苏E12#45", None, "plate", "has '#' in its serial"),
    ("苏E12345", "green", "plate", "'苏E12345' is green but has 7 characters; a green plate has 8"),
    ("苏E12345", "red", "plate_color", "plate_color: 'red' is not one of blue, green, yellow, white, black"),
])
def test_invalid_plates_name_the_rule(raw, color, field, text):
    with pytest.raises(InvalidInput) as err:
        validate_plate(raw, color)
    assert err.value.field == field
    assert text in err.value.message


def test_normalize_refuses_what_is_not_text():
    with pytest.raises(InvalidInput) as err:
        normalize_plate(None)  # type: ignore[arg-type]
    assert err.value.field == "plate"


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("苏E12345", "苏E12345", 0),
    ("苏E12345", "苏e-12345", 0),
    ("苏E12345", "苏E12346", 1),
    ("苏E12345", "苏B12845", 2),
    ("苏E12345", "苏ED12345", FAR),
])
def test_plate_distance(a, b, expected):
    assert plate_distance(a, b) == expected


serials = st.text(alphabet=SERIAL, min_size=5, max_size=6)
valid_plates = st.one_of(
    st.builds(lambda p, l, s: p + l + s, st.sampled_from(PROVINCES), st.sampled_from(LETTERS), serials),
    st.builds(lambda p, l, s, x: p + l + s + x, st.sampled_from(PROVINCES), st.sampled_from(LETTERS),
              st.text(alphabet=SERIAL, min_size=4, max_size=4), st.sampled_from(list(SUFFIXES))),
)
noise = st.sampled_from([" ", ".", "-", "·", "・", "\u3000", "－", "\t"])


@given(st.text())
def test_normalize_is_idempotent(raw):
    once = normalize_plate(raw)
    assert normalize_plate(once) == once


@given(valid_plates)
def test_valid_plates_survive_normalize(plate):
    assert normalize_plate(plate) == plate
    assert validate_plate(plate).number == plate


@given(valid_plates, st.lists(st.tuples(st.integers(0, 8), noise)), st.booleans())
def test_separators_and_case_do_not_change_a_plate(plate, inserts, lower):
    messy = plate.lower() if lower else plate
    for at, sep in inserts:
        messy = messy[:at] + sep + messy[at:]
    assert normalize_plate(messy) == plate
    assert plate_distance(messy, plate) == 0


@given(valid_plates, valid_plates)
def test_distance_is_symmetric_and_zero_only_for_the_same_plate(a, b):
    assert plate_distance(a, b) == plate_distance(b, a)
    assert (plate_distance(a, b) == 0) == (a == b)
