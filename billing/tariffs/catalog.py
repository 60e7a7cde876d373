"""The tariffs the platform knows, by id: the bundled examples unless PARKING_TARIFFS names a
file or a folder of rule-set files (JSON or YAML)."""
from __future__ import annotations

from pathlib import Path

from billing.tariffs.engine import CompiledTariff, compile_tariff
from billing.tariffs.loader import load_tariffs
from parking_core.errors import ConfigError, InvalidInput

BUNDLED = Path(__file__).parent / "examples"


def load_tariff_catalog(path: Path | None = None) -> dict[str, CompiledTariff]:
    """Every rule set under `path` (default: the bundled ones), compiled; a bad file stops start-up."""
    root = Path(path) if path else BUNDLED
    if not root.exists():
        raise ConfigError(f"PARKING_TARIFFS={str(root)!r}: no such file or folder", field="PARKING_TARIFFS", value=str(root))
    files = sorted(p for p in root.iterdir() if p.suffix in (".json", ".yaml", ".yml")) if root.is_dir() else [root]
    catalog: dict[str, CompiledTariff] = {}
    for f in files:
        try:
            for rules in load_tariffs(f):
                catalog[rules.id] = compile_tariff(rules)
        except InvalidInput as exc:
            raise ConfigError(f"PARKING_TARIFFS: {f.name}: {exc.message}", field="PARKING_TARIFFS", value=str(f)) from None
    return catalog
