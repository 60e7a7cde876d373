"""Drive a simulated city against a real broker at a steady rate, with a live line of what went out."""
from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from rich.console import Console
from rich.live import Live

from sensors.mqtt import MqttTarget, connect, make_client
from sensors.simulator.traffic import Simulator

TICK_S = 0.02
MAX_UNACKED = 20_000  # stop generating while the broker is this far behind, rather than queue unboundedly


class _Acks:
    """Counts PUBACKs so the publisher can wait for the broker instead of flooding memory."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, client, userdata, mid, reason_code=None, properties=None) -> None:  # noqa: ANN001
        self.n += 1


def _line(counts: dict, published: int, acked: int, elapsed: float, window_rate: float) -> str:
    kinds = "  ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    return f"[bold]{window_rate:,.0f}[/] msg/s  published {published:,}  acked {acked:,}  {elapsed:,.0f} s   {kinds}"


def run_simulation(
    target: MqttTarget,
    city: dict,
    *,
    rate: float,
    duration_s: float | None,
    prefix: str,
    seed: int,
    speed: float = 1.0,
    bad_fraction: float = 0.0,
    progress: bool = True,
    stop_event: threading.Event | None = None,
    **faults: float,
) -> dict:
    """Publish the city's traffic at about `rate` messages/s (QoS 1) until done; counts by kind.

    With `speed` > 1 simulated time runs faster than the wall clock (the day's rhythm in
    minutes); it then starts in the past so that no timestamp lies in the future. `faults`
    overrides the simulator's rates of device faults (dup_rate, misread_rate, ...).
    """
    if not target.username:
        target = dataclasses.replace(target, username="simulator")
    stop_event = stop_event or threading.Event()
    t_wall0 = datetime.now(timezone.utc)
    start = t_wall0 - timedelta(seconds=duration_s * (speed - 1)) if duration_s and speed > 1 else t_wall0
    origin = [time.monotonic()]

    def sim_clock() -> datetime:
        return start + timedelta(seconds=(time.monotonic() - origin[0]) * speed)

    acks = _Acks()
    connected = threading.Event()
    client = make_client(target, f"simulator-{seed}-{uuid.uuid4().hex[:6]}")
    client.on_publish = acks
    client.on_connect = lambda c, u, f, rc, p=None: connected.set() if not rc.is_failure else None
    client.loop_start()
    connect(client, target)
    if not connected.wait(15):
        client.loop_stop()
        raise ConnectionError(f"MQTT broker {target.host}:{target.port} did not accept the simulator's connection")

    def publish(topic: str, payload: bytes) -> None:
        client.publish(topic, payload, qos=1)

    sim = Simulator(city, publish, prefix=prefix, seed=seed, clock=sim_clock, bad_fraction=bad_fraction, **faults)
    factor = 1.0  # corrects the tuning for duplicates, flaps and the loop's own overhead
    sim.tune(rate / speed)
    m0 = origin[0] = time.monotonic()
    sim.t = sim_clock().timestamp()
    console = Console(stderr=True)
    live = Live("", console=console, refresh_per_second=4, transient=False) if progress else None
    if live:
        live.start()
    window_start, window_n, window_rate = time.monotonic(), 0, 0.0
    try:
        try:
            while not stop_event.is_set():
                elapsed = time.monotonic() - m0
                if duration_s is not None and elapsed >= duration_s:
                    break
                budget = int(rate * elapsed) - sim.published
                if budget > 0 and sim.published - acks.n < MAX_UNACKED:
                    window_n += sim.tick(limit=budget)
                now = time.monotonic()
                if now - window_start >= 1.0:
                    window_rate, window_start, window_n = window_n / (now - window_start), now, 0
                    if window_rate > 0:
                        factor = min(3.0, max(0.5, factor * min(1.25, max(0.8, rate / window_rate))))
                        sim.tune(factor * rate / speed)
                    if live:
                        live.update(_line(dict(sim.counts), sim.published, acks.n, elapsed, window_rate))
                stop_event.wait(TICK_S)
        except KeyboardInterrupt:  # Ctrl-C ends a run without a duration: finish cleanly
            pass
        sim.flush()
        deadline = time.monotonic() + 30
        while acks.n < sim.published and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        if live:
            live.update(_line(dict(sim.counts), sim.published, acks.n, time.monotonic() - m0, window_rate))
            live.stop()
        client.disconnect()
        client.loop_stop()
    out = dict(sim.counts)
    out.update(published=sim.published, acked=acks.n, seconds=round(time.monotonic() - m0, 2))
    return out


def main() -> None:
    """`python -m sensors.simulator.run --url mqtt://host:1883 --lots 3300 --rate 1000 --duration 60`."""
    import argparse

    from sensors.simulator.city import generate_city

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--url", default="mqtt://127.0.0.1:1883")
    ap.add_argument("--lots", type=int, default=3300)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--prefix", default="parking/v1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--bad-fraction", type=float, default=0.0)
    ap.add_argument("--quiet", action="store_true", help="no live progress line")
    ap.add_argument("--prefill", action="store_true", help="start with gated car parks filled to the hour's occupancy (entries of the past hour)")
    for fault in ("dup-rate", "late-rate", "flap-rate", "misread-rate", "unread-plate-rate"):
        ap.add_argument(f"--{fault}", type=float, default=None, help="override the simulator's rate of this device fault")
    a = ap.parse_args()
    faults = {k: v for k in ("dup_rate", "late_rate", "flap_rate", "misread_rate", "unread_plate_rate") if (v := getattr(a, k)) is not None}
    faults["prefill"] = a.prefill
    counts = run_simulation(
        MqttTarget.from_url(a.url), generate_city(a.lots, seed=a.seed), rate=a.rate, duration_s=a.duration,
        prefix=a.prefix, seed=a.seed, speed=a.speed, bad_fraction=a.bad_fraction, progress=not a.quiet, **faults,
    )
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
