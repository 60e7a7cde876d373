"""Secrets the platform makes for itself when none is configured, kept in the data dir so they survive restarts.

Made on first use only: a command that never signs a token or checks a key writes no file."""
from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

from parking_core.accounts.settings import AccountSettings
from parking_core.errors import ConfigError


def persisted_secret(path: Path, make: Callable[[], str]) -> str:
    """The text in `path`, created once with `make()` (mode 0600, atomically, so two starting processes agree)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(make().strip() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first; use theirs
        finally:
            tmp.unlink()
    return path.read_text(encoding="ascii").strip()


def jwt_secret(settings: AccountSettings, data_dir: Path) -> bytes:
    """PARKING_JWT_SECRET, else one random secret per data dir kept in `jwt_secret`, so tokens survive restarts."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    path = data_dir / "jwt_secret"
    secret = persisted_secret(path, lambda: secrets.token_hex(32))
    if len(secret) < 32:
        raise ConfigError(f"{path} holds no usable secret (under 32 characters): delete it to make a new one",
                          field="PARKING_JWT_SECRET", value=str(path))
    return secret.encode()


__all__ = ["jwt_secret", "persisted_secret"]
