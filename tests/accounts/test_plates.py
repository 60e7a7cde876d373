"""Binding plates: one spelling, one active holder city-wide, a limit per account, history kept."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from parking_core.account_models import PlateBinding
from parking_core.accounts import PlateBoundElsewhere, PlateLimitReached, PlateNotBound, owner_of, plates_of
from parking_core.errors import InvalidInput
from parking_core.plates import LETTERS, PROVINCES, SERIAL, validate_plate
from tests.accounts.conftest import build_accounts, sign_in

FIXTURE_OK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def backend_env(tmp_path):
    """The embedded backend only: these are domain rules (tests/accounts/test_api.py runs both backends)."""
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'platform.db'}", "PARKING_DATA_DIR": str(tmp_path / "data")}


def active_rows(env, plate: str) -> list[tuple[str, str]]:
    with env.uow() as uow:
        return [tuple(r) for r in uow.session.execute(select(PlateBinding.account_id, PlateBinding.plate).where(
            PlateBinding.plate == plate, PlateBinding.unbound_at.is_(None)))]


def test_plate_is_stored_normalised_and_binding_again_changes_nothing(env):
    a = env.sign_up()
    binding, created = env.accounts.bind_plate(a, "苏e·123 45")
    assert created and binding.plate == "苏E12345" and binding.color is None
    again, created = env.accounts.bind_plate(a, "苏E-12345", "blue")
    assert not created and again.id == binding.id and again.color == "blue"
    assert active_rows(env, "苏E12345") == [(a, "苏E12345")]


def test_a_plate_bound_by_another_account_is_a_conflict_offering_a_dispute(env):
    a, b = env.sign_up(), env.sign_up()
    env.accounts.bind_plate(a, "苏E12345")
    with pytest.raises(PlateBoundElsewhere) as err:
        env.accounts.bind_plate(b, "苏e12345")
    body = err.value.to_dict()
    assert err.value.http_status == 409 and body["code"] == "plate_bound_elsewhere" and body["field"] == "plate"
    assert body["details"]["dispute"] == "/v1/me/plates/苏E12345/dispute"
    assert a not in body["message"]
    assert active_rows(env, "苏E12345") == [(a, "苏E12345")]


def test_at_most_three_plates_and_unbinding_makes_room(env):
    a = env.sign_up()
    for plate in ("苏E11111", "苏E22222", "苏E33333"):
        env.accounts.bind_plate(a, plate)
    with pytest.raises(PlateLimitReached) as err:
        env.accounts.bind_plate(a, "苏E44444")
    assert err.value.details["limit"] == 3
    env.accounts.bind_plate(a, "苏E11111")  # idempotent even at the limit
    env.accounts.unbind_plate(a, "苏E22222")
    env.accounts.bind_plate(a, "苏E44444")
    assert [b.plate for b in env.accounts.plates(a)] == ["苏E11111", "苏E33333", "苏E44444"]


def test_limit_comes_from_the_settings(tmp_path):
    env = build_accounts(f"sqlite:///{tmp_path / 'a.db'}", tmp_path, PARKING_MAX_PLATES="1")
    a = env.sign_up()
    env.accounts.bind_plate(a, "苏E11111")
    with pytest.raises(PlateLimitReached):
        env.accounts.bind_plate(a, "苏E22222")


def test_unbinding_keeps_history_and_frees_the_plate(env):
    a, b = env.sign_up(), env.sign_up()
    env.accounts.bind_plate(a, "苏E12345")
    env.clock.advance(hours=1)
    gone = env.accounts.unbind_plate(a, "苏E 12345")
    assert gone.unbound_at == env.clock() and gone.unbound_reason == "unbound by the driver"
    env.accounts.bind_plate(b, "苏E12345")
    with env.uow() as uow:
        db = uow.session
        history = [(r.account_id, r.unbound_at is None) for r in db.scalars(select(PlateBinding).order_by(PlateBinding.bound_at))]
        assert owner_of(db, "苏e12345").id == b and plates_of(db, a) == []
    assert history == [(a, False), (b, True)]


def test_nobody_unbinds_a_plate_they_do_not_hold(env):
    a, b = env.sign_up(), env.sign_up()
    env.accounts.bind_plate(a, "苏E12345")
    with pytest.raises(PlateNotBound) as err:
        env.accounts.unbind_plate(b, "苏E12345")
    assert err.value.http_status == 404
    with pytest.raises(PlateNotBound):
        env.accounts.unbind_plate(a, "苏E99999")
    assert active_rows(env, "苏E12345") == [(a, "苏E12345")]


def test_database_allows_one_active_binding_per_plate_but_any_number_of_old_ones(env):
    a, b = env.sign_up(), env.sign_up()
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with env.uow() as uow:
        uow.session.add_all([PlateBinding(id=f"old{i}", account_id=a, plate="苏E12345", bound_at=now, unbound_at=now)
                             for i in range(3)])
        uow.session.add(PlateBinding(id="live", account_id=a, plate="苏E12345", bound_at=now))
        uow.commit()
    with env.uow() as uow, pytest.raises(IntegrityError):
        uow.session.add(PlateBinding(id="second", account_id=b, plate="苏E12345", bound_at=now))
        uow.session.flush()


def test_invalid_plates_name_the_rule(env):
    a = env.sign_up()
    with pytest.raises(InvalidInput) as err:
        env.accounts.bind_plate(a, "苏I12345")
    assert err.value.field == "plate" and "other than I or O" in err.value.message
    with pytest.raises(InvalidInput) as err:
        env.accounts.bind_plate(a, "苏E12345", "pink")
    assert err.value.field == "plate_color"


SEPARATORS = st.sampled_from(["", " ", "·", "-", ".", "　"])


@st.composite
def spellings(draw):
    """A valid plate, and two spellings of it as a driver might type them."""
    serial_len = draw(st.sampled_from([5, 6]))
    plate = draw(st.sampled_from(PROVINCES)) + draw(st.sampled_from(LETTERS)) + "".join(
        draw(st.lists(st.sampled_from(SERIAL), min_size=serial_len, max_size=serial_len)))

    def typed() -> str:
        out = []
        for c in plate:
            c = c.lower() if c.isascii() and draw(st.booleans()) else c
            c = chr(ord(c) + 0xFEE0) if c.isascii() and draw(st.booleans()) else c  # full-width
            out.append(c + draw(SEPARATORS))
        return "".join(out)

    return plate, typed(), typed()


@FIXTURE_OK
@given(spellings())
def test_any_spelling_binds_the_normalised_plate_once(env, case):
    plate, first, second = case
    a = env.sign_up()
    binding, created = env.accounts.bind_plate(a, first)
    again, created_again = env.accounts.bind_plate(a, second)
    assert (binding.plate, created, again.id, created_again) == (plate, True, binding.id, False)
    assert active_rows(env, plate) == [(a, plate)]
    env.accounts.unbind_plate(a, second)


@pytest.fixture
def driver(accounts_api):
    """(client, headers) of one signed-in driver; hypothesis reuses it across examples."""
    _, env, client = accounts_api()
    return client, sign_in(client, env)


TYPED = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@FIXTURE_OK
@given(st.one_of(TYPED, spellings().map(lambda c: c[1]),
                 st.builds(str.__add__, st.sampled_from(PROVINCES), st.text(alphabet=SERIAL + "IOio学警·", max_size=8))))
def test_api_answers_invalid_plates_422_with_the_reason(driver, text):
    client, headers = driver
    r = client.post("/v1/me/plates", json={"plate": text}, headers=headers)
    try:
        valid = validate_plate(text)
    except InvalidInput as exc:
        assert (r.status_code, r.json()) == (422, exc.to_dict())
        return
    assert (r.status_code, r.json()["plate"]) == (201, valid.number)
    assert client.delete(f"/v1/me/plates/{valid.number}", headers=headers).status_code == 204


def test_two_accounts_binding_one_plate_at_once_on_postgresql(pg_url, tmp_path, monkeypatch):
    """Both threads see the plate free before either inserts: the partial unique index lets exactly one win."""
    import parking_core.accounts.plates as accounts_module

    env = build_accounts(pg_url, tmp_path)
    drivers = [env.sign_up() for _ in range(2)]
    checked = threading.Barrier(2, timeout=10)
    first_check = threading.local()
    real_check = accounts_module.active_binding

    def check_then_wait(db, plate, **kw):
        found = real_check(db, plate, **kw)
        if not getattr(first_check, "done", False):
            first_check.done = True
            checked.wait()
        return found

    monkeypatch.setattr(accounts_module, "active_binding", check_then_wait)
    outcomes: list[object] = [None, None]

    def bind(i: int) -> None:
        try:
            outcomes[i] = env.accounts.bind_plate(drivers[i], "苏E12345")[1]
        except Exception as exc:  # noqa: BLE001 - the test inspects what happened
            outcomes[i] = exc

    threads = [threading.Thread(target=bind, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [i for i in range(2) if outcomes[i] is True]
    assert len(winners) == 1 and any(isinstance(o, PlateBoundElsewhere) for o in outcomes), outcomes
    assert active_rows(env, "苏E12345") == [(drivers[winners[0]], "苏E12345")]


def test_one_account_binding_one_plate_twice_at_once_on_postgresql(pg_url, tmp_path):
    """A double tap: both requests succeed, one binding exists."""
    env = build_accounts(pg_url, tmp_path)
    a = env.sign_up()
    barrier, results = threading.Barrier(4), []

    def bind() -> None:
        barrier.wait()
        results.append(env.accounts.bind_plate(a, "苏E12345"))

    threads = [threading.Thread(target=bind) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert len({b.id for b, _ in results}) == 1 and active_rows(env, "苏E12345") == [(a, "苏E12345")]


def test_the_driver_is_told_when_a_plate_is_bound_to_or_removed_from_the_account(env):
    account_id = env.sign_up()
    env.accounts.bind_plate(account_id, "苏E77777")
    env.accounts.bind_plate(account_id, "苏E77777")  # again: nothing new, no second notice
    env.accounts.unbind_plate(account_id, "苏E77777")
    assert [(n.kind, n.data["plate"]) for n in env.notifier.of(account_id)] == [("plate_bound", "苏E77777"), ("plate_unbound", "苏E77777")]
