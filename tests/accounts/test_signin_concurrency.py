"""Sign-in limits hold when requests race, on the embedded SQLite as on PostgreSQL: one code a
minute however many ask at once, and never more than five guesses at a code."""
from __future__ import annotations

import threading

import pytest

from parking_core.errors import TooManyRequests, Unauthorized
from tests.accounts.conftest import build_accounts, next_phone


@pytest.fixture(params=["sqlite", "postgresql"])
def racing_env(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'accounts.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    return build_accounts(url, tmp_path)


def together(n: int, fn) -> list:
    """Run fn(i) in n threads released at once; each result or exception."""
    gate, out = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        gate.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_six_code_requests_at_once_send_one_code(racing_env):
    phone = next_phone()
    results = together(6, lambda i: racing_env.accounts.request_code(phone))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, TooManyRequests) for r in results if isinstance(r, Exception))
    assert len([s for s in racing_env.sender.sent if s.phone == phone]) == 1


def test_guesses_at_once_are_counted_one_by_one_and_stop_at_five(racing_env):
    phone = next_phone()
    racing_env.accounts.request_code(phone)
    right = racing_env.sender.last_code(phone)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    results = together(8, lambda i: racing_env.accounts.sign_in(phone, wrong))
    assert all(isinstance(r, Unauthorized) for r in results)
    told_tries_left = sorted(r.details.get("attempts_left") for r in results if r.details.get("attempts_left") is not None)
    assert told_tries_left == [0, 1, 2, 3, 4]  # five guesses compared, each counted; the rest found no code
    with pytest.raises(Unauthorized):
        racing_env.accounts.sign_in(phone, right)  # burnt: even the right code no longer works
