"""The frame of a maintenance command run beside (or instead of) `parking serve`: a platform over the configured
database without ingest or HTTP, its schema checked, a rich progress bar per step, failures named in one line, the
platform stopped afterwards. `parking privacy retention` and `parking events partitions` run their job inside it."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from parking_core.errors import ParkingError

Progressed = Callable[[str, int, int], None]  # (step, done, total)


@contextmanager
def offline_job(out: Console, *, quiet: bool, label: Callable[[str], str] = str) -> Iterator[tuple[object, Progressed]]:
    """(platform, progress): call progress(step, done, total) as the job goes; `quiet` (a dry run) draws no bars."""
    from gateways.cli.main import _fail, _offline_platform, _settings
    from gateways.cli.startup import named_failures

    s = _settings()
    platform = _offline_platform(s)
    try:
        with named_failures(s), Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                         TimeElapsedColumn(), console=out, transient=False, disable=quiet) as bar:
            platform.check_schema()
            tasks: dict[str, int] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(label(step), total=total)
                bar.update(tasks[step], completed=done, total=max(total, done))

            yield platform, progress
    except ParkingError as exc:
        _fail(exc)
    finally:
        platform.stop()
