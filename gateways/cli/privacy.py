"""`parking privacy retention [--dry-run]`: plates past their retention replaced by their keyed hash, now (the same
job `parking serve` runs daily at PARKING_RETENTION_HOUR)."""
from __future__ import annotations

import typer
from rich.console import Console

from gateways.cli.offline_job import offline_job
from parking_core.errors import ParkingError

privacy_app = typer.Typer(help="Privacy: retention of plates (and of vehicle-licence files).", no_args_is_help=True)
out = Console()


@privacy_app.command("retention")
def retention(dry_run: bool = typer.Option(False, "--dry-run", help="count what is due, change nothing")) -> None:
    """Hash the plates of records past their retention (event log, bindings and disputes, licence uploads, whose files are
    deleted, stays and orders, car parks' stay lists), in batches."""
    from gateways.cli.main import _fail
    from gateways.retention_app import retention_job
    from parking_core.retention import load_retention_settings

    try:
        settings = load_retention_settings()
    except ParkingError as exc:
        _fail(exc)
    with offline_job(out, quiet=dry_run, label=str) as (platform, progress):
        report = retention_job(platform, settings).run(dry_run=dry_run, progress=progress)
    for kind, due in report.due.items():
        done = "" if dry_run else f", hashed {report.hashed.get(kind, 0)}"
        if not dry_run and kind in report.files_deleted:
            done += f", files deleted {report.files_deleted[kind]}"
        out.print(f"{kind}: {due} due{done}")
    if dry_run:
        out.print("dry run: nothing changed")
