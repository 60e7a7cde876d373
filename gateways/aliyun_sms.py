"""Sign-in codes through Alibaba Cloud SMS (阿里云短信服务, `SendSms`), with the official SDK.

Chosen when `PARKING_SMS_PROVIDER=aliyun`. The SDK signs every request (ACS3-HMAC-SHA256) with
the account's AccessKey; the code goes into the city's approved template as `{"code": "..."}`.
A network failure is retried a few times (tenacity); an answer other than `OK` (a template not
approved, the provider's per-phone limit, ...) is not retried and is raised as DeliveryFailed
naming the provider's code. Neither the phone number nor the code is ever logged in full.
"""
from __future__ import annotations

import logging
from datetime import datetime

import orjson
from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from gateways.messaging import DeliveryFailed
from parking_core.notify import mask_phone

log = logging.getLogger("parking.messaging")
# The SDK sends SendSms's parameters in the query string, and urllib3 logs every request line at
# DEBUG: that line would hold the phone number and the code. Never below INFO for it.
_URLLIB3 = logging.getLogger("urllib3.connectionpool")


class _Unreachable(Exception):
    """The provider could not be reached (worth another try)."""


class AliyunSmsSender:
    """`CodeSender` over Alibaba Cloud SMS. `endpoint` may carry a scheme and port
    (`http://127.0.0.1:8090` for a local stand-in); a bare host means HTTPS."""

    def __init__(self, *, access_key_id: str, access_key_secret: str, sign_name: str, template_code: str,
                 endpoint: str = "dysmsapi.aliyuncs.com", timeout_s: float = 5.0) -> None:
        protocol, _, host = endpoint.rpartition("://")
        config = open_api_models.Config(
            access_key_id=access_key_id, access_key_secret=access_key_secret,
            endpoint=host, protocol=protocol or "https",
            connect_timeout=int(timeout_s * 1000), read_timeout=int(timeout_s * 1000),
        )
        self._client = Client(config)
        if _URLLIB3.level < logging.INFO:  # NOTSET too: a DEBUG root would let it through
            _URLLIB3.setLevel(logging.INFO)
        self.sign_name, self.template_code = sign_name, template_code

    def send_code(self, phone: str, code: str, *, expires_at: datetime) -> None:
        request = sms_models.SendSmsRequest(
            phone_numbers=phone, sign_name=self.sign_name, template_code=self.template_code,
            template_param=orjson.dumps({"code": code}).decode(),
        )
        try:
            answer = self._send(request)
        except _Unreachable as exc:
            log.error("sign-in code not delivered to %s: Aliyun SMS unreachable (%s)", mask_phone(phone), exc)
            raise DeliveryFailed(f"Aliyun SMS unreachable: {exc}") from None
        if answer.code != "OK":
            log.error("sign-in code not delivered to %s: Aliyun SMS answered %s", mask_phone(phone), answer.code)
            raise DeliveryFailed(f"Aliyun SMS answered {answer.code}: {answer.message}")

    @retry(retry=retry_if_exception_type(_Unreachable), stop=stop_after_attempt(3),
           wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
    def _send(self, request: sms_models.SendSmsRequest) -> sms_models.SendSmsResponseBody:
        try:
            return self._client.send_sms(request).body
        except Exception as exc:  # the SDK raises its own TeaException / connection errors
            status = getattr(exc, "status_code", None) or getattr(getattr(exc, "data", None) or {}, "get", lambda *_: None)("statusCode")
            if status is not None and 400 <= int(status) < 500:  # refused (bad signature, bad key): no retry
                raise DeliveryFailed(f"Aliyun SMS refused the request: HTTP {status} {getattr(exc, 'code', '')}".strip()) from None
            raise _Unreachable(exc.__class__.__name__) from None
