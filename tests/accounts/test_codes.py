"""Sign-in codes (rate limits, expiry, tries, storage) and the tokens they buy."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from parking_core.account_models import Account, VerificationCode
from parking_core.accounts import AccountSettings, load_account_settings, normalize_phone
from parking_core.errors import ConfigError, DependencyUnavailable, InvalidInput, TooManyRequests, Unauthorized
from parking_core.notify import ConsoleSender
from tests.accounts.conftest import build_accounts


@pytest.mark.parametrize("raw", ["13800138000", "+86 138 0013 8000", "0086-138-0013-8000", "8613800138000", "(138)00138000"])
def test_mainland_mobile_numbers_are_normalised(raw):
    assert normalize_phone(raw) == "13800138000"


@pytest.mark.parametrize("raw", ["12800138000", "1380013800", "138001380000", "010-12345678", "1380013800a", ""])
def test_other_numbers_are_refused_naming_the_phone(raw, env):
    with pytest.raises(InvalidInput) as err:
        env.accounts.request_code(raw)
    assert err.value.field == "phone" and err.value.value == raw
    assert env.sender.sent == []


def test_code_is_six_digits_stored_only_as_a_keyed_hash(env):
    sent = env.accounts.request_code("13800138000")
    code = env.sender.last_code("13800138000")
    assert len(code) == 6 and code.isdigit()
    assert sent.expires_at == env.clock() + timedelta(minutes=5)
    with env.uow() as uow:
        row_hash = uow.session.scalars(select(VerificationCode.code_hash)).one()
    unkeyed = {hashlib.sha256(text.encode()).hexdigest() for text in (code, f"13800138000:{code}", f"13800138000{code}")}
    assert len(row_hash) == 64 and code not in row_hash and row_hash not in unkeyed


def test_one_code_a_minute(env):
    env.accounts.request_code("13800138000")
    env.clock.advance(seconds=20)
    with pytest.raises(TooManyRequests) as err:
        env.accounts.request_code("13800138000")
    assert err.value.details["retry_after"] == 40 and err.value.field == "phone"
    env.accounts.request_code("13900139000")  # another phone is not limited
    env.clock.advance(seconds=40)
    env.accounts.request_code("13800138000")
    assert [s.phone for s in env.sender.sent] == ["13800138000", "13900139000", "13800138000"]


def test_ten_codes_a_day(env):
    for _ in range(10):
        env.accounts.request_code("13800138000")
        env.clock.advance(minutes=1)
    with pytest.raises(TooManyRequests) as err:
        env.accounts.request_code("13800138000")
    assert err.value.details["retry_after"] == (timedelta(days=1) - timedelta(minutes=10)).total_seconds()
    env.clock.advance(days=1)
    env.accounts.request_code("13800138000")
    assert len(env.sender.sent) == 11


def test_first_sign_in_registers_and_later_ones_find_the_account(env):
    env.accounts.request_code("13800138000")
    first = env.accounts.sign_in("13800138000", env.sender.last_code("13800138000"))
    env.clock.advance(minutes=2)
    env.accounts.request_code("+86 138 0013 8000")
    again = env.accounts.sign_in("138-0013-8000", env.sender.last_code("13800138000"))
    assert first.new_account and not again.new_account and first.account_id == again.account_id
    with env.uow() as uow:
        assert uow.session.scalars(select(Account.phone)).all() == ["13800138000"]


def test_a_code_works_once(env):
    env.accounts.request_code("13800138000")
    code = env.sender.last_code("13800138000")
    env.accounts.sign_in("13800138000", code)
    with pytest.raises(Unauthorized) as err:
        env.accounts.sign_in("13800138000", code)
    assert err.value.field == "code"


def test_a_code_expires_after_five_minutes(env):
    env.accounts.request_code("13800138000")
    env.clock.advance(minutes=5)
    with pytest.raises(Unauthorized, match="expired"):
        env.accounts.sign_in("13800138000", env.sender.last_code("13800138000"))


def test_a_new_code_replaces_the_old_one(env):
    env.accounts.request_code("13800138000")
    old = env.sender.last_code("13800138000")
    env.clock.advance(minutes=1)
    env.accounts.request_code("13800138000")
    new = env.sender.last_code("13800138000")
    if old != new:
        with pytest.raises(Unauthorized):
            env.accounts.sign_in("13800138000", old)
    assert env.accounts.sign_in("13800138000", new).account_id


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_four_wrong_tries_still_leave_the_fifth(env):
    env.accounts.request_code("13800138000")
    code = env.sender.last_code("13800138000")
    for left in (4, 3, 2, 1):
        with pytest.raises(Unauthorized) as err:
            env.accounts.sign_in("13800138000", _wrong(code))
        assert err.value.details["attempts_left"] == left
    assert env.accounts.sign_in("13800138000", code).account_id


def test_five_wrong_tries_burn_the_code(env):
    env.accounts.request_code("13800138000")
    code = env.sender.last_code("13800138000")
    for _ in range(5):
        with pytest.raises(Unauthorized):
            env.accounts.sign_in("13800138000", _wrong(code))
    with pytest.raises(Unauthorized, match="request a new one"):
        env.accounts.sign_in("13800138000", code)
    with env.uow() as uow:
        row = uow.session.execute(select(VerificationCode.attempts, VerificationCode.used)).one()
    assert tuple(row) == (5, True)


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", ""])
def test_malformed_codes_are_invalid_input(env, code):
    with pytest.raises(InvalidInput) as err:
        env.accounts.sign_in("13800138000", code)
    assert err.value.field == "code"


def test_token_names_the_account_and_expires_after_an_hour(env):
    env.accounts.request_code("13800138000")
    issued = env.accounts.sign_in("13800138000", env.sender.last_code("13800138000"))
    account_id = issued.account_id
    assert issued.expires_at == (env.clock() + timedelta(hours=1)).replace(microsecond=0)
    assert env.accounts.account_from_token(issued.access_token) == account_id
    env.clock.advance(hours=1, seconds=-1)
    assert env.accounts.account_from_token(issued.access_token) == account_id
    env.clock.advance(seconds=1)
    with pytest.raises(Unauthorized, match="expired"):
        env.accounts.account_from_token(issued.access_token)


def test_forged_and_altered_tokens_are_refused(env):
    real = jwt.decode(_token_of(env), options={"verify_signature": False})
    account_id, sid = real["sub"], real["sid"]
    now = int(env.clock().timestamp())
    claims = {"sub": account_id, "sid": sid, "iat": now, "exp": now + 3600, "iss": "city-parking", "aud": "driver"}
    forged = jwt.encode(claims, "x" * 40, algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    good = jwt.encode(claims, env.accounts.secret, algorithm="HS256")
    head, body, sig = good.split(".")
    altered = ".".join([head, jwt.utils.base64url_encode(b'{"sub":"someone-else"}').decode(), sig])
    wrong_audience = jwt.encode({**claims, "aud": "operator"}, env.accounts.secret, algorithm="HS256")
    for token in (forged, unsigned, altered, wrong_audience, "not-a-token"):
        with pytest.raises(Unauthorized):
            env.accounts.account_from_token(token)
    assert env.accounts.account_from_token(good) == account_id


def _token_of(env) -> str:
    """A real access token of a fresh sign-in (its `sid` names a sign-in that exists)."""
    phone = "13800138999"
    env.clock.advance(minutes=2)
    env.accounts.request_code(phone)
    return env.accounts.sign_in(phone, env.sender.last_code(phone)).access_token


def test_token_for_an_unknown_account_is_refused(env):
    now = int(env.clock().timestamp())
    token = jwt.encode({"sub": "nobody", "sid": "nowhere", "iat": now, "exp": now + 60, "iss": "city-parking", "aud": "driver"},
                       env.accounts.secret, algorithm="HS256")
    with pytest.raises(Unauthorized, match="does not exist"):
        env.accounts.account_from_token(token)


def test_generated_secret_survives_a_restart_and_is_per_data_dir(tmp_path):
    db = f"sqlite:///{tmp_path / 'a.db'}"
    first = build_accounts(db, tmp_path / "data")
    account_id = first.sign_up("13800138000")
    first.clock.advance(minutes=1)
    first.accounts.request_code("13800138000")
    token = first.accounts.sign_in("13800138000", first.sender.last_code("13800138000")).access_token
    restarted = build_accounts(db, tmp_path / "data")
    assert restarted.accounts.account_from_token(token) == account_id
    assert (tmp_path / "data" / "jwt_secret").stat().st_mode & 0o777 == 0o600
    elsewhere = build_accounts(db, tmp_path / "other")
    with pytest.raises(Unauthorized):
        elsewhere.accounts.account_from_token(token)


def test_secret_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("PARKING_JWT_SECRET", "e" * 40)
    env = build_accounts(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    assert env.accounts.secret == b"e" * 40 and not (tmp_path / "jwt_secret").exists()


def test_short_secret_stops_start_up_naming_the_variable_not_the_value():
    with pytest.raises(ConfigError) as err:
        load_account_settings(PARKING_JWT_SECRET="short")
    assert err.value.field == "PARKING_JWT_SECRET" and err.value.value is None and "short" not in err.value.message
    with pytest.raises(ConfigError) as err:
        load_account_settings(PARKING_MAX_PLATES="0")
    assert err.value.field == "PARKING_MAX_PLATES" and err.value.value == "0"
    assert AccountSettings().max_plates == 3


def test_console_sender_prints_the_code_for_the_demo(tmp_path, capsys):
    env = build_accounts(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    env.accounts.sender = ConsoleSender()
    sent = env.accounts.request_code("13800138000")
    line = capsys.readouterr().out
    from parking_core.clock import SHANGHAI

    shanghai = sent.expires_at.astimezone(SHANGHAI).isoformat(timespec="seconds")
    assert line.startswith("[parking] sign-in code for 13800138000: ") and shanghai in line  # the console speaks Shanghai time
    code = line.split(": ")[1].split()[0]
    assert env.accounts.sign_in("13800138000", code).new_account


def test_a_failing_sender_is_a_503_and_the_code_still_counts(env):
    class Down:
        def send_code(self, phone, code, *, expires_at):
            raise ConnectionError("sms gateway down")

    env.accounts.sender = Down()
    with pytest.raises(DependencyUnavailable):
        env.accounts.request_code("13800138000")
    with pytest.raises(TooManyRequests):
        env.accounts.request_code("13800138000")
