#!/bin/bash
# As the timescale image's init script of the same name: the extension in template1 and POSTGRES_DB.
for db in template1 "$POSTGRES_DB"; do
    psql -v ON_ERROR_STOP=1 --dbname "$db" -q -c 'CREATE EXTENSION IF NOT EXISTS timescaledb;'
done
