"""The operator console in real headless Chromium: a person signs in, sees only their operator's car parks,
refunds an order, and the refund shows in the audit log; the page asks nothing of the internet."""
from __future__ import annotations

import re

import pytest

from gateways.operator.permissions import env_principal, principals_of
from tests.billing_flow.conftest import alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures
from tests.browser.test_page import _page, browser  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser
CITY = env_principal("city")


@pytest.fixture
def console_site(billing_env):  # noqa: F811
    """A paid order at G1 (op2), a console user of op1 and one of op2 (staff); the platform served over HTTP."""
    env = billing_env()
    env.driver("苏E12345")
    order = env.stay("苏E12345", minutes=150)
    env.work()
    assert env.order(order.id).status == "paid"
    principals = principals_of(env.platform)
    principals.add_user(actor=CITY, username="zhao.op1", password="op1 password!", org_kind="operator", org_id="op1", role="staff")
    principals.add_user(actor=CITY, username="li.op2", password="op2 password!", org_kind="operator", org_id="op2", role="staff")
    return env, order


@pytest.fixture
def page(browser):  # noqa: F811
    yield from _page(browser, viewport={"width": 1280, "height": 800})


def sign_in(page, base: str, user: str, password: str) -> None:
    page.goto(base + "/operator/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#lots-table tbody tr")


def lot_ids(page) -> list[str]:
    return page.eval_on_selector_all("#lots-table tbody tr", "rows => rows.map(r => r.dataset.id)")


def test_an_operator_sees_only_its_own_car_parks(console_site, page):
    env, _ = console_site
    sign_in(page, env.served.url, "zhao.op1", "op1 password!")
    assert lot_ids(page) == ["S1"]
    assert "operator op1" in page.inner_text("#who-name")
    page.click("#tabs button[data-tab=orders]")
    page.wait_for_function("document.querySelector('#orders-table tbody').children.length === 0")
    page.click("#sign-out")
    page.wait_for_selector("#sign-in-form", state="visible")
    sign_in(page, env.served.url, "li.op2", "op2 password!")
    assert lot_ids(page) == ["C1", "G1"]
    assert page.outside == [] and page.errors == []


def test_a_wrong_password_is_said_and_nothing_is_shown(console_site, page):
    env, _ = console_site
    page.goto(env.served.url + "/operator/")
    page.fill("input[name=username]", "li.op2")
    page.fill("input[name=password]", "not it")
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_function("document.querySelector('#sign-in-error').textContent.length > 0")
    assert page.inner_text("#sign-in-error") == "username or password is wrong"
    assert page.is_hidden("#console")


def test_a_refund_made_in_the_console_shows_in_the_audit_log(console_site, page):
    env, order = console_site
    sign_in(page, env.served.url, "li.op2", "op2 password!")
    page.click("#tabs button[data-tab=orders]")
    row = page.wait_for_selector(f"#orders-table tbody tr[data-id='{order.id}']")
    row.query_selector("button").click()
    page.fill("#refund-form input[name=amount_fen]", "100")
    page.fill("#refund-form input[name=reason]", "barrier fault")
    page.click("#refund-form button[type=submit]")
    page.wait_for_function("document.querySelector('#notice').textContent.includes('Refund of 100 fen')")
    assert "succeeded" in page.inner_text("#notice")
    assert env.order(order.id).refunded_fen == 100
    page.click("#tabs button[data-tab=audit]")
    page.wait_for_selector("#audit-table tbody tr")
    rows = page.eval_on_selector_all("#audit-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    refunds = [r for r in rows if r[2] == "refund"]
    assert len(refunds) == 1 and refunds[0][1] == "li.op2 (op2)" and refunds[0][3] == f"order:{order.id}"
    assert re.search(r'"amount_fen":\s*100', refunds[0][5])
    assert page.outside == [] and page.errors == []
