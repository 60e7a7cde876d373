"""How a deployment reaches drivers: sign-in codes through Alibaba Cloud SMS (gateways/aliyun_sms.py)
or a webhook of the city's own SMS service, notices through a webhook, chosen by settings. The console stand-ins of parking_core.notify are
for the demo and development only (`parking serve` refuses them, see gateways/cli/production.py).

Each request is a JSON POST signed with HMAC-SHA256 over the body (header
`X-Parking-Signature: sha256=<hex>`), so the receiver can tell the platform from a stranger;
a delivery that fails is retried a few times with backoff (tenacity), then logged without the
phone number or the code.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import httpx
import orjson
from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from parking_core.errors import ConfigError
from parking_core.notify import CodeSender, ConsoleNotifier, ConsoleSender, Notifier, mask_phone
from parking_core.settings import load_validated

log = logging.getLogger("parking.messaging")


class MessagingSettings(BaseSettings):
    """Where codes and notices go; unset: the console (development only)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    sms_provider: Literal["webhook", "aliyun"] | None = Field(default=None, alias="PARKING_SMS_PROVIDER")
    sms_webhook_url: AnyHttpUrl | None = Field(default=None, alias="PARKING_SMS_WEBHOOK_URL")
    aliyun_access_key_id: str | None = Field(default=None, alias="ALIBABA_CLOUD_ACCESS_KEY_ID")
    aliyun_access_key_secret: SecretStr | None = Field(default=None, alias="ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    aliyun_sms_sign_name: str | None = Field(default=None, alias="PARKING_SMS_SIGN_NAME", min_length=1, max_length=40)
    aliyun_sms_template_code: str | None = Field(default=None, alias="PARKING_SMS_TEMPLATE_CODE", pattern=r"^SMS_\d+$")
    aliyun_sms_endpoint: str = Field(default="dysmsapi.aliyuncs.com", alias="PARKING_SMS_ENDPOINT", min_length=1)
    notify_webhook_url: AnyHttpUrl | None = Field(default=None, alias="PARKING_NOTIFY_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, alias="PARKING_WEBHOOK_SECRET")
    webhook_timeout_s: float = Field(default=5.0, alias="PARKING_WEBHOOK_TIMEOUT_S", gt=0, le=60)

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return v


def load_messaging_settings(**overrides) -> MessagingSettings:
    """Build and check the settings together: a provider named without what it needs stops start-up, naming the variable."""
    settings = load_validated(MessagingSettings, overrides, secret=("SECRET",))
    if settings.sms_provider is None and settings.sms_webhook_url is not None:
        settings.sms_provider = "webhook"  # PARKING_SMS_WEBHOOK_URL alone has always meant the webhook
    if (settings.sms_webhook_url or settings.notify_webhook_url) and settings.webhook_secret is None:
        raise ConfigError("PARKING_WEBHOOK_SECRET must be set to sign the webhook requests", field="PARKING_WEBHOOK_SECRET")
    needs = {"webhook": ("PARKING_SMS_WEBHOOK_URL",),
             "aliyun": ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "PARKING_SMS_SIGN_NAME", "PARKING_SMS_TEMPLATE_CODE")}
    values = {"PARKING_SMS_WEBHOOK_URL": settings.sms_webhook_url, "ALIBABA_CLOUD_ACCESS_KEY_ID": settings.aliyun_access_key_id,
              "ALIBABA_CLOUD_ACCESS_KEY_SECRET": settings.aliyun_access_key_secret, "PARKING_SMS_SIGN_NAME": settings.aliyun_sms_sign_name,
              "PARKING_SMS_TEMPLATE_CODE": settings.aliyun_sms_template_code}
    for name in needs.get(settings.sms_provider or "", ()):
        if values[name] is None:
            raise ConfigError(f"{name} must be set when PARKING_SMS_PROVIDER={settings.sms_provider}", field=name)
    return settings


def sign(body: bytes, secret: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class DeliveryFailed(Exception):
    """The webhook did not take the message (network error or a non-2xx answer)."""


class _Webhook:
    def __init__(self, url: str, secret: bytes, timeout_s: float) -> None:
        self.url, self.secret = url, secret
        self.client = httpx.Client(timeout=timeout_s)

    @retry(retry=retry_if_exception_type(DeliveryFailed), stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
    def post(self, body: dict) -> None:
        raw = orjson.dumps(body)
        try:
            r = self.client.post(self.url, content=raw, headers={"Content-Type": "application/json", "X-Parking-Signature": sign(raw, self.secret)})
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{exc.__class__.__name__}") from None
        if r.status_code // 100 != 2:
            raise DeliveryFailed(f"HTTP {r.status_code}")


class WebhookSender(_Webhook):
    """Sign-in codes to the city's SMS service: `{"kind": "sign_in_code", "phone", "code", "expires_at"}`."""

    def send_code(self, phone: str, code: str, *, expires_at: datetime) -> None:
        try:
            self.post({"kind": "sign_in_code", "phone": phone, "code": code, "expires_at": expires_at.isoformat()})
        except DeliveryFailed as exc:
            log.error("sign-in code not delivered to %s: %s", mask_phone(phone), exc)
            raise


class WebhookNotifier(_Webhook):
    """Driver notices to the city's push/SMS service: `{"kind", "account_id", "message", "data"}`."""

    def notify(self, account_id: str, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        try:
            self.post({"kind": kind, "account_id": account_id, "message": message, "data": dict(data or {})})
        except DeliveryFailed as exc:  # a notice is not worth failing the caller's transaction for
            log.error("notice %s for account %s not delivered: %s", kind, account_id, exc)


def messaging_from_settings(settings: MessagingSettings) -> tuple[CodeSender, Notifier]:
    """The webhooks when configured, else the console stand-ins (which production refuses)."""
    secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else b""
    sender: CodeSender
    if settings.sms_provider == "aliyun":
        from gateways.aliyun_sms import AliyunSmsSender

        sender = AliyunSmsSender(
            access_key_id=settings.aliyun_access_key_id or "", sign_name=settings.aliyun_sms_sign_name or "",
            access_key_secret=settings.aliyun_access_key_secret.get_secret_value() if settings.aliyun_access_key_secret else "",
            template_code=settings.aliyun_sms_template_code or "", endpoint=settings.aliyun_sms_endpoint,
            timeout_s=settings.webhook_timeout_s)
    elif settings.sms_provider == "webhook":
        sender = WebhookSender(str(settings.sms_webhook_url), secret, settings.webhook_timeout_s)
    else:
        sender = ConsoleSender()
    notifier: Notifier = WebhookNotifier(str(settings.notify_webhook_url), secret, settings.webhook_timeout_s) if settings.notify_webhook_url else ConsoleNotifier()
    return sender, notifier
