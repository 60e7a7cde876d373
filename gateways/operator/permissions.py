"""Operators authenticate with an API key (header X-Operator-Key) from PARKING_OPERATOR_KEYS or the data dir."""
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
from parking_core.errors import ConfigError, Unauthorized

log = logging.getLogger("parking.operators")

KEY_FILE = "operator_keys"
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MIN_KEY = 16
_header = APIKeyHeader(name="X-Operator-Key", auto_error=False, description="an operator's API key")


@dataclass(frozen=True)
class OperatorKeys:
    """Operator name -> API key."""

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
    """PARKING_OPERATOR_KEYS, else the data dir's `operator_keys` file (made with one generated key on first start)."""
    if settings.operator_keys is not None and settings.operator_keys.get_secret_value().strip():
        return OperatorKeys.parse(settings.operator_keys.get_secret_value(), source="PARKING_OPERATOR_KEYS")
    path = data_dir / KEY_FILE
    made = not path.exists()
    keys = OperatorKeys.parse(persisted_secret(path, lambda: f"operator:{secrets.token_urlsafe(24)}"), source=str(path))
    if made:
        log.warning("generated an operator API key in %s (send it as X-Operator-Key)", path)
    return keys


def get_operator_keys(request: Request) -> OperatorKeys:
    """The platform's keys (reached through the app: the composition root imports this module)."""
    return request.app.state.platform.operator_keys


def require_operator(keys: Annotated[OperatorKeys, Depends(get_operator_keys)],
                     key: Annotated[str | None, Security(_header)] = None) -> str:
    """The operator's name; 401 without a known key."""
    if not key:
        raise Unauthorized("X-Operator-Key: an operator API key is required", field="X-Operator-Key")
    name = keys.name_of(key)
    if name is None:
        raise Unauthorized("X-Operator-Key: not a known operator key", field="X-Operator-Key")
    return name


OperatorUser = Annotated[str, Depends(require_operator)]
