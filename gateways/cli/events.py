"""`parking events partitions [--dry-run]`: the event log's monthly partitions made ahead and the months past
PARKING_EVENT_LOG_MONTHS archived or dropped, now (the same job `parking serve` runs daily at PARKING_EVENT_LOG_HOUR)."""
from __future__ import annotations

import typer
from rich.console import Console

from gateways.cli.offline_job import offline_job
from parking_core.errors import ParkingError

events_app = typer.Typer(help="The occupancy event log.", no_args_is_help=True)
out = Console()
STEPS = {"create": "partitions made ahead", "retire": "old months retired"}


@events_app.command("partitions")
def partitions(dry_run: bool = typer.Option(False, "--dry-run", help="say what would be made and retired, change nothing")) -> None:
    """Make this and next month's partitions (and any month the default partition holds rows of), then archive
    (PARKING_EVENT_LOG_ARCHIVE_DIR set) or drop every month older than PARKING_EVENT_LOG_MONTHS."""
    from gateways.cli.main import _fail
    from parking_core.event_log_partitions import event_log_maintenance, load_event_log_settings

    try:
        settings = load_event_log_settings()
    except ParkingError as exc:
        _fail(exc)
    with offline_job(out, quiet=dry_run, label=lambda step: STEPS.get(step, step)) as (platform, progress):
        report = event_log_maintenance(platform.uow, platform.clock, settings).run(dry_run=dry_run, progress=progress)
    would = "would be " if dry_run else ""
    if not report.partitioned:
        out.print("SQLite: one plain table, no partitions; old months' rows are deleted instead")
    for name in report.created:
        out.print(f"{name}: {would}made")
    if report.moved:
        out.print(f"{report.moved} rows {would}moved out of the default partition into their month's")
    kept = f"from {report.keep_from:%Y-%m}" if report.keep_from else "every month"
    out.print(f"kept: {kept} (PARKING_EVENT_LOG_MONTHS={settings.months})")
    for m in report.retired:
        where = f"archived to {m.archive}" if m.archive else ("to be archived" if dry_run and settings.archive_dir else "dropped")
        out.print(f"{m.month:%Y-%m}: {m.rows} rows {would if not m.archive else ''}{where}")
    for month, clear in report.held.items():
        out.print(f"[yellow]{month:%Y-%m}: held back[/]: {clear} rows still hold plates in the clear, and an archive is out of "
                  "the plate retention's reach (run `parking privacy retention` first, or unset PARKING_EVENT_LOG_ARCHIVE_DIR to drop)")
    if not (report.created or report.retired or report.held or report.moved):
        out.print("nothing to do")
    if dry_run:
        out.print("dry run: nothing changed")
