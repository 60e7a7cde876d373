"""The embedded broker accepts only the platform's credentials: no anonymous device, no wrong
password, no other user can publish occupancy into it."""
from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from sensors.broker import EmbeddedBroker


@pytest.fixture
def broker():
    b = EmbeddedBroker(password="a-password-of-the-test").start()
    yield b
    b.stop()


def connect_as(broker: EmbeddedBroker, user: str | None, password: str | None) -> str:
    done, result = threading.Event(), {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv311)
    if user is not None:
        c.username_pw_set(user, password)
    c.on_connect = lambda client, userdata, flags, rc, props: (result.setdefault("rc", str(rc)), done.set())
    c.on_disconnect = lambda *args: done.set()
    c.connect(broker.host, broker.port)
    c.loop_start()
    done.wait(10)
    c.loop_stop()
    return result.get("rc", "no answer")


def test_only_the_platforms_credentials_connect(broker):
    assert connect_as(broker, "platform", "a-password-of-the-test") == "Success"
    assert connect_as(broker, "platform", "guess") == "Not authorized"
    assert connect_as(broker, None, None) == "Not authorized"
    assert connect_as(broker, "device-7", "a-password-of-the-test") == "Not authorized"
    assert "a-password-of-the-test" not in broker.display_url


def test_without_a_configured_password_each_start_has_its_own():
    a, b = EmbeddedBroker(), EmbeddedBroker()
    assert a.password != b.password and len(a.password) >= 20
