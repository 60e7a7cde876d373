"""`parking operators key issue|revoke|list` and `parking operators user add`: the city's way to give the
city, a district or an operator its first keys and console users (docs/OPERATORS.md). Audited as done by
`cli:<your user name>`, a city admin."""
from __future__ import annotations

import getpass
import json

import typer
from rich.console import Console

operators_app = typer.Typer(help="Operators' API keys and console users.", no_args_is_help=True)
key_app = typer.Typer(help="API keys: shown once, stored hashed, expiring, revocable.", no_args_is_help=True)
user_app = typer.Typer(help="Console users (user name and argon2-hashed password).", no_args_is_help=True)
operators_app.add_typer(key_app, name="key")
operators_app.add_typer(user_app, name="user")
out = Console()
KIND = typer.Option(..., "--org-kind", help="city | district | operator")
ORG = typer.Option(..., "--org", help="`city`, or a district or operator id of the registry")
ROLE = typer.Option("viewer", "--role", help="viewer | staff | finance | admin")


def cli_actor():  # noqa: ANN201 - parking_core.principals.Principal
    from parking_core.principals import Principal

    name = f"cli:{getpass.getuser()}"
    return Principal(id=name, kind="city", org_id="city", role="admin", name=name)


def _run(action):  # noqa: ANN001, ANN202
    """Run one action against DATABASE_URL; a ParkingError becomes the usual one line, exit status 2."""
    from gateways.cli.main import _fail, _offline_platform, _settings
    from gateways.operator.permissions import principals_of
    from parking_core.errors import ParkingError

    platform = _offline_platform(_settings())
    try:
        platform.check_schema()
        return action(principals_of(platform))
    except ParkingError as exc:
        _fail(exc)
    finally:
        platform.stop()


@key_app.command("issue")
def issue(org_kind: str = KIND, org: str = ORG, role: str = ROLE,
          label: str = typer.Option(..., "--label", help="what the key is for"),
          days: int = typer.Option(90, "--days", help="valid for this many days (1-366)"),
          as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout")) -> None:
    """A new API key; printed this once (the platform keeps only its SHA-256)."""
    issued = _run(lambda p: p.issue_key(actor=cli_actor(), org_kind=org_kind, org_id=org, role=role, label=label,
                                        valid_days=days))
    k = issued.key
    if as_json:
        print(json.dumps({"id": k.id, "key": issued.secret, "org_kind": k.org_kind, "org_id": k.org_id, "role": k.role,
                          "label": k.label, "expires_at": k.expires_at.isoformat()}))
        return
    out.print(f"key id: {k.id}\nkey:    {issued.secret}   (shown once: send it as X-Operator-Key)\n"
              f"for:    {k.org_kind} {k.org_id}, role {k.role}, until {k.expires_at.isoformat()}", highlight=False)


@key_app.command("revoke")
def revoke(key_id: str) -> None:
    """Revoke a key now: every process refuses it from its next request."""
    k = _run(lambda p: p.revoke_key(key_id, actor=cli_actor()))
    out.print(f"revoked {k.id} ({k.label}) at {k.revoked_at.isoformat()}", highlight=False)


@key_app.command("list")
def list_(org_kind: str | None = typer.Option(None, "--org-kind"), org: str | None = typer.Option(None, "--org")) -> None:
    """Keys (never the keys themselves), oldest first."""
    keys = _run(lambda p: p.keys(org=(org_kind, org) if org_kind and org else None))
    for k in keys:  # one line per key, tab-separated: easy to read and to grep
        print("\t".join([k.id, k.label, f"{k.org_kind}:{k.org_id}", k.role, f"expires {k.expires_at.isoformat()}",
                         f"revoked {k.revoked_at.isoformat()}" if k.revoked_at else "active"]))


@user_app.command("add")
def add_user(username: str, org_kind: str = KIND, org: str = ORG, role: str = ROLE,
             password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="10+ characters; asked for when not given")) -> None:
    """A console user; the password is kept as an argon2 hash."""
    u = _run(lambda p: p.add_user(actor=cli_actor(), username=username, password=password, org_kind=org_kind, org_id=org,
                                  role=role))
    out.print(f"user {u.username} ({u.id}): {u.org_kind} {u.org_id}, role {u.role}", highlight=False)
