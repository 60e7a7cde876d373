"""Write the first dynamic-security.json for Mosquitto's dynamic-security plugin: the users the
platform needs before it can create device users itself. Standard library only, so it runs on the
host before any container does.

    MQTT_ADMIN_PASSWORD=... MQTT_PASSWORD=... SIMULATOR_PASSWORD=... \
        python3 deploy/mosquitto/dynsec_init.py deploy/mosquitto/dynsec/dynamic-security.json [--prefix parking/v1]

Passwords come from the environment (never the command line, which `ps` shows). Users:
- `admin` (PARKING_MQTT_ADMIN_USER): may use the plugin's control topic only; the platform issues and
  revokes device users with it.
- `platform` (MQTT_URL's user): reads and writes everything under the topic prefix.
- `simulator` (only when SIMULATOR_PASSWORD is set): publishes device topics of any car park.
Device users are not written here: `parking devices issue` (or the operator API) creates them.
Refuses to overwrite an existing file: the broker keeps the device users in it.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
from pathlib import Path

# PBKDF2-SHA512 rounds, as the plugin itself uses for the users it creates. The passwords are random
# (24 bytes from init-secrets.sh), which no count of rounds makes safer, while every round is paid by
# the single-threaded broker on each login: with 210,000 rounds one admin login took ~0.5 s here.
ITERATIONS = 101
CONTROL = "$CONTROL/dynamic-security/#"


def hashed(password: str) -> dict:
    """The plugin's format: base64 of a 12-byte salt and of PBKDF2-HMAC-SHA512 (64 bytes)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, 64)
    return {"password": base64.b64encode(digest).decode(), "salt": base64.b64encode(salt).decode(), "iterations": ITERATIONS}


def acl(acltype: str, topic: str) -> dict:
    return {"acltype": acltype, "topic": topic, "allow": True}


def config(prefix: str, passwords: dict[str, str]) -> dict:
    """The whole file: users, their roles, and deny-by-default for publishing and subscribing."""
    prefix = prefix.rstrip("/")
    roles = {
        "admin": [acl("publishClientSend", CONTROL), acl("publishClientReceive", CONTROL), acl("subscribePattern", CONTROL),
                  acl("unsubscribePattern", "#")],
        "platform": [acl("publishClientSend", f"{prefix}/#"), acl("publishClientReceive", f"{prefix}/#"),
                     acl("subscribePattern", f"{prefix}/#"), acl("subscribePattern", f"$share/+/{prefix}/#"),
                     acl("unsubscribePattern", "#")],
        "simulator": [acl("publishClientSend", f"{prefix}/lots/#")],
    }
    clients = [{"username": user, "textName": f"parking {user}", **hashed(pw), "roles": [{"rolename": user}]}
               for user, pw in passwords.items()]
    return {
        "clients": clients,
        "roles": [{"rolename": name, "acls": acls} for name, acls in roles.items() if name in passwords],
        "groups": [],
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True, "subscribe": False, "unsubscribe": True},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--prefix", default=os.environ.get("PARKING_TOPIC_PREFIX", "parking/v1"))
    args = ap.parse_args(argv)
    passwords = {"admin": os.environ.get("MQTT_ADMIN_PASSWORD", ""), "platform": os.environ.get("MQTT_PASSWORD", "")}
    if os.environ.get("SIMULATOR_PASSWORD"):
        passwords["simulator"] = os.environ["SIMULATOR_PASSWORD"]
    short = [name for name, pw in passwords.items() if len(pw) < 16]
    if short:  # random ones only: see ITERATIONS
        print(f"error: passwords of {', '.join(short)} missing or under 16 characters "
              "(MQTT_ADMIN_PASSWORD, MQTT_PASSWORD, SIMULATOR_PASSWORD)", file=sys.stderr)
        return 2
    if args.path.exists():
        print(f"error: {args.path} exists (it holds the device users); not overwritten", file=sys.stderr)
        return 2
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(json.dumps(config(args.prefix, passwords), indent=1) + "\n")
    print(f"wrote {args.path} (users {', '.join(passwords)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
