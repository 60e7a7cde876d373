"""A local Alipay-compatible gateway (signed OpenAPI answers, notifications with retries, bill files) for the demo and tests."""
from billing.alipay.signing import RsaKeyPair, generate_keypair
from gateways.alipay_local.app import create_app
from gateways.alipay_local.core import GatewayOptions, LocalAlipayGateway
from gateways.alipay_local.ledger import ChargeRule
from gateways.alipay_local.notifier import RETRY_DELAYS_S, NotifyPolicy
from gateways.alipay_local.server import LocalAlipay, start_local_alipay

__all__ = [
    "RETRY_DELAYS_S", "ChargeRule", "GatewayOptions", "LocalAlipay", "LocalAlipayGateway", "NotifyPolicy", "RsaKeyPair",
    "create_app", "generate_keypair", "start_local_alipay",
]
