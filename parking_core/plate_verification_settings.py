"""Plate verification's settings: where evidence files live and how large they may be."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.settings import load_validated


class PlateVerificationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    evidence_max_bytes: int = Field(default=1_000_000, alias="PARKING_PLATE_EVIDENCE_MAX_BYTES", ge=10_000, le=20_000_000)
    evidence_dir: Path | None = Field(default=None, alias="PARKING_PLATE_EVIDENCE_DIR")  # None: <data dir>/plate-evidence


def evidence_folder(settings: PlateVerificationSettings, data_dir: Path) -> Path:
    """Where the files are: PARKING_PLATE_EVIDENCE_DIR, else <data dir>/plate-evidence (uploads and retention agree)."""
    return settings.evidence_dir or data_dir / "plate-evidence"


def load_plate_verification_settings(**overrides) -> PlateVerificationSettings:
    return load_validated(PlateVerificationSettings, overrides)


__all__ = ["PlateVerificationSettings", "evidence_folder", "load_plate_verification_settings"]
