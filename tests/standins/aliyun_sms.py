"""A local stand-in for Alibaba Cloud SMS (`SendSms`, API version 2017-05-25), for tests.

It checks what the real service checks before sending: the ACS3-HMAC-SHA256 signature over the
canonical request (method, path, sorted query, signed headers, body hash) with the AccessKey
secret it was given, the action and version, a known sign name and template, and answers like
the service (`{"Code": "OK", "BizId": ...}` or an error code). Messages it accepted are kept.
"""
from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit


def _enc(s: str) -> str:
    return quote(s, safe="-_.~")


def canonical_request(method: str, path: str, query: str, headers: dict[str, str], signed: list[str], body: bytes) -> str:
    pairs = sorted((_enc(k), _enc(v)) for k, v in parse_qsl(query, keep_blank_values=True))
    lower = {k.lower(): v for k, v in headers.items()}
    canon_headers = "".join(f"{h}:{lower.get(h, '').strip()}\n" for h in signed)
    return "\n".join([method, path or "/", "&".join(f"{k}={v}" for k, v in pairs), canon_headers, ";".join(signed),
                      hashlib.sha256(body).hexdigest()])


@dataclass
class AliyunSmsStandIn:
    access_key_id: str
    access_key_secret: str
    sign_name: str = "城市停车"
    template_code: str = "SMS_100001"
    answer_code: str = "OK"  # set to e.g. "isv.BUSINESS_LIMIT_CONTROL" to refuse like the service does
    sent: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def check(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        parts = urlsplit(target)
        lower = {k.lower(): v for k, v in headers.items()}
        auth = lower.get("authorization", "")
        algo, _, rest = auth.partition(" ")
        fields = dict(p.split("=", 1) for p in rest.split(",") if "=" in p)
        if algo != "ACS3-HMAC-SHA256" or fields.get("Credential") != self.access_key_id:
            return 403, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found."}
        signed = fields.get("SignedHeaders", "").split(";")
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(
            canonical_request(method, parts.path, parts.query, headers, signed, body).encode()).hexdigest()
        expected = hmac.new(self.access_key_secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")) or "host" not in signed:
            return 403, {"Code": "IncompleteSignature", "Message": "The request signature does not conform to Aliyun standards."}
        if lower.get("x-acs-action") != "SendSms" or lower.get("x-acs-version") != "2017-05-25":
            return 400, {"Code": "InvalidAction.NotFound", "Message": "Specified api is not found."}
        q = dict(parse_qsl(parts.query))
        if q.get("SignName") != self.sign_name:
            return 200, {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "签名不合法"}
        if q.get("TemplateCode") != self.template_code:
            return 200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "模板不合法"}
        if self.answer_code != "OK":
            return 200, {"Code": self.answer_code, "Message": "refused by the stand-in", "RequestId": uuid.uuid4().hex}
        self.sent.append({"phone": q.get("PhoneNumbers"), "params": json.loads(q.get("TemplateParam", "{}"))})
        return 200, {"Code": "OK", "Message": "OK", "BizId": f"{uuid.uuid4().int % 10**15}^0", "RequestId": uuid.uuid4().hex}

    def serve(self) -> "RunningStandIn":
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, out = standin.check(self.command, self.path, dict(self.headers), body)
                if status != 200 or out.get("Code") != "OK":
                    standin.refused.append(out["Code"])
                raw = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json;charset=utf-8")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return RunningStandIn(server, f"http://127.0.0.1:{server.server_port}")


@dataclass
class RunningStandIn:
    server: http.server.ThreadingHTTPServer
    endpoint: str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
