#!/usr/bin/env sh
# First start of the docker compose stack: make its secrets, once. Nothing working is shipped in
# the repository: this writes .env (database and broker passwords, the broker admin's password, the
# JWT secret, an operator key) and deploy/mosquitto/dynsec/dynamic-security.json (the broker's
# users: admin, platform, simulator, as the dynamic-security plugin reads them: salted PBKDF2
# hashes), each random, readable by you only. Run it again and it keeps what exists (and adds
# what an older .env lacks).   Usage: sh deploy/init-secrets.sh
set -eu
cd "$(dirname "$0")/.."
umask 077
rand() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }
if [ ! -f .env ]; then
  cat > .env <<ENV
POSTGRES_PASSWORD=$(rand 24)
MQTT_PASSWORD=$(rand 24)
MQTT_ADMIN_PASSWORD=$(rand 24)
SIMULATOR_PASSWORD=$(rand 24)
PARKING_JWT_SECRET=$(rand 48)
PARKING_OPERATOR_KEYS=city:$(rand 24)
PARKING_PLATE_HASH_KEY=$(rand 48)
ENV
  echo "wrote .env"
else
  if ! grep -q '^MQTT_ADMIN_PASSWORD=' .env; then
    echo "MQTT_ADMIN_PASSWORD=$(rand 24)" >> .env
    echo "added MQTT_ADMIN_PASSWORD to .env"
  fi
  if ! grep -q '^PARKING_PLATE_HASH_KEY=' .env; then
    echo "PARKING_PLATE_HASH_KEY=$(rand 48)" >> .env
    echo "added PARKING_PLATE_HASH_KEY to .env"
  fi
fi
. ./.env
DYNSEC=deploy/mosquitto/dynsec/dynamic-security.json
if [ ! -f "$DYNSEC" ]; then
  # the broker saves every device user the platform adds to this file: it is never rewritten here
  MQTT_ADMIN_PASSWORD="$MQTT_ADMIN_PASSWORD" MQTT_PASSWORD="$MQTT_PASSWORD" SIMULATOR_PASSWORD="$SIMULATOR_PASSWORD" \
    python3 deploy/mosquitto/dynsec_init.py "$DYNSEC"
fi
