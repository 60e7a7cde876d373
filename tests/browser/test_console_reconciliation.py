"""The console's reconciliation screen in headless Chromium, as the people it is for: the city runs a day; each
operator sees only its own cases; a finance user resolves them (the API and the audit log say so); a viewer sees
and cannot act; a write-off proposed by one finance user is resolved only when another approves it, and then the
day is closed."""
from __future__ import annotations

import pytest

from gateways.operator.permissions import OperatorKeys, env_principal, principals_of
from gateways.operator.registry_import import import_registry
from tests.billing_flow.conftest import OPERATOR_KEY, alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures
from tests.browser.test_console import page, sign_in  # noqa: F401 - fixtures
from tests.browser.test_page import browser  # noqa: F401 - fixtures
from tests.reconciliation.conftest import city
from tests.reconciliation.test_cases import _faulty_day

pytestmark = pytest.mark.browser
CITY = {"X-Operator-Key": OPERATOR_KEY}
PEOPLE = {  # username: (org kind, org id, role)
    "wu.city": ("city", "city", "finance"),
    "zhao.op1": ("operator", "op1", "staff"),
    "qian.op2": ("operator", "op2", "finance"),
    "sun.op2": ("operator", "op2", "viewer"),
}
PASSWORD = "a long password!"


@pytest.fixture
def recon_site(billing_env):  # noqa: F811
    """A day of every fault (tests/reconciliation/test_cases.py): op1 has one case, op2 three; the people above."""
    env = billing_env()
    import_registry(env.platform, city())
    env.platform.operator_keys = OperatorKeys({"city": OPERATOR_KEY})
    faults = _faulty_day(env)
    principals = principals_of(env.platform)
    for name, (kind, org, role) in PEOPLE.items():
        principals.add_user(actor=env_principal("city"), username=name, password=PASSWORD, org_kind=kind, org_id=org, role=role)
    return env, faults


def as_person(page, env, name: str, month: str) -> None:
    """Sign in as `name` and open the reconciliation screen at `month` (YYYY-MM), once its days are listed."""
    if page.is_visible("#sign-out"):
        page.click("#sign-out")
        page.wait_for_selector("#sign-in-form", state="visible")
    sign_in(page, env.served.url, name, PASSWORD)
    page.click("#tabs button[data-tab=reconciliation]")
    page.fill("#recon-month", month)
    page.wait_for_function(f"document.querySelector('#recon-month').value === '{month}' && "
                           "[...document.querySelectorAll('#recon-days-table tbody tr')].every(r => r.dataset.id.startsWith("
                           f"'{month}')) && (document.querySelector('#recon-days-table tbody').children.length > 0"
                           " || !document.querySelector('#recon-days-empty').hidden)")


def open_day(page, day: str) -> list[dict]:
    """Open the day's cases; each row as {kind, status, actions (button labels), text}."""
    page.click(f"#recon-days-table tbody tr[data-id='{day}'] button")
    page.wait_for_function(f"document.querySelector('#recon-day-name').textContent === '{day}'")
    return cases(page)


def cases(page) -> list[dict]:
    return page.eval_on_selector_all("#recon-table tbody tr", """rows => rows.map(r => ({
        id: r.dataset.id, kind: r.dataset.kind, status: r.cells[8].textContent,
        actions: [...r.querySelectorAll('button')].map(b => b.dataset.action), text: r.cells[10].textContent}))""")


def act(page, case_id: str, action: str, reason: str | None = None) -> None:
    """Press the case's button; confirm in the form (with a reason when given); wait until the API has answered."""
    page.evaluate("document.querySelector('#notice').textContent = ''")
    page.click(f"#recon-table tbody tr[data-id='{case_id}'] button[data-action={action}]")
    if action != "query":
        if reason is not None:
            page.fill("#resolve-form input[name=reason]", reason)
        page.click("#resolve-form button[type=submit]")
    page.wait_for_function("document.querySelector('#notice').textContent || document.querySelector('#error').textContent"
                           " || [...document.querySelectorAll('#resolve-form .field-error')].some(e => e.textContent)")


def api_case(env, case_id: str) -> dict:
    r = env.api.get(f"/v1/operator/reconciliation/cases/{case_id}", headers=CITY)
    assert r.status_code == 200, r.text
    return r.json()


def audit(env, case_id: str) -> list[tuple[str, str, str]]:
    r = env.api.get("/v1/operator/audit", headers=CITY, params={"subject": f"reconciliation_case:{case_id}"})
    return sorted((e["action"], e["actor_name"], e["actor_org"]) for e in r.json()["entries"])


def test_cases_are_resolved_in_the_console_by_whom_may_and_the_day_closes(recon_site, page):
    env, (a, b, c, lost, lost_trade, day) = recon_site
    day = day.isoformat()

    # the city runs the day from the console; it sees every case
    as_person(page, env, "wu.city", day[:7])
    assert page.is_visible("#recon-days-empty")
    page.fill("#recon-run-form input[name=day]", day)
    page.click("#recon-run-form button[type=submit]")
    page.wait_for_function("document.querySelector('#notice').textContent.includes('reconciled')")
    assert page.inner_text("#notice") == f"Day {day} reconciled: open, 2 of 5 bill lines matched, 4 case(s)"
    assert page.inner_text("#recon-day-name") == day and len(cases(page)) == 4  # the day run is the day shown

    # op1 sees its one case, and nothing else; a correction without a reason is refused beside the reason
    as_person(page, env, "zhao.op1", day[:7])
    assert page.is_hidden("#recon-run-form")
    assert page.inner_text(f"#recon-days-table tbody tr[data-id='{day}'] td:nth-child(3)") == "1"  # open cases: its own
    (mismatch,) = open_day(page, day)
    assert mismatch["kind"] == "amount_mismatch" and mismatch["actions"] == ["query", "correct", "write_off"]
    act(page, mismatch["id"], "correct", "")
    assert page.inner_text("#resolve-form .field-error[data-for=reason]") == "reason: a correction needs a reason"
    assert api_case(env, mismatch["id"])["status"] == "open"
    page.fill("#resolve-form input[name=reason]", "camera double-read; Alipay's 400 fen is right")
    page.click("#resolve-form button[type=submit]")
    page.wait_for_function("document.querySelector('#notice').textContent.includes('corrected')")
    assert (api_case(env, mismatch["id"])["resolution"], env.order(c.id).paid_fen) == ("corrected", 400)

    # a viewer of op2 sees op2's three cases and no button
    as_person(page, env, "sun.op2", day[:7])
    seen = open_day(page, day)
    assert sorted(x["kind"] for x in seen) == ["alipay_only", "duplicate_payment", "ours_only"]
    assert page.query_selector_all("#recon-table button, #recon-run-form:not([hidden])") == []

    # op2's finance user refunds the duplicate, records the lost payment and proposes a write-off
    as_person(page, env, "qian.op2", day[:7])
    by_kind = {x["kind"]: x for x in open_day(page, day)}
    dup, alipay_only, ghost = by_kind["duplicate_payment"], by_kind["alipay_only"], by_kind["ours_only"]
    act(page, dup["id"], "refund_duplicate")
    assert page.inner_text("#notice") == f"Case {dup['id']}: refunded"
    assert api_case(env, dup["id"])["resolution"] == "refunded"
    assert audit(env, dup["id"]) == [("reconciliation.refund_duplicate", "qian.op2", "op2")]
    act(page, alipay_only["id"], "record")
    assert api_case(env, alipay_only["id"])["resolution"] == "recorded" and env.order(lost.id).status == "paid"
    act(page, ghost["id"], "write_off", "test payment entered by hand")
    (shown,) = [x for x in cases(page) if x["id"] == ghost["id"]]
    assert shown["status"] == "awaiting approval" and shown["actions"] == []
    assert "waits for a second finance approver" in shown["text"]
    assert api_case(env, ghost["id"])["status"] == "awaiting_approval"
    assert page.inner_text("#recon-day-status") == "open"

    # another finance user approves it: the case is written off and the day closes
    as_person(page, env, "wu.city", day[:7])
    (pending,) = [x for x in open_day(page, day) if x["id"] == ghost["id"]]
    assert pending["actions"] == ["approve_write_off"]
    act(page, ghost["id"], "approve_write_off")
    page.wait_for_function("document.querySelector('#recon-day-status').textContent === 'closed'")
    assert api_case(env, ghost["id"])["resolution"] == "written_off"
    assert audit(env, ghost["id"]) == [("reconciliation.approve_write_off", "wu.city", "city"),
                                       ("reconciliation.write_off", "qian.op2", "op2")]
    assert env.api.get(f"/v1/operator/reconciliation/days/{day}", headers=CITY).json()["status"] == "closed"
    bad = env.api.get("/v1/operator/reconciliation/months/2026-13", headers=CITY)
    assert (bad.status_code, bad.json()["field"], bad.json()["value"]) == (422, "month", "2026-13")
    assert page.inner_text(f"#recon-days-table tbody tr[data-id='{day}'] td:nth-child(2)") == "closed"
    assert page.outside == [] and page.errors == []
