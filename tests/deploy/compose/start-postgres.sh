#!/bin/sh
# PostgreSQL as the upstream image starts it: a cluster in $PGDATA made on first start with
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, password authentication from the network,
# then the server in the foreground as the postgres user (exec'd by setpriv: podman's SIGTERM
# reaches the postmaster itself, a smart shutdown).
set -eu
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
PGDATA=${PGDATA:-/var/lib/postgresql/data}
mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
  as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
  rm -f /tmp/pwfile
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  as_postgres pg_ctl -D "$PGDATA" -w -o "-c listen_addresses= -k /tmp" start >/dev/null
  [ "$POSTGRES_DB" = postgres ] || as_postgres createdb -h /tmp -U "$POSTGRES_USER" "$POSTGRES_DB"
  as_postgres pg_ctl -D "$PGDATA" -w stop >/dev/null
fi
mkdir -p /run/postgresql && chown postgres /run/postgresql
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*'
