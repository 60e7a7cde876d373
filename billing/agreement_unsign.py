"""Ending a withholding agreement at Alipay ourselves (alipay.user.agreement.unsign), as account deletion must before
the account's agreement reference is erased; the driver's own way is the Alipay app (billing/agreements.py)."""
from __future__ import annotations

from alipay.aop.api.domain.AlipayUserAgreementUnsignModel import AlipayUserAgreementUnsignModel
from alipay.aop.api.request.AlipayUserAgreementUnsignRequest import AlipayUserAgreementUnsignRequest
from alipay.aop.api.response.AlipayUserAgreementUnsignResponse import AlipayUserAgreementUnsignResponse

from billing.alipay.calls import _call
from billing.alipay.sdk import AlipayClient


def agreement_unsign(client: AlipayClient, *, agreement_no: str) -> None:
    """Unsign; AlipayRefused / AlipayUnavailable / AlipayOutcomeUnknown when Alipay did not confirm it."""
    model = AlipayUserAgreementUnsignModel()
    model.agreement_no = agreement_no
    model.personal_product_code = "GENERAL_WITHHOLDING_P"
    model.sign_scene = client.settings.sign_scene
    _call(client, AlipayUserAgreementUnsignRequest(biz_model=model), AlipayUserAgreementUnsignResponse(),
          "alipay.user.agreement.unsign")


__all__ = ["agreement_unsign"]
