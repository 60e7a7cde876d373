"""Registry import as one use case: validate the whole file, write it in one transaction,
then refresh the directory and live state so the new lots are served at once."""
from __future__ import annotations

from parking_core.registry import ImportResult, parse_registry, save_registry


def import_registry(platform, data: bytes | str | dict) -> ImportResult:
    """All or nothing; a car park naming a tariff the platform's catalog lacks rejects the file."""
    lots = parse_registry(data, tariffs=platform.tariffs.keys())
    with platform.uow() as uow:
        result = save_registry(uow.session, lots)
        uow.commit()
    platform.reload_directory(configure_live=platform.pipeline is not None)  # before start(), start() builds it
    return result
