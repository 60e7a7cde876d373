"""Paging of every list answer, two ways (tests/gateways/test_paging_everywhere.py holds every list to one of them):

- **offset**: `limit` (at most MAX_LIMIT) and `offset`; the answer's `next_offset` is where the next page starts,
  null on the last. Operator lists: work queues and reports, read oldest first or by a key that new rows do not move.
- **cursor**: `limit` and `cursor`; the answer's `next_cursor` (null on the last page), also as a
  `Link: <...&cursor=...>; rel="next"` header. The driver's lists, newest first: the cursor names the last row shown
  by (time, id), so a row added meanwhile (a new order at the top) neither repeats one already read on the next page
  nor pushes an older one out of it, which `offset` would.

A cursor is opaque to clients (base64url of the list's name, a time and an id); one that is not this list's, or not
a cursor at all, is a 422 naming `cursor`."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response

from parking_core.errors import InvalidInput

MAX_LIMIT = 1000
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def next_offset(self, returned: int) -> int | None:
        """Where the next page starts, or None when this one was the last (fewer rows than asked)."""
        return self.offset + returned if returned == self.limit else None


def page_params(limit: int = Query(100, ge=1, le=MAX_LIMIT, description=f"rows per page, at most {MAX_LIMIT}"),
                offset: int = Query(0, ge=0, description="rows to skip: the previous answer's next_offset")) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(page_params)]

# -- cursors ----------------------------------------------------------------------------------------------------------

After = tuple[datetime, str]  # the last row shown: its time and its id


def encode_cursor(kind: str, after: After) -> str:
    raw = json.dumps([kind, after[0].isoformat(), after[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, text: str) -> After:
    """The (time, id) a cursor of list `kind` names; InvalidInput naming `cursor` for anything else."""
    try:
        name, at, row_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        when = datetime.fromisoformat(at)
        if not isinstance(row_id, str) or when.tzinfo is None:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(f"cursor: {text[:40]!r} is not a cursor this API gave (pass the previous answer's next_cursor)",
                           field="cursor", value=text[:100]) from None
    if name != kind:
        raise InvalidInput(f"cursor: {text[:40]!r} belongs to another list ({name}), not {kind}", field="cursor",
                           value=text[:100])
    return when, row_id


@dataclass
class CursorPage:
    """One page of a newest-first list: ask the store for `limit + 1` rows after `after`, then `cut` them."""

    kind: str
    limit: int
    after: After | None
    request: Request
    response: Response
    next_cursor: str | None = field(default=None, init=False)

    @property
    def fetch(self) -> int:
        """Rows to ask for: one more than shown tells whether another page follows."""
        return self.limit + 1

    def cut(self, rows: Sequence[T], key: Callable[[T], After]) -> list[T]:
        """The page's rows; sets `next_cursor` and the `Link: rel="next"` header when more follow."""
        shown = list(rows[:self.limit])
        if len(rows) > self.limit and shown:
            self.next_cursor = encode_cursor(self.kind, key(shown[-1]))
            url = self.request.url.remove_query_params("cursor").include_query_params(cursor=self.next_cursor)
            self.response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
        return shown

    def of(self, rows: Sequence[T], key: Callable[[T], After]) -> list[T]:
        """The page of a list already in memory (one driver's few disputes): newest first, ties by id, below `after`."""
        ordered = sorted(rows, key=lambda r: (-key(r)[0].timestamp(), key(r)[1]))
        if self.after is not None:
            at, row_id = self.after
            ordered = [r for r in ordered if key(r)[0] < at or (key(r)[0] == at and key(r)[1] > row_id)]
        return self.cut(ordered, key)


def cursor_page(kind: str, *, default: int, maximum: int) -> Any:
    """A dependency giving the CursorPage of list `kind` from `limit` and `cursor`."""

    def params(request: Request, response: Response,
               limit: int = Query(default, ge=1, le=maximum, description=f"rows per page, at most {maximum}"),
               cursor: str | None = Query(None, max_length=400,
                                          description="the previous answer's next_cursor (or its Link rel=next)")) -> CursorPage:
        return CursorPage(kind, limit, decode_cursor(kind, cursor) if cursor else None, request, response)

    return Depends(params)


NEXT_CURSOR = "pass as `cursor` for the next (older) page; null on the last page. Also sent as a `Link: rel=\"next\"` header"

__all__ = ["MAX_LIMIT", "NEXT_CURSOR", "After", "CursorPage", "Page", "PageDep", "cursor_page", "decode_cursor",
           "encode_cursor", "page_params"]
