"""The demo's one scripted driver: signs up, binds a plate, signs the withholding agreement on
the local Alipay, then parks in a simulated car park and leaves, so the whole 先离场后缴费 flow
(exit without stopping, order at once, charged in the background, paid) runs on screen."""
from __future__ import annotations

import base64
import logging
import time
from datetime import datetime, timedelta, timezone

import httpx
import orjson

from parking_core.notify import mask_phone
from parking_core.plate_privacy import mask_plate

log = logging.getLogger("parking.demo")
PHONE = "13800138000"
PLATE = "苏E·D8888"


def pick_lot(city: dict) -> str | None:
    """A gated car park with the Suzhou off-street tariff."""
    for f in city["features"]:
        p = f["properties"]
        if p["kind"] == "off_street" and not p.get("berths") and p.get("reports") != "counts" and p.get("tariff") == "suzhou-offstreet" and not p.get("shared_hours"):
            return p["id"]
    return None


# A 1×1 PNG: the demo's "photo of the vehicle licence" (行驶证).
LICENCE_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def prove_plate(platform, api: httpx.Client, me: dict, say) -> None:  # noqa: ANN001
    """Upload the licence photo and approve it as the city would, so withholding may charge this plate
    (only verified owners are charged: docs/accounts.md)."""
    up = api.post(f"/v1/me/plates/{PLATE}/evidence", headers=me, files={"file": ("licence.png", LICENCE_PNG, "image/png")})
    city_key = platform.operator_keys.get().keys.get("city")
    if up.status_code not in (200, 201) or city_key is None:
        say("demo driver: the plate's ownership was not verified (no city operator key): its orders wait for payment in the app")
        return
    api.post(f"/v1/operator/plate-verifications/{up.json()['id']}/approve", headers={"X-Operator-Key": city_key})


def run_demo_driver(platform, city: dict, base_url: str, say) -> None:  # noqa: ANN001
    """Drive once through the flow; `say` prints a line for the person watching."""
    lot = pick_lot(city)
    if lot is None or platform.alipay is None:
        return
    api = httpx.Client(base_url=base_url, timeout=10)
    for _ in range(100):
        try:
            if api.get("/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    sender = platform.code_sender
    for _ in range(3):  # a demo started again within a minute waits out the one-code-a-minute limit
        asked = api.post("/v1/auth/code", json={"phone": PHONE})
        if asked.status_code != 429:
            break
        wait = int(asked.headers.get("Retry-After", "5"))
        say(f"demo driver: waiting {wait} s for a new sign-in code (one a minute per phone)")
        time.sleep(wait)
    try:
        code = sender.last_code(PHONE)
    except (AttributeError, KeyError):
        return
    token = api.post("/v1/auth/token", json={"phone": PHONE, "code": code}).json()["access_token"]
    me = {"Authorization": f"Bearer {token}"}
    api.post("/v1/me/plates", json={"plate": PLATE, "color": "blue"}, headers=me)
    prove_plate(platform, api, me, say)
    sign = api.post("/v1/me/agreement", headers=me).json()
    if sign.get("sign_url"):
        httpx.get(sign["sign_url"], timeout=10)  # the driver taps "agree" on Alipay's page
    for _ in range(100):
        if api.get("/v1/me", headers=me).json().get("agreement", {}).get("status") == "active":
            break
        time.sleep(0.1)
    say(f"demo driver {mask_phone(PHONE)}: plate {mask_plate(PLATE)} bound, withholding agreement active")  # no full phone or plate in any log
    now = datetime.now(timezone.utc)
    gate = platform.topics.passages(lot, "g1")
    for event_id, direction, at in (("demo-in", "in", now - timedelta(hours=2, minutes=40)), ("demo-out", "out", now)):
        body = {"event_id": f"{event_id}-{int(now.timestamp())}", "direction": direction, "plate": PLATE, "ts": at.isoformat(), "plate_color": "blue"}
        platform._publish(gate, orjson.dumps(body), False)
    say(f"demo car {mask_plate(PLATE)} entered {lot} 2 h 40 min ago and just drove out without stopping")
    for _ in range(200):
        orders = api.get("/v1/me/orders", headers=me).json().get("orders", [])
        if orders and orders[0]["status"] == "paid":
            o = orders[0]
            say(f"order {o['id'][:8]}… {o['amount_fen'] / 100:.2f} CNY ({o['tariff_id']}) charged through the local Alipay: [bold green]paid[/]")
            return
        time.sleep(0.1)
    say("demo order not paid yet: see GET /v1/me/orders")
