"""Operator gateway: a car park joins the platform (第三方社会停车场接入). Its operator registers it with
its berths, gates, devices and tariff; the platform issues each device its own MQTT user, installed in
the broker so the device may publish only its lot's topics; the lot stays `commissioning` (closed to
citizens) until every device has been heard, then goes live by itself. docs/DEVICES.md."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError

from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.joining_schemas import (
    CommissioningRead,
    CredentialsRead,
    DeviceRead,
)
from gateways.operator.permissions import (
    OperatorPrincipal,
    lot_for_action,
    lot_for_read,
    operator_for_action,
    require_role,
)
from parking_core.commissioning import (
    CommissioningState,
    add_device,
    parse_joining,
    register,
    state_of,
)
from sensors.device_credentials import CredentialRecord, IssuedCredential, device_access

router = APIRouter(prefix="/v1/operator", tags=["operator joining"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no valid X-Operator-Key"},
    403: {"model": ErrorBody, "description": "readable but not yours to change (a district, the city's viewers, a role too low)"},
    404: {"model": ErrorBody, "description": "no such car park or device, or not yours"},
}
EXAMPLE = {
    "type": "Feature", "geometry": {"type": "Point", "coordinates": [120.6152, 31.3041]},
    "properties": {"id": "CP9001", "name": "观前街地下停车场", "kind": "off_street", "operator": "op1", "district": "gusu",
                   "total": 120, "tariff": "suzhou-offstreet", "gates": ["g1", "g2"],
                   "devices": [{"id": "cam-g1", "kind": "gate_camera", "gate": "g1"}, {"id": "cam-g2", "kind": "gate_camera", "gate": "g2"},
                               {"id": "counter", "kind": "counter"}]},
}


def include(app: FastAPI) -> None:
    """Serve the joining endpoints on this app and let its platform's car parks go live by themselves."""
    app.state.platform.commissioning_watch.start()
    app.include_router(router)


@router.post("/lots", response_model=CommissioningRead, status_code=201, responses={
    **ERRORS, 200: {"model": CommissioningRead, "description": "the same registration again: nothing changed"},
    409: {"model": ErrorBody, "description": "the id is taken by another car park"},
    422: {"model": ErrorBody, "description": "invalid, naming the field (e.g. properties.devices[2].berth)"}})
def register_lot(p: OperatorPrincipal, platform: PlatformDep, response: Response,
                 feature: Annotated[dict, Body(openapi_examples={"a gated car park": {"value": EXAMPLE}})]) -> CommissioningRead:
    """Register a car park: a GeoJSON Feature as in the registry file (contract section 1) whose
    properties also list `gates` and `devices` (`id`, `kind`: berth_sensor with `berth`, gate_camera
    with `gate`, counter, gateway). It is `commissioning` until every device has been heard."""
    joining = parse_joining(feature, tariffs=platform.tariffs.keys())
    operator = joining.lot.operator
    if p.kind == "city":  # the city may bring in an operator that has no car park yet
        require_role(p, "staff", what="properties.operator", value=operator)
    else:
        operator_for_action(p, platform, operator)
    try:
        created = _register(platform, joining, p)
    except IntegrityError:  # the same request twice at once: the second now sees the first
        created = _register(platform, joining, p)
    if created:
        platform.reload_directory(configure_live=platform.pipeline is not None)
    else:
        response.status_code = 200
    return _read(platform, joining.lot.id)


def _register(platform, joining, p) -> bool:
    with platform.uow() as uow:
        created = register(uow.session, joining, actor=p, now=platform.clock())
        uow.commit()
    return created


@router.get("/lots/{lot_id}/commissioning", response_model=CommissioningRead, responses=ERRORS)
def commissioning(lot_id: str, p: OperatorPrincipal, platform: PlatformDep) -> CommissioningRead:
    """Whether the car park is live yet, and which devices it still waits for."""
    lot_for_read(p, platform, lot_id)
    return _read(platform, lot_id)


def _read(platform, lot_id: str) -> CommissioningRead:
    with platform.uow() as uow:
        st: CommissioningState = state_of(uow.session, lot_id)
    return CommissioningRead(
        lot_id=st.lot_id, operator=st.operator, state=st.state, registered_at=st.registered_at, live_at=st.live_at,
        devices=[DeviceRead(id=d.id, kind=d.kind, berth=d.berth, gate=d.gate, heard_at=d.heard_at) for d in st.devices],
        waiting_for=[d.id for d in st.devices if d.heard_at is None] if st.state == "commissioning" else [])


@router.post("/lots/{lot_id}/devices", response_model=CommissioningRead, status_code=201, responses={
    **ERRORS, 200: {"model": CommissioningRead, "description": "the same device again: nothing changed"},
    409: {"model": ErrorBody, "description": "the car park has another device with this id"},
    422: {"model": ErrorBody, "description": "invalid, naming the field (e.g. berth)"}})
def register_device(lot_id: str, p: OperatorPrincipal, platform: PlatformDep, response: Response,
               device: Annotated[dict, Body(openapi_examples={"a berth sensor": {"value": {"id": "s-b3", "kind": "berth_sensor", "berth": "b3"}}})],
               ) -> CommissioningRead:
    """Register one more device of a car park (`id`, `kind`, and `berth` or `gate` as at registration),
    e.g. for a car park imported from a registry file, so it can be given a credential. A live car park stays live."""
    lot = lot_for_action(p, platform, lot_id)
    with platform.uow() as uow:
        created = add_device(uow.session, lot, device, actor=p, now=platform.clock())
        uow.commit()
    if not created:
        response.status_code = 200
    return _read(platform, lot_id)


@router.post("/lots/{lot_id}/devices/{device_id}/credentials", response_model=IssuedCredential, status_code=201, responses={
    **ERRORS, 409: {"model": ErrorBody, "description": "the device has a credential (revoke it first), or the broker cannot enforce one"},
    503: {"model": ErrorBody, "description": "the broker did not answer"}})
async def issue_credential(lot_id: str, device_id: str, p: OperatorPrincipal, platform: PlatformDep) -> IssuedCredential:
    """A new MQTT user for the device, installed in the broker at once; the password is in this answer only
    (the platform keeps its SHA-256). `publish`/`subscribe`: the topics the broker lets it use."""
    lot_for_action(p, platform, lot_id)
    return await run_in_threadpool(device_access(platform).issue, lot_id, device_id, actor=p)


@router.delete("/lots/{lot_id}/devices/{device_id}/credentials", response_model=CredentialRecord, responses={
    **ERRORS, 503: {"model": ErrorBody, "description": "the broker did not answer: nothing was revoked"}})
async def revoke_credential(lot_id: str, device_id: str, p: OperatorPrincipal, platform: PlatformDep) -> CredentialRecord:
    """Revoke the device's credential: the broker disconnects it and refuses it from now on."""
    lot_for_action(p, platform, lot_id)
    return await run_in_threadpool(device_access(platform).revoke, lot_id, device_id, actor=p)


@router.get("/lots/{lot_id}/credentials", response_model=CredentialsRead, responses=ERRORS)
def credentials(lot_id: str, p: OperatorPrincipal, platform: PlatformDep) -> CredentialsRead:
    """Every credential issued for the car park's devices, newest first (never a password or its hash)."""
    lot_for_read(p, platform, lot_id)
    return CredentialsRead(credentials=device_access(platform).credentials(lot_id))

