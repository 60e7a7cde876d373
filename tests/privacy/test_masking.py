"""What logs may hold of a plate: province, city letter and the last two (`苏E·***88`), never the whole."""
from __future__ import annotations

import logging

from gateways.operator.permissions import log_refusal
from parking_core.plate_privacy import mask_plate, plate_hash
from parking_core.principals import Principal


def test_mask_plate_keeps_too_little_to_use():
    assert mask_plate("苏ED8888") == "苏E·***88"
    assert mask_plate("苏E·D8888") == "苏E·***88"
    assert mask_plate("苏ED45160") == "苏E·***60"  # new-energy plates too
    assert mask_plate("AB1") == "***" and mask_plate(None) == "-"
    hashed = plate_hash(b"k" * 32, "苏ED8888")
    assert mask_plate(hashed) == hashed and len(hashed) == 16


def test_an_operator_refused_a_plate_is_logged_without_it(caplog):
    p = Principal(id="key1", kind="operator", org_id="op2", role="staff", name="op2 staff")
    with caplog.at_level(logging.WARNING, logger="parking.operators"):
        log_refusal(p, 404, "plate", "苏ED8888")
        log_refusal(p, 403, "tariff_id", "T1")
    text = caplog.text
    assert "苏ED8888" not in text and "苏E·***88" in text and "T1" in text
