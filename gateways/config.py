"""The platform's one configuration, built and validated before anything starts.

Every part's settings are pydantic-settings models layered as defaults < `.env` < environment; `load_config`
builds them all, so a bad value anywhere stops `parking serve`, `demo` and `ingest` with one ConfigError that
names the variable and its value (a secret's value is never shown, a URL's password is `***`). The
variables, their defaults and the commands that read them: docs/CONFIGURATION.md.
"""
from __future__ import annotations

from dataclasses import dataclass

from billing.alipay.settings import AlipaySettings, load_alipay_settings
from billing.reconciliation_settings import ReconciliationSettings, load_reconciliation_settings
from billing.service import BillingSettings, load_billing_settings
from gateways.citizen.sign_board import SignsSettings, load_signs_settings
from gateways.http.settings import HttpSettings, load_http_settings
from gateways.messaging import MessagingSettings, load_messaging_settings
from gateways.operator.settings import OperatorSettings
from parking_core.accounts import AccountSettings, load_account_settings
from parking_core.event_log_partitions import EventLogSettings, load_event_log_settings
from parking_core.plate_verification_settings import PlateVerificationSettings, load_plate_verification_settings
from parking_core.retention import RetentionSettings, load_retention_settings
from parking_core.settings import Settings, load_settings, load_validated
from sensors.broker import EmbeddedBrokerSettings
from sensors.device_credentials import DeviceCredentialSettings


@dataclass(frozen=True)
class PlatformConfig:
    """What each part of the platform reads; `alipay` is None when ALIPAY_APP_ID is unset (no Alipay)."""

    core: Settings
    accounts: AccountSettings
    billing: BillingSettings
    alipay: AlipaySettings | None
    http: HttpSettings
    signs: SignsSettings
    messaging: MessagingSettings
    operators: OperatorSettings
    reconciliation: ReconciliationSettings
    embedded_broker: EmbeddedBrokerSettings
    device_credentials: DeviceCredentialSettings
    plate_verification: PlateVerificationSettings
    retention: RetentionSettings
    event_log: EventLogSettings


def load_config(**core_overrides: object) -> PlatformConfig:
    """All of it, from the environment (and `.env`); `core_overrides` replace core settings (the CLI's demo
    database). ConfigError for the first bad value, named."""
    return PlatformConfig(
        core=load_settings(**core_overrides),
        accounts=load_account_settings(),
        billing=load_billing_settings(),
        alipay=load_alipay_settings(),
        http=load_http_settings(),
        signs=load_signs_settings(),
        messaging=load_messaging_settings(),
        operators=load_validated(OperatorSettings, {}),
        reconciliation=load_reconciliation_settings(),
        embedded_broker=load_validated(EmbeddedBrokerSettings, {}, secret=("PASSWORD",)),
        device_credentials=load_validated(DeviceCredentialSettings, {}, secret=("PASSWORD",)),
        plate_verification=load_plate_verification_settings(),
        retention=load_retention_settings(),
        event_log=load_event_log_settings(),
    )


__all__ = ["PlatformConfig", "load_config"]
