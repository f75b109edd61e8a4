#!/usr/bin/env bash
# The local gateway (`ragctl dev`) as a background service.
#
#   scripts/dev.sh start    build ragctl if needed, start the gateway, wait until it answers; prints its URL
#   scripts/dev.sh stop     stop it
#   scripts/dev.sh status   is it running?
#
# Port: RAG_DEV_PORT (default 8787). Data (uploads, status, queues, token secret): .local/dev.
# Log: .local/dev/gateway-<port>.log. Uses DATABASE_URL, or the embedded PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

RAG_DEV_PORT="${RAG_DEV_PORT:-8787}"
DEV_DIR="${RAG_DEV_DIR:-$LOCAL_DIR/dev}"
PID_FILE="$DEV_DIR/gateway-$RAG_DEV_PORT.pid"
LOG_FILE="$DEV_DIR/gateway-$RAG_DEV_PORT.log"
URL="http://127.0.0.1:$RAG_DEV_PORT"

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }
healthy() { python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$URL/healthz" 2>/dev/null; }

case "${1:-start}" in
  start)
    if running && healthy; then echo "$URL"; exit 0; fi
    export DATABASE_URL="${DATABASE_URL:-$(scripts/pg.sh start)}"
    scripts/fetch-model.sh >/dev/null
    scripts/fetch-onnxruntime.sh >/dev/null
    cargo build --quiet -p ragctl
    mkdir -p "$DEV_DIR"
    log "starting the local gateway on $URL (log: $LOG_FILE)"
    nohup "$CARGO_TARGET_DIR/debug/ragctl" dev --addr "127.0.0.1:$RAG_DEV_PORT" --data-dir "$DEV_DIR" \
      >"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 600); do
      if healthy; then echo "$URL"; exit 0; fi
      kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break
      sleep 0.1
    done
    tail -20 "$LOG_FILE" >&2 || true
    die "the local gateway did not start"
    ;;
  stop)
    if running; then
      pid="$(cat "$PID_FILE")"
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      log "local gateway stopped"
    fi
    rm -f "$PID_FILE"
    ;;
  status)
    if running && healthy; then echo "running: $URL"; else echo "stopped"; exit 1; fi
    ;;
  *) die "usage: scripts/dev.sh start|stop|status" ;;
esac
