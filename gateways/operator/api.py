"""The operator API's newer parts on one app: access (me, sign-in, keys), the audit log, refund approvals,
car parks and devices, stays, daily figures, and the console page."""
from __future__ import annotations

from fastapi import FastAPI

from gateways.operator import approvals, audit, console, figures, keys, lots, refunds, stays
from gateways.operator.settings import operator_settings


def include(app: FastAPI) -> None:
    operator_settings(app.state.platform)  # a bad PARKING_REFUND_APPROVAL_ABOVE_FEN & co. stops start-up, named
    for module in (keys, audit, approvals, refunds, lots, stays, figures):
        app.include_router(module.router)
    console.mount(app)
