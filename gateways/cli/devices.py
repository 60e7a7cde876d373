"""`parking devices issue|revoke|list`: devices' MQTT credentials from the command line, as the
operator API gives them (docs/DEVICES.md); audited as done by `cli:<your user name>`."""
from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

devices_app = typer.Typer(help="Devices' MQTT credentials (Mosquitto's dynamic security).", no_args_is_help=True)
out = Console()


def _access():
    from gateways.cli.main import _offline_platform, _settings
    from sensors.device_credentials import device_access

    platform = _offline_platform(_settings())
    return platform, device_access(platform)


def _run(action):
    """Run one action on an offline platform; a ParkingError becomes the usual one line, exit status 2."""
    from gateways.cli.main import _fail
    from parking_core.errors import ParkingError

    platform, access = _access()
    try:
        platform.check_schema()
        return action(access)
    except ParkingError as exc:
        _fail(exc)
    finally:
        platform.stop()


@devices_app.command("issue")
def issue(lot_id: str, device_id: str, as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout")) -> None:
    """A new MQTT user for a registered device, installed in the broker; its password is printed this once."""
    from dataclasses import asdict

    from sensors.device_credentials import CliActor

    issued = _run(lambda access: access.issue(lot_id, device_id, actor=CliActor.current()))
    if as_json:
        print(json.dumps({**asdict(issued), "issued_at": issued.issued_at.isoformat()}))
        return
    out.print(f"username: {issued.username}\npassword: {issued.password}   (shown once: the platform keeps only a hash)")
    out.print("may publish: " + ", ".join(issued.publish) + "\nmay subscribe: " + ", ".join(issued.subscribe), highlight=False)


@devices_app.command("revoke")
def revoke(lot_id: str, device_id: str) -> None:
    """Revoke the device's credential: the broker disconnects it and refuses it from now on."""
    from sensors.device_credentials import CliActor

    row = _run(lambda access: access.revoke(lot_id, device_id, actor=CliActor.current()))
    out.print(f"revoked {row.username} at {row.revoked_at.isoformat()}")


@devices_app.command("list")
def list_(lot_id: str) -> None:
    """Every credential issued for a car park's devices, newest first."""
    rows = _run(lambda access: access.credentials(lot_id))
    table = Table("username", "device", "issued", "by", "revoked")
    for r in rows:
        table.add_row(r.username, r.device_id, r.issued_at.isoformat(timespec="seconds"), r.issued_by,
                      r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "")
    out.print(table)
