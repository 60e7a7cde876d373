"""A FastAPI stand-in for https://openapi.alipay.com/gateway.do, plus the pages a driver would see and the bill files."""
from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from alipay_standin.control import control_router
from alipay_standin.core import LocalAlipayGateway
from alipay_standin.envelope import Refusal
from alipay_standin.methods import agreement_page_sign

PAGE_METHOD = "alipay.user.agreement.page.sign"


def create_app(gw: LocalAlipayGateway) -> FastAPI:
    """The HTTP face of one LocalAlipayGateway."""
    app = FastAPI(title="Local Alipay-compatible gateway", version="1", description=__doc__)
    app.include_router(control_router(gw))

    @app.api_route("/gateway.do", methods=["GET", "POST"])
    async def gateway(request: Request) -> Response:
        """OpenAPI calls (common parameters in the query, biz_content in the form), signed answers; the sign page is HTML."""
        params = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        if params.get("method") == PAGE_METHOD:
            return await run_in_threadpool(_sign_page, gw, params)
        body = await run_in_threadpool(gw.call, params)
        return Response(body, media_type="application/json;charset=utf-8")

    @app.get("/_local/qr/{token}", response_class=HTMLResponse)
    def qr_page(token: str) -> HTMLResponse:
        """What the driver sees after scanning: the order and a pay button."""
        try:
            trade = gw.ledger.trade_by_qr(token)
        except KeyError:
            return _page("二维码无效", "<p>No such QR code.</p>", 404)
        amount = f"{trade.total_fen // 100}.{trade.total_fen % 100:02d}"
        return _page("确认付款", f"<p>{escape(trade.subject)}</p><p>¥{amount} ({escape(trade.status)})</p>"
                     f'<form method="post"><button type="submit">确认付款</button></form>')

    @app.post("/_local/qr/{token}", response_class=HTMLResponse)
    def qr_pay(token: str) -> HTMLResponse:
        """The driver pays the scanned order."""
        try:
            trade = gw.ledger.trade_by_qr(token)
        except KeyError:
            return _page("二维码无效", "<p>No such QR code.</p>", 404)
        paid = gw.settle_paid(trade)
        return _page("支付成功" if paid else "无需支付", f"<p>{escape(trade.out_trade_no)}: {escape(trade.status)}</p>")

    @app.get("/_local/bills/{token}/{name}")
    def bill(token: str, name: str) -> Response:
        """A bill zip made by alipay.data.dataservice.bill.downloadurl.query."""
        found = gw.bill(token)
        if found is None or found[0] != name:
            return Response("bill not found", status_code=404, media_type="text/plain")
        return Response(found[1], media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{found[0]}"'})

    return app


def _sign_page(gw: LocalAlipayGateway, params: dict[str, str]) -> HTMLResponse:
    """Visiting the signed page URL signs the agreement (and notifies), as the driver tapping 同意 would."""
    try:
        _, biz = gw.check(params)
        node = agreement_page_sign(gw, biz, params)
    except Refusal as refusal:
        return _page("签约失败", f"<p>{escape(refusal.code)} {escape(refusal.sub_code)}: {escape(refusal.sub_msg)}</p>", 400)
    back = params.get("return_url")
    link = f'<p><a href="{escape(back)}">返回商户</a></p>' if back else ""
    return _page("签约成功", f'<p>协议号 <span id="agreement_no">{escape(node["agreement_no"])}</span></p>'
                 f'<p>商户协议号 <span id="external_agreement_no">{escape(node["external_agreement_no"])}</span></p>{link}')


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
                        f"<body><h1>{escape(title)}</h1>{body}</body></html>", status_code=status)
