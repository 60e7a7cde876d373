"""Alipay's asynchronous notifications (contract section 5): the body `success` only once the notification is
verified and recorded with its payment; anything else `failure`, having changed nothing, so Alipay retries."""
from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from billing.alipay.notify import NotificationRejected
from billing.service import Billing
from gateways.http.deps import PlatformDep
from parking_core.errors import DependencyUnavailable

log = logging.getLogger("parking.billing")
router = APIRouter(prefix="/v1/payments/alipay", tags=["alipay"])


def get_billing(platform: PlatformDep) -> Billing:
    billing = getattr(platform, "billing", None)
    if billing is None:
        raise DependencyUnavailable("billing is not installed on this platform", field="billing")
    return billing


BillingDep = Annotated[Billing, Depends(get_billing)]


@router.post("/notify", response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {"example": "success"}}}})
async def alipay_notify(request: Request, platform: PlatformDep) -> PlainTextResponse:
    """Trade notifications (form-encoded, as Alipay sends them); agreement sign/unsign ones sent here are passed to accounts."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    accounts = getattr(platform, "accounts", None)
    billing = getattr(platform, "billing", None)
    try:
        if form.get("notify_type", "").startswith("dut_user_") and accounts is not None:
            outcome = await run_in_threadpool(accounts.record_agreement_notification, form)
        elif billing is None:
            raise DependencyUnavailable("billing is not installed", field="billing")
        else:
            outcome = await run_in_threadpool(billing.payments.record_notification, form)
    except NotificationRejected as exc:
        log.warning("notification %s refused (%s): %s", form.get("notify_id"), exc.kind, exc.reason)
        return PlainTextResponse("failure")
    except DependencyUnavailable as exc:
        log.warning("notification %s refused: %s", form.get("notify_id"), exc.message)
        return PlainTextResponse("failure")
    except Exception:  # not recorded (database down, conflict): Alipay must try again
        log.exception("notification %s not recorded", form.get("notify_id"))
        return PlainTextResponse("failure")
    log.info("notification %s for %s: %s", form.get("notify_id"), form.get("out_trade_no"), outcome)
    return PlainTextResponse("success")
