"""A local Alipay-compatible gateway (signed OpenAPI answers, notifications with retries, bill files) for the demo and tests."""
from alipay_standin.app import create_app
from alipay_standin.core import GatewayOptions, LocalAlipayGateway
from alipay_standin.ledger import ChargeRule
from alipay_standin.notifier import RETRY_DELAYS_S, NotifyPolicy
from alipay_standin.server import LocalAlipay, start_local_alipay
from billing.alipay.signing import RsaKeyPair, generate_keypair

__all__ = [
    "RETRY_DELAYS_S", "ChargeRule", "GatewayOptions", "LocalAlipay", "LocalAlipayGateway", "NotifyPolicy", "RsaKeyPair",
    "create_app", "generate_keypair", "start_local_alipay",
]
