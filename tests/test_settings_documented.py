"""Every setting a deployer can set is documented: each environment variable of every settings
model of the platform appears in the README or in docs/."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("parking_core", "billing", "sensors", "gateways")


def settings_models() -> set[type[BaseSettings]]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" not in info.name:
                importlib.import_module(info.name)
    found, todo = set(), list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES:
            found.add(cls)
    return found


def test_every_setting_is_documented():
    docs = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    models = settings_models()
    assert len(models) >= 3
    missing = sorted(
        f"{field.alias or name} ({model.__module__}.{model.__name__})"
        for model in models for name, field in model.model_fields.items()
        if (field.alias or name).isupper() and (field.alias or name) not in docs
    )
    assert missing == []
