#!/usr/bin/env bash
# moto: AWS emulation (S3, DynamoDB, SQS, Secrets Manager, Cognito) for tests.
#
#   scripts/moto.sh start    install (once), start; prints the endpoint URL
#   scripts/moto.sh stop     stop the server
#   scripts/moto.sh status   is it running?
#   scripts/moto.sh url      print the endpoint URL
#   scripts/moto.sh reset    forget every emulated resource
#
# Point the AWS SDK at it with AWS_ENDPOINT_URL=<url> (and any credentials,
# e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test, AWS_REGION=us-east-1).
# `moto[server]` is installed with pip only when `moto_server` is missing.
# The pid file and log live in the git-ignored .local/moto. Idempotent: a
# running server is left alone (and `start` then returns at once).
# Port: RAG_MOTO_PORT (default 54340).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MOTO_VERSION=5.2.1
RAG_MOTO_PORT="${RAG_MOTO_PORT:-54340}"
MOTO_HOME="$LOCAL_DIR/moto"
PID_FILE="$MOTO_HOME/moto-$RAG_MOTO_PORT.pid"
LOG_FILE="$MOTO_HOME/moto-$RAG_MOTO_PORT.log"
URL="http://127.0.0.1:$RAG_MOTO_PORT"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$RAG_MOTO_PORT") 2>/dev/null; }

# Our server: the pid in the pid file is alive and the port answers.
running() {
  [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null && port_open
}

moto_command() {
  if command -v moto_server >/dev/null 2>&1; then
    MOTO=(moto_server)
    return 0
  fi
  if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    log "installing moto[server]==$MOTO_VERSION with pip"
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" 2>&1 \
      | grep -v "WARNING: Running pip as" >&2 || true
  fi
  python3 -c 'import moto.server' >/dev/null 2>&1 || die "moto[server] did not install"
  MOTO=(python3 -m moto.server)
}

start() {
  if running; then
    echo "$URL"
    return 0
  fi
  # Test binaries run in parallel (nextest) may all start it at once.
  mkdir -p "$MOTO_HOME"
  exec 9>"$MOTO_HOME/start.lock"
  flock 9
  if running; then
    echo "$URL"
    return 0
  fi
  if port_open; then
    die "port $RAG_MOTO_PORT is taken by another server; set RAG_MOTO_PORT or AWS_ENDPOINT_URL"
  fi
  moto_command
  log "starting moto on $URL (log: $LOG_FILE)"
  # 9>&-: the server must not inherit (and so hold) the start lock.
  nohup "${MOTO[@]}" -H 127.0.0.1 -p "$RAG_MOTO_PORT" >"$LOG_FILE" 2>&1 </dev/null 9>&- &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$URL/moto-api/data.json" 2>/dev/null; then
      echo "$URL"
      return 0
    fi
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$LOG_FILE" >&2 || true
  die "moto did not start"
}

stop() {
  if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    local pid
    pid="$(cat "$PID_FILE")"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    log "moto stopped"
  else
    log "moto is not running"
  fi
  rm -f "$PID_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on $URL"; else echo "stopped"; exit 3; fi ;;
  url) echo "$URL" ;;
  reset) curl -fsS -X POST -o /dev/null "$URL/moto-api/reset" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
