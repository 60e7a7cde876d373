"""RSA2 (SHA256withRSA) keys and signatures exactly as Alipay forms them, shared by client, notifications and the local gateway."""
from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from parking_core.errors import ConfigError


class AlipayKeyError(ConfigError):
    """A configured RSA key that cannot be used for Alipay's RSA2 signatures."""

    code = "alipay_key_invalid"


@dataclass(frozen=True)
class RsaKeyPair:
    """An RSA key pair as PEM text: private key PKCS#1, public key SubjectPublicKeyInfo."""

    private_pem: str = field(repr=False)
    public_pem: str


def generate_keypair(bits: int = 2048) -> RsaKeyPair:
    """A fresh RSA key pair for tests, the demo and the local gateway."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")
    return RsaKeyPair(private_pem=private_pem, public_pem=public_pem_of(key.public_key()))


def _der_from_text(text: str, *, field_name: str) -> tuple[bytes, bool]:
    """PEM text or the bare base64 body Alipay's console shows, as (bytes, is_pem)."""
    if not isinstance(text, str) or not text.strip():
        raise AlipayKeyError(f"{field_name} is empty", field=field_name, value="")
    if "-----BEGIN" in text:
        return text.strip().encode("ascii", "replace"), True
    try:
        return base64.b64decode("".join(text.split()), validate=True), False
    except (binascii.Error, ValueError):
        raise AlipayKeyError(f"{field_name} is neither PEM nor base64 key text", field=field_name, value="<redacted>") from None


@functools.lru_cache(maxsize=64)
def load_private_key(text: str, *, field_name: str = "app_private_key") -> rsa.RSAPrivateKey:
    """An RSA private key from PKCS#1 or PKCS#8 PEM, or a bare base64 body."""
    data, is_pem = _der_from_text(text, field_name=field_name)
    try:
        key = (serialization.load_pem_private_key if is_pem else serialization.load_der_private_key)(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise AlipayKeyError(f"{field_name} is not a readable unencrypted private key ({exc})", field=field_name, value="<redacted>") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AlipayKeyError(f"{field_name} is a {type(key).__name__}, not an RSA key", field=field_name, value="<redacted>")
    return key


@functools.lru_cache(maxsize=64)
def load_public_key(text: str, *, field_name: str = "alipay_public_key") -> rsa.RSAPublicKey:
    """An RSA public key from SubjectPublicKeyInfo or PKCS#1 PEM, or a bare base64 body."""
    data, is_pem = _der_from_text(text, field_name=field_name)
    try:
        key = (serialization.load_pem_public_key if is_pem else serialization.load_der_public_key)(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise AlipayKeyError(f"{field_name} is not a readable public key ({exc})", field=field_name, value=text[:40]) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise AlipayKeyError(f"{field_name} is a {type(key).__name__}, not an RSA key", field=field_name, value=text[:40])
    return key


def public_pem_of(key: rsa.RSAPublicKey) -> str:
    """A public key as SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"), the form the SDK reads."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def private_pkcs1_pem(text: str, *, field_name: str = "app_private_key") -> str:
    """Any accepted private key text as PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), the only form the SDK reads."""
    key = load_private_key(text, field_name=field_name)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")


def sign_content(params: Mapping[str, str], *, drop: Iterable[str]) -> str:
    """Alipay's string to sign: keys sorted, `k=v` joined by `&`, dropped keys and empty values left out."""
    dropped = set(drop)
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in dropped and params[k] not in (None, ""))


def rsa2_sign(private_key: rsa.RSAPrivateKey, content: str) -> str:
    """SHA256withRSA (PKCS#1 v1.5) over the UTF-8 content, base64 encoded."""
    signature = private_key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(public_key: rsa.RSAPublicKey, content: str, signature_b64: str) -> bool:
    """True only when the base64 signature is SHA256withRSA over the UTF-8 content."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


# ---- the SDK's request signing, through OpenSSL -------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _sdk_private_key(private_key: str) -> rsa.RSAPrivateKey:
    from alipay.aop.api.util.SignatureUtils import fill_private_key_marker

    return serialization.load_pem_private_key(fill_private_key_marker(private_key).encode("ascii"), password=None)


def fast_sign_with_rsa2(private_key: str, sign_content: str, charset: str) -> str:
    """The SDK's `sign_with_rsa2` (same arguments, same base64 text) through `cryptography`: ~0.3 ms instead of
    ~24 ms of pure-Python RSA holding the GIL. PKCS#1 v1.5 signatures are deterministic, so both give the same bytes
    (tests/alipay/test_fast_signing.py compares them over many random requests and keys)."""
    signature = _sdk_private_key(private_key).sign(sign_content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode(charset)


class CheckedSigner:
    """`fast_sign_with_rsa2`, checked once per key against the SDK's own signer; a key where they differ
    (never seen) keeps the SDK's signer, with an error in the log."""

    def __init__(self, sdk_sign) -> None:  # noqa: ANN001
        self.sdk_sign = sdk_sign
        self._checked: dict[str, bool] = {}

    def __call__(self, private_key: str, sign_content: str, charset: str) -> str:
        same = self._checked.get(private_key)
        if same is None:
            fast = fast_sign_with_rsa2(private_key, sign_content, charset)
            same = self._checked[private_key] = fast == self.sdk_sign(private_key, sign_content, charset)
            if not same:
                import logging

                logging.getLogger(__name__).error("fast RSA2 signing differs from the Alipay SDK's for a key: using the SDK's")
            return fast if same else self.sdk_sign(private_key, sign_content, charset)
        return fast_sign_with_rsa2(private_key, sign_content, charset) if same else self.sdk_sign(private_key, sign_content, charset)
