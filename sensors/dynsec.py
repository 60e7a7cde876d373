"""A client of Mosquitto 2's dynamic-security plugin: commands go as JSON to its control topic
`$CONTROL/dynamic-security/v1`, answers come back on `.../response`, matched by correlation data.

The broker applies a command at once (a deleted client is disconnected) and saves it to its own
`dynamic-security.json`, so the broker, not this process, is where credentials are enforced.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as mqtt

from parking_core.errors import DependencyUnavailable
from sensors.mqtt import MqttTarget, connect, make_client

CONTROL = "$CONTROL/dynamic-security/v1"


class DynsecRefused(Exception):
    """The plugin answered a command with an error (e.g. "Client already exists")."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"{command}: {error}")
        self.command = command
        self.error = error


@dataclass(frozen=True)
class DynsecAdmin:
    """Sends commands as the plugin's admin user (a client whose role may use the control topic)."""

    target: MqttTarget
    timeout_s: float = 5.0

    def run(self, *commands: dict[str, Any], check: bool = True) -> list[dict[str, Any]]:
        """Send the commands in one message (one connection) and return the answers in order, each
        applied or refused on its own; with `check`, DynsecRefused on the first refused.
        DependencyUnavailable when the broker cannot be reached or does not answer."""
        tagged = [{**c, "correlationData": uuid.uuid4().hex} for c in commands]
        answers: dict[str, dict[str, Any]] = {}
        done, subscribed, connected = threading.Event(), threading.Event(), threading.Event()
        connack_errors: list[str] = []

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            if reason_code.is_failure:
                connack_errors.append(str(reason_code))
            connected.set()

        def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
            subscribed.set()

        def on_message(client, userdata, msg) -> None:
            try:
                for answer in orjson.loads(msg.payload).get("responses", []):
                    answers[answer.get("correlationData", "")] = answer
            except (ValueError, AttributeError):
                return
            if all(c["correlationData"] in answers for c in tagged):
                done.set()

        client = make_client(self.target, f"parking-dynsec-{uuid.uuid4().hex[:8]}")
        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        try:
            connect(client, self.target)
        except OSError as exc:
            raise self._away(f"cannot connect: {exc}") from None
        client.loop_start()
        try:
            if not connected.wait(self.timeout_s) or connack_errors:
                raise self._away(f"the broker refused: {connack_errors[0]}" if connack_errors else "no CONNACK")
            client.subscribe(f"{CONTROL}/response", qos=1)
            if not subscribed.wait(self.timeout_s):
                raise self._away("no answer to the subscription")
            info = client.publish(CONTROL, orjson.dumps({"commands": tagged}), qos=1)
            if not done.wait(self.timeout_s):
                rc = info.rc if info.rc != mqtt.MQTT_ERR_SUCCESS else "no answer"
                raise self._away(f"the dynamic-security plugin did not answer ({rc}): is it loaded, is the user its admin?")
        finally:
            client.disconnect()
            client.loop_stop()
        out = [answers[c["correlationData"]] for c in tagged]
        if check:
            for answer in out:
                refused(answer)
        return out

    def _away(self, why: str) -> DependencyUnavailable:
        where = f"{self.target.host}:{self.target.port}"
        return DependencyUnavailable(f"MQTT broker {where}, dynamic security as {self.target.username!r}: {why}",
                                     field="PARKING_MQTT_ADMIN_USER", value=self.target.username)


def refused(answer: dict[str, Any], *, unless: str | None = None) -> None:
    """Raise DynsecRefused when the plugin refused the command, except with an error containing `unless`."""
    error = answer.get("error")
    if error and not (unless and unless in str(error)):
        raise DynsecRefused(str(answer.get("command")), str(error))


def acl(acltype: str, topic: str, *, allow: bool = True, priority: int = 0) -> dict[str, Any]:
    """One ACL entry as the plugin spells it (acltype: publishClientSend, publishClientReceive,
    subscribeLiteral, subscribePattern, unsubscribeLiteral, unsubscribePattern)."""
    return {"acltype": acltype, "topic": topic, "allow": allow, "priority": priority}
