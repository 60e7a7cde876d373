"""Every Alipay asynchronous notification, trades and agreements alike (contract section 5): the body `success`
only once the notification is verified and recorded; anything else `failure`, having changed nothing, so Alipay retries."""
from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from billing.agreements import AGREEMENT_NOTIFY_TYPES
from billing.alipay.notify import NotificationRejected
from gateways.http.deps import AgreementsDep, PlatformDep, get_agreements
from parking_core.errors import DependencyUnavailable

log = logging.getLogger("parking.billing")
router = APIRouter(prefix="/v1/payments/alipay", tags=["alipay"])




@router.post("/notify", response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {"example": "success"}}}})
async def alipay_notify(request: Request, platform: PlatformDep) -> PlainTextResponse:
    """Trade and refund notifications (form-encoded, as Alipay sends them). Agreement sign/unsign ones that arrive
    here are recorded as at /agreement-notify (docs/billing.md promises it: a merchant may have one notify URL)."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if form.get("notify_type") in AGREEMENT_NOTIFY_TYPES:
        return await _answer(form, get_agreements(platform).record_notification)
    return await _answer(form, platform.billing.payments.record_notification)


@router.post("/agreement-notify", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"example": "success"}}}})
async def agreement_notify(request: Request, agreements: AgreementsDep) -> PlainTextResponse:
    """Alipay's dut_user_sign / dut_user_unsign notification: `success` once verified and recorded, else `failure`."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await _answer(form, agreements.record_notification)


async def _answer(form: dict[str, str], record: Callable[[dict[str, str]], str]) -> PlainTextResponse:
    """`success` once `record` has verified and committed the notification; `failure` (nothing changed) otherwise."""
    try:
        outcome = await run_in_threadpool(record, form)
    except NotificationRejected as exc:
        log.warning("notification %s refused (%s): %s", form.get("notify_id"), exc.kind, exc.reason)
        return PlainTextResponse("failure")
    except DependencyUnavailable as exc:
        log.warning("notification %s refused: %s", form.get("notify_id"), exc.message)
        return PlainTextResponse("failure")
    except Exception:  # not recorded (database down, conflict): Alipay must try again
        log.exception("notification %s not recorded", form.get("notify_id"))
        return PlainTextResponse("failure")
    log.info("notification %s (%s) for %s: %s", form.get("notify_id"), form.get("notify_type"),
             form.get("out_trade_no") or form.get("external_agreement_no"), outcome)
    return PlainTextResponse("success")
