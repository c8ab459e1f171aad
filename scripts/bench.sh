#!/usr/bin/env bash
# tgsift benchmarks. Prints a table; run from anywhere: `scripts/bench.sh [POSTS]`
# (`ONLY=ingest|tagging|pacer scripts/bench.sh` runs one part).
#
# 1. Simulator serving rate: `tgsift sim serve` (floods off) in one process, the unmodified grammers
#    client (examples/sim_iterate.rs) iterating a POSTS-post channel in another, storing nothing.
#    Reports messages/s, requests/s, CPU seconds and peak RSS of both sides, so the CPU split shows
#    whether the simulator or the client is the bottleneck.
# 2. End-to-end ingest: `tgsift run --once` backfilling one channel (floods off) into SQLite, for
#    E2E_SMALL and POSTS posts: messages/s, peak RSS, and the ratio to the client-only rate of (1).
# 3. Tagging: the embedded tagger on TAG_POSTS generated posts (posts/s on all cores, ms per post on one),
#    beside Python yake (PyPI, in a throw-away venv) on exactly the same texts.
# 4. Adaptive pacer: the client layer pages a PACER_POSTS-post channel against the simulator's realistic
#    flood preset and reports the rate reached after warm-up as a share of the allowed rate, and
#    FLOOD_WAITs per 10,000 messages (examples/pacer_bench.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS=${1:-1000000}
PACER_POSTS=${PACER_POSTS:-200000}
E2E_SMALL=${E2E_SMALL:-100000}
TAG_POSTS=${TAG_POSTS:-5000}
ONLY=${ONLY:-all} # all | ingest | tagging | pacer

cargo build --release --quiet --bin tgsift --example sim_iterate --example pacer_bench --example tag_bench
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

if [ "$ONLY" = all ] || [ "$ONLY" = ingest ]; then
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

client_rate=$(get msgs_per_s)
kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Runs `tgsift run --once` on a fresh database against a fresh simulator of $1 posts; prints
# "posts seconds msgs_per_s peak_rss_kib".
e2e() {
  local n=$1 dir="$work/e2e-$1"
  mkdir -p "$dir/sessions"
  "$BIN" -q sim serve --posts "$n" --channels 1 --flood off --session-out "$dir/sim.session" --authorized \
    >"$dir/serve.out" 2>"$dir/serve.err" &
  server_pid=$!
  for _ in $(seq 1 200); do grep -q "serving until" "$dir/serve.out" 2>/dev/null && break; sleep 0.05; done
  local ch; ch=$(awk '/^channels:/ { print $2 }' "$dir/serve.out")
  export TG_API_ID=12345 TG_API_HASH=0123456789abcdef0123456789abcdef TGSIFT_STORAGE__SESSIONS_DIR="$dir/sessions"
  export TGSIFT_TELEGRAM__PACER_INITIAL_RATE=1000 TGSIFT_TELEGRAM__PACER_MAX_RATE=5000
  "$BIN" -q --db "$dir/t.db" account import bench --session "$dir/sim.session" >/dev/null
  "$BIN" -q --db "$dir/t.db" channels add bench "$ch" >/dev/null
  local t0 t1 rss=0 pid
  t0=$(date +%s.%N)
  "$BIN" -q --db "$dir/t.db" run --once >/dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    r=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$r" ] && [ "$r" -gt "$rss" ] && rss=$r
    sleep 0.05
  done
  wait "$pid"
  t1=$(date +%s.%N)
  local stored; stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from posts').fetchone()[0])" "$dir/t.db")
  kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""
  awk -v n="$stored" -v a="$t0" -v b="$t1" -v r="$rss" 'BEGIN { printf "%d %.2f %.0f %d", n, b - a, n / (b - a), r }'
}

read -r s_n s_s s_rate s_rss <<<"$(e2e "$E2E_SMALL")"
read -r l_n l_s l_rate l_rss <<<"$(e2e "$POSTS")"
printf '\n%-44s %s\n' "end-to-end ingest: run --once → SQLite" "(floods off; one channel)"
printf '%-44s %12s %12s\n' "" "$E2E_SMALL posts" "$POSTS posts"
printf '%-44s %12s %12s\n' "posts stored" "$s_n" "$l_n"
printf '%-44s %12s %12s\n' "elapsed, s" "$s_s" "$l_s"
printf '%-44s %12s %12s\n' "messages/s" "$s_rate" "$l_rate"
printf '%-44s %12s %12s\n' "ratio to the client-only rate" \
  "$(awk -v a="$s_rate" -v c="$client_rate" 'BEGIN { printf "%.2f", a / c }')" \
  "$(awk -v a="$l_rate" -v c="$client_rate" 'BEGIN { printf "%.2f", a / c }')"
printf '%-44s %12s %12s\n' "peak RSS, MiB" \
  "$(awk -v r="$s_rss" 'BEGIN { printf "%.1f", r / 1024 }')" "$(awk -v r="$l_rss" 'BEGIN { printf "%.1f", r / 1024 }')"

fi
if [ "$ONLY" = all ] || [ "$ONLY" = tagging ]; then
tline=$(target/release/examples/tag_bench "$TAG_POSTS" --dump "$work/texts.jsonl")
yline=$(target/release/examples/tag_bench "$TAG_POSTS" --yake)
tget() { echo "$tline" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
yget() { echo "$yline" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
yake_rate="n/a"
yake_ms="n/a"
if python3 -m venv "$work/venv" >/dev/null 2>&1 && "$work/venv/bin/pip" install -q yake >/dev/null 2>&1; then
  read -r yake_rate yake_ms <<<"$("$work/venv/bin/python" - "$work/texts.jsonl" "$(nproc)" <<'PY'
# Python yake with the embedded tagger's settings (n=2 Russian, n=3 English, language by script),
# one process per core over all texts, then one process over the first 1,000 for ms per post.
import json, sys, time, yake
from multiprocessing import Pool

EX = {}

def tag(t):
    cyr = sum("а" <= c.lower() <= "я" or c in "ёЁ" for c in t)
    lan = "ru" if cyr * 2 > sum(c.isalpha() for c in t) else "en"
    if lan not in EX:
        EX[lan] = yake.KeywordExtractor(lan=lan, n=2 if lan == "ru" else 3, top=7)
    return len(EX[lan].extract_keywords(t))

if __name__ == "__main__":
    texts = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
    with Pool(int(sys.argv[2])) as pool:
        pool.map(tag, texts[:20])
        t0 = time.perf_counter()
        pool.map(tag, texts, chunksize=50)
        rate = len(texts) / (time.perf_counter() - t0)
    one = texts[:1000]
    t0 = time.perf_counter()
    for t in one:
        tag(t)
    print(f"{rate:.0f} {(time.perf_counter() - t0) * 1000 / len(one):.2f}")
PY
)"
fi
printf '\n%-44s %s\n' "tagging: embedded tagger vs Python yake" "($TAG_POSTS simulator posts, ru/en/mixed)"
printf '%-44s %12s %14s %12s\n' "" "embedded" "embedded+yake" "Python yake"
printf '%-44s %12s %14s %12s\n' "posts/s, $(tget threads) cores" "$(tget posts_per_s)" "$(yget posts_per_s)" "$yake_rate"
printf '%-44s %12s %14s %12s\n' "ms per post, one core" "$(tget ms_per_post_one_core)" "$(yget ms_per_post_one_core)" "$yake_ms"
if [ "$yake_rate" != "n/a" ]; then
  printf '%-44s %12s %14s\n' "throughput ratio to Python yake" \
    "$(awk -v a="$(tget posts_per_s)" -v b="$yake_rate" 'BEGIN { printf "%.1fx", a / b }')" \
    "$(awk -v a="$(yget posts_per_s)" -v b="$yake_rate" 'BEGIN { printf "%.1fx", a / b }')"
fi
fi

if [ "$ONLY" = all ] || [ "$ONLY" = pacer ]; then
  echo
  target/release/examples/pacer_bench "$PACER_POSTS" 30
fi
