"""Format-1 rule sets price exactly as before format 2 existed: 2,000 stays over the five bundled format-1
examples, priced and itemised by the engine at commit 820f115 (tests/billing/make_v1_snapshot.py), again now."""
from __future__ import annotations

import json

import pytest

from tests.billing import example
from tests.billing.make_v1_snapshot import OUT, V1, price

CASES = json.loads(OUT.read_text())
# The one receipt label renamed since the snapshot, so that every label fits a receipt's 40 characters (the fee,
# times, units and fen of the line are unchanged).
RENAMED = {"15 free min not granted: stay over 15 min": "no free 15 min: stay over 15 min"}


def renamed(lines: list) -> list:
    return [[RENAMED.get(line[0], line[0]), *line[1:]] for line in lines]


@pytest.mark.parametrize("stem", V1)
def test_format_1_examples_price_and_itemise_as_before(stem):
    tariff = example(stem)
    assert tariff.rules.format == 1
    cases = [c for c in CASES if c["tariff"] == stem]
    assert len(cases) == 400
    changed = []
    for case in cases:
        now = price(tariff, *case["stay"])
        was = {"fen": case["fen"], **({"lines": renamed(case["lines"])} if "lines" in case else {})}
        if {k: now[k] for k in was} != was:
            changed.append((case["stay"], was, now))
    assert not changed, f"{len(changed)} stays price differently, first: {changed[0]}"
