"""The Alipay withholding agreement (代扣) that lets billing charge a driver after exit: the sign page, the
adoption of an agreement Alipay already holds, Alipay's sign/unsign notifications, and stopping it.

The agreement's state is kept on the driver's account row (`accounts.agreement_*`, read by
parking_core.accounts.agreement_of when an order is charged); only billing changes it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from billing.alipay.client import (
    AlipayClient,
    AlipayRefused,
    agreement_query,
    agreement_sign_page_url,
)
from billing.alipay.notify import (
    AlipayNotification,
    NotificationRejected,
    verify_notification,
)
from parking_core.account_models import Account
from parking_core.accounts.records import account_row
from parking_core.db import UnitOfWork
from parking_core.errors import Conflict, DependencyUnavailable
from parking_core.notify import mask_phone

# Alipay agreement status -> ours. TEMP is a sign that has not completed.
AGREEMENT_STATUS = {"NORMAL": "active", "TEMP": "pending", "STOP": "cancelled"}
AGREEMENT_NOTIFY_TYPES = ("dut_user_sign", "dut_user_unsign")


class AgreementActive(Conflict):
    code = "agreement_active"


@dataclass(frozen=True)
class AgreementStart:
    """`sign_url` is the Alipay page to open; None when Alipay already holds a signed agreement we adopted."""

    status: str
    sign_url: str | None


@dataclass(frozen=True)
class AgreementState:
    status: str  # none, pending, active or cancelled
    signed_at: datetime | None


@dataclass(frozen=True)
class Agreements:
    """One account's withholding agreement with Alipay; `alipay` None means Alipay is not configured (503)."""

    uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    alipay: AlipayClient | None

    def state(self, account_id: str) -> AgreementState:
        with self.uow() as uow:
            account = account_row(uow.session, account_id)
            return AgreementState(account.agreement_status, account.agreement_signed_at)

    def start(self, account_id: str, *, return_url: str | None = None) -> AgreementStart:
        """The Alipay page where the driver signs password-free withholding; adopts an agreement Alipay already holds."""
        client = self._client()
        with self.uow() as uow:
            account = account_row(uow.session, account_id)
            status, phone = account.agreement_status, account.phone
        if status == "active":
            raise AgreementActive("the withholding agreement is already active", field="agreement_status", value="active")
        try:
            held = agreement_query(client, external_agreement_no=account_id)
        except AlipayRefused:
            held = None  # Alipay has no agreement under this number yet
        if held is not None and held.status == "NORMAL":
            with self.uow() as uow:
                _activate(account_row(uow.session, account_id, lock=True), held.agreement_no, held.alipay_user_id,
                          held.sign_time or self.clock())
                uow.commit()
            return AgreementStart(status="active", sign_url=None)
        url = agreement_sign_page_url(client, external_agreement_no=account_id, external_logon_id=mask_phone(phone),
                                      notify_url=client.settings.agreement_notify(), return_url=return_url)
        with self.uow() as uow:
            locked = account_row(uow.session, account_id, lock=True)
            if locked.agreement_status != "active":
                locked.agreement_status = "pending"
            uow.commit()
        return AgreementStart(status="pending", sign_url=url)

    def record_notification(self, form: Mapping[str, str]) -> str:
        """Apply a verified dut_user_sign / dut_user_unsign; returns `recorded` or `unchanged` (a repeat or a stale one).

        Raises NotificationRejected (answer `failure`, nothing changed) when the signature, app, type or account is wrong.
        """
        client = self._client()
        note = verify_notification(form, alipay_public_key_pem=client.settings.alipay_public_key_pem,
                                   app_id=client.settings.app_id)
        if note.notify_type not in AGREEMENT_NOTIFY_TYPES or note.agreement_status not in AGREEMENT_STATUS:
            raise NotificationRejected(f"notify_type {note.notify_type!r} / status {note.agreement_status!r} is not an "
                                       "agreement sign or unsign", kind="bad_field", field="notify_type", value=note.notify_type)
        with self.uow() as uow:
            account = uow.session.get(Account, note.external_agreement_no or "", with_for_update=True)
            if account is None:
                raise NotificationRejected(f"external_agreement_no {note.external_agreement_no!r} is no account here",
                                           kind="unknown_account", field="external_agreement_no",
                                           value=note.external_agreement_no)
            changed = _apply(account, note, self.clock())
            uow.commit()
        return "recorded" if changed else "unchanged"

    def cancel(self, account_id: str) -> AgreementState:
        """Stop charging this account at once; the driver ends the agreement itself in the Alipay app."""
        with self.uow() as uow:
            account = account_row(uow.session, account_id, lock=True)
            if account.agreement_status in ("active", "pending"):
                account.agreement_status = "cancelled"
            uow.commit()
            return AgreementState(account.agreement_status, account.agreement_signed_at)

    def _client(self) -> AlipayClient:
        if self.alipay is None:
            raise DependencyUnavailable("Alipay is not configured (set ALIPAY_APP_ID and the keys)", field="ALIPAY_APP_ID")
        return self.alipay


def _activate(account: Account, agreement_no: str, alipay_user_id: str | None, signed_at: datetime) -> None:
    account.agreement_no, account.alipay_user_id = agreement_no, alipay_user_id
    account.agreement_status, account.agreement_signed_at = "active", signed_at


def _apply(account: Account, note: AlipayNotification, now: datetime) -> bool:
    """True when the notification changed the account. Alipay retries arrive late and out of order, so a repeat,
    a sign replayed after its own stop, and news of an agreement older than the account's change nothing."""
    status = AGREEMENT_STATUS[note.agreement_status]
    same = account.agreement_no == note.agreement_no
    if status == "cancelled":
        if not same or account.agreement_status == "cancelled":
            return False
        account.agreement_status = "cancelled"
        return True
    if status != "active":
        return False  # a sign still in progress: the NORMAL notification follows
    if same and account.agreement_status in ("active", "cancelled"):
        return False
    signed_at = note.sign_time or now
    if not same and account.agreement_signed_at is not None and signed_at < account.agreement_signed_at:
        return False
    _activate(account, note.agreement_no, note.alipay_user_id, signed_at)
    return True


__all__ = ["AGREEMENT_NOTIFY_TYPES", "AGREEMENT_STATUS", "AgreementActive", "AgreementStart", "AgreementState", "Agreements"]
