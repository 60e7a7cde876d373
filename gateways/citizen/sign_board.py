"""The city's guidance signs as the platform holds them: which signs, what each shows now, and
their retained MQTT topics. A declared part of the platform (built with it, loaded when it starts),
republished by the platform's `AvailabilityChanged` handler; gateways/citizen/signs.py serves it."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from parking_core.availability import Availability, AvailabilityRules, read_availability
from parking_core.settings import load_validated
from parking_core.signs import SignConfig, SignNotFound, SignView, load_signs, what_sign_shows
from sensors.topics import topics_of

if TYPE_CHECKING:
    from gateways.bootstrap import Platform

log = logging.getLogger("parking.signs")


class SignsSettings(BaseSettings):
    """`PARKING_SIGNS`: the sign file (JSON or YAML); unset, the city has no signs."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    signs_path: Path | None = Field(default=None, alias="PARKING_SIGNS")


def load_signs_settings() -> SignsSettings:
    """PARKING_SIGNS, or ConfigError naming it (its file is read, and named if unreadable, when the app starts)."""
    return load_validated(SignsSettings, {})


class SignBoard:
    """The configured signs, what each shows now, and the retained topic of each."""

    def __init__(self, platform: Platform, signs: list[SignConfig] | tuple = ()) -> None:
        self.platform = platform
        self._last: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.load(list(signs))

    def load(self, signs: list[SignConfig]) -> None:
        self.signs = {s.id: s for s in signs}
        self.by_lot: dict[str, list[SignConfig]] = {}
        for s in signs:
            for ref in s.lots:
                self.by_lot.setdefault(ref.lot_id, []).append(s)

    def load_configured(self) -> None:
        """The signs of `PARKING_SIGNS` over the directory as loaded (a bad file stops start-up, naming it)."""
        path = load_signs_settings().signs_path
        self.load(load_signs(path, self.platform.directory.lots) if path else [])
        if path:
            log.info("%d guidance signs loaded", len(self.signs))

    def view(self, sign_id: str) -> SignView:
        sign = self.signs.get(sign_id)
        if sign is None:
            raise SignNotFound(f"no guidance sign with id {sign_id!r}", field="sign_id", value=sign_id)
        return self._show(sign)

    def views(self) -> list[SignView]:
        return [self._show(s) for s in self.signs.values()]

    def _show(self, sign: SignConfig) -> SignView:
        p = self.platform
        ids = [ref.lot_id for ref in sign.lots]
        rules = AvailabilityRules.from_settings(p.settings)
        shown = {info.id: a for info, a in read_availability(p.directory.lots, p.live, ids, p.clock(), rules)}
        return what_sign_shows(sign, p.directory.lots, shown)

    def on_availability(self, lot_id: str, _a: Availability) -> None:
        """Availability listener: republish every sign that shows this car park."""
        for sign in self.by_lot.get(lot_id, ()):
            self.publish(sign)

    def publish_all(self) -> None:
        for sign in self.signs.values():
            self.publish(sign)

    def publish(self, sign: SignConfig) -> None:
        """Publish retained, unless the sign already shows exactly this."""
        from gateways.citizen.signs import SignRead  # the HTTP answer's shape is the retained message's

        body = SignRead.of(self._show(sign)).model_dump(mode="json")
        key = orjson.dumps(body)
        with self._lock:
            if self._last.get(sign.id) == key:
                return
            self._last[sign.id] = key
        payload = orjson.dumps({**body, "ts": self.platform.clock().isoformat()})
        self.platform._publish(topics_of(self.platform.settings.topic_prefix).sign(sign.id), payload, True)
