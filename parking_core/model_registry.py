"""Import every module that defines tables, so the metadata (and Alembic) sees them all."""
from __future__ import annotations

import importlib

MODEL_MODULES = (
    "parking_core.models",
    "parking_core.session_models",
    "parking_core.account_models",
    "billing.models",
    "billing.tariff_versions",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
