"""Asynchronous notifications delivered as Alipay does: form POST, retried on its schedule until the body is exactly `success`."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime

import httpx

from alipay_standin.scheduler import Scheduler
from parking_core.clock import SHANGHAI

# Alipay: first try at once, then 4m, 10m, 10m, 1h, 2h, 6h, 15h later; 8 tries over about 25 hours.
RETRY_DELAYS_S = (0.0, 240.0, 600.0, 600.0, 3600.0, 7200.0, 21600.0, 54000.0)


@dataclass
class NotifyPolicy:
    """How deliveries misbehave: lost tries, a late first try, acknowledged deliveries sent again, and the clock's scale."""

    drop_first: int = 0         # tries that count but never reach the receiver (8 or more: it never hears)
    delay_s: float = 0.0        # extra real seconds before the first try
    duplicates: int = 0         # times an acknowledged notification is treated as lost and sent again (same notify_id)
    time_scale: float = 1.0     # multiplies RETRY_DELAYS_S; 1e-5 runs the 25 h schedule in about 1 s


@dataclass(frozen=True)
class Attempt:
    """One try: `acknowledged` (body exactly `success`), `refused` (any other answer), `error` (no answer), `dropped`."""

    number: int
    at: datetime
    outcome: str
    status_code: int | None = None
    body: str = ""


@dataclass
class Delivery:
    """One notification (one notify_id) and every try made to deliver it."""

    notify_id: str
    url: str
    params: dict[str, str]
    drops_left: int
    duplicates_left: int
    attempts: list[Attempt] = field(default_factory=list)
    state: str = "pending"      # pending | acknowledged | gave_up

    def snapshot(self) -> Delivery:
        return replace(self, params=dict(self.params), attempts=list(self.attempts))


class Notifier:
    """Sends signed notification forms to merchants' notify_url on Alipay's retry schedule."""

    def __init__(self, scheduler: Scheduler, policy: NotifyPolicy | None = None, *, timeout_s: float = 10.0) -> None:
        self.policy = policy or NotifyPolicy()
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._http = httpx.Client(timeout=timeout_s, trust_env=False)

    def send(self, url: str, params: dict[str, str]) -> Delivery:
        """Queue a signed notification; its first try follows the policy's delay."""
        policy = self.policy
        delivery = Delivery(notify_id=params["notify_id"], url=url, params=dict(params),
                            drops_left=policy.drop_first, duplicates_left=policy.duplicates)
        with self._lock:
            self._deliveries.append(delivery)
        self._scheduler.call_later(policy.delay_s + RETRY_DELAYS_S[0] * policy.time_scale, self._attempt, delivery)
        return delivery

    def deliveries(self) -> list[Delivery]:
        """Copies of every delivery so far, oldest first."""
        with self._lock:
            return [d.snapshot() for d in self._deliveries]

    def pending(self) -> int:
        with self._lock:
            return sum(d.state == "pending" for d in self._deliveries)

    def close(self) -> None:
        self._http.close()

    def _attempt(self, delivery: Delivery) -> None:
        number = len(delivery.attempts) + 1
        moment = datetime.now(SHANGHAI)
        if delivery.drops_left > 0:
            delivery.drops_left -= 1
            attempt = Attempt(number, moment, "dropped")
        else:
            try:
                response = self._http.post(delivery.url, data=delivery.params)
                body = response.content.decode("utf-8", "replace")
                ok = response.status_code == 200 and body == "success"
                attempt = Attempt(number, moment, "acknowledged" if ok else "refused", response.status_code, body[:200])
            except httpx.HTTPError as exc:
                attempt = Attempt(number, moment, "error", None, f"{type(exc).__name__}: {exc}"[:200])
        with self._lock:
            delivery.attempts.append(attempt)
            again = attempt.outcome != "acknowledged"
            if not again and delivery.duplicates_left > 0:
                delivery.duplicates_left -= 1
                again = True
            if not again:
                delivery.state = "acknowledged"
            elif number >= len(RETRY_DELAYS_S):
                delivery.state = "gave_up"
        if delivery.state == "pending":
            self._scheduler.call_later(RETRY_DELAYS_S[number] * self.policy.time_scale, self._attempt, delivery)
