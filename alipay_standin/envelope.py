"""Alipay's OpenAPI envelope: check a request's common parameters and RSA2 signature, sign the answer's response node."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from billing.alipay.signing import rsa2_sign, rsa2_verify, sign_content

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class Refusal(Exception):
    """An answer with a non-success code, as Alipay sends it (code, msg, sub_code, sub_msg)."""

    MESSAGES = {"20000": "Service Currently Unavailable", "40001": "Missing Required Arguments",
                "40002": "Invalid Arguments", "40004": "Business Failed"}

    def __init__(self, code: str, sub_code: str, sub_msg: str, **extra: Any) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code, self.sub_code, self.sub_msg, self.extra = code, sub_code, sub_msg, extra

    def node(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.MESSAGES.get(self.code, "Business Failed"), "sub_code": self.sub_code,
                "sub_msg": self.sub_msg, **self.extra}


def response_key(method: str | None) -> str:
    """`alipay.trade.pay` answers under `alipay_trade_pay_response`; an unusable method under `error_response`."""
    if not method or not re.fullmatch(r"[a-z]+(\.[a-z]+)+", method):
        return "error_response"
    return method.replace(".", "_") + "_response"


def check_request(params: Mapping[str, str], *, app_id: str, app_public_key: rsa.RSAPublicKey,
                  known_methods: frozenset[str]) -> tuple[str, dict[str, Any]]:
    """The method and parsed biz_content of a correctly signed request for our app; Refusal otherwise."""
    def need(name: str, sub_code: str) -> str:
        value = params.get(name)
        if not value:
            raise Refusal("40001", sub_code, f"缺少必选参数 {name}")
        return value

    method = need("method", "isv.missing-method")
    if method not in known_methods:
        raise Refusal("40002", "isv.invalid-method", f"不存在的方法名 {method}")
    if need("app_id", "isv.missing-app-id") != app_id:
        raise Refusal("40002", "isv.invalid-app-id", f"无效的AppID参数 {params['app_id']}")
    signature = need("sign", "isv.missing-signature")
    if need("sign_type", "isv.missing-signature-type") != "RSA2":
        raise Refusal("40002", "isv.invalid-signature-type", f"无效的签名类型 {params['sign_type']}")
    if not _TIMESTAMP.fullmatch(need("timestamp", "isv.missing-timestamp")):
        raise Refusal("40002", "isv.invalid-timestamp", f"非法的时间戳参数 {params['timestamp']}")
    if need("version", "isv.missing-version") != "1.0":
        raise Refusal("40002", "isv.invalid-version", f"无效的版本 {params['version']}")
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise Refusal("40002", "isv.invalid-charset", f"字符集错误 {params['charset']}")
    if params.get("format", "json").lower() != "json":
        raise Refusal("40002", "isv.invalid-format", f"无效的数据格式 {params['format']}")
    if not rsa2_verify(app_public_key, sign_content(params, drop=("sign",)), signature):
        raise Refusal("40002", "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
    try:
        biz = json.loads(params.get("biz_content") or "{}")
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        raise Refusal("40002", "isv.invalid-parameter", "biz_content 不是 JSON 对象")
    return method, biz


def signed_response(key: str, node: Mapping[str, Any], private_key: rsa.RSAPrivateKey, *, tamper: bool = False) -> bytes:
    """`{"<key>":<node>,"sign":"..."}` with the signature over the node's exact JSON text; `tamper` alters the node after signing."""
    node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    signature = rsa2_sign(private_key, node_text)
    if tamper:
        altered = dict(node)
        for field in ("total_amount", "refund_fee", "qr_code", "bill_download_url", "status", "msg"):
            if isinstance(altered.get(field), str):
                altered[field] = altered[field] + "0"
                break
        node_text = json.dumps(altered, ensure_ascii=False, separators=(",", ":"))
    return ('{"' + key + '":' + node_text + ',"sign":"' + signature + '"}').encode("utf-8")
