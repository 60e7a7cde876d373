#!/usr/bin/env sh
# First start of the docker compose stack: make its secrets, once. Nothing working is shipped in
# the repository: this writes .env (database and broker passwords, the JWT secret, an operator key)
# and deploy/mosquitto/passwd (the broker's users: platform, simulator), each random, readable by
# you only. Run it again and it keeps what exists.   Usage: sh deploy/init-secrets.sh
set -eu
cd "$(dirname "$0")/.."
umask 077
rand() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }
if [ ! -f .env ]; then
  cat > .env <<ENV
POSTGRES_PASSWORD=$(rand 24)
MQTT_PASSWORD=$(rand 24)
SIMULATOR_PASSWORD=$(rand 24)
PARKING_JWT_SECRET=$(rand 48)
PARKING_OPERATOR_KEYS=op1:$(rand 24)
ENV
  echo "wrote .env"
fi
. ./.env
if [ ! -f deploy/mosquitto/passwd ]; then
  touch deploy/mosquitto/passwd
  if command -v mosquitto_passwd >/dev/null 2>&1; then
    mosquitto_passwd -b deploy/mosquitto/passwd platform "$MQTT_PASSWORD"
    mosquitto_passwd -b deploy/mosquitto/passwd simulator "$SIMULATOR_PASSWORD"
  else
    docker run --rm -v "$PWD/deploy/mosquitto:/m" eclipse-mosquitto:2 sh -c \
      "mosquitto_passwd -b /m/passwd platform '$MQTT_PASSWORD' && mosquitto_passwd -b /m/passwd simulator '$SIMULATOR_PASSWORD'"
  fi
  chmod 644 deploy/mosquitto/passwd  # the broker's own user reads it; it holds only salted hashes
  echo "wrote deploy/mosquitto/passwd (users platform, simulator)"
fi
