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
    """A declared part of the platform: built with it, swept while an HTTP app serves it, stopped with it."""

    def __init__(self, platform) -> None:  # noqa: ANN001 - the Platform (gateways.bootstrap imports this module)
        self.platform = platform
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> CommissioningWatch:
        """Start sweeping (once; later calls change nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="commissioning", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

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
