"""Fixtures: one key set per session, a fresh local gateway per test, and a localhost notification receiver."""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from alipay_standin import LocalAlipay, NotifyPolicy, start_local_alipay
from billing.alipay.client import AlipayClient, build_client
from billing.alipay.signing import RsaKeyPair, generate_keypair

FAST = NotifyPolicy(time_scale=2e-6)  # the 25 h retry schedule in about 0.2 s


class Receiver:
    """A merchant notify_url on localhost: records each form and answers from a script (default `success`)."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.replies: deque[tuple[int, str]] = deque()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
                with receiver.lock:
                    receiver.forms.append(form)
                    status, body = receiver.replies.popleft() if receiver.replies else (200, "success")
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/payments/alipay/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def answer(self, *bodies: str, status: int = 200) -> None:
        """The next answers, in order; afterwards `success`."""
        with self.lock:
            self.replies.extend((status, body) for body in bodies)

    def received(self) -> list[dict[str, str]]:
        with self.lock:
            return list(self.forms)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def app_keys() -> RsaKeyPair:
    return generate_keypair()


@pytest.fixture(scope="session")
def alipay_keys() -> RsaKeyPair:
    return generate_keypair()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def gateway(app_keys: RsaKeyPair, alipay_keys: RsaKeyPair) -> Iterator[LocalAlipay]:
    local = start_local_alipay(app_public_key_pem=app_keys.public_pem, alipay_keys=alipay_keys,
                               notify_policy=NotifyPolicy(time_scale=FAST.time_scale), same_day_bills=True)
    yield local
    local.stop()


@pytest.fixture
def client(gateway: LocalAlipay, app_keys: RsaKeyPair, receiver: Receiver) -> AlipayClient:
    return build_client(gateway.client_settings(app_private_key_pem=app_keys.private_pem, notify_url=receiver.url))
