"""A simulated city with every colour on the map: some lots with room, some almost full, some full, some silent."""
from __future__ import annotations

import random
from datetime import datetime

from tests.factories import berth_msg, counts_msg


def fill_city(platform, city: dict, *, now: datetime, seed: int = 3) -> None:  # noqa: ANN001 - a started Platform
    """Report occupancy for most lots of `city` (berths at seq 1, counts for car parks); a tenth stay silent."""
    rng = random.Random(seed)
    messages = []
    for feature in city["features"]:
        p = feature["properties"]
        mood = rng.random()
        if mood < 0.1:
            continue  # never heard from: grey
        total = p["total"]
        if mood < 0.3:
            free = 0
        elif mood < 0.45:
            free = max(1, int(total * 0.08))
        else:
            free = int(total * rng.uniform(0.2, 0.8))
        if p.get("berths"):
            vacant = set(rng.sample(p["berths"], min(free, len(p["berths"]))))
            messages += [berth_msg(p["id"], b, b not in vacant, 1, now) for b in p["berths"]]
        else:
            messages.append(counts_msg(p["id"], free, total, now))
    for start in range(0, len(messages), 2000):
        platform.pipeline.process(messages[start:start + 2000])
