"""Paging of every operator list: `limit` (at most MAX_LIMIT) and `offset`; answers carry `next_offset`.
Kept here for the operator routers' imports; the paging itself (and the drivers' cursors) is gateways/http/paging.py."""
from __future__ import annotations

from gateways.http.paging import MAX_LIMIT, Page, PageDep, page_params

__all__ = ["MAX_LIMIT", "Page", "PageDep", "page_params"]
