"""The seam between the platform and the official SDK: `AlipayClient` is the SDK's DefaultAlipayClient with
its HTTP step replaced (the SDK's own always dials port 80/443) and its RSA signing done by OpenSSL."""
from __future__ import annotations

import functools
import http.client
import logging
import ssl
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import alipay.aop.api.DefaultAlipayClient as _sdk_client_module
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.constant.CommonConstants import (
    ALIPAY_SDK_PYTHON_VERSION,
    THREAD_LOCAL,
)
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.exception.Exception import RequestException, ResponseException
from alipay.aop.api.util.WebUtils import MultiPartForm, url_encode

from billing.alipay.errors import (
    AlipayError,
    AlipayResponseInvalid,
    AlipaySignatureInvalid,
    AlipayUnavailable,
)
from billing.alipay.settings import AlipaySettings
from billing.alipay.signing import (
    CheckedSigner,
    load_public_key,
    private_pkcs1_pem,
    public_pem_of,
)

log = logging.getLogger("billing.alipay.client")

# The seam below drives these two private steps of the SDK's own execute(); fail loudly at import if an SDK upgrade renames them.
_PREPARE = "_DefaultAlipayClient__prepare_request"
_PARSE = "_DefaultAlipayClient__parse_response"
if not (hasattr(DefaultAlipayClient, _PREPARE) and hasattr(DefaultAlipayClient, _PARSE)):
    raise ImportError(f"alipay-sdk-python {ALIPAY_SDK_PYTHON_VERSION} lacks {_PREPARE}/{_PARSE}; billing.alipay.client needs review")
# The SDK signs every request with pure-Python RSA (~24 ms of CPU holding the GIL, the most of an exit -> charge);
# its prepare step looks `sign_with_rsa2` up in its module, where the same signature through OpenSSL takes its place.
if not callable(getattr(_sdk_client_module, "sign_with_rsa2", None)):
    raise ImportError(f"alipay-sdk-python {ALIPAY_SDK_PYTHON_VERSION} lacks sign_with_rsa2; billing.alipay.client needs review")
if not isinstance(_sdk_client_module.sign_with_rsa2, CheckedSigner):
    _sdk_client_module.sign_with_rsa2 = CheckedSigner(_sdk_client_module.sign_with_rsa2)


def http_exchange(method: str, url: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None,
                  timeout_s: float = 15.0) -> tuple[int, bytes]:
    """One HTTP exchange with the scheme, host and port the URL names (the SDK's own HTTP layer ignores the port)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout_s, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise AlipayUnavailable(f"{method} {parts.scheme}://{parts.netloc}{parts.path} failed: {exc}", field="server_url", value=url.split("?")[0]) from None
    finally:
        connection.close()


class AlipayClient(DefaultAlipayClient):
    """The SDK's DefaultAlipayClient with its HTTP step replaced: it connects to the server URL's own port and scheme.

    Signing the request and verifying the answer's signature stay the SDK's own code; only the socket changes
    (and the RSA arithmetic of signing, done by OpenSSL with the same result: see the module's import-time note).
    Used alike against real Alipay (https, port 443) and the local gateway (http, any port).
    """

    def __init__(self, config: AlipayClientConfig, settings: AlipaySettings, logger: Any = None) -> None:
        super().__init__(config, logger)
        self.settings = settings
        self._config = config

    def execute(self, request: Any) -> str:
        """Sign and send `request` like the SDK does, then return the response node the SDK verified."""
        THREAD_LOCAL.uuid = str(uuid.uuid1())
        try:
            query_string, params = getattr(self, _PREPARE)(request)
        except RequestException as exc:
            raise AlipayError(f"the SDK could not sign {request.get_params().get('method')}: {exc}", field="app_private_key") from None
        headers = {
            "Content-type": f"application/x-www-form-urlencoded;charset={self._config.charset}",
            "Cache-Control": "no-cache",
            "User-Agent": ALIPAY_SDK_PYTHON_VERSION,
            "log-uuid": THREAD_LOCAL.uuid,
        }
        multipart = request.get_multipart_params()
        if multipart:
            form = MultiPartForm(self._config.charset)
            for key, value in params.items():
                form.add_field(key, value)
            for key, item in multipart.items():
                form.add_file(key, item.get_file_name(), item.get_file_content(), item.get_mime_type())
            body: bytes | None = form.build_body()
            headers["Content-type"] = form.get_content_type()
        else:
            body = url_encode(params, self._config.charset).encode(self._config.charset) if params else None
        separator = "&" if "?" in self._config.server_url else "?"
        status, raw = http_exchange("POST", f"{self._config.server_url}{separator}{query_string}", body=body,
                                    headers=headers, timeout_s=self._config.timeout)
        if status != 200:
            raise AlipayUnavailable(f"Alipay answered HTTP {status}: {raw[:200].decode('utf-8', 'replace')!r}", field="server_url", value=self._config.server_url)
        try:
            return getattr(self, _PARSE)(raw)
        except ResponseException as exc:
            raise AlipaySignatureInvalid(f"answer failed the SDK's signature check: {str(exc)[:300]}", field="sign") from None
        except UnicodeDecodeError as exc:
            raise AlipayResponseInvalid(f"answer is not {self._config.charset}: {exc}", field="charset") from None


def build_client(settings: AlipaySettings, *, logger: Any = None) -> AlipayClient:
    """The SDK client for these settings, keys normalised to the PEM forms the SDK can read."""
    config = AlipayClientConfig()
    config.app_id = settings.app_id
    config.app_private_key = private_pkcs1_pem(settings.app_private_key_pem, field_name="app_private_key_pem")
    config.alipay_public_key = public_pem_of(load_public_key(settings.alipay_public_key_pem, field_name="alipay_public_key_pem"))
    config.server_url = settings.server_url
    config.sign_type = settings.sign_type
    config.charset = "utf-8"
    config.format = "json"
    config.timeout = settings.timeout_s
    _warn_if_not_shanghai_time()
    return AlipayClient(config, settings, logger)


@functools.cache
def _warn_if_not_shanghai_time() -> None:
    """The SDK stamps `timestamp` with the host's local wall clock; Alipay reads it as Asia/Shanghai."""
    if datetime.now().astimezone().utcoffset() != timedelta(hours=8):
        log.warning("host time zone is not UTC+8: the Alipay SDK stamps requests with the host's local wall clock, "
                    "while Alipay expects Asia/Shanghai; run the platform with TZ=Asia/Shanghai")


__all__ = ["AlipayClient", "build_client", "http_exchange"]
