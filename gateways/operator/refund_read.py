"""A refund as the operator API shows it (from an order's refund, or sent on an approval)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from billing.models import Refund


class RefundRead(BaseModel):
    request_id: str
    out_request_no: str
    amount_fen: int
    reason: str
    requested_by: str
    status: Literal["pending", "succeeded", "failed"]
    failure_reason: str | None
    created_at: datetime
    completed_at: datetime | None


def refund_read(r: Refund) -> RefundRead:
    return RefundRead(request_id=r.request_id, out_request_no=r.out_request_no, amount_fen=r.amount_fen, reason=r.reason,
                      requested_by=r.requested_by, status=r.status, failure_reason=r.failure_reason, created_at=r.created_at,
                      completed_at=r.completed_at)
