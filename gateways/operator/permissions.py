"""Who may see and change what through the operator API, decided here and nowhere else.

A caller is a `Principal` (an API key, a console session, or an entry of PARKING_OPERATOR_KEYS) of the
city, a district or an operator, with a role. An operator sees and changes only its own car parks and
their stays, orders, passes, refunds and money; a district sees its district's, read-only; the city sees
and may change everything. Outside one's scope a read answers 404 (as for an id that does not exist, so
nothing leaks) and an action on something that exists 403 (issue 11); both are logged. An unknown id is 404."""
from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from parking_core.accounts import AccountSettings, persisted_secret
from parking_core.errors import ConfigError, Forbidden, LotNotFound, NotFound, ParkingError, Unauthorized
from parking_core.lots import LotInfo
from parking_core.plate_privacy import mask_plate
from parking_core.principals import ROLES, Principal, Principals

__all__ = ["Principal", "OperatorPrincipal", "current_principal", "readable_operators", "readable_lots",
           "lot_for_read", "lot_for_action", "operator_for_read", "operator_for_action", "require_role", "check_read",
           "check_action", "in_scope", "scope_clause", "require_admin", "require_city", "log_refusal", "env_principal", "principals_of",
           "OperatorKeys", "load_operator_keys"]

log = logging.getLogger("parking.operators")

KEY_FILE = "operator_keys"
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_KEY = 16
CITY = "city"
_header = APIKeyHeader(name="X-Operator-Key", auto_error=False,
                       description="an operator API key, a console session token, or a PARKING_OPERATOR_KEYS key")


@dataclass(frozen=True)
class OperatorKeys:
    """PARKING_OPERATOR_KEYS: name -> key; each is an admin key of operator `name` (`city`: the city)."""

    keys: Mapping[str, str]

    @classmethod
    def parse(cls, text: str, *, source: str) -> OperatorKeys:
        """'name:key,name2:key2' (commas or new lines); ConfigError names the source, never a key."""
        keys: dict[str, str] = {}
        for n, entry in enumerate(e.strip() for e in re.split(r"[,\n]", text)):
            if not entry or entry.startswith("#"):
                continue
            name, sep, key = (part.strip() for part in entry.partition(":"))
            if not sep or not _NAME.fullmatch(name) or len(key) < MIN_KEY:
                raise ConfigError(f"{source}: entry {n + 1} must be name:key with a name of letters, digits or ._@- "
                                  f"and a key of at least {MIN_KEY} characters", field=source)
            if name in keys:
                raise ConfigError(f"{source}: operator {name!r} is listed twice", field=source, value=name)
            keys[name] = key
        if not keys:
            raise ConfigError(f"{source}: lists no operator", field=source)
        return cls(keys)

    def name_of(self, presented: str) -> str | None:
        """The operator holding this key; compares against every key in constant time."""
        found = None
        for name, key in self.keys.items():
            if hmac.compare_digest(key.encode(), presented.encode()):
                found = name
        return found


def load_operator_keys(settings: AccountSettings, data_dir: Path) -> OperatorKeys:
    """PARKING_OPERATOR_KEYS, else the data dir's `operator_keys` file (made with one generated city key on first start)."""
    if settings.operator_keys is not None and settings.operator_keys.get_secret_value().strip():
        return OperatorKeys.parse(settings.operator_keys.get_secret_value(), source="PARKING_OPERATOR_KEYS")
    path = data_dir / KEY_FILE
    made = not path.exists()
    keys = OperatorKeys.parse(persisted_secret(path, lambda: f"{CITY}:{secrets.token_urlsafe(24)}"), source=str(path))
    if made:
        log.warning("generated the city's operator API key in %s (send it as X-Operator-Key)", path)
    return keys


def env_principal(name: str) -> Principal:
    """A PARKING_OPERATOR_KEYS entry: the admin of operator `name`, or of the city when the name is `city`."""
    return Principal(id=f"env:{name}", kind="city" if name == CITY else "operator", org_id=name, role="admin", name=name)


def principals_of(platform) -> Principals:  # noqa: ANN001
    """The principals' store over the platform's database (stateless: made on demand)."""
    from gateways.operator.settings import operator_settings

    return Principals(uow=platform.uow, clock=platform.clock, session_ttl_s=operator_settings(platform).console_session_s)


def current_principal(request: Request, key: Annotated[str | None, Security(_header)] = None) -> Principal:
    """The caller; 401 without a valid, unexpired, unrevoked key or session (checked in the database each time)."""
    if not key:
        raise Unauthorized("X-Operator-Key: an operator API key is required", field="X-Operator-Key")
    platform = request.app.state.platform
    name = platform.operator_keys.name_of(key)
    if name is not None:
        return env_principal(name)
    found = principals_of(platform).resolve(key)
    if found is None:
        raise Unauthorized("X-Operator-Key: not a valid operator key or session (unknown, expired or revoked)",
                           field="X-Operator-Key")
    return found


OperatorPrincipal = Annotated[Principal, Depends(current_principal)]


def log_refusal(p: Principal, status: int, what: str, value: object) -> None:
    if "plate" in what:  # no full plate in any log (docs/SECURITY.md, Privacy)
        value = mask_plate(str(value))
    log.warning("operator scope: refused %d to %s %s/%s (%s, %s) on %s %r", status, p.kind, p.org_id, p.name, p.id,
                p.role, what, value)


def in_scope(p: Principal, platform, *, lot_id: str | None, operator_id: str | None) -> bool:  # noqa: ANN001
    """May `p` read something of this car park (or, without one, of this operator)?"""
    if p.kind == "city":
        return True
    if p.kind == "operator":
        if lot_id is not None and (lot := platform.directory.get(lot_id)) is not None:
            return lot.operator == p.org_id
        return operator_id == p.org_id
    lot = platform.directory.get(lot_id) if lot_id is not None else None
    return lot is not None and lot.district == p.org_id


def may_act(p: Principal, role: str = "staff") -> bool:
    """Districts only read; the city and operators act with a high enough role."""
    return p.kind in ("city", "operator") and p.at_least(role)


def require_role(p: Principal, role: str, *, what: str, value: object) -> None:
    """403 (logged) unless `p` may act with this role."""
    if role not in ROLES:
        raise ValueError(role)
    if not may_act(p, role):
        log_refusal(p, 403, what, value)
        why = "a district reads only" if p.kind == "district" else f"needs role {role} or above, not {p.role}"
        raise Forbidden(f"{what}: {why}", field=what, value=str(value), needed=role)


def require_city(p: Principal, role: str, *, what: str, value: object, why: str) -> None:
    """403 (logged) unless p is the city with this role: for what covers every operator (Alipay's whole bill)."""
    if p.kind != "city":
        log_refusal(p, 403, what, value)
        raise Forbidden(f"{what}: {why}", field=what, value=str(value))
    require_role(p, role, what=what, value=value)


def require_admin(p: Principal, *, what: str, value: object) -> None:
    """403 (logged) unless p is an admin of its organisation (issuing and revoking its keys, adding its users)."""
    if not p.at_least("admin"):
        log_refusal(p, 403, what, value)
        raise Forbidden(f"{what}: needs role admin, not {p.role}", field=what, value=str(value), needed="admin")


def check_read(p: Principal, platform, *, lot_id: str | None, operator_id: str | None, missing: ParkingError) -> None:  # noqa: ANN001
    """Raise `missing` (the very error an unknown id gets) when the thing is outside p's scope."""
    if not in_scope(p, platform, lot_id=lot_id, operator_id=operator_id):
        log_refusal(p, 404, missing.field or "id", missing.value)
        raise missing


def check_action(p: Principal, platform, *, lot_id: str | None, operator_id: str | None, missing: ParkingError,  # noqa: ANN001
                 role: str = "staff") -> None:
    """403 (logged) unless p may change this existing thing: it is p's (or p is the city) and p's role is enough."""
    what = missing.field or "id"
    if not in_scope(p, platform, lot_id=lot_id, operator_id=operator_id):
        log_refusal(p, 403, what, missing.value)
        raise Forbidden(f"{what}: {missing.value!r} is not yours to change", field=what, value=str(missing.value))
    require_role(p, role, what=what, value=missing.value)


def _lot_missing(lot_id: str) -> LotNotFound:
    return LotNotFound(f"lot_id: no car park {lot_id!r}", field="lot_id", value=lot_id)


def lot_for_read(p: Principal, platform, lot_id: str) -> LotInfo:  # noqa: ANN001
    """The car park; 404 (logged when it exists) when unknown or outside p's scope."""
    lot = platform.directory.get(lot_id)
    if lot is None:
        raise _lot_missing(lot_id)
    check_read(p, platform, lot_id=lot_id, operator_id=lot.operator, missing=_lot_missing(lot_id))
    return lot


def lot_for_action(p: Principal, platform, lot_id: str, *, role: str = "staff") -> LotInfo:  # noqa: ANN001
    """404 for an unknown car park; 403 (logged) for another's, or when p may only read (a district, a role too low)."""
    lot = platform.directory.get(lot_id)
    if lot is None:
        raise _lot_missing(lot_id)
    check_action(p, platform, lot_id=lot_id, operator_id=lot.operator, missing=_lot_missing(lot_id), role=role)
    return lot


def readable_lots(p: Principal, platform) -> set[str] | None:  # noqa: ANN001
    """The car parks p may read; None: every one (the city)."""
    if p.kind == "city":
        return None
    attr = "operator" if p.kind == "operator" else "district"
    return {lot.id for lot in platform.directory.lots.values() if getattr(lot, attr) == p.org_id}


def readable_operators(p: Principal, platform) -> set[str] | None:  # noqa: ANN001
    """Operators whose data p may read (a district: those with car parks in it); None: every operator."""
    if p.kind == "city":
        return None
    if p.kind == "operator":
        return {p.org_id}
    return {lot.operator for lot in platform.directory.lots.values() if lot.district == p.org_id}


def _operator_missing(operator_id: str) -> NotFound:
    return NotFound(f"operator_id: no operator {operator_id!r}", field="operator_id", value=operator_id)


def operator_for_read(p: Principal, platform, operator_id: str) -> str:  # noqa: ANN001
    allowed = readable_operators(p, platform)
    known = allowed if allowed is not None else {lot.operator for lot in platform.directory.lots.values()}
    if operator_id not in known:
        if allowed is not None:
            log_refusal(p, 404, "operator_id", operator_id)
        raise _operator_missing(operator_id)
    return operator_id


def operator_for_action(p: Principal, platform, operator_id: str, *, role: str = "staff") -> str:  # noqa: ANN001
    """404 for an unknown operator; 403 (logged) for another's, for a district, or a role too low."""
    if operator_id not in {lot.operator for lot in platform.directory.lots.values()} and operator_id != p.org_id:
        raise _operator_missing(operator_id)
    if p.kind == "district" or (p.kind == "operator" and p.org_id != operator_id):
        log_refusal(p, 403, "operator_id", operator_id)
        why = "a district reads only" if p.kind == "district" else "not yours to change"
        raise Forbidden(f"operator_id: {operator_id!r}: {why}", field="operator_id", value=operator_id)
    require_role(p, role, what="operator_id", value=operator_id)
    return operator_id


def scope_clause(p: Principal, platform, *, lot_column, operator_column=None):  # noqa: ANN001
    """A WHERE condition keeping only rows p may read (None: no condition, the city)."""
    if p.kind == "city":
        return None
    if p.kind == "operator" and operator_column is not None:
        return operator_column == p.org_id
    return lot_column.in_(sorted(readable_lots(p, platform)))
