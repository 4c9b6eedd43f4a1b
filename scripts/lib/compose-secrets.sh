#!/bin/sh
# The `secrets` service of compose.yaml (one-shot, first in the start-up order; runs as root in the app
# image): fills the amber-secrets volume, which the services that need a secret mount read-only at
# /run/amber-secrets. Values never reach its log.
#
#   for each secret: the value set in .env (passed in as an environment variable) or in a file named by a
#   *_FILE variable (mounted by Compose under /run/secrets) wins; else the file already in the volume is
#   kept; else a random one is generated. Files only the user can supply (the API key, Apprise settings)
#   are copied when given and removed when no longer given.
#   Each file is owned by the one user that reads it (uid 10001: the app image; 472: Grafana; 65534:
#   Alertmanager's nobody; TimescaleDB's entry point reads as root) and readable by nobody else.
#
# AMBER_SECRETS_DIR and AMBER_SECRETS_SOURCES move the two folders (tests).
set -eu
umask 077
dir=${AMBER_SECRETS_DIR:-/run/amber-secrets}
sources=${AMBER_SECRETS_SOURCES:-/run/secrets}
mkdir -p "$dir"
chmod 0755 "$dir"

random() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

# put NAME OWNER:GROUP MODE: the value on stdin, written atomically.
put() {
    cat > "$dir/.$1.tmp"
    chown "$2" "$dir/.$1.tmp"
    chmod "$3" "$dir/.$1.tmp"
    mv "$dir/.$1.tmp" "$dir/$1"
}

# secret NAME OWNER:GROUP MODE VALUE SOURCE_FILE: a generated secret the user may set instead.
secret() {
    name=$1 owner=$2 mode=$3 value=$4 source=$5
    if [ -n "$value" ]; then
        printf '%s\n' "$value" | put "$name" "$owner" "$mode"; echo "secret $name: from .env"
    elif [ -s "$sources/$source" ]; then
        put "$name" "$owner" "$mode" < "$sources/$source"; echo "secret $name: from its *_FILE"
    elif [ -s "$dir/$name" ]; then
        chown "$owner" "$dir/$name"; chmod "$mode" "$dir/$name"; echo "secret $name: kept"
    else
        random | put "$name" "$owner" "$mode"; echo "secret $name: generated"
    fi
}

# given NAME OWNER:GROUP MODE: a file only the user can supply; copied when given, else removed.
given() {
    if [ -s "$sources/$1" ]; then
        put "$1" "$2" "$3" < "$sources/$1"; echo "secret $1: from its *_FILE"
    elif [ -e "$dir/$1" ]; then
        rm -f "$dir/$1"; echo "secret $1: no longer given, removed"
    fi
}

secret postgres_password 10001:10001 0400 "${POSTGRES_PASSWORD:-}" postgres_password_source
secret writer_password 10001:10001 0400 "" writer_password_source
secret reader_password 10001:0 0440 "${AMBER_READER_PASSWORD:-}" reader_password_source
secret relay_token 10001:65534 0440 "${ALERT_WEBHOOK_TOKEN:-}" relay_token_source
secret grafana_admin_password 472:0 0400 "${GF_SECURITY_ADMIN_PASSWORD:-}" grafana_admin_password_source
given amber_api_key 10001:10001 0400
given apprise_urls 10001:10001 0400
given apprise_config 10001:10001 0400
