"""The simulated Alipay behind the HTTP app: keys, books, notifications and fault controls, usable without a server."""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from alipay_standin.bill_writer import write_bill_zip
from alipay_standin.envelope import Refusal, check_request, response_key, signed_response
from alipay_standin.ledger import Agreement, ChargeRule, Ledger, Trade, now
from alipay_standin.methods import METHODS
from alipay_standin.notifier import Notifier, NotifyPolicy
from alipay_standin.scheduler import Scheduler
from billing.alipay.signing import RsaKeyPair, generate_keypair, load_private_key, load_public_key, rsa2_sign, sign_content
from billing.alipay.wire import fen_to_yuan, format_time


@dataclass
class GatewayOptions:
    """Who the gateway serves and how it behaves over time."""

    app_id: str = "2021000000000001"
    app_public_key_pem: str | None = None       # None: generate an app key pair and expose it
    alipay_keys: RsaKeyPair | None = None        # None: generate Alipay's key pair
    seller_id: str = "2088000000000001"
    notify_policy: NotifyPolicy = field(default_factory=NotifyPolicy)
    trade_finished_after_s: float | None = None  # send TRADE_FINISHED this long after TRADE_SUCCESS
    notify_refunds: bool = True                  # notify partial (TRADE_SUCCESS) and full (TRADE_CLOSED) refunds
    same_day_bills: bool = False                 # Alipay's bills are T+1; True also serves today's
    service_fee_rate: Decimal = Decimal("0.006")


class LocalAlipayGateway:
    """Everything the local Alipay does, behind `call` (OpenAPI requests) and the control methods."""

    def __init__(self, options: GatewayOptions | None = None, *, base_url: str = "http://127.0.0.1") -> None:
        self.options = options or GatewayOptions()
        self.base_url = base_url
        self.app_keys: RsaKeyPair | None = None
        app_public_pem = self.options.app_public_key_pem
        if app_public_pem is None:
            self.app_keys = generate_keypair()
            app_public_pem = self.app_keys.public_pem
        self.app_public_key_pem = app_public_pem
        self.alipay_keys = self.options.alipay_keys or generate_keypair()
        self._app_public_key = load_public_key(app_public_pem, field_name="app_public_key_pem")
        self._alipay_private_key = load_private_key(self.alipay_keys.private_pem, field_name="alipay_private_key")
        self.ledger = Ledger(seller_id=self.options.seller_id)
        self.scheduler = Scheduler()
        self.notifier = Notifier(self.scheduler, self.options.notify_policy)
        self._bills: dict[str, tuple[str, bytes]] = {}
        self._methods = METHODS

    # -- OpenAPI --

    def call(self, params: Mapping[str, str]) -> bytes:
        """Answer one OpenAPI request with Alipay's signed JSON envelope."""
        key = response_key(params.get("method"))
        try:
            method, biz = check_request(params, app_id=self.options.app_id, app_public_key=self._app_public_key,
                                        known_methods=frozenset(self._methods))
            node = {"code": "10000", "msg": "Success", **self._methods[method](self, biz, params)}
        except Refusal as refusal:
            node = refusal.node()
        return signed_response(key, node, self._alipay_private_key, tamper=self.ledger.take_tamper())

    def check(self, params: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        """Verify a page request (the browser-visited sign page) the same way as an API call."""
        return check_request(params, app_id=self.options.app_id, app_public_key=self._app_public_key,
                             known_methods=frozenset(self._methods))

    # -- business steps shared by methods, pages and control --

    def sign_agreement(self, *, external_agreement_no: str, notify_url: str | None = None, sign_scene: str = "DEFAULT|DEFAULT",
                       external_logon_id: str = "", alipay_user_id: str | None = None) -> Agreement:
        """The driver signs on Alipay's page: a new NORMAL agreement is notified as dut_user_sign; signing again changes nothing."""
        agreement, created = self.ledger.sign_agreement(
            external_agreement_no=external_agreement_no, sign_scene=sign_scene, personal_product_code="GENERAL_WITHHOLDING_P",
            external_logon_id=external_logon_id, notify_url=notify_url, alipay_user_id=alipay_user_id)
        if created:
            self._notify_agreement(agreement, "dut_user_sign")
        return agreement

    def stop_agreement(self, agreement_no: str) -> Agreement:
        """The driver ends the agreement in the Alipay app: status STOP and dut_user_unsign is notified."""
        agreement = self.ledger.stop_agreement(agreement_no)
        self._notify_agreement(agreement, "dut_user_unsign")
        return agreement

    def settle_paid(self, trade: Trade, *, buyer_user_id: str | None = None) -> bool:
        """A waiting trade is paid: TRADE_SUCCESS is notified and TRADE_FINISHED scheduled if configured."""
        if not self.ledger.mark_paid(trade, buyer_user_id=buyer_user_id):
            return False
        self._notify_trade(trade, "TRADE_SUCCESS")
        if self.options.trade_finished_after_s is not None:
            self.scheduler.call_later(self.options.trade_finished_after_s, self.finish_trade, trade.out_trade_no)
        return True

    def pay_precreated(self, out_trade_no: str) -> Trade:
        """The driver scans the QR code and pays."""
        trade = self.ledger.find_trade(out_trade_no=out_trade_no)
        self.settle_paid(trade)
        return trade

    def finish_trade(self, out_trade_no: str) -> bool:
        """The refund period ends: TRADE_FINISHED is notified for the same trade (not a new payment)."""
        trade = self.ledger.find_trade(out_trade_no=out_trade_no)
        if not self.ledger.mark_finished(trade):
            return False
        self._notify_trade(trade, "TRADE_FINISHED")
        return True

    def add_charge_rule(self, rule: ChargeRule) -> None:
        with self.ledger.lock:
            self.ledger.charge_rules.append(rule)

    def clear_charge_rules(self) -> None:
        with self.ledger.lock:
            self.ledger.charge_rules.clear()

    def duplicate_next_payments(self, count: int) -> None:
        """Fault: each of the next `count` trades paid is taken twice (a twin trade in the bill, never notified)."""
        with self.ledger.lock:
            self.ledger.duplicate_remaining = count

    def tamper_next_responses(self, count: int) -> None:
        with self.ledger.lock:
            self.ledger.tamper_remaining = count

    def store_bill(self, day: date) -> str:
        """Write the day's bill zip and return the short-lived URL it is served at."""
        rows = self.ledger.bill_rows(day, fee_rate=self.options.service_fee_rate)
        account = f"{self.options.seller_id}0156"
        data = write_bill_zip(rows, account=account, bill_date=day)
        token = secrets.token_urlsafe(16)
        name = f"{account}_{day:%Y%m%d}.csv.zip"
        self._bills[token] = (name, data)
        return f"{self.base_url}/_local/bills/{token}/{name}"

    def bill(self, token: str) -> tuple[str, bytes] | None:
        return self._bills.get(token)

    def close(self) -> None:
        self.scheduler.stop()
        self.notifier.close()

    # -- notifications --

    def _notify_trade(self, trade: Trade, status: str, **extra: str) -> None:
        if not trade.notify_url:
            return
        paid = fen_to_yuan(trade.total_fen)
        params = {
            "notify_type": "trade_status_sync", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "trade_status": status, "total_amount": paid, "receipt_amount": paid, "invoice_amount": paid,
            "buyer_pay_amount": paid, "point_amount": "0.00", "subject": trade.subject,
            "gmt_create": format_time(trade.created_at), "buyer_id": trade.buyer_user_id or "",
            "buyer_logon_id": trade.buyer_logon_id or "", "seller_id": self.options.seller_id,
            "fund_bill_list": '[{"amount":"' + paid + '","fundChannel":"ALIPAYACCOUNT"}]',
            **({"gmt_payment": format_time(trade.paid_at)} if trade.paid_at else {}),
            **extra,
        }
        self._send(trade.notify_url, params)

    def notify_refund(self, trade: Trade, out_request_no: str, refunded_at_text: str) -> None:
        if not self.options.notify_refunds:
            return
        extra = {"out_biz_no": out_request_no, "refund_fee": fen_to_yuan(trade.refunded_fen), "gmt_refund": refunded_at_text}
        if trade.closed_at is not None:
            extra["gmt_close"] = format_time(trade.closed_at)
        self._notify_trade(trade, trade.status, **extra)

    def _notify_agreement(self, agreement: Agreement, notify_type: str) -> None:
        if not agreement.notify_url:
            return
        params = {
            "notify_type": notify_type, "agreement_no": agreement.agreement_no,
            "external_agreement_no": agreement.external_agreement_no, "status": agreement.status,
            "alipay_user_id": agreement.alipay_user_id, "alipay_logon_id": agreement.alipay_logon_id,
            "personal_product_code": agreement.personal_product_code, "sign_scene": agreement.sign_scene,
            "sign_time": format_time(agreement.sign_time), "valid_time": format_time(agreement.valid_time),
            "invalid_time": format_time(agreement.invalid_time), "external_logon_id": agreement.external_logon_id,
            **({"unsign_time": format_time(agreement.invalid_time)} if agreement.status == "STOP" else {}),
        }
        self._send(agreement.notify_url, params)

    def _send(self, url: str, params: dict[str, str]) -> None:
        """Add the common fields, sign as Alipay does (all but sign and sign_type), and queue the delivery."""
        full = {
            **{k: v for k, v in params.items() if v != ""},
            "notify_id": secrets.token_hex(17), "notify_time": format_time(now()), "app_id": self.options.app_id,
            "auth_app_id": self.options.app_id, "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
        }
        full["sign"] = rsa2_sign(self._alipay_private_key, sign_content(full, drop=("sign", "sign_type")))
        self.notifier.send(url, full)
