"""Live availability: one interface, two backends (in-process and Redis), chosen by URL."""
from __future__ import annotations

from parking_core.live.base import BerthView, LiveLot, LiveState, LiveStateLost, Outcome


def open_live_state(redis_url: str | None, *, prefix: str = "parking:") -> LiveState:
    """Redis when a URL is given, otherwise the in-process backend."""
    if redis_url:
        from parking_core.live.redis import RedisLiveState

        return RedisLiveState.from_url(redis_url, prefix=prefix)
    from parking_core.live.memory import MemoryLiveState

    return MemoryLiveState()


__all__ = ["BerthView", "LiveLot", "LiveState", "LiveStateLost", "Outcome", "open_live_state"]
