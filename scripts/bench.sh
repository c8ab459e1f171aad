#!/usr/bin/env bash
# tgsift benchmarks. Prints a table; run from anywhere: `scripts/bench.sh [POSTS]`.
#
# 1. Simulator serving rate: `tgsift sim serve` (floods off) in one process, the unmodified grammers
#    client (examples/sim_iterate.rs) iterating a POSTS-post channel in another, storing nothing.
#    Reports messages/s, requests/s, CPU seconds and peak RSS of both sides, so the CPU split shows
#    whether the simulator or the client is the bottleneck.
# 2. Adaptive pacer: the client layer pages a PACER_POSTS-post channel against the simulator's realistic
#    flood preset and reports the rate reached after warm-up as a share of the allowed rate, and
#    FLOOD_WAITs per 10,000 messages (examples/pacer_bench.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS=${1:-1000000}
PACER_POSTS=${PACER_POSTS:-200000}

cargo build --release --quiet --bin tgsift --example sim_iterate --example pacer_bench
BIN=target/release/tgsift
CLIENT=target/release/examples/sim_iterate
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cpu_secs() { # utime+stime of a pid, seconds
  awk '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13]) / 100 }' "/proc/$1/stat"
}
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

"$BIN" -q sim serve --posts "$POSTS" --channels 1 --flood off --session-out "$work/bench.session" --authorized \
  >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 1 200); do grep -q "serving until" "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
grep -q "serving until" "$work/serve.out" || { cat "$work/serve.err"; echo "simulator did not start" >&2; exit 1; }
channel=$(awk '/^channels:/ { print $2 }' "$work/serve.out")

s_cpu0=$(cpu_secs "$server_pid")
line=$("$CLIENT" "$work/bench.session" "$channel")
s_cpu1=$(cpu_secs "$server_pid")
s_rss=$(peak_rss_kib "$server_pid")

get() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
s_cpu=$(awk -v a="$s_cpu0" -v b="$s_cpu1" 'BEGIN { printf "%.2f", b - a }')
c_cpu=$(get client_cpu_s)
share=$(awk -v s="$s_cpu" -v c="$c_cpu" 'BEGIN { t = s + c; if (t > 0) printf "%.0f%% / %.0f%%", 100 * s / t, 100 * c / t; else print "n/a" }')

printf '\n%-44s %s\n' "simulator serving, grammers client, no storage" "(channel of $POSTS posts, floods off)"
printf '%-44s %s\n' "messages iterated" "$(get messages)"
printf '%-44s %s\n' "elapsed, s" "$(get seconds)"
printf '%-44s %s\n' "messages/s" "$(get msgs_per_s)"
printf '%-44s %s\n' "requests/s (getHistory, 100 per request)" "$(get reqs_per_s)"
printf '%-44s %s\n' "CPU s: simulator / client" "$s_cpu / $c_cpu"
printf '%-44s %s\n' "CPU share: simulator / client" "$share"
printf '%-44s %s\n' "peak RSS MiB: simulator / client" "$(awk -v s="$s_rss" -v c="$(get client_peak_rss_kib)" 'BEGIN { printf "%.1f / %.1f", s / 1024, c / 1024 }')"

echo
target/release/examples/pacer_bench "$PACER_POSTS" 30
