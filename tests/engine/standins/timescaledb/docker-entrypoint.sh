#!/bin/bash
# The official postgres/timescaledb images' entry point contract, reimplemented for the stand-in:
#   - POSTGRES_USER [postgres], POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), POSTGRES_DB [$POSTGRES_USER],
#     PGDATA [/var/lib/postgresql/data]; POSTGRES_INITDB_ARGS; POSTGRES_HOST_AUTH_METHOD [scram-sha-256];
#   - on an empty PGDATA: initdb, then /docker-entrypoint-initdb.d/*.sh (sourced) and *.sql (psql) against
#     a server listening on the socket only, then that server stops;
#   - `postgres -c …` (or just `-c …`) runs the server as the postgres user.
set -Eeo pipefail

file_env() {   # VAR from $VAR or from the file named by $VAR_FILE, not both
    local var=$1 file_var="${1}_FILE" default=${2:-}
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        echo "error: both $var and $file_var are set (they are exclusive)" >&2; exit 1
    fi
    local value=$default
    if [ -n "${!var:-}" ]; then value=${!var}
    elif [ -n "${!file_var:-}" ]; then value=$(< "${!file_var}")
    fi
    export "$var"="$value"
    unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ]; then
    # Before dropping root, as the official entry point: a *_FILE may be readable by root only.
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
        echo "error: database is uninitialized and superuser password is not specified." >&2
        echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
        exit 1
    fi
    echo "initializing the database in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host="$auth" $POSTGRES_INITDB_ARGS >/dev/null
    printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    # The timescale image's 001_timescaledb_tune.sh: skipped when NO_TS_TUNE is set; the stand-in only
    # preloads the library (the tune script's one setting the extension needs).
    echo "shared_preload_libraries = 'timescaledb'" >> "$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
    export PGUSER=$POSTGRES_USER PGHOST=/var/run/postgresql
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --dbname postgres --set db="$POSTGRES_DB" -q <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "running $f"; . "$f" ;;
            *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --dbname "$POSTGRES_DB" -q -f "$f" ;;
            *) ;;
        esac
    done
    unset PGUSER PGHOST
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
