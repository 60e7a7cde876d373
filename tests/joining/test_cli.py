"""`parking devices issue|list|revoke` against the real broker: the same credentials as the API, audited as the command line."""
from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from parking_core.audit import AuditRecord
from tests.joining.conftest import (
    NOT_AUTHORIZED,
    Device,
    as_,
    joining_feature,
    state,
    topic,
)


def test_the_command_line_issues_lists_and_revokes(platform_on_broker, dynsec_broker, monkeypatch):
    from gateways.cli.main import app

    platform, client = platform_on_broker
    assert client.post("/v1/operator/lots", json=joining_feature(), headers=as_("op1")).status_code == 201
    s = platform.settings
    for name, value in (("DATABASE_URL", s.database_url), ("MQTT_URL", s.mqtt_url), ("PARKING_TOPIC_PREFIX", s.topic_prefix)):
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    issued = runner.invoke(app, ["devices", "issue", "J1", "cam-g1", "--json"])
    assert issued.exit_code == 0, issued.output
    cred = json.loads(issued.stdout)
    device = Device(dynsec_broker.port, cred["username"], cred["password"])
    try:
        assert device.publish(topic(dynsec_broker.prefix, "J1", "b1"), state(7)) == 0
    finally:
        device.close()
    listed = runner.invoke(app, ["devices", "list", "J1"])
    assert listed.exit_code == 0 and "J1/cam-g1" in listed.stdout and cred["password"] not in listed.stdout
    unknown = runner.invoke(app, ["devices", "issue", "J1", "nope"])
    assert unknown.exit_code == 2 and "nope" in unknown.output
    assert runner.invoke(app, ["devices", "revoke", "J1", "cam-g1"]).exit_code == 0
    again = Device(dynsec_broker.port, cred["username"], cred["password"])
    try:
        assert again.connack_rc == NOT_AUTHORIZED
    finally:
        again.close()
    with platform.uow() as uow:
        rows = [(a.action, a.actor_id.split(":")[0]) for a in uow.session.scalars(select(AuditRecord).where(AuditRecord.action.like("device.%")))]
    assert rows == [("device.credential.issue", "cli"), ("device.credential.revoke", "cli")]
