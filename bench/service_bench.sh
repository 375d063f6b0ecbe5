#!/usr/bin/env bash
# Service benchmark (DESIGN.md §6 targets: /healthz p99 < 5 ms at 1 000 req/s; job submit → first
# progress event < 200 ms on an idle node). Starts `facefuse serve` on a free loopback port with a
# temporary data directory, then:
#   1. wrk on GET /healthz                     (baseline for 2)
#   2. wrk on GET /api/v1/jobs/{id}            (a completed image job)
#   3. submit → first WebSocket event latency  (bench/service_client.py; baseline: the same client's
#                                               GET /healthz round trip)
# and prints the machine, the inputs and a Markdown table for docs/benchmarks.md.
#
# Usage: bench/service_bench.sh [FACEFUSE_BINARY]          (default build/bin/facefuse)
# Environment:
#   DURATION=10 CONNECTIONS=8 THREADS=2   wrk settings (seconds, open connections, threads)
#   JOBS=5                                submissions timed in step 3
#   SERVE_ARGS="--no-auth"                extra `facefuse serve` flags (e.g. rate limits for the run)
#   FACEFUSE_BENCH_KEY                    API key to send (when the server runs with auth)
#   FACEFUSE_CACHE                        test-data cache (default ~/.cache/facefuse)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
binary=${1:-$repo/build/bin/facefuse}
duration=${DURATION:-10}
connections=${CONNECTIONS:-8}
threads=${THREADS:-2}
jobs=${JOBS:-5}
serve_args=${SERVE_ARGS:---no-auth}
testdata=${FACEFUSE_CACHE:-$HOME/.cache/facefuse}/testdata
source_photo=$testdata/photos/astronaut.png
target_photo=$testdata/dlib_faces/Tom_Cruise_avp_2014_4.jpg
python=/usr/bin/python3

die() { printf 'service_bench: %s\n' "$*" >&2; exit 1; }
[ -x "$binary" ] || die "no facefuse binary at $binary (build first: make build)"
command -v wrk >/dev/null || die "wrk not found (scripts/setup installs it)"
for f in "$source_photo" "$target_photo"; do [ -f "$f" ] || die "missing test photo $f (run scripts/setup)"; done

data=$(mktemp -d "${TMPDIR:-/tmp}/facefuse_bench_service.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
# shellcheck disable=SC2086  # SERVE_ARGS is a list of flags
"$binary" serve --listen "127.0.0.1:$port" --data "$data/data" --workers 1 $serve_args >"$data/serve.log" 2>&1 &
server_pid=$!

ready=0
for _ in $(seq 1 600); do
  kill -0 "$server_pid" 2>/dev/null || { tail -n 30 "$data/serve.log" >&2; die "facefuse serve exited during start-up"; }
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz" || true)" = 200 ]; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || { tail -n 30 "$data/serve.log" >&2; die "facefuse serve not ready after 120 s"; }

auth=()
[ -n "${FACEFUSE_BENCH_KEY:-}" ] && auth=(-H "Authorization: Bearer $FACEFUSE_BENCH_KEY")

# run_wrk URL → "p50_ms p99_ms requests_per_second non_2xx" from wrk --latency.
run_wrk() {
  wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "${auth[@]}" "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    $1 == "Requests/sec:" { rps = $2 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    END { printf "%.3f %.3f %.0f %d\n", p50, p99, rps, bad }'
}

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) hardware threads"
echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); kernel $(uname -r)"
echo "facefuse: $("$binary" --version 2>/dev/null || echo "$binary")"
echo "wrk: ${threads} threads, ${connections} connections, ${duration} s per route; serve flags: --workers 1 $serve_args"
echo "photos: source $(basename "$source_photo"), target $(basename "$target_photo"); $jobs timed submissions"

read -r h_p50 h_p99 h_rps h_bad < <(run_wrk "$url/healthz")
job_id=$("$python" "$here/service_client.py" "$url" prepare --source "$source_photo" --target "$target_photo")
read -r j_p50 j_p99 j_rps j_bad < <(run_wrk "$url/api/v1/jobs/$job_id")
latency=$("$python" "$here/service_client.py" "$url" latency --jobs "$jobs" --source "$source_photo" --target "$target_photo")

field() { "$python" -c 'import json,sys; print("%.1f" % json.loads(sys.argv[1])[sys.argv[2]])' "$latency" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
first=$(field first_event_ms_median)
first_max=$(field first_event_ms_max)
processing=$(field processing_event_ms_median)
round_trip=$(field healthz_round_trip_ms_median)

echo
echo "== results"
echo "| measurement | p50 ms | p99 ms | req/s | non-2xx | × baseline |"
echo "|---|---|---|---|---|---|"
echo "| GET /healthz (baseline) | $h_p50 | $h_p99 | $h_rps | $h_bad | 1.00 |"
echo "| GET /api/v1/jobs/{id} | $j_p50 | $j_p99 | $j_rps | $j_bad | $(ratio "$j_p99" "$h_p99") (p99) |"
echo
echo "| measurement (median of $jobs) | ms | × GET /healthz round trip ($round_trip ms) |"
echo "|---|---|---|"
echo "| submit → first progress event | $first (max $first_max) | $(ratio "$first" "$round_trip") |"
echo "| submit → job shown processing | $processing | $(ratio "$processing" "$round_trip") |"
echo
echo "targets (DESIGN.md §6): /healthz p99 < 5 ms at ≥ 1000 req/s: p99 $h_p99 ms at $h_rps req/s;" \
     "submit → first progress event < 200 ms: $first ms"
if [ "$h_bad" != 0 ] || [ "$j_bad" != 0 ]; then
  echo "warning: non-2xx answers during wrk (rate limits? pass SERVE_ARGS to relax them for the run)" >&2
fi
