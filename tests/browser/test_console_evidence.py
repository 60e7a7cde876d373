"""The console's plate evidence screen in headless Chromium: an operator sees only the submissions of plates that
parked at its car parks; the licence photo is shown from the authenticated API (never a public address); a viewer
sees it and cannot decide; a rejection needs a reason; approving makes the driver's binding verified."""
from __future__ import annotations

import struct
import zlib

import pytest

from gateways.operator.permissions import env_principal, principals_of
from tests.billing_flow.conftest import OPERATOR_KEY, alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures
from tests.browser.test_console import page, sign_in  # noqa: F401 - fixtures
from tests.browser.test_page import browser  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser
PLATE = "苏E11111"
PASSWORD = "a long password!"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour, so the browser has a picture to draw (the platform judges the type by content)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def evidence_site(billing_env):  # noqa: F811
    """PLATE parked at G1 (op2's); its new holder sent a licence photo; console users of op1 and op2."""
    env = billing_env()
    env.stay(PLATE, minutes=60)
    driver = env.driver(PLATE, verified=False, agreement=False)
    sent = env.api.post(f"/v1/me/plates/{PLATE}/evidence", headers=driver.headers,
                        files={"file": ("licence.png", png(120, 80, (30, 110, 200)), "image/png")})
    assert sent.status_code == 201, sent.text
    principals = principals_of(env.platform)
    for name, org, role in (("zhao.op1", "op1", "staff"), ("sun.op2", "op2", "viewer"), ("li.op2", "op2", "staff")):
        principals.add_user(actor=env_principal("city"), username=name, password=PASSWORD, org_kind="operator", org_id=org, role=role)
    return env, driver, sent.json()["id"]


def as_person(page, env, name: str) -> list[str]:
    """Sign in as `name`, open the evidence screen; the ids of the submissions listed."""
    if page.is_visible("#sign-out"):
        page.click("#sign-out")
        page.wait_for_selector("#sign-in-form", state="visible")
    sign_in(page, env.served.url, name, PASSWORD)
    page.click("#tabs button[data-tab=evidence]")
    page.wait_for_function("document.querySelector('#evidence-table tbody').children.length > 0"
                           " || !document.querySelector('#evidence-empty').hidden")
    return page.eval_on_selector_all("#evidence-table tbody tr", "rows => rows.map(r => r.dataset.id)")


def review(page, vid: str) -> dict:
    """Open the submission; once its picture is drawn: its address and size."""
    page.click(f"#evidence-table tbody tr[data-id='{vid}'] button")
    page.wait_for_function("document.querySelector('#evidence-image').complete"
                           " && document.querySelector('#evidence-image').naturalWidth > 0")
    return page.eval_on_selector("#evidence-image", "i => ({src: i.src, width: i.naturalWidth, height: i.naturalHeight})")


def plate_status(env, driver) -> str:
    (plate,) = env.api.get("/v1/me/plates", headers=driver.headers).json()["plates"]
    return plate["status"]


def test_evidence_is_reviewed_in_the_console_and_approving_verifies_the_plate(evidence_site, page):
    env, driver, vid = evidence_site

    assert as_person(page, env, "zhao.op1") == []  # the plate never parked at op1's car parks
    assert page.is_visible("#evidence-empty")

    assert as_person(page, env, "sun.op2") == [vid]
    image = review(page, vid)
    assert image["src"].startswith("blob:") and (image["width"], image["height"]) == (120, 80)
    assert page.is_hidden("#decide-form")  # a viewer decides nothing

    assert as_person(page, env, "li.op2") == [vid]
    review(page, vid)
    page.click("#evidence-reject")  # no reason: refused beside the reason, nothing sent
    assert page.inner_text("#decide-form .field-error[data-for=note]").startswith("note: say why")
    assert plate_status(env, driver) == "unverified"
    page.fill("#decide-form input[name=note]", "licence matches the plate and the holder")
    page.click("#evidence-approve")
    page.wait_for_function("document.querySelector('#notice').textContent.includes('approved')")
    assert page.is_visible("#evidence-empty") and page.is_hidden("#evidence-review")  # the queue is empty now
    assert plate_status(env, driver) == "verified"
    done = env.api.get("/v1/operator/audit", headers={"X-Operator-Key": OPERATOR_KEY},
                       params={"subject": f"plate_verification:{vid}"}).json()["entries"]
    assert [(e["action"], e["actor_name"], e["actor_org"]) for e in done] == [("plate_verification.approve", "li.op2", "op2")]
    file_url = f"/v1/operator/plate-verifications/{vid}/file"
    assert any(u.endswith(file_url) for u in page.seen)  # fetched from the API with the session, shown as a blob
    assert page.outside == [] and page.errors == []
