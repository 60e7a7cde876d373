"""The local gateway's control API: inject faults, act as the driver, and inspect the books and notification log."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from alipay_standin.core import LocalAlipayGateway
from alipay_standin.envelope import Refusal
from alipay_standin.ledger import ChargeRule
from alipay_standin.notifier import NotifyPolicy


class ChargeRuleBody(BaseModel):
    """The next matching withholding charges fail, stay processing, or are paid behind a system-error answer."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["fail", "processing", "error_but_paid", "late"] = "fail"
    sub_code: str = Field("ACQ.BUYER_BALANCE_NOT_ENOUGH", min_length=1)
    sub_msg: str | None = None
    times: int | None = Field(1, ge=1)
    agreement_no: str | None = None
    settle_after_s: float = Field(0.0, ge=0)


class NotifyPolicyBody(BaseModel):
    """Replaces the delivery policy for notifications created from now on."""

    model_config = ConfigDict(extra="forbid")
    drop_first: int = Field(0, ge=0)
    delay_s: float = Field(0.0, ge=0)
    duplicates: int = Field(0, ge=0)
    time_scale: float = Field(1.0, gt=0)


class TamperBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(1, ge=0)


class AgreementBody(BaseModel):
    """Sign an agreement directly, as if the driver had visited the sign page."""

    model_config = ConfigDict(extra="forbid")
    external_agreement_no: str = Field(min_length=1, max_length=64)
    notify_url: str | None = None
    alipay_user_id: str | None = None
    external_logon_id: str = ""
    sign_scene: str = "DEFAULT|DEFAULT"


def control_router(gw: LocalAlipayGateway) -> APIRouter:
    """Routes under /_control; bound to localhost only, no authentication (a test double)."""
    router = APIRouter(prefix="/_control", tags=["control"])

    @router.get("/state")
    def state() -> dict[str, Any]:
        with gw.ledger.lock:
            return {
                "app_id": gw.options.app_id,
                "agreements": [asdict(a) for a in gw.ledger.agreements.values()],
                "trades": [asdict(t) for t in gw.ledger.trades.values()],
                "refunds": [asdict(r) for r in gw.ledger.refunds.values()],
                "charge_rules": [asdict(r) for r in gw.ledger.charge_rules],
                "tamper_remaining": gw.ledger.tamper_remaining,
                "duplicate_remaining": gw.ledger.duplicate_remaining,
                "notify_policy": asdict(gw.notifier.policy),
            }

    @router.get("/keys")
    def keys() -> dict[str, str]:
        return {"app_id": gw.options.app_id, "alipay_public_key_pem": gw.alipay_keys.public_pem,
                "app_public_key_pem": gw.app_public_key_pem}

    @router.post("/charge-rules", status_code=201)
    def add_rule(body: ChargeRuleBody) -> dict[str, Any]:
        rule = ChargeRule(**body.model_dump())
        gw.add_charge_rule(rule)
        return asdict(rule)

    @router.delete("/charge-rules", status_code=204)
    def clear_rules() -> None:
        gw.clear_charge_rules()

    @router.put("/notify-policy")
    def set_policy(body: NotifyPolicyBody) -> dict[str, Any]:
        gw.notifier.policy = NotifyPolicy(**body.model_dump())
        return asdict(gw.notifier.policy)

    @router.get("/notifications")
    def notifications() -> list[dict[str, Any]]:
        return [asdict(d) for d in gw.notifier.deliveries()]

    @router.post("/tamper")
    def tamper(body: TamperBody) -> dict[str, int]:
        gw.tamper_next_responses(body.count)
        return {"tamper_remaining": body.count}

    @router.post("/duplicate-payments")
    def duplicate(body: TamperBody) -> dict[str, int]:
        gw.duplicate_next_payments(body.count)
        return {"duplicate_remaining": body.count}

    @router.post("/agreements", status_code=201)
    def sign(body: AgreementBody) -> dict[str, Any]:
        return asdict(gw.sign_agreement(**body.model_dump()))

    @router.post("/agreements/{agreement_no}/stop")
    def stop(agreement_no: str) -> dict[str, Any]:
        try:
            return asdict(gw.stop_agreement(agreement_no))
        except KeyError:
            raise HTTPException(404, f"no agreement {agreement_no}") from None

    @router.post("/trades/{out_trade_no}/pay")
    def pay(out_trade_no: str) -> dict[str, Any]:
        return asdict(_trade_or_404(lambda: gw.pay_precreated(out_trade_no)))

    @router.post("/trades/{out_trade_no}/finish")
    def finish(out_trade_no: str) -> dict[str, Any]:
        finished = _trade_or_404(lambda: gw.finish_trade(out_trade_no))
        return {"out_trade_no": out_trade_no, "finished": finished}

    return router


def _trade_or_404(action: Any) -> Any:
    try:
        return action()
    except Refusal as refusal:
        raise HTTPException(404, refusal.sub_msg) from None
