#!/usr/bin/env bash
# Blue/green rollout of facefuse API nodes behind nginx on one host (docs/deploy.md "Blue/green").
#
#   bluegreen.sh --state DIR init --listen HOST:PORT
#       write DIR/nginx.conf and start nginx (Debian's) on HOST:PORT; no node is active yet.
#   bluegreen.sh --state DIR deploy --port PORT -- COMMAND...
#       start COMMAND (e.g. `facefuse serve --store … --storage …`; `--listen 127.0.0.1:PORT` is
#       appended) as the inactive colour, wait for its /readyz, run a smoke job through it, then
#       switch nginx to it (graceful reload) and drain the old colour (SIGTERM: /readyz 503, no new
#       claims, running tasks finish or are released, exit 0). When the new node is not ready or
#       its smoke job fails, it is stopped and traffic stays where it was (exit 1: rolled back).
#       --keep-old leaves the old colour running (idle) so `rollback` is instant.
#   bluegreen.sh --state DIR rollback     switch back to the other colour (it must still run)
#   bluegreen.sh --state DIR status       active colour, ports, pids
#   bluegreen.sh --state DIR stop         drain both colours and stop nginx
#
# Both colours must share the job store and blob storage (--store postgresql://…, --storage
# s3://…): jobs accepted by blue are then finished or re-leased by green. Schema changes are
# backward compatible for one version, so blue keeps working on green's migrated schema.
# Environment: FACEFUSE_SMOKE_KEY (an API key with submit+read; empty for --no-auth nodes),
# FACEFUSE_SMOKE_SOURCE / FACEFUSE_SMOKE_TARGET (photos for the smoke job), READY_TIMEOUT (60 s),
# SMOKE_TIMEOUT (180 s), DRAIN_TIMEOUT (120 s). Exit 0 done, 1 rolled back / failed, 2 bad usage.
set -euo pipefail

state="" cmd=""
die() { echo "bluegreen: $*" >&2; exit 1; }
usage() { echo "bluegreen: $*" >&2; echo "usage: see the header of $0" >&2; exit 2; }
log() { echo "[bluegreen $(date -u +%H:%M:%S)] $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --state) state=${2:?--state needs a directory}; shift 2 ;;
    init|deploy|rollback|status|stop) cmd=$1; shift; break ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) usage "unknown argument '$1'" ;;
  esac
done
[ -n "$state" ] || usage "--state DIR is required"
[ -n "$cmd" ] || usage "say init, deploy, rollback, status or stop"
mkdir -p "$state"
state=$(cd "$state" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NGINX=${NGINX:-nginx}

active() { cat "$state/active" 2>/dev/null || true; }
other() { if [ "$1" = blue ]; then echo green; else echo blue; fi; }
alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }
nginx_running() { alive nginx; }  # nginx.conf.template: pid @STATE@/nginx.pid

# After a reload, nginx's old worker processes finish the requests they hold, and send them to the
# previous upstream. The caller drains that colour next, so wait (at most OLD_WORKERS_TIMEOUT s, 10
# by default: a WebSocket progress stream can hold a worker for a whole job) until the workers that
# ran before the reload (their pids, $1) are gone: a request an old worker sent to a colour already
# closing got a 502. Waiting by pid, not by the "shutting down" title: right after the reload the
# new workers already answer while the master has not yet told the old ones to stop, and those
# still take new connections for the previous upstream (two 502s in CI, deploy.bluegreen's
# rollback, with the title check).
wait_for_old_nginx_workers() {
  local pids=$1 deadline=$((SECONDS + ${OLD_WORKERS_TIMEOUT:-10})) pid alive_any
  while [ $SECONDS -lt $deadline ]; do
    alive_any=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive_any=1; done
    [ $alive_any = 0 ] && return 0
    sleep 0.1
  done
}

# switch_to COLOUR: point nginx at COLOUR's port and reload; returns once nginx answers from it and
# its old workers are gone.
switch_to() {
  local colour=$1 port
  port=$(cat "$state/$colour.port")
  printf 'server 127.0.0.1:%s;\n' "$port" > "$state/active.conf.tmp"
  mv "$state/active.conf.tmp" "$state/active.conf"
  "$NGINX" -t -q -c "$state/nginx.conf" || die "nginx rejected the configuration (see $state/nginx-error.log)"
  local master old_workers=""
  if master=$(cat "$state/nginx.pid" 2>/dev/null); then old_workers=$(pgrep -P "$master" | tr '\n' ' ' || true); fi
  "$NGINX" -s reload -c "$state/nginx.conf"
  echo "$colour" > "$state/active"
  local listen deadline=$((SECONDS + 20))
  listen=$(cat "$state/listen")
  while [ $SECONDS -lt $deadline ]; do
    if curl -fsS -o /dev/null -D - "http://$listen/healthz" 2>/dev/null | grep -qi "^x-facefuse-upstream: 127.0.0.1:$port"; then
      log "traffic now goes to $colour (127.0.0.1:$port)"
      wait_for_old_nginx_workers "$old_workers"
      return 0
    fi
    sleep 0.2
  done
  die "nginx does not answer from $colour after the reload"
}

# drain COLOUR: SIGTERM and wait for a clean exit (the service drains itself).
drain() {
  local colour=$1 pid deadline=$((SECONDS + ${DRAIN_TIMEOUT:-120}))
  alive "$colour" || { rm -f "$state/$colour.pid"; return 0; }
  pid=$(cat "$state/$colour.pid")
  log "draining $colour (pid $pid)"
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$colour did not exit within ${DRAIN_TIMEOUT:-120} s: killing it (its leases expire and other nodes re-run its tasks)"
    kill -KILL "$pid"
  fi
  rm -f "$state/$colour.pid"
}

json_field() { sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p" | head -1; }

# smoke URL: upload two photos, run a swap, expect `completed` and a non-empty output.
smoke() {
  local url=$1 auth=() source target job body deadline output size
  [ -n "${FACEFUSE_SMOKE_KEY:-}" ] && auth=(-H "Authorization: Bearer $FACEFUSE_SMOKE_KEY")
  source=${FACEFUSE_SMOKE_SOURCE:?FACEFUSE_SMOKE_SOURCE: a photo with one face}
  target=${FACEFUSE_SMOKE_TARGET:?FACEFUSE_SMOKE_TARGET: a photo with a face}
  local up_s up_t
  up_s=$(curl -fsS "${auth[@]}" -F "file=@$source" "$url/api/v1/upload" | json_field upload_id) || return 1
  up_t=$(curl -fsS "${auth[@]}" -F "file=@$target" "$url/api/v1/upload" | json_field upload_id) || return 1
  [ -n "$up_s" ] && [ -n "$up_t" ] || return 1
  job=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
        -d "{\"source\":{\"upload_id\":\"$up_s\"},\"target\":{\"upload_id\":\"$up_t\"}}" "$url/api/v1/jobs" | json_field job_id) || return 1
  [ -n "$job" ] || return 1
  deadline=$((SECONDS + ${SMOKE_TIMEOUT:-180}))
  while [ $SECONDS -lt $deadline ]; do
    body=$(curl -fsS "${auth[@]}" "$url/api/v1/jobs/$job") || return 1
    case "$(json_field status <<<"$body")" in
      completed)
        output=$(json_field output_url <<<"$body")
        # S3 storage hands out a presigned URL (absolute, authorised by its query: no API key on it);
        # file storage a /media link on the node.
        case "$output" in
          http://*|https://*) size=$(curl -fsS "$output" | wc -c) ;;
          *) size=$(curl -fsS "${auth[@]}" "$url$output" | wc -c) ;;
        esac
        [ "$size" -gt 1000 ] || return 1
        log "smoke job $job completed"
        return 0 ;;
      failed|cancelled) log "smoke job $job $(json_field status <<<"$body")"; return 1 ;;
    esac
    sleep 0.5
  done
  log "smoke job $job did not finish in ${SMOKE_TIMEOUT:-180} s"
  return 1
}

case "$cmd" in
  init)
    [ "${1:-}" = --listen ] && [ -n "${2:-}" ] || usage "init --listen HOST:PORT"
    nginx_running && die "nginx already runs for $state"
    mkdir -p "$state/nginx-tmp"
    echo "$2" > "$state/listen"
    sed -e "s|@STATE@|$state|g" -e "s|@LISTEN@|$2|g" "$here/nginx.conf.template" > "$state/nginx.conf"
    # Until the first deploy, nothing listens behind nginx (502).
    echo "server 127.0.0.1:9 down;" > "$state/active.conf"
    "$NGINX" -c "$state/nginx.conf"
    log "nginx on $2 (state in $state)" ;;

  deploy)
    port="" keep_old=0
    while [ $# -gt 0 ]; do
      case "$1" in
        --port) port=${2:?}; shift 2 ;;
        --keep-old) keep_old=1; shift ;;
        --) shift; break ;;
        *) usage "deploy: unknown argument '$1'" ;;
      esac
    done
    [ -n "$port" ] && [ $# -gt 0 ] || usage "deploy --port PORT -- COMMAND..."
    nginx_running || die "nginx is not running: run init first"
    old=$(active)
    new=$(other "${old:-green}")
    alive "$new" && die "$new is still running (pid $(cat "$state/$new.pid")): stop or rollback first"
    echo "$port" > "$state/$new.port"
    log "starting $new on 127.0.0.1:$port: $*"
    "$@" --listen "127.0.0.1:$port" >>"$state/$new.out" 2>>"$state/$new.log" &
    echo $! > "$state/$new.pid"
    url=http://127.0.0.1:$port
    ready=0 deadline=$((SECONDS + ${READY_TIMEOUT:-60}))
    while [ $SECONDS -lt $deadline ] && alive "$new"; do
      if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then ready=1; break; fi
      sleep 0.2
    done
    if [ $ready = 1 ] && smoke "$url"; then
      switch_to "$new"
      if [ -n "$old" ] && [ $keep_old = 0 ]; then drain "$old"; fi
      log "deployed $new"
    else
      [ $ready = 1 ] || log "$new did not become ready in ${READY_TIMEOUT:-60} s (see $state/$new.log)"
      drain "$new"
      die "rolled back: ${old:-nothing} stays active"
    fi ;;

  rollback)
    cur=$(active)
    [ -n "$cur" ] || die "nothing is active"
    prev=$(other "$cur")
    alive "$prev" || die "$prev is not running: deploy the previous version instead"
    curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$state/$prev.port")/readyz" || die "$prev is not ready"
    switch_to "$prev"
    drain "$cur"
    log "rolled back to $prev" ;;

  status)
    cur=$(active)
    echo "active: ${cur:-none}"
    for c in blue green; do
      if alive "$c"; then echo "$c: pid $(cat "$state/$c.pid") port $(cat "$state/$c.port")"; else echo "$c: stopped"; fi
    done ;;

  stop)
    for c in blue green; do drain "$c"; done
    if nginx_running; then "$NGINX" -s quit -c "$state/nginx.conf"; fi
    rm -f "$state/active"
    log "stopped" ;;
esac
