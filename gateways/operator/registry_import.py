"""Registry import as one use case: validate the whole file, write it in one transaction,
then refresh the directory and live state so the new lots are served at once.

With an `actor` (an operator's key rather than the city's command line) the file may only hold that
operator's car parks, new or already its own (permissions.py decides; 403 naming the feature otherwise)."""
from __future__ import annotations

from gateways.operator.permissions import Principal, log_refusal, require_role
from parking_core.errors import Forbidden
from parking_core.registry import ImportResult, parse_registry, save_registry


def import_registry(platform, data: bytes | str | dict, *, actor: Principal | None = None) -> ImportResult:
    """All or nothing; a car park naming a tariff the platform's catalog lacks rejects the file."""
    lots = parse_registry(data, tariffs=platform.tariffs.keys())
    if actor is not None:
        may_import(actor, platform, lots)
    with platform.uow() as uow:
        result = save_registry(uow.session, lots)
        uow.commit()
    platform.reload_directory(configure_live=platform.pipeline is not None)  # before start(), start() builds it
    return result


def may_import(p: Principal, platform, lots) -> None:  # noqa: ANN001
    """The city (role admin) imports anything; an operator admin only car parks of its own, new or already its."""
    require_role(p, "admin", what="file", value="registry")
    if p.kind == "city":
        return
    for n, lot in enumerate(lots):
        known = platform.directory.get(lot.id)
        if lot.operator != p.org_id or (known is not None and known.operator != p.org_id):
            log_refusal(p, 403, f"features[{n}].properties.operator", lot.id)
            raise Forbidden(f"features[{n}]: car park {lot.id!r} is not {p.org_id}'s to register or change",
                            field=f"features[{n}].properties.operator", value=lot.operator)
