"""MQTT credentials per device: issued by the platform, installed in the broker, revocable at once.

The broker enforces them, so the platform talks to it through one small interface,
`DeviceCredentials`: Mosquitto 2's dynamic-security plugin (`DynsecCredentials`) is the real one;
the embedded amqtt broker cannot change users or topic rules while it runs, so `NotEnforced`
refuses issuance and says why (the demo runs without per-device credentials; production may not).
The platform keeps only a SHA-256 of each password (random, 192 bits: a slow hash adds nothing and
cost a second of CPU per issuance); the password is shown once.
"""
from __future__ import annotations

import getpass
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from parking_core.audit import record_audit
from parking_core.commissioning import require_registered_device
from parking_core.commissioning_models import DeviceCredential
from parking_core.db import UnitOfWork
from parking_core.errors import Conflict, NotFound, ParkingError
from parking_core.models import Lot
from parking_core.settings import Settings, load_validated
from sensors.dynsec import DynsecAdmin, DynsecRefused, acl, refused
from sensors.mqtt import MqttTarget
from sensors.topics import topics_of


class DeviceCredentialSettings(BaseSettings):
    """The broker's administrator, whom the platform uses to add and remove device users."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    admin_user: str | None = Field(default=None, alias="PARKING_MQTT_ADMIN_USER", min_length=1)
    admin_password: SecretStr | None = Field(default=None, alias="PARKING_MQTT_ADMIN_PASSWORD", min_length=1)
    admin_timeout_s: float = Field(default=5.0, alias="PARKING_MQTT_ADMIN_TIMEOUT_S", gt=0, le=120)


class BrokerCannotEnforce(ParkingError):
    code = "broker_cannot_enforce"
    http_status = 409


class CredentialNotFound(NotFound):
    code = "credential_not_found"


class DeviceCredentials(Protocol):
    """Where device users live and are enforced (the broker)."""

    enforced: bool

    def install(self, *, username: str, password: str, lot_id: str) -> None:
        """Let `username` log in with `password` and publish only `lot_id`'s device topics; at once."""

    def remove(self, username: str) -> None:
        """Disconnect `username` and refuse it from now on; removing an unknown user is not an error."""


def password_digest(password: str) -> str:
    """What the platform stores of a device's password: enough to tell which one a device holds, never to log in."""
    return hashlib.sha256(password.encode()).hexdigest()


def device_topics(prefix: str, lot_id: str) -> tuple[list[str], list[str]]:
    """(may publish, may subscribe to) for a device of this car park: contract section 2's device
    topics of its own lot, and its lot's replies (arrears at the gate, availability for a display)."""
    topics = topics_of(prefix)
    return topics.device_filters_of(lot_id), topics.replies_of(lot_id)


class DynsecCredentials:
    """Mosquitto 2's dynamic-security plugin: one role per car park (`lot:{id}`) with the contract's
    device topics of that lot to publish and its replies (arrears, availability) to read; one client per device."""

    enforced = True

    def __init__(self, admin: DynsecAdmin, topic_prefix: str) -> None:
        self.admin = admin
        self.prefix = topic_prefix.rstrip("/")

    def role_acls(self, lot_id: str) -> list[dict[str, Any]]:
        sends, reads = device_topics(self.prefix, lot_id)
        return ([acl("publishClientSend", t) for t in sends] + [acl("subscribeLiteral", t) for t in reads]
                + [acl("publishClientReceive", t) for t in reads])

    def install(self, *, username: str, password: str, lot_id: str) -> None:
        role = f"lot:{lot_id}"
        client = {"command": "createClient", "username": username, "password": password,
                  "textname": f"device of car park {lot_id}", "roles": [{"rolename": role}]}
        made_role, made_client = self.admin.run(  # one connection: the role is made with the car park's first device
            {"command": "createRole", "rolename": role, "textname": f"devices of car park {lot_id}", "acls": self.role_acls(lot_id)},
            client, check=False)
        try:
            refused(made_role, unless="already exists")
            refused(made_client, unless="already exists")
            if made_client.get("error"):  # left by an issuance whose database write failed: replace it
                self.admin.run({"command": "deleteClient", "username": username}, client)
        except DynsecRefused as exc:
            raise _refused(exc) from None

    def remove(self, username: str) -> None:
        try:
            refused(self.admin.run({"command": "deleteClient", "username": username}, check=False)[0], unless="not found")
        except DynsecRefused as exc:
            raise _refused(exc) from None


def _refused(exc: DynsecRefused) -> ParkingError:
    return ParkingError(f"the broker's dynamic-security plugin refused {exc.command}: {exc.error}", field="PARKING_MQTT_ADMIN_USER")


@dataclass(frozen=True)
class NotEnforced:
    """A broker the platform cannot give per-device users and topic rules: issuance is refused, saying why."""

    why: str
    enforced = False

    def install(self, *, username: str, password: str, lot_id: str) -> None:
        raise BrokerCannotEnforce(f"device credentials cannot be issued: {self.why}", field="PARKING_MQTT_ADMIN_USER")

    def remove(self, username: str) -> None:
        """Nothing was ever installed."""


def credentials_backend(settings: Settings, creds: DeviceCredentialSettings | None = None) -> DeviceCredentials:
    """Dynamic security on MQTT_URL's broker when PARKING_MQTT_ADMIN_USER is set; otherwise refusal."""
    creds = creds or load_validated(DeviceCredentialSettings, {}, secret=("PASSWORD",))
    if not settings.mqtt_url:
        return NotEnforced("the embedded broker (amqtt) cannot enforce per-device users and topic rules; "
                           "set MQTT_URL to a Mosquitto 2 with the dynamic-security plugin and PARKING_MQTT_ADMIN_USER, "
                           "PARKING_MQTT_ADMIN_PASSWORD (docs/DEVICES.md)")
    if not urlsplit(settings.mqtt_url).password:
        return NotEnforced("MQTT_URL has no password: on an open broker anyone may publish as any device")
    if not creds.admin_user or creds.admin_password is None:
        return NotEnforced("PARKING_MQTT_ADMIN_USER and PARKING_MQTT_ADMIN_PASSWORD (the broker's dynamic-security admin) are not set")
    target = replace(MqttTarget.from_url(settings.mqtt_url), username=creds.admin_user, password=creds.admin_password.get_secret_value())
    return DynsecCredentials(DynsecAdmin(target, timeout_s=creds.admin_timeout_s), settings.topic_prefix)


@pydantic_dataclass(frozen=True)
class IssuedCredential:
    """The only time the password exists outside the broker: handed to the operator, never stored.
    `publish` and `subscribe` are the topics the broker lets the device use."""

    username: str
    password: str
    lot_id: str
    device_id: str
    issued_at: datetime
    publish: list[str]
    subscribe: list[str]


@pydantic_dataclass(frozen=True)
class CredentialRecord:
    """A credential as listed (and as the operator API answers it): never its password or hash."""

    username: str
    lot_id: str
    device_id: str
    issued_at: datetime
    issued_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    active: bool

    @classmethod
    def of(cls, row: DeviceCredential) -> CredentialRecord:
        return cls(row.username, row.lot_id, row.device_id, row.issued_at, row.issued_by, row.revoked_at, row.revoked_by,
                   row.revoked_at is None)


@dataclass(frozen=True)
class CliActor:
    """The audit log's name for someone at the platform's command line (who can do anything anyway)."""

    id: str
    kind: str = "city"
    org_id: str = "city"
    name: str = "command line"

    @classmethod
    def current(cls) -> CliActor:
        return cls(id=f"cli:{getpass.getuser()}")


class DeviceAccess:
    """Issue, revoke and list devices' credentials: the database row and the broker change together."""

    def __init__(self, *, uow: Callable[[], UnitOfWork], clock: Callable[[], datetime], backend: DeviceCredentials,
                 topic_prefix: str) -> None:
        self.uow = uow
        self.clock = clock
        self.backend = backend
        self.topic_prefix = topic_prefix

    @staticmethod
    def username(lot_id: str, device_id: str) -> str:
        """`{lot}/{device}`: ids never hold `/`, so it names one device."""
        return f"{lot_id}/{device_id}"

    def issue(self, lot_id: str, device_id: str, *, actor: Any) -> IssuedCredential:
        """A new random password for a registered device without an active credential (else Conflict)."""
        now = self.clock()
        username, password = self.username(lot_id, device_id), secrets.token_urlsafe(24)
        with self.uow() as uow:
            s = uow.session
            require_registered_device(s, lot_id, device_id)
            if self._active(s, lot_id, device_id) is not None:
                raise Conflict(f"device {device_id!r} of car park {lot_id!r} already has a credential: revoke it first",
                               field="device_id", value=device_id)
            s.add(DeviceCredential(username=username, lot_id=lot_id, device_id=device_id, password_hash=password_digest(password),
                                   issued_at=now, issued_by=actor.id))
            try:
                s.flush()
            except IntegrityError:  # issued by someone else at the same moment
                raise Conflict(f"device {device_id!r} of car park {lot_id!r} already has a credential: revoke it first",
                               field="device_id", value=device_id) from None
            record_audit(s, actor=actor, action="device.credential.issue", subject=f"device:{username}",
                         operator_id=s.scalar(select(Lot.operator_id).where(Lot.id == lot_id)), before=None,
                         after={"username": username, "issued_at": now.isoformat()}, at=now)
            self.backend.install(username=username, password=password, lot_id=lot_id)
            try:
                uow.commit()
            except Exception:
                self.backend.remove(username)  # the broker must not keep a user the platform does not know
                raise
        return IssuedCredential(username, password, lot_id, device_id, now, *device_topics(self.topic_prefix, lot_id))

    def revoke(self, lot_id: str, device_id: str, *, actor: Any) -> CredentialRecord:
        """Remove the device's user from the broker (it is disconnected at once) and mark it revoked.
        Again on a revoked credential: nothing changes and the revoked one is answered."""
        now = self.clock()
        with self.uow() as uow:
            s = uow.session
            require_registered_device(s, lot_id, device_id)
            row = self._active(s, lot_id, device_id)
            if row is None:
                last = s.scalars(select(DeviceCredential).where(DeviceCredential.lot_id == lot_id, DeviceCredential.device_id == device_id)
                                 .order_by(DeviceCredential.id.desc()).limit(1)).first()
                if last is None:
                    raise CredentialNotFound(f"device {device_id!r} of car park {lot_id!r} has no credential", field="device_id", value=device_id)
                return CredentialRecord.of(last)
            row.revoked_at, row.revoked_by = now, actor.id
            record_audit(s, actor=actor, action="device.credential.revoke", subject=f"device:{row.username}",
                         operator_id=s.scalar(select(Lot.operator_id).where(Lot.id == lot_id)),
                         before={"username": row.username, "issued_at": row.issued_at.isoformat()},
                         after={"username": row.username, "revoked_at": now.isoformat()}, at=now)
            s.flush()
            self.backend.remove(row.username)
            done = CredentialRecord.of(row)
            uow.commit()
            return done

    def credentials(self, lot_id: str) -> list[CredentialRecord]:
        """Every credential issued for the lot's devices, newest first (hashes stay in the database)."""
        with self.uow() as uow:
            return [CredentialRecord.of(r) for r in uow.session.scalars(
                select(DeviceCredential).where(DeviceCredential.lot_id == lot_id).order_by(DeviceCredential.id.desc()))]

    @staticmethod
    def _active(s, lot_id: str, device_id: str) -> DeviceCredential | None:
        return s.scalars(select(DeviceCredential).where(DeviceCredential.lot_id == lot_id, DeviceCredential.device_id == device_id,
                                                        DeviceCredential.revoked_at.is_(None))).first()


def device_access(platform: Any) -> DeviceAccess:
    """The platform's DeviceAccess (a declared part: `Platform.device_access`, made on first use)."""
    return platform.device_access.get()


def device_access_of(platform: Any) -> DeviceAccess:
    """A DeviceAccess over the platform's database and broker settings (what `Platform` builds on first use)."""
    return DeviceAccess(uow=platform.uow, clock=platform.clock, backend=credentials_backend(platform.settings),
                        topic_prefix=platform.settings.topic_prefix)


__all__ = ["BrokerCannotEnforce", "CliActor", "CredentialNotFound", "CredentialRecord", "DeviceAccess", "DeviceCredentialSettings", "DeviceCredentials",
           "DynsecCredentials", "IssuedCredential", "NotEnforced", "credentials_backend", "device_access", "device_access_of", "device_topics", "password_digest"]
