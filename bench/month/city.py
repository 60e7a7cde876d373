"""Day 1: the operators' car parks join the platform through the operator API, each as a new operator would:
register with berths, gates, devices and tariff; ask for each device's MQTT credential; stay `commissioning`
(closed to citizens) until every device has sent a test message; then go live. Each operator's admin then
issues its people's keys (staff, finance), and the city its own."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.month.broker import MqttDevices
from tests.factories import berth_msg, heartbeat_msg
from tests.joining.conftest import NOT_AUTHORIZED

OPERATORS = {"opA": "opA-admin-" + "a" * 22, "opB": "opB-admin-" + "b" * 22, "opC": "opC-admin-" + "c" * 22}
# (lot, operator, district): two operators in both districts, a third in one
LOTS = (("MA1", "opA", "gusu"), ("MA2", "opA", "sip"), ("MB1", "opB", "gusu"), ("MB2", "opB", "sip"), ("MC1", "opC", "sip"))
BERTHS = ("b1", "b2")
GATES = ("in", "out")
DEVICES = tuple([{"id": f"s-{b}", "kind": "berth_sensor", "berth": b} for b in BERTHS]
                + [{"id": f"cam-{g}", "kind": "gate_camera", "gate": g} for g in GATES])


def feature(lot_id: str, operator: str, district: str, n: int) -> dict:
    """A gated car park as its operator registers it (contract section 1 plus gates and devices)."""
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.58 + n * 0.01, 31.29 + n * 0.005]},
            "properties": {"id": lot_id, "name": f"{operator} 停车场 {lot_id}", "kind": "off_street", "operator": operator,
                           "district": district, "total": 80, "berths": list(BERTHS), "gates": list(GATES),
                           "tariff": "suzhou-offstreet", "devices": [dict(d) for d in DEVICES]}}


def header(key: str) -> dict[str, str]:
    return {"X-Operator-Key": key}


@dataclass
class People:
    """Keys by organisation and role; the admins' are PARKING_OPERATOR_KEYS entries, the others issued through the API."""

    keys: dict[tuple[str, str], str] = field(default_factory=dict)

    def __call__(self, org: str, role: str = "staff") -> dict[str, str]:
        return header(self.keys[(org, role)])


@dataclass
class Joined:
    people: People
    credentials: str  # what became of the devices' credentials
    problems: list[str]
    send: Callable[[Sequence[tuple[str, bytes]]], None]  # the devices' messages into the platform


def lots_of(operator: str) -> list[str]:
    return [lot for lot, op, _ in LOTS if op == operator]


def operator_of(lot_id: str) -> str:
    return next(op for lot, op, _ in LOTS if lot == lot_id)


def join(w, city_key: str) -> Joined:  # noqa: ANN001 - a world.World
    """Register, credential, test and bring live every car park; issue the keys; say what went wrong."""
    api, problems = w.api, []
    people = People({("city", "admin"): city_key, **{(op, "admin"): key for op, key in OPERATORS.items()}})

    def expect(r, status: int | tuple[int, ...], what: str) -> dict:  # noqa: ANN001
        if r.status_code not in (status if isinstance(status, tuple) else (status,)):
            problems.append(f"{what}: HTTP {r.status_code} {r.text[:200]}")
            return {}
        return r.json() if r.content else {}

    for n, (lot, op, district) in enumerate(LOTS):
        body = expect(api.post("/v1/operator/lots", json=feature(lot, op, district, n), headers=people(op, "admin")), 201, f"register {lot}")
        if body and (body["state"], sorted(body["waiting_for"])) != ("commissioning", sorted(d["id"] for d in DEVICES)):
            problems.append(f"{lot} registered as {body['state']} waiting for {body['waiting_for']}")
        if api.get(f"/v1/lots/{lot}").json().get("status") != "closed":
            problems.append(f"{lot} is open to citizens while commissioning")
    issued, refused = {}, set()
    for lot, op, _ in LOTS:
        for d in DEVICES:
            r = api.post(f"/v1/operator/lots/{lot}/devices/{d['id']}/credentials", headers=people(op, "admin"))
            if r.status_code == 201:
                issued[r.json()["username"]] = r.json()["password"]
            elif r.status_code == 409 and r.json().get("code") == "broker_cannot_enforce":
                refused.add(r.json()["message"].split(":", 1)[-1].strip())
            else:
                problems.append(f"credential of {lot}/{d['id']}: HTTP {r.status_code} {r.text[:200]}")
    if w.broker is not None:
        send = MqttDevices(w.platform, w.broker.port, issued)
        first, other = f"{LOTS[0][0]}/cam-in", LOTS[-1][0]
        rc = send.refused_elsewhere(first, f"{w.platform.settings.topic_prefix}/lots/{other}/gates/in/passages",
                                    {"event_id": "x1", "direction": "in", "plate": "苏E99999", "ts": w.clock().isoformat()})
        credentials = (f"{len(issued)} device credentials issued and installed in the broker, each device on MQTT with its own; "
                       f"{first} publishing to {other}'s gate: reason code {rc}")
        if rc != NOT_AUTHORIZED:
            problems.append(f"the broker let {first} publish to {other}'s topics (reason code {rc})")
    else:
        send = w.platform.pipeline.process
        credentials = (f"{len(issued)} device credentials issued" if issued else
                       f"no device credentials: the platform refuses them here ({'; '.join(sorted(refused))[:120]}…)")
    _test_messages(w, send, problems)
    for lot, op, _ in LOTS:
        state = api.get(f"/v1/operator/lots/{lot}/commissioning", headers=people(op, "admin")).json()
        if state.get("state") != "live" or api.get(f"/v1/lots/{lot}").json().get("status") == "closed":
            problems.append(f"{lot} did not go live: {state}")
    for org in ("city", *OPERATORS):
        for role in ("staff", "finance"):
            body = expect(api.post("/v1/operator/keys", json={"label": f"{org} {role}", "role": role}, headers=people(org, "admin")),
                          201, f"{org}'s {role} key")
            if body:
                people.keys[(org, role)] = body["key"]
    return Joined(people, credentials, problems, send)


def _test_messages(w, send, problems: list[str]) -> None:  # noqa: ANN001
    """Each device's test message; a car park waits for its last device."""
    now = w.clock()
    last = []
    for lot, _, _ in LOTS:
        msgs = [berth_msg(lot, b, False, 1, now) for b in BERTHS] + [heartbeat_msg(lot, f"cam-{g}", now) for g in GATES]
        send(msgs[:-1])
        last.append(msgs[-1])
    w.platform.commissioning_watch.check()  # the sweep, now (its thread sweeps too)
    for lot, op, _ in LOTS:
        state = w.api.get(f"/v1/operator/lots/{lot}/commissioning", headers={"X-Operator-Key": OPERATORS[op]}).json()
        if (state.get("state"), state.get("waiting_for")) != ("commissioning", [f"cam-{GATES[-1]}"]):
            problems.append(f"{lot} with one device silent: {state.get('state')}, waiting for {state.get('waiting_for')}")
    send(last)
    w.platform.commissioning_watch.check()
