"""The local gateway's books: agreements, trades, refunds and injected faults, with Alipay's state rules and no I/O."""
from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from alipay_standin.envelope import Refusal
from billing.alipay.bill import BillRow
from parking_core.clock import SHANGHAI

SUB_MESSAGES = {
    "ACQ.BUYER_BALANCE_NOT_ENOUGH": "买家余额不足",
    "ACQ.PAYMENT_AUTH_CODE_INVALID": "支付授权码无效",
    "ACQ.AGREEMENT_NOT_EXIST": "用户协议不存在",
    "ACQ.AGREEMENT_STATUS_NOT_NORMAL": "用户协议状态非NORMAL",
    "ACQ.BUYER_ENABLE_STATUS_FORBID": "买家状态非法",
    "ACQ.EXCEED_QUOTA": "超出单笔限额",
    "ACQ.SYSTEM_ERROR": "系统错误",
}


_FOREVER = datetime(2115, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)


def now() -> datetime:
    """Alipay's clock: Shanghai wall clock, whole seconds."""
    return datetime.now(SHANGHAI).replace(microsecond=0)


@dataclass
class Agreement:
    """A withholding agreement a driver signed (status NORMAL) or ended (STOP)."""

    agreement_no: str
    external_agreement_no: str
    alipay_user_id: str
    alipay_logon_id: str
    status: str
    sign_scene: str
    personal_product_code: str
    external_logon_id: str
    sign_time: datetime
    valid_time: datetime
    invalid_time: datetime
    notify_url: str | None = None


@dataclass
class Trade:
    """One trade: WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED or TRADE_CLOSED."""

    trade_no: str
    out_trade_no: str
    subject: str
    total_fen: int
    product_code: str
    status: str
    created_at: datetime
    notify_url: str | None
    agreement_no: str | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    buyer_user_id: str | None = None
    buyer_logon_id: str | None = None
    refunded_fen: int = 0
    qr_token: str | None = None
    twin_of: str | None = None  # a duplicate taken at Alipay: the trade_no of the trade it copies


@dataclass(frozen=True)
class Refund:
    """One accepted refund request, remembered by out_request_no so a repeat changes nothing."""

    out_request_no: str
    trade_no: str
    amount_fen: int
    refunded_at: datetime


@dataclass
class ChargeRule:
    """A fault for the next withholding charges: refuse, keep processing, pay but answer a system error,
    or `late`: the request is lost on the way (a system error, no trade), then arrives after
    `settle_after_s` and is paid, unless its number was cancelled meanwhile."""

    outcome: Literal["fail", "processing", "error_but_paid", "late"] = "fail"
    sub_code: str = "ACQ.BUYER_BALANCE_NOT_ENOUGH"
    sub_msg: str | None = None
    times: int | None = 1
    agreement_no: str | None = None
    settle_after_s: float = 0.0


@dataclass
class Ledger:
    """All state, guarded by one lock; every method here is a pure state change or lookup."""

    seller_id: str = "2088000000000001"
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    agreements: dict[str, Agreement] = field(default_factory=dict)
    trades: dict[str, Trade] = field(default_factory=dict)
    refunds: dict[tuple[str, str], Refund] = field(default_factory=dict)
    charge_rules: list[ChargeRule] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)  # numbers cancelled before any trade had them: never payable
    tamper_remaining: int = 0
    duplicate_remaining: int = 0  # fault: the next N trades paid are taken twice (a twin trade, same out_trade_no)
    clock: Callable[[], datetime] = now  # Alipay's clock; tests of several days move it
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def _next(self) -> int:
        return next(self._seq)

    # -- agreements --

    def sign_agreement(self, *, external_agreement_no: str, sign_scene: str, personal_product_code: str,
                       external_logon_id: str = "", notify_url: str | None = None,
                       alipay_user_id: str | None = None) -> tuple[Agreement, bool]:
        """A NORMAL agreement for this external number, and whether it is new (signing again returns the one in force)."""
        with self.lock:
            for agreement in self.agreements.values():
                if agreement.external_agreement_no == external_agreement_no and agreement.status == "NORMAL":
                    return agreement, False
            moment = self.clock()
            seq = self._next()
            user = alipay_user_id or f"2088{seq:012d}"
            agreement = Agreement(
                agreement_no=f"{moment:%Y%m%d}{seq:012d}", external_agreement_no=external_agreement_no,
                alipay_user_id=user, alipay_logon_id=f"{user[-4:]}***@local", status="NORMAL", sign_scene=sign_scene,
                personal_product_code=personal_product_code, external_logon_id=external_logon_id, sign_time=moment,
                valid_time=moment, invalid_time=_FOREVER, notify_url=notify_url,
            )
            self.agreements[agreement.agreement_no] = agreement
            return agreement, True

    def stop_agreement(self, agreement_no: str) -> Agreement:
        with self.lock:
            agreement = self.agreements.get(agreement_no)
            if agreement is None:
                raise KeyError(f"no agreement {agreement_no}")
            agreement.status = "STOP"
            agreement.invalid_time = self.clock()
            return agreement

    def find_agreement(self, *, agreement_no: str | None, external_agreement_no: str | None) -> Agreement:
        with self.lock:
            if agreement_no:
                found = self.agreements.get(agreement_no)
            else:
                found = next((a for a in self.agreements.values() if a.external_agreement_no == external_agreement_no), None)
            if found is None:
                raise Refusal("40004", "USER_AGREEMENT_NOT_EXIST", "用户协议不存在")
            return found

    # -- trades --

    def take_charge_rule(self, agreement_no: str) -> ChargeRule | None:
        """The first fault rule matching this agreement, used up one time."""
        with self.lock:
            for rule in self.charge_rules:
                if rule.agreement_no in (None, agreement_no):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self.charge_rules.remove(rule)
                    return replace(rule)
            return None

    def take_tamper(self) -> bool:
        with self.lock:
            if self.tamper_remaining > 0:
                self.tamper_remaining -= 1
                return True
            return False

    def create_trade(self, *, out_trade_no: str, subject: str, total_fen: int, product_code: str, notify_url: str | None,
                     agreement: Agreement | None = None) -> Trade:
        with self.lock:
            moment = self.clock()
            trade = Trade(
                trade_no=f"{moment:%Y%m%d}22001{self._next():015d}", out_trade_no=out_trade_no, subject=subject,
                total_fen=total_fen, product_code=product_code, status="WAIT_BUYER_PAY", created_at=moment,
                notify_url=notify_url, agreement_no=agreement.agreement_no if agreement else None,
                buyer_user_id=agreement.alipay_user_id if agreement else None,
                buyer_logon_id=agreement.alipay_logon_id if agreement else None,
            )
            if product_code == "FACE_TO_FACE_PAYMENT":
                trade.qr_token = secrets.token_urlsafe(12)
            self.trades[out_trade_no] = trade
            return trade

    def cancel(self, out_trade_no: str) -> str:
        """alipay.trade.cancel: close an unpaid trade, refund a paid one, and bar a number not seen
        yet from ever being paid. Alipay's `action`."""
        with self.lock:
            trade = self.trades.get(out_trade_no)
            if trade is None:
                self.cancelled.add(out_trade_no)
                return "close"
            if trade.status == "TRADE_FINISHED":
                raise Refusal("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if trade.status == "TRADE_SUCCESS":
                self.refunds[(trade.trade_no, f"cancel-{out_trade_no}")] = Refund(
                    out_request_no=f"cancel-{out_trade_no}", trade_no=trade.trade_no, amount_fen=trade.total_fen - trade.refunded_fen,
                    refunded_at=self.clock())
                trade.refunded_fen, action = trade.total_fen, "refund"
            else:
                action = "close"
            trade.status, trade.closed_at = "TRADE_CLOSED", self.clock()
            return action

    def find_trade(self, *, out_trade_no: str | None = None, trade_no: str | None = None) -> Trade:
        with self.lock:
            if out_trade_no:
                found = self.trades.get(out_trade_no)
                if found is not None and trade_no and found.trade_no != trade_no:
                    found = None
            else:
                found = next((t for t in self.trades.values() if t.trade_no == trade_no), None)
            if found is None:
                raise Refusal("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
            return found

    def trade_by_qr(self, token: str) -> Trade:
        with self.lock:
            found = next((t for t in self.trades.values() if t.qr_token == token), None)
            if found is None:
                raise KeyError(f"no QR code {token}")
            return found

    def mark_paid(self, trade: Trade, *, buyer_user_id: str | None = None) -> bool:
        """WAIT_BUYER_PAY becomes TRADE_SUCCESS; False when it was not waiting (already paid or closed)."""
        with self.lock:
            if trade.status != "WAIT_BUYER_PAY":
                return False
            trade.status = "TRADE_SUCCESS"
            trade.paid_at = self.clock()
            if self.duplicate_remaining > 0:
                self.duplicate_remaining -= 1
                self._twin(trade)
            if trade.buyer_user_id is None:
                trade.buyer_user_id = buyer_user_id or f"2088{self._next():012d}"
                trade.buyer_logon_id = f"{trade.buyer_user_id[-4:]}***@local"
            return True

    def _twin(self, trade: Trade) -> Trade:
        """The same payment taken a second time under a new trade_no: in the bill, refundable, never notified."""
        twin = replace(trade, trade_no=f"{trade.paid_at:%Y%m%d}22009{self._next():015d}", twin_of=trade.trade_no)
        self.trades[f"{trade.out_trade_no}#twin-{twin.trade_no}"] = twin
        return twin

    def mark_finished(self, trade: Trade) -> bool:
        """TRADE_SUCCESS becomes TRADE_FINISHED (no more refunds); False otherwise."""
        with self.lock:
            if trade.status != "TRADE_SUCCESS":
                return False
            trade.status = "TRADE_FINISHED"
            return True

    def refund(self, trade: Trade, *, out_request_no: str, amount_fen: int) -> tuple[Refund, bool]:
        """The refund for this request number and whether money moved now (False on an identical repeat)."""
        with self.lock:
            earlier = self.refunds.get((trade.trade_no, out_request_no))
            if earlier is not None:
                if earlier.amount_fen != amount_fen:
                    raise Refusal("40004", "ACQ.DISCORDANT_REPEAT_REQUEST", "退款请求号重复但金额不一致")
                return earlier, False
            if trade.status == "TRADE_FINISHED":
                raise Refusal("40004", "ACQ.TRADE_HAS_FINISHED", "交易已完结")
            if trade.status == "TRADE_CLOSED":
                raise Refusal("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if trade.status != "TRADE_SUCCESS":
                raise Refusal("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if amount_fen > trade.total_fen - trade.refunded_fen:
                raise Refusal("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            refund = Refund(out_request_no=out_request_no, trade_no=trade.trade_no, amount_fen=amount_fen, refunded_at=self.clock())
            self.refunds[(trade.trade_no, out_request_no)] = refund
            trade.refunded_fen += amount_fen
            if trade.refunded_fen == trade.total_fen:
                trade.status = "TRADE_CLOSED"
                trade.closed_at = refund.refunded_at
            return refund, True

    # -- bills --

    def bill_rows(self, day: date, *, fee_rate: Decimal) -> list[BillRow]:
        """The detail rows of one Shanghai day: trades paid that day, then refunds made that day."""
        with self.lock:
            by_trade_no = {t.trade_no: t for t in self.trades.values()}
            rows = [self._row(t, "交易", t.total_fen, t.paid_at, "", fee_rate) for t in self.trades.values()
                    if t.paid_at is not None and t.paid_at.date() == day]
            rows += [self._row(by_trade_no[r.trade_no], "退款", -r.amount_fen, r.refunded_at, r.out_request_no, fee_rate)
                     for r in self.refunds.values() if r.refunded_at.date() == day]
            return rows

    @staticmethod
    def _row(trade: Trade, biz_type: str, received_fen: int, completed_at: datetime | None, request_no: str,
             fee_rate: Decimal) -> BillRow:
        fee = int((Decimal(abs(received_fen)) * fee_rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return BillRow(
            trade_no=trade.trade_no, out_trade_no=trade.out_trade_no, biz_type=biz_type, subject=_bill_text(trade.subject),
            created_at=trade.created_at, completed_at=completed_at, store_id="", store_name="", operator="",
            terminal_id="", counterparty=trade.buyer_logon_id or "", order_amount_fen=trade.total_fen,
            merchant_received_fen=received_fen, alipay_red_packet_fen=0, jifenbao_fen=0, alipay_discount_fen=0,
            merchant_discount_fen=0, coupon_fen=0, coupon_name="", merchant_red_packet_fen=0, card_fen=0,
            refund_request_no=request_no, service_fee_fen=fee if received_fen < 0 else -fee, profit_share_fen=0, remark="",
        )


def _bill_text(text: str) -> str:
    """Text as a bill cell can carry it: printable, GBK, no edge blanks."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return printable.encode("gbk", "replace").decode("gbk").strip(" \t")
