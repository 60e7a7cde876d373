"""Run the local Alipay in-process on a localhost port, in a background thread, for the demo and tests."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import uvicorn

from alipay_standin.app import create_app
from alipay_standin.core import GatewayOptions, LocalAlipayGateway
from alipay_standin.ledger import Agreement, ChargeRule, Trade
from alipay_standin.notifier import Delivery, NotifyPolicy
from billing.alipay.client import AlipaySettings
from billing.alipay.signing import RsaKeyPair
from parking_core.errors import DependencyUnavailable


class LocalAlipay:
    """A running local gateway: its URL, keys, books and fault controls; stop() ends it."""

    def __init__(self, gateway: LocalAlipayGateway, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket,
                 base_url: str) -> None:
        self.gateway = gateway
        self.base_url = base_url
        self.url = f"{base_url}/gateway.do"
        self._server, self._thread, self._sock = server, thread, sock

    # -- identity and keys --

    @property
    def app_id(self) -> str:
        return self.gateway.options.app_id

    @property
    def alipay_public_key_pem(self) -> str:
        """The key the platform verifies answers and notifications with (its ALIPAY_PUBLIC_KEY)."""
        return self.gateway.alipay_keys.public_pem

    @property
    def app_public_key_pem(self) -> str:
        return self.gateway.app_public_key_pem

    @property
    def app_keys(self) -> RsaKeyPair | None:
        """The app key pair the gateway generated, or None when it was given only the app's public key."""
        return self.gateway.app_keys

    def client_settings(self, *, notify_url: str | None = None, app_private_key_pem: str | None = None,
                        timeout_s: float = 10.0) -> AlipaySettings:
        """Settings that point billing.alipay.client at this gateway."""
        private = app_private_key_pem or (self.app_keys.private_pem if self.app_keys else None)
        if private is None:
            raise ValueError("the gateway was given only the app public key; pass app_private_key_pem")
        return AlipaySettings(app_id=self.app_id, app_private_key_pem=private, alipay_public_key_pem=self.alipay_public_key_pem,
                              server_url=self.url, notify_url=notify_url, timeout_s=timeout_s,
                              seller_id=self.gateway.options.seller_id)

    # -- control (the same operations as the /_control API) --

    def fail_charges(self, sub_code: str = "ACQ.BUYER_BALANCE_NOT_ENOUGH", *, times: int | None = 1,
                     agreement_no: str | None = None) -> None:
        self.gateway.add_charge_rule(ChargeRule("fail", sub_code, None, times, agreement_no))

    def add_charge_rule(self, rule: ChargeRule) -> None:
        self.gateway.add_charge_rule(rule)

    def clear_charge_rules(self) -> None:
        self.gateway.clear_charge_rules()

    def set_notify_policy(self, policy: NotifyPolicy) -> None:
        """Applies to notifications created from now on."""
        self.gateway.notifier.policy = policy

    def tamper_next_responses(self, count: int = 1) -> None:
        self.gateway.tamper_next_responses(count)

    def duplicate_next_payments(self, count: int = 1) -> None:
        """Fault: the next `count` payments are taken twice at Alipay (reconciliation finds each as a duplicate)."""
        self.gateway.duplicate_next_payments(count)

    def sign_agreement(self, external_agreement_no: str, *, notify_url: str | None = None,
                       alipay_user_id: str | None = None) -> Agreement:
        return self.gateway.sign_agreement(external_agreement_no=external_agreement_no, notify_url=notify_url,
                                           alipay_user_id=alipay_user_id)

    def stop_agreement(self, agreement_no: str) -> Agreement:
        return self.gateway.stop_agreement(agreement_no)

    def pay_precreated(self, out_trade_no: str) -> Trade:
        return self.gateway.pay_precreated(out_trade_no)

    def finish_trade(self, out_trade_no: str) -> bool:
        return self.gateway.finish_trade(out_trade_no)

    def deliveries(self) -> list[Delivery]:
        """Every notification so far with its tries, oldest first."""
        return self.gateway.notifier.deliveries()

    def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 5.0, interval_s: float = 0.01) -> Any:
        """Poll until predicate() is truthy and return it; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout_s}s")
            time.sleep(interval_s)

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued notification and timed event has run (True) or the timeout passes (False)."""
        return self.gateway.scheduler.wait_idle(timeout_s)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.gateway.close()
        self._sock.close()

    def __enter__(self) -> LocalAlipay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_alipay(port: int = 0, *, host: str = "127.0.0.1", app_id: str = "2021000000000001",
                       app_public_key_pem: str | None = None, alipay_keys: RsaKeyPair | None = None,
                       notify_policy: NotifyPolicy | None = None, trade_finished_after_s: float | None = None,
                       notify_refunds: bool = True, same_day_bills: bool = False,
                       service_fee_rate: Decimal = Decimal("0.006"), startup_timeout_s: float = 10.0) -> LocalAlipay:
    """Start the gateway on host:port (0 picks a free port) in a daemon thread; returns once it accepts requests."""
    options = GatewayOptions(app_id=app_id, app_public_key_pem=app_public_key_pem, alipay_keys=alipay_keys,
                             notify_policy=notify_policy or NotifyPolicy(), trade_finished_after_s=trade_finished_after_s,
                             notify_refunds=notify_refunds, same_day_bills=same_day_bills, service_fee_rate=service_fee_rate)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    gateway = LocalAlipayGateway(options, base_url=base_url)
    server = uvicorn.Server(uvicorn.Config(create_app(gateway), log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="alipay-local-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            gateway.close()
            sock.close()
            raise DependencyUnavailable(f"local Alipay did not start on {base_url}", field="port", value=port)
        time.sleep(0.01)
    return LocalAlipay(gateway, server, thread, sock, base_url)
