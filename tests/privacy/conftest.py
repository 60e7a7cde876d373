"""The billing flow's environment (the platform served, the local Alipay) is what the privacy tests need too."""
from tests.billing_flow.conftest import alipay_gw, alipay_keys, app_keys, billing_env  # noqa: F401 - fixtures
