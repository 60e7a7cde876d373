"""A driver's lists page by cursor, newest first (gateways/http/paging.py): three pages of 25 orders give each order
exactly once and in order, though a new order arrives between the pages (with `offset` it would push the last order
of page one onto page two); the `Link: rel="next"` header walks the same pages; a bad cursor is a 422 naming it."""
from __future__ import annotations

from string import ascii_letters, digits

from tests.billing_flow.conftest import PNG, alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures

A, B = "苏E20001", "苏E20002"


def _newest_first(orders) -> list[str]:  # noqa: ANN001
    return [o.id for o in sorted(orders, key=lambda o: (-o.exited_at.timestamp(), o.id))]


def _walk(e, path: str, headers: dict, key: str, limit: int) -> list[list[str]]:  # noqa: ANN001
    """Every page by following the Link header; each page's ids."""
    pages, url = [], f"{path}?limit={limit}"
    while url:
        r = e.api.get(url, headers=headers)
        assert r.status_code == 200, r.text
        pages.append([row["id"] for row in r.json()[key]])
        link = r.headers.get("link")
        assert (link is None) == (r.json()["next_cursor"] is None)
        url = link[1:link.index(">")] if link else None
    return pages


def _driver_with_25_orders(e):  # noqa: ANN001
    """A driver holding two verified plates; 25 stays, pairs of which end at the same instant (ties broken by id)."""
    d = e.driver(A, agreement=False)
    e.accounts.bind_plate(d.account_id, B, None)
    e.verify(d.headers, B)
    made = []
    while len(made) < 25:
        e.clock.advance(minutes=30)
        made.append(e.stay(A, minutes=10))
        if len(made) < 25:
            made.append(e.stay(B, minutes=10))
    return d, made


def test_three_pages_give_every_order_once_in_order_while_a_new_one_arrives(billing_env):
    e = billing_env()
    d, made = _driver_with_25_orders(e)
    assert len({o.exited_at for o in made}) == 13  # ties to break

    first = e.api.get("/v1/me/orders", params={"limit": 10}, headers=d.headers)
    assert first.status_code == 200 and first.json()["next_cursor"]
    e.clock.advance(minutes=30)
    newer = e.stay(A, minutes=10)  # arrives while the driver reads: at the top, never on a later page
    second = e.api.get("/v1/me/orders", params={"limit": 10, "cursor": first.json()["next_cursor"]}, headers=d.headers)
    third = e.api.get("/v1/me/orders", params={"limit": 10, "cursor": second.json()["next_cursor"]}, headers=d.headers)
    pages = [[o["id"] for o in r.json()["orders"]] for r in (first, second, third)]
    assert [len(p) for p in pages] == [10, 10, 5] and third.json()["next_cursor"] is None
    assert sum(pages, []) == _newest_first(made)  # every order once, newest first
    assert newer.id not in sum(pages, [])
    again = e.api.get("/v1/me/orders", params={"limit": 10}, headers=d.headers).json()["orders"]
    assert again[0]["id"] == newer.id  # a fresh first page shows it

    receipts = _walk(e, "/v1/me/receipts", d.headers, "receipts", 10)  # free stays: paid at once
    assert [len(p) for p in receipts] == [10, 10, 6] and sum(receipts, []) == _newest_first([*made, newer])
    stays = _walk(e, "/v1/me/sessions", d.headers, "sessions", 7)
    by_entry = sorted([*made, newer], key=lambda o: (-o.entered_at.timestamp(), o.session_id))
    assert [len(p) for p in stays] == [7, 7, 7, 5] and sum(stays, []) == [o.session_id for o in by_entry]


def test_a_cursor_is_checked(billing_env):
    e = billing_env()
    d = e.driver(A, agreement=False)
    e.accounts.bind_plate(d.account_id, B, None)
    sent = []
    for n in range(3):  # three uploads waiting for review, at one instant: the verifications list pages the same way
        r = e.api.post(f"/v1/me/plates/{B}/evidence", headers=d.headers, files={"file": ("l.png", PNG + bytes([n]), "image/png")})
        assert r.status_code == 201, r.text
        sent.append(r.json()["id"])
    walked = _walk(e, "/v1/me/plate-verifications", d.headers, "verifications", 2)
    assert [len(p) for p in walked] == [2, 2] and set(sent) < set(sum(walked, []))  # with plate A's approved upload
    assert sum(walked, []) == sorted(sum(walked, []))  # one instant: by id
    for _ in range(3):
        e.clock.advance(minutes=30)
        e.stay(A, minutes=10)
    cursor = e.api.get("/v1/me/orders", params={"limit": 1}, headers=d.headers).json()["next_cursor"]
    assert cursor and set(cursor) <= set(ascii_letters + digits + "-_")  # opaque, safe in a URL as it is
    bad = e.api.get("/v1/me/orders", params={"cursor": "not-a-cursor"}, headers=d.headers)
    assert bad.status_code == 422 and bad.json()["field"] == "cursor" and bad.json()["value"] == "not-a-cursor"
    other = e.api.get("/v1/me/sessions", params={"cursor": cursor}, headers=d.headers)
    assert other.status_code == 422 and "another list" in other.json()["message"]
    assert e.api.get("/v1/me/orders", params={"cursor": cursor, "limit": 5}, headers=d.headers).status_code == 200
