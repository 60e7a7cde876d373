"""Car parks go live by themselves: once the event log holds a message from each registered device,
the lot becomes `live` (audited) and the directory is reloaded, so citizens see it at once.

A sweep every SWEEP_S looks at the lots still commissioning (a handful at a time, each with few
events), whichever ingest process took their messages; with none commissioning it is one query
on a near-empty table."""
from __future__ import annotations

import logging
import threading

from parking_core.commissioning import promote_heard

log = logging.getLogger("parking.commissioning")
SWEEP_S = 1.0


class CommissioningWatch:
    def __init__(self, platform) -> None:
        self.platform = platform
        self._stop: threading.Event = getattr(platform, "_stop", None) or threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def attach(cls, platform) -> CommissioningWatch:
        """The platform's watcher, started on first use (one per platform, stopped with it)."""
        watch = getattr(platform, "commissioning_watch", None)
        if watch is None:
            watch = platform.commissioning_watch = cls(platform)
            watch._thread = threading.Thread(target=watch._run, name="commissioning", daemon=True)
            watch._thread.start()
        return watch

    def check(self) -> list[str]:
        """Promote the commissioning lots whose devices have all been heard; reload the directory if any did."""
        platform = self.platform
        with platform.uow() as uow:
            promoted = promote_heard(uow.session, now=platform.clock())
            uow.commit()
        if promoted:
            log.info("car parks live: %s", ", ".join(promoted))
            platform.reload_directory(configure_live=platform.pipeline is not None)
        return promoted

    def _run(self) -> None:
        while not self._stop.wait(SWEEP_S):
            try:
                self.check()
            except Exception:  # keep watching; the log says what broke
                if not self._stop.is_set():
                    log.exception("commissioning check failed")
