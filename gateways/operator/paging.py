"""Paging of every operator list: `limit` (at most MAX_LIMIT) and `offset`; answers carry `next_offset`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

MAX_LIMIT = 1000


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
