"""The README's first query answers what `parking demo` answers: the same car parks, fields and
distances (free counts, status and times move with the simulated traffic)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

README = Path(__file__).resolve().parents[2] / "README.md"
MOVING = {"free", "status", "updated_at", "berths_known"}


def _example() -> tuple[str, dict]:
    block = re.search(r"\$ curl '([^']+/v1/lots/nearby[^']*)'\n(.*?)\n```", README.read_text(), re.S)
    assert block, "README has no nearby example"
    return block.group(1), json.loads(block.group(2))


@pytest.mark.parametrize("backend_env", ["embedded"], indirect=True)
def test_the_readme_answer_is_the_demo_city_answer(make_platform):
    from gateways.http.app import create_app
    from sensors.simulator import generate_city

    url, shown = _example()
    platform = make_platform(registry=generate_city(3300, seed=1))  # what `parking demo` imports (--lots 3300 --seed 1)
    parts = urlsplit(url)
    answer = TestClient(create_app(platform)).get(f"{parts.path}?{parts.query}").json()
    assert [sorted(lot) for lot in shown["lots"]] == [sorted(lot) for lot in answer["lots"]]
    stable = [[{k: v for k, v in lot.items() if k not in MOVING} for lot in x["lots"]] for x in (shown, answer)]
    assert stable[0] == stable[1]
