"""`parking serve` never runs on the demo's stand-ins. What counts as a stand-in, in one place:
codes and notices printed to the console, the embedded (or a password-less) MQTT broker, and
secrets the platform generated for itself. `--dev` (or PARKING_DEV=1) runs on them anyway,
saying so on every start; `parking demo` is development by definition."""
from __future__ import annotations

from urllib.parse import urlsplit

from parking_core.accounts import AccountSettings
from parking_core.notify import ConsoleNotifier, ConsoleSender
from parking_core.retention import RetentionSettings
from parking_core.settings import Settings


def demo_parts(settings: Settings, accounts: AccountSettings, sender: object, notifier: object,
               retention: RetentionSettings | None = None) -> list[str]:
    """Each stand-in in this configuration, as the sentence a deployer needs to replace it."""
    parts = []
    if isinstance(sender, ConsoleSender):
        parts.append("sign-in codes would be printed to the console: set PARKING_SMS_PROVIDER=aliyun (with ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, PARKING_SMS_SIGN_NAME, PARKING_SMS_TEMPLATE_CODE) or PARKING_SMS_WEBHOOK_URL (and PARKING_WEBHOOK_SECRET)")
    if isinstance(notifier, ConsoleNotifier):
        parts.append("driver notices would be printed to the console: set PARKING_NOTIFY_WEBHOOK_URL (and PARKING_WEBHOOK_SECRET)")
    if not settings.mqtt_url:
        parts.append("the embedded MQTT broker would take devices' messages: set MQTT_URL to your broker")
    elif not urlsplit(settings.mqtt_url).password:
        parts.append("MQTT_URL has no password: an open broker lets anyone publish occupancy; use mqtt://user:pass@host:port")
    if accounts.jwt_secret is None:
        parts.append("drivers' tokens would be signed with a secret generated into PARKING_DATA_DIR: set PARKING_JWT_SECRET")
    if retention is not None and retention.hash_key is None:
        parts.append("plates past their retention would be hashed with a key generated into PARKING_DATA_DIR: set PARKING_PLATE_HASH_KEY")
    if accounts.operator_keys is None:
        parts.append("operators' API key would be generated into PARKING_DATA_DIR: set PARKING_OPERATOR_KEYS")
    return parts
