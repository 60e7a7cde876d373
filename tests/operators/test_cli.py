"""`parking operators key issue|list|revoke` and `parking operators user add`, as the city gives an operator its
first key and console user: the key printed once and working at once, stopped by a revoke; bad input named."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateways.cli.main import app
from gateways.http.app import create_app


@pytest.fixture
def city(make_platform, tmp_path, monkeypatch):
    """A migrated database with the small city; the CLI and an HTTP client over it."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    platform = make_platform(DATABASE_URL=url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    return platform, TestClient(create_app(platform))


def parking(*args: str, input: str | None = None):  # noqa: A002
    return CliRunner().invoke(app, list(args), input=input)


def test_a_key_issued_on_the_command_line_works_until_revoked(city):
    platform, client = city
    r = parking("operators", "key", "issue", "--org-kind", "operator", "--org", "op2", "--role", "staff",
                "--label", "gate system", "--json")
    assert r.exit_code == 0, r.output
    issued = json.loads(r.stdout)
    headers = {"X-Operator-Key": issued["key"]}
    assert [lot["id"] for lot in client.get("/v1/operator/lots", headers=headers).json()["lots"]] == ["C1", "G1"]
    listed = parking("operators", "key", "list", "--org-kind", "operator", "--org", "op2")
    assert issued["id"] in listed.stdout and issued["key"] not in listed.stdout
    assert parking("operators", "key", "revoke", issued["id"]).exit_code == 0
    assert client.get("/v1/operator/lots", headers=headers).status_code == 401
    audit = client.get("/v1/operator/audit", headers={"X-Operator-Key": parking_city_key(platform)}).json()["entries"]
    mine = [e for e in audit if e["subject"] == f"key:{issued['id']}"]
    assert [e["action"] for e in mine] == ["key.revoke", "key.issue"] and mine[0]["actor_name"].startswith("cli:")


def parking_city_key(platform) -> str:
    r = parking("operators", "key", "issue", "--org-kind", "city", "--org", "city", "--role", "viewer", "--label", "t", "--json")
    return json.loads(r.stdout)["key"]


def test_a_console_user_is_added_with_a_prompted_password_and_signs_in(city):
    _, client = city
    r = parking("operators", "user", "add", "zhang.wei", "--org-kind", "district", "--org", "gusu", "--role", "viewer",
                input="a long password\na long password\n")
    assert r.exit_code == 0, r.output
    assert "a long password" not in r.output
    signed = client.post("/v1/operator/session", json={"username": "zhang.wei", "password": "a long password"})
    assert signed.status_code == 201 and signed.json()["me"]["lots"] == ["G1", "S1"]


@pytest.mark.parametrize("args, named", [
    (["--org-kind", "operator", "--org", "op9", "--label", "x"], "org_id: no operator 'op9' in the registry"),
    (["--org-kind", "operator", "--org", "op1", "--role", "owner", "--label", "x"], "role: 'owner' is not one of"),
    (["--org-kind", "town", "--org", "op1", "--label", "x"], "org_kind: 'town' is not one of"),
    (["--org-kind", "operator", "--org", "op1", "--label", "x", "--days", "0"], "valid_days: 0 is not between 1 and 366"),
])
def test_bad_input_is_one_line_naming_the_field_and_issues_nothing(city, args, named):
    r = parking("operators", "key", "issue", *args)
    assert r.exit_code == 2 and named in r.output
    assert "k_" not in parking("operators", "key", "list").stdout  # no key was made
