"""Accounts over a real database with recording sender and notifier, a frozen clock, and API clients per role.

Tests wire the accounts into the platform themselves (the composition root is overridden, as tests may)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import sessionmaker

from billing.agreements import Agreements
from gateways.operator.permissions import OperatorKeys
from gateways.schema import upgrade
from parking_core.accounts import Accounts, AccountSettings
from parking_core.db import UnitOfWork, make_engine
from parking_core.notify import RecordingNotifier, RecordingSender
from tests.factories import FrozenClock

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
OPERATOR_KEY = "k-" + "o" * 30
_phones = itertools.count(13_900_000_000)


def next_phone() -> str:
    return str(next(_phones))


@dataclass
class Env:
    accounts: Accounts
    sender: RecordingSender
    notifier: RecordingNotifier
    clock: FrozenClock
    uow: object
    agreements: Agreements

    def sign_up(self, phone: str | None = None) -> str:
        """A new account (through the real code flow); its id."""
        phone = phone or next_phone()
        self.accounts.request_code(phone)
        return self.accounts.sign_in(phone, self.sender.last_code(phone)).account_id


def build_accounts(url: str, data_dir, *, alipay=None, **settings) -> Env:
    engine = make_engine(url)
    upgrade(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    clock, sender, notifier = FrozenClock(NOW), RecordingSender(), RecordingNotifier()
    accounts = Accounts.from_settings(AccountSettings(**settings), data_dir=data_dir, uow=lambda: UnitOfWork(factory),
                                      clock=clock, sender=sender, notifier=notifier)
    return Env(accounts, sender, notifier, clock, lambda: UnitOfWork(factory),
               Agreements(uow=lambda: UnitOfWork(factory), clock=clock, alipay=alipay))


@pytest.fixture
def env(tmp_path) -> Env:
    """Accounts on an embedded SQLite database."""
    return build_accounts(f"sqlite:///{tmp_path / 'accounts.db'}", tmp_path)


def wire(platform, *, alipay=None, **settings) -> Env:
    """Give a test platform its accounts, Alipay client and operator keys, recording codes and notices."""
    sender, notifier = RecordingSender(), RecordingNotifier()
    platform.accounts = Accounts.from_settings(
        AccountSettings(**settings), data_dir=platform.settings.data_dir, uow=platform.uow, clock=platform.clock,
        sender=sender, notifier=notifier)
    platform.alipay = alipay
    platform.operator_keys = OperatorKeys({"city": OPERATOR_KEY})  # the city admin (scoped keys: tests/operators)
    return Env(platform.accounts, sender, notifier, platform.clock, platform.uow,
               Agreements(uow=platform.uow, clock=platform.clock, alipay=alipay))


@pytest.fixture
def accounts_api(api, tmp_path):
    """(platform, env, TestClient) on both backends."""
    def build(**settings):
        platform, client = api(PARKING_DATA_DIR=str(tmp_path / "data"))
        return platform, wire(platform, **settings), client

    return build


def sign_in(client, env: Env, phone: str | None = None) -> dict[str, str]:
    """Authorization headers for a fresh driver signed in through the API."""
    phone = phone or next_phone()
    assert client.post("/v1/auth/code", json={"phone": phone}).status_code == 202
    r = client.post("/v1/auth/token", json={"phone": phone, "code": env.sender.last_code(phone)})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


OPERATOR = {"X-Operator-Key": OPERATOR_KEY}
