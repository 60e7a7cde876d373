"""Operator gateway for tariffs: check a rule set, publish it as a new version in force from a given moment,
list versions, read one, and quote a stay under the version in force when it begins.

Why versions and not edits: an order is priced with the version in force when its stay began, so a published
version is never changed; a price change is a new version with a later effective time.

Who publishes: the city any tariff; an operator (role admin) a tariff only its own car parks use, or a new id,
which it then owns. Reading and quoting tariffs is open to every principal: prices are public."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.exc import IntegrityError

from billing.tariffs import compile_tariff, compute_fee, load_tariff
from billing.tariffs.versions import TariffBook
from gateways.http.deps import PlatformDep
from gateways.http.errors import ErrorBody
from gateways.operator.permissions import OperatorPrincipal, Principal, log_refusal, require_role
from parking_core.audit import record_audit
from parking_core.errors import Forbidden, NotFound
from parking_core.principal_models import TariffOwner

router = APIRouter(prefix="/v1/operator/tariffs", tags=["operator tariffs"])
AUTH = {401: {"model": ErrorBody, "description": "no valid X-Operator-Key"}}
FORBIDDEN = {403: {"model": ErrorBody, "description": "another operator's (or the city's) tariff, a district, or a role below admin"}}
INVALID = {422: {"model": ErrorBody, "description": "the rule set is invalid: `field` names the rule and field "
                 "(e.g. periods[1].occurrence_cap_fen), the message names the tariff"}}


class Publish(BaseModel):
    rules: dict[str, Any] = Field(description="a rule set in the format of docs/tariffs.md (format 1 or 2)")
    effective_from: AwareDatetime | None = Field(
        None, description="when the version comes into force (not in the past); default now. Stays that began "
                          "before it keep the version in force then.")


class VersionRead(BaseModel):
    tariff_id: str
    version: int
    format: int
    source: Literal["bundled", "published"]
    effective_from: datetime | None = Field(description="null for a bundled tariff: in force until a published one")
    created_by: str | None
    created_at: datetime | None


class VersionList(BaseModel):
    versions: list[VersionRead]


class TariffList(BaseModel):
    tariffs: list[str]


class Checked(BaseModel):
    tariff_id: str
    version: int
    format: int


class Line(BaseModel):
    label: str
    start: datetime
    end: datetime
    units: int
    fen: int


class Quote(BaseModel):
    tariff_id: str
    version: int = Field(description="the version in force when the stay begins")
    amount_fen: int
    breakdown: list[Line]


def _book(platform) -> TariffBook:  # noqa: ANN001
    tariffs = platform.tariffs
    return tariffs if isinstance(tariffs, TariffBook) else TariffBook(tariffs)


@router.post("/check", response_model=Checked, responses={**AUTH, **INVALID})
def check(p: OperatorPrincipal, rules: dict[str, Any] = Body(...)) -> Checked:
    """Validate a rule set without publishing it."""
    parsed = compile_tariff(load_tariff(rules))
    return Checked(tariff_id=parsed.id, version=parsed.version, format=parsed.format)


def may_publish(p: Principal, platform, session, tariff_id: str) -> None:  # noqa: ANN001
    """403 (logged) unless p may publish this tariff id; an operator's first version of a new id makes it the owner."""
    require_role(p, "admin", what="tariff_id", value=tariff_id)
    if p.kind == "city":
        return
    users = {lot.operator for lot in platform.directory.lots.values() if lot.tariff == tariff_id}
    owner = session.get(TariffOwner, tariff_id)
    if users - {p.org_id} or (owner is not None and owner.operator_id != p.org_id):
        why = "other operators' car parks use it" if users - {p.org_id} else "another operator owns it"
    elif not users and owner is None and tariff_id in _book(platform).ids(session):
        why = "it is the city's (no car park of yours uses it)"
    else:
        if owner is None and not users:
            session.add(TariffOwner(tariff_id=tariff_id, operator_id=p.org_id, created_at=platform.clock()))
        return
    log_refusal(p, 403, "tariff_id", tariff_id)
    raise Forbidden(f"tariff_id: you may not publish {tariff_id!r}: {why}", field="tariff_id", value=tariff_id)


@router.post("", response_model=VersionRead, status_code=201, responses={
    **AUTH, **INVALID, **FORBIDDEN, 200: {"model": VersionRead, "description": "this exact version was already published"},
    409: {"model": ErrorBody, "description": "the version is taken by other rules, or is not above the latest"}})
def publish(body: Publish, p: OperatorPrincipal, platform: PlatformDep, response: Response) -> VersionRead:
    """Publish a new version; sending the same version again (a retry) answers 200 with the stored one."""
    book = _book(platform)
    now = platform.clock()
    effective_from = body.effective_from or now
    for attempt in (1, 2):
        try:
            with platform.uow() as uow:
                may_publish(p, platform, uow.session, load_tariff(body.rules).id)  # 422 first when the rules are invalid
                row, created = book.publish(uow.session, body.rules, effective_from=effective_from, now=now,
                                            operator=p.name)
                if created:
                    record_audit(uow.session, actor=p, action="tariff.publish", subject=f"tariff:{row.tariff_id}",
                                 operator_id=p.org_id if p.kind == "operator" else None, before=None,
                                 after={"tariff_id": row.tariff_id, "version": row.version,
                                        "effective_from": row.effective_from.isoformat(), "rules": row.rules}, at=now)
                    uow.commit()
                book.learn(row)
                read = VersionRead(tariff_id=row.tariff_id, version=row.version, format=row.format,
                                   source="published", effective_from=row.effective_from, created_by=row.created_by,
                                   created_at=row.created_at)
            break
        except IntegrityError:  # the same version committed by a concurrent request: answer as a retry would
            if attempt == 2:
                raise
    if not created:
        response.status_code = 200
    return read


@router.get("", response_model=TariffList, responses=AUTH)
def tariffs(p: OperatorPrincipal, platform: PlatformDep) -> TariffList:
    return TariffList(tariffs=_book(platform).ids())


@router.get("/{tariff_id}/versions", response_model=VersionList, responses={**AUTH, 404: {"model": ErrorBody}})
def versions(tariff_id: str, p: OperatorPrincipal, platform: PlatformDep) -> VersionList:
    found = _book(platform).versions(tariff_id)
    if not found:
        raise NotFound(f"tariff_id: no tariff {tariff_id!r}", field="tariff_id", value=tariff_id)
    return VersionList(versions=[VersionRead(**v) for v in found])


@router.get("/{tariff_id}/versions/{version}", responses={**AUTH, 404: {"model": ErrorBody}})
def rules(tariff_id: str, version: int, p: OperatorPrincipal, platform: PlatformDep) -> dict:
    """The rule set of one version, as published."""
    found = _book(platform).rules_of(tariff_id, version)
    if found is None:
        raise NotFound(f"version: tariff {tariff_id!r} has no version {version}", field="version", value=version)
    return found.model_dump(mode="json", exclude_unset=True)


@router.get("/{tariff_id}/quote", response_model=Quote, responses={**AUTH, 404: {"model": ErrorBody}})
def quote(tariff_id: str, p: OperatorPrincipal, platform: PlatformDep,
          entered_at: AwareDatetime = Query(...), exited_at: AwareDatetime = Query(...),
          vehicle: Literal["small", "large"] = "small", new_energy: bool = False,
          pass_covered: bool = False) -> Quote:
    """What a stay costs under the version in force when it begins (what its order will say)."""
    tariff = _book(platform).in_force(tariff_id, entered_at)
    if tariff is None:
        raise NotFound(f"tariff_id: no tariff {tariff_id!r} in force at {entered_at.isoformat()}",
                       field="tariff_id", value=tariff_id)
    fee = compute_fee(tariff, entered_at=entered_at, exited_at=exited_at, vehicle=vehicle, new_energy=new_energy,
                      pass_covered=pass_covered)
    return Quote(tariff_id=fee.tariff_id, version=fee.tariff_version, amount_fen=fee.amount_fen,
                 breakdown=[Line(**line._asdict()) for line in fee.breakdown])
