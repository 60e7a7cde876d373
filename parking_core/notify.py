"""How the platform reaches drivers: sign-in codes and notices (unpaid order, arrears), each behind a small protocol.

The embedded platform prints to the console; tests record; a deployment plugs in its SMS or push provider.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from parking_core.clock import local

log = logging.getLogger("parking.notify")


class CodeSender(Protocol):
    """Delivers a sign-in code to a phone (an SMS gateway in production)."""

    def send_code(self, phone: str, code: str, *, expires_at: datetime) -> None: ...


class Notifier(Protocol):
    """Tells a driver something about their account: kind is machine-readable (`unpaid_order`, `arrears`, ...)."""

    def notify(self, account_id: str, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None: ...


@dataclass(frozen=True)
class SentCode:
    phone: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class DriverNotice:
    account_id: str
    kind: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)


class RecordingSender:
    """Keeps every code it was asked to send, for tests."""

    def __init__(self) -> None:
        self.sent: list[SentCode] = []
        self._lock = threading.Lock()

    def send_code(self, phone: str, code: str, *, expires_at: datetime) -> None:
        with self._lock:
            self.sent.append(SentCode(phone, code, expires_at))

    def last_code(self, phone: str) -> str:
        """The latest code sent to this phone; KeyError when none was."""
        with self._lock:
            for sent in reversed(self.sent):
                if sent.phone == phone:
                    return sent.code
        raise KeyError(phone)



def mask_phone(phone: str) -> str:
    """138****8000: enough for a person to recognise, not enough to use (what logs may hold)."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


class ConsoleSender(RecordingSender):
    """Prints the code, so the demo can sign in without an SMS provider; never use it where strangers have phones.

    The printed line is the stand-in's "SMS", not a log line: the log gets the masked phone only.
    It keeps only the latest code per phone, for at most KEEP phones, so memory stays flat however
    many codes a long-running development server sends."""

    KEEP = 1000

    def send_code(self, phone: str, code: str, *, expires_at: datetime) -> None:
        line = f"[parking] sign-in code for {phone}: {code} (valid until {local(expires_at).isoformat(timespec='seconds')})"
        log.info("sign-in code sent to %s", mask_phone(phone))
        print(line, flush=True)
        with self._lock:  # the demo's scripted driver reads it back
            self.sent = [s for s in self.sent if s.phone != phone][-(self.KEEP - 1):]
            self.sent.append(SentCode(phone, code, expires_at))


class ConsoleNotifier:
    """Prints notices, for the embedded demo."""

    def notify(self, account_id: str, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        log.info("notice %s for account %s", kind, account_id)
        print(f"[parking] notice to {account_id} ({kind}): {message}", flush=True)


class RecordingNotifier:
    """Keeps every notice, for tests."""

    def __init__(self) -> None:
        self.notices: list[DriverNotice] = []
        self._lock = threading.Lock()

    def notify(self, account_id: str, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self.notices.append(DriverNotice(account_id, kind, message, MappingProxyType(dict(data or {}))))

    def of(self, account_id: str, kind: str | None = None) -> list[DriverNotice]:
        """This account's notices, oldest first, optionally of one kind."""
        with self._lock:
            return [n for n in self.notices if n.account_id == account_id and (kind is None or n.kind == kind)]


__all__ = [
    "CodeSender", "ConsoleNotifier", "ConsoleSender", "DriverNotice", "Notifier", "RecordingNotifier",
    "RecordingSender", "SentCode", "mask_phone",
]
