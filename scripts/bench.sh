#!/usr/bin/env bash
# tgsift benchmarks, through the commands a user runs. Prints one table per part; run from anywhere:
# `scripts/bench.sh [POSTS]`. `ONLY=part1,part2 scripts/bench.sh` runs some parts:
#
#   ingest    the simulator serving a POSTS-post channel to the unmodified grammers client (no storage:
#             the client-only rate), then `tgsift run --once` backfilling E2E_SMALL and POSTS posts into
#             SQLite with tagging off and on (floods off): messages/s, CPU, peak RSS, posts tagged/s, when the last post was stored; and
#             the first `posts search` after it, which builds the search index of what was stored; then
#             POSTS again from a simulator whose pages are cut short at random (PAGE_FAULTS, default
#             short_page=0.05) beside the fault-free run: requests per 1,000 posts, posts/s
#   telethon  Telethon 1.45 + sqlite3 (PyPI, throw-away venv) reading an E2E_SMALL-post channel of the
#             same simulator, beside `tgsift run --once` on the same channel: time and CPU per message;
#             then both on a 20,000-post channel with page faults (TELETHON_FAULTS): the same ids?
#   latency   `tgsift run --once` backfilling LAT_POSTS posts from a simulator 100 ms away with
#             Telegram-like flood limits (getHistory 20/s, burst 30): rate after a warm-up as a share of
#             the allowed rate, FLOOD_WAITs per 10,000 messages after it
#   scale     `tgsift run` following 1,000 channels over 10 accounts: peak RSS, CPU while idle
#   tagging   the embedded tagger on TAG_POSTS simulator posts (all cores, one core) beside Python yake
#   live      `tgsift sim serve --live-rate 200` for LIVE_SECS: RSS over time, with and without a client
#             following the updates
#   follow    `tgsift run` in live mode following FOLLOW_CHANNELS channels on one account while the
#             simulator publishes FOLLOW_RATE posts/s: latency from publishing to stored and to tagged
#             (p50/p99, from the simulator's --publish-log and the posts' stored/tagged times), and
#             getHistory requests per hour against polling every channel once a minute; then the
#             "silent" variant for SILENT_SECS (pushes stop after 60 s without a request, SILENT_UNPUSHED
#             of the channels never pushed): stored, publish → stored, requests per hour by method
#   counts    `tgsift run` (poll mode) refreshing the counters of COUNTS_CHANNELS channels of COUNTS_POSTS
#             posts whose histories end now (`sim serve --recent`, realistic floods), with the schedule
#             15m/1d, 1h/7d, 1d/30d run 60 × faster (15s/1d, 60s/7d, 1440s/30d), so each minute stands
#             for an hour: getMessagesViews + getMessagesReactions per hour per 1,000 posts younger than
#             30 days, over COUNTS_SECS after a minute's warm-up (from tgsift's /metrics)
#   media     `tgsift run --once` with `media.download = ["any"]` on MEDIA_CHANNELS channels of MEDIA_POSTS
#             posts (every file kind at Telegram's sizes, on the simulator's media DC): files/s and MB/s
#             of the downloads (from the run's own summary line), tgsift's CPU seconds per 100 MB beside
#             the same run without downloads, and the files on disk against the simulator's hashes
#   postgres  `tgsift run --once` backfilling E2E_SMALL posts into PostgreSQL beside the same into SQLite
#             (messages/s, tgsift and server CPU); then PG_CHANNELS channels over 6 accounts from a
#             simulator PG_LATENCY_MS away, backfilled by 1 `tgsift run` worker and by 3 sharing the
#             accounts: seconds until every post is stored. PostgreSQL at TGSIFT_BENCH_PG (default
#             postgres://postgres@127.0.0.1:5432/test), each run in a schema of its own
#   fleet     FLEET_WORKERS (3) `tgsift run` workers on PostgreSQL serving FLEET_ACCOUNTS (100) accounts,
#             each a member of its share of FLEET_CHANNELS (10,000) channels (`sim serve --shares`,
#             onboarded with `channels import`), while the simulator publishes FLEET_RATE (200)
#             posts/s, tagging on: publish → stored / tagged p50 and p99 over FLEET_SECS (600) once every
#             channel is followed live, peak RSS and idle CPU per worker, the simulator's RSS; then one
#             worker is killed (SIGKILL) while publishing goes on for FLEET_KILL_SECS: seconds until its
#             accounts are held by the others, and every post published from start to end stored
#             exactly once (against the simulator's publish log)
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS=${1:-1000000}
E2E_SMALL=${E2E_SMALL:-100000}
LAT_POSTS=${LAT_POSTS:-200000}
LAT_WARMUP=${LAT_WARMUP:-20}
SCALE_CHANNELS=${SCALE_CHANNELS:-1000}
SCALE_ACCOUNTS=${SCALE_ACCOUNTS:-10}
TAG_POSTS=${TAG_POSTS:-5000}
LIVE_SECS=${LIVE_SECS:-600}
FOLLOW_CHANNELS=${FOLLOW_CHANNELS:-1000}
FOLLOW_RATE=${FOLLOW_RATE:-50}
FOLLOW_SECS=${FOLLOW_SECS:-120}
SILENT_SECS=${SILENT_SECS:-600}
SILENT_UNPUSHED=${SILENT_UNPUSHED:-0.3}
SILENT_SETTLE=${SILENT_SETTLE:-315}
COUNTS_CHANNELS=${COUNTS_CHANNELS:-20}
COUNTS_POSTS=${COUNTS_POSTS:-2000}
COUNTS_SECS=${COUNTS_SECS:-180}
MEDIA_CHANNELS=${MEDIA_CHANNELS:-2}
MEDIA_POSTS=${MEDIA_POSTS:-300}
PG=${TGSIFT_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}
PG_CHANNELS=${PG_CHANNELS:-30}
PG_POSTS=${PG_POSTS:-5000}
PG_LATENCY_MS=${PG_LATENCY_MS:-50}
FLEET_ACCOUNTS=${FLEET_ACCOUNTS:-100}
FLEET_CHANNELS=${FLEET_CHANNELS:-10000}
FLEET_WORKERS=${FLEET_WORKERS:-3}
FLEET_RATE=${FLEET_RATE:-200}
FLEET_SECS=${FLEET_SECS:-600}
FLEET_KILL_SECS=${FLEET_KILL_SECS:-120}
ONLY=${ONLY:-ingest,telethon,latency,scale,tagging,live,follow,counts,media,postgres,fleet}
want() { [[ ",$ONLY," == *",$1,"* ]]; }

cargo build --release --quiet --bin tgsift --example sim_iterate --example tag_bench --example sim_follow --example live_latency
BIN=$PWD/target/release/tgsift
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cpu_secs() { # utime+stime of a pid, seconds
  awk '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13]) / 100 }' "/proc/$1/stat"
}
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
count_posts() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$1" "${2:-select count(*) from posts}"; }

# Starts `tgsift sim serve ARGS…` in DIR; sets server_pid and channels (the @names it serves).
start_sim() {
  local dir=$1; shift
  mkdir -p "$dir"
  "$BIN" -q sim serve "$@" >"$dir/serve.out" 2>"$dir/serve.err" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 400); do grep -q "serving until" "$dir/serve.out" 2>/dev/null && break; sleep 0.05; done
  grep -q "serving until" "$dir/serve.out" || { cat "$dir/serve.err"; echo "simulator did not start" >&2; exit 1; }
  channels=$(awk '/^channels:/ { $1 = ""; print }' "$dir/serve.out")
}
stop_sim() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }

# The environment every tgsift command of the benchmark runs with.
tg_env() {
  export TG_API_ID=12345 TG_API_HASH=0123456789abcdef0123456789abcdef TGSIFT_STORAGE__SESSIONS_DIR="$1/sessions"
  unset TGSIFT_TELEGRAM__PACER_INITIAL_RATE TGSIFT_TELEGRAM__PACER_MAX_RATE TGSIFT_TAGGING__BACKEND TGSIFT_INGEST__POLL_INTERVAL
  # Setting up hundreds of simulated channels resolves each once; the resolve budget that protects a
  # real account (a burst of 3, then one per 10 s) would turn that setup into hours. Ingest is what
  # is measured here.
  export TGSIFT_TELEGRAM__RESOLVE_INTERVAL=0 TGSIFT_TELEGRAM__RESOLVE_PER_DAY=100000
}

# Runs `tgsift ARGS…` and prints "seconds cpu_s peak_kib" of the whole process (GNU time).
timed() {
  /usr/bin/time -o "$work/time.out" -f "%e %U %S %M" "$BIN" "$@" >"$work/timed.out" 2>"$work/timed.err" \
    || { cat "$work/timed.err" >&2; echo "tgsift $* failed" >&2; exit 1; }
  awk '{ printf "%.2f %.2f %d", $1, $2 + $3, $4 }' "$work/time.out"
}

if want ingest; then
  start_sim "$work/client" --posts "$POSTS" --channels 1 --flood off --session-out "$work/client/bench.session" --authorized
  s_cpu0=$(cpu_secs "$server_pid")
  line=$(target/release/examples/sim_iterate "$work/client/bench.session" $channels)
  s_cpu=$(awk -v a="$s_cpu0" -v b="$(cpu_secs "$server_pid")" 'BEGIN { printf "%.2f", b - a }')
  s_rss=$(peak_rss_kib "$server_pid")
  stop_sim
  get() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
  client_rate=$(get msgs_per_s)
  printf '\n%-46s %s\n' "simulator → unmodified grammers client" "(channel of $POSTS messages, floods off, no storage)"
  printf '%-46s %s\n' "messages iterated" "$(get messages)"
  printf '%-46s %s\n' "messages/s (client-only rate)" "$client_rate"
  printf '%-46s %s\n' "requests/s (one at a time)" "$(get reqs_per_s)"
  printf '%-46s %s\n' "CPU s: simulator / client" "$s_cpu / $(get client_cpu_s)"
  printf '%-46s %s\n' "peak RSS MiB: simulator / client" "$(mib "$s_rss") / $(mib "$(get client_peak_rss_kib)")"

  # `tgsift run --once` on a fresh database against a fresh simulator of $1 posts with tagging $2;
  # prints "posts seconds cpu_s peak_kib tagged index_s index_cpu_s stored_s" (stored_s: from start
  # until the last post was stored, by the posts' stored_at_ms).
  e2e() {
    local n=$1 backend=$2 dir="$work/e2e-$1-$2"
    start_sim "$dir" --posts "$n" --channels 1 --flood off --session-out "$dir/sim.session" --authorized
    tg_env "$dir"
    export TGSIFT_TELEGRAM__PACER_INITIAL_RATE=1000 TGSIFT_TELEGRAM__PACER_MAX_RATE=5000 TGSIFT_TAGGING__BACKEND=$backend
    "$BIN" -q --db "$dir/t.db" account import bench --session "$dir/sim.session" >/dev/null
    "$BIN" -q --db "$dir/t.db" channels add bench $channels >/dev/null
    local t0
    t0=$(date +%s%3N)
    read -r secs cpu rss <<<"$(timed -q --db "$dir/t.db" run --once)"
    stop_sim
    local stored
    stored=$(awk -v a="$t0" -v b="$(count_posts "$dir/t.db" "select max(stored_at_ms) from posts")" 'BEGIN { printf "%.2f", (b - a) / 1000 }')
    # The search index is filled behind ingest: the first search indexes what run --once queued.
    read -r isecs icpu _ <<<"$(timed -q --db "$dir/t.db" posts search --limit 1 ставка)"
    echo "$(count_posts "$dir/t.db") $secs $cpu $rss $(count_posts "$dir/t.db" "select count(*) from posts where tagging_status = 'success'") $isecs $icpu $stored"
  }
  read -r a_n a_s a_c a_r _ a_is a_ic a_st <<<"$(e2e "$E2E_SMALL" off)"
  read -r b_n b_s b_c b_r _ b_is b_ic b_st <<<"$(e2e "$POSTS" off)"
  read -r c_n c_s c_c c_r c_t _ _ c_st <<<"$(e2e "$E2E_SMALL" embedded)"
  read -r d_n d_s d_c d_r d_t _ _ d_st <<<"$(e2e "$POSTS" embedded)"
  rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
  printf '\n%-46s %s\n' "ingest: tgsift run --once → SQLite" "(one channel, floods off; whole process, start to exit)"
  printf '%-46s %12s %12s %12s %12s\n' "" "$E2E_SMALL off" "$POSTS off" "$E2E_SMALL on" "$POSTS on"
  printf '%-46s %12s %12s %12s %12s\n' "posts stored" "$a_n" "$b_n" "$c_n" "$d_n"
  printf '%-46s %12s %12s %12s %12s\n' "posts tagged" "-" "-" "$c_t" "$d_t"
  printf '%-46s %12s %12s %12s %12s\n' "wall time, s" "$a_s" "$b_s" "$c_s" "$d_s"
  printf '%-46s %12s %12s %12s %12s\n' "posts stored/s" "$(rate "$a_n" "$a_s")" "$(rate "$b_n" "$b_s")" "$(rate "$c_n" "$c_s")" "$(rate "$d_n" "$d_s")"
  printf '%-46s %12s %12s %12s %12s\n' "ratio of stored/s to the client-only rate" \
    "$(ratio "$(rate "$a_n" "$a_s")" "$client_rate")" "$(ratio "$(rate "$b_n" "$b_s")" "$client_rate")" "-" "-"
  printf '%-46s %12s %12s %12s %12s\n' "posts tagged/s (whole run)" "-" "-" "$(rate "$c_t" "$c_s")" "$(rate "$d_t" "$d_s")"
  printf '%-46s %12s %12s %12s %12s\n' "wall time, tagging on / off" "-" "-" "$(ratio "$c_s" "$a_s")" "$(ratio "$d_s" "$b_s")"
  printf '%-46s %12s %12s %12s %12s\n' "every post stored after, s" "$a_st" "$b_st" "$c_st" "$d_st"
  printf '%-46s %12s %12s %12s %12s\n' "stored after, tagging on / off" "-" "-" "$(ratio "$c_st" "$a_st")" "$(ratio "$d_st" "$b_st")"
  printf '%-46s %12s %12s %12s %12s\n' "CPU s (user + system)" "$a_c" "$b_c" "$c_c" "$d_c"
  printf '%-46s %12s %12s %12s %12s\n' "peak RSS, MiB" "$(mib "$a_r")" "$(mib "$b_r")" "$(mib "$c_r")" "$(mib "$d_r")"
  printf '%-46s %12s %12s %12s %12s\n' "then first search (indexes the queue), s" "$a_is" "$b_is" "-" "-"
  printf '%-46s %12s %12s %12s %12s\n' "  its CPU s" "$a_ic" "$b_ic" "-" "-"

  # The same backfill (tagging off) from a simulator that pages like Telegram at its worst: pages cut
  # short at random (PAGE_FAULTS). Prints "posts seconds cpu_s history_requests lookups".
  paged() {
    local n=$1 faults=$2 dir="$work/paged-$1-${2:-none}"
    start_sim "$dir" --posts "$n" --channels 1 --flood off ${faults:+--faults "$faults"} --session-out "$dir/sim.session" --authorized
    tg_env "$dir"
    export TGSIFT_TELEGRAM__PACER_INITIAL_RATE=1000 TGSIFT_TELEGRAM__PACER_MAX_RATE=5000 TGSIFT_TAGGING__BACKEND=off
    "$BIN" -q --db "$dir/t.db" account import bench --session "$dir/sim.session" >/dev/null
    "$BIN" -q --db "$dir/t.db" channels add bench $channels >/dev/null
    read -r secs cpu _ <<<"$(timed -q --db "$dir/t.db" run --once)"
    kill -INT "$server_pid"; wait "$server_pid" 2>/dev/null || true
    local reqs
    reqs=$(grep '^requests:' "$dir/serve.out" | tr ' ' '\n')
    echo "$(count_posts "$dir/t.db") $secs $cpu $(echo "$reqs" | awk -F= '$1 == "messages.getHistory" { print $2 }') $(echo "$reqs" | awk -F= '$1 == "channels.getMessages" { n = $2 } END { print n + 0 }')"
  }
  PAGE_FAULTS=${PAGE_FAULTS:-short_page=0.05}
  read -r p_n p_s p_c p_h p_m <<<"$(paged "$POSTS" "")"
  read -r q_n q_s q_c q_h q_m <<<"$(paged "$POSTS" "$PAGE_FAULTS")"
  per_k() { awk -v r="$1" -v n="$2" 'BEGIN { printf "%.2f", r * 1000 / n }'; }
  printf '\n%-46s %s\n' "ingest on irregular pages: tgsift run --once" "(one channel of $POSTS messages, floods off, tagging off)"
  printf '%-46s %12s %12s\n' "" "no faults" "$PAGE_FAULTS"
  printf '%-46s %12s %12s\n' "posts stored" "$p_n" "$q_n"
  printf '%-46s %12s %12s\n' "wall time, s" "$p_s" "$q_s"
  printf '%-46s %12s %12s\n' "posts stored/s" "$(rate "$p_n" "$p_s")" "$(rate "$q_n" "$q_s")"
  printf '%-46s %12s %12s\n' "CPU s (user + system)" "$p_c" "$q_c"
  printf '%-46s %12s %12s\n' "getHistory / getMessages requests" "$p_h / $p_m" "$q_h / $q_m"
  printf '%-46s %12s %12s\n' "requests per 1,000 posts" "$(per_k $((p_h + p_m)) "$p_n")" "$(per_k $((q_h + q_m)) "$q_n")"
  printf '%-46s %12s %12s\n' "requests, faults / no faults" "-" "$(ratio $((q_h + q_m)) $((p_h + p_m)))"
fi

if want telethon; then
  dir="$work/telethon"
  mkdir -p "$dir"
  if python3 -m venv "$dir/venv" >/dev/null 2>&1 && "$dir/venv/bin/pip" install -q "telethon==1.45.0" >/dev/null 2>&1; then
    start_sim "$dir" --posts "$E2E_SMALL" --channels 1 --flood off --session-out "$dir/sim.session" \
      --string-session-out "$dir/telethon.txt" --authorized
    t_line=$(/usr/bin/time -f "wall=%e" "$dir/venv/bin/python" scripts/telethon_ingest.py "$dir/telethon.txt" $channels "$dir/telethon.db" 2>"$dir/time.err")
    t_wall=$(awk -F= '/^wall=/ { print $2 }' "$dir/time.err")
    tget() { echo "$t_line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
    tg_env "$dir"
    export TGSIFT_TELEGRAM__PACER_INITIAL_RATE=1000 TGSIFT_TELEGRAM__PACER_MAX_RATE=5000 TGSIFT_TAGGING__BACKEND=off
    "$BIN" -q --db "$dir/t.db" account import bench --session "$dir/sim.session" >/dev/null
    "$BIN" -q --db "$dir/t.db" channels add bench $channels >/dev/null
    read -r g_s g_c g_r <<<"$(timed -q --db "$dir/t.db" run --once)"
    g_n=$(count_posts "$dir/t.db")
    stop_sim
    printf '\n%-46s %s\n' "peer: Telethon 1.45 + sqlite3 vs tgsift" "(same simulator, channel of $E2E_SMALL messages, floods off)"
    printf '%-46s %14s %14s\n' "" "Telethon" "tgsift"
    printf '%-46s %14s %14s\n' "posts stored" "$(tget messages)" "$g_n"
    printf '%-46s %14s %14s\n' "wall time (whole process), s" "$t_wall" "$g_s"
    printf '%-46s %14s %14s\n' "CPU s (whole process)" "$(tget cpu_s)" "$g_c"
    printf '%-46s %14s %14s\n' "CPU ms per 1,000 posts" \
      "$(awk -v c="$(tget cpu_s)" -v n="$(tget messages)" 'BEGIN { printf "%.1f", 1e6 * c / n }')" \
      "$(awk -v c="$g_c" -v n="$g_n" 'BEGIN { printf "%.1f", 1e6 * c / n }')"
    printf '%-46s %14s\n' "tgsift speed-up (wall)" "$(awk -v a="$t_wall" -v b="$g_s" 'BEGIN { printf "%.1fx", a / b }')"
    printf '%-46s %14s\n' "tgsift CPU per post / Telethon's" \
      "$(awk -v a="$g_c" -v an="$g_n" -v b="$(tget cpu_s)" -v bn="$(tget messages)" 'BEGIN { printf "1/%.1f", (b / bn) / (a / an) }')"
    # The same two readers on a channel paged like Telegram at its worst (no placeholders: Telethon
    # skips them without asking again): do both end with the same ids as the posts the account sees?
    fdir="$work/telethon-faults" faults=${TELETHON_FAULTS:-hidden=0.01,short_page=0.05,dup=0.05}
    start_sim "$fdir" --posts 20000 --channels 1 --flood off --faults "$faults" --session-out "$fdir/sim.session" \
      --string-session-out "$fdir/telethon.txt" --authorized
    "$dir/venv/bin/python" scripts/telethon_ingest.py "$fdir/telethon.txt" $channels "$fdir/telethon.db" >/dev/null
    tg_env "$fdir"
    export TGSIFT_TELEGRAM__PACER_INITIAL_RATE=1000 TGSIFT_TELEGRAM__PACER_MAX_RATE=5000 TGSIFT_TAGGING__BACKEND=off
    "$BIN" -q --db "$fdir/t.db" account import bench --session "$fdir/sim.session" >/dev/null
    "$BIN" -q --db "$fdir/t.db" channels add bench $channels >/dev/null
    "$BIN" -q --db "$fdir/t.db" run --once >/dev/null 2>&1
    stop_sim
    same=$(python3 -c "import sqlite3,sys
a = {r[0] for r in sqlite3.connect(sys.argv[1]).execute('select id from posts')}
b = {r[0] for r in sqlite3.connect(sys.argv[2]).execute('select message_id from posts')}
print(len(a), len(b), 'yes' if a == b else 'no: %d only Telethon, %d only tgsift' % (len(a - b), len(b - a)))" "$fdir/telethon.db" "$fdir/t.db")
    read -r f_t f_g f_same <<<"$same"
    printf '%-46s %14s %14s\n' "posts, channel of 20,000 with $faults" "$f_t" "$f_g"
    printf '%-46s %14s\n' "  same ids" "$f_same"
  else
    printf '\n%s\n' "peer: Telethon could not be installed from PyPI; skipped"
  fi
fi

if want latency; then
  # One backfill 100 ms away with the Telegram-like preset; with tagging off, then on (does tagging keep
  # up when ingest runs at the rate Telegram allows?). Prints "stored secs reqs span msgs floods tagged".
  latency_run() {
    local backend=$1 dir="$work/latency-$1"
    start_sim "$dir" --posts "$LAT_POSTS" --channels 1 --flood realistic --latency-ms 100 \
      --session-out "$dir/sim.session" --authorized
    tg_env "$dir"
    export TGSIFT_TAGGING__BACKEND=$backend
    "$BIN" -q --db "$dir/t.db" account import bench --session "$dir/sim.session" >/dev/null
    "$BIN" -q --db "$dir/t.db" channels add bench $channels >/dev/null
    local t0 t1; t0=$(date +%s.%N)
    "$BIN" --db "$dir/t.db" run --once >"$dir/run.out" 2>"$dir/run.err"
    t1=$(date +%s.%N)
    stop_sim
    # Requests after the warm-up: one fetched range is one getHistory page; floods from the log lines.
    local counts floods
    counts=$(python3 - "$dir/t.db" "${t0%.*}" "$LAT_WARMUP" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); t = int(sys.argv[2]) + int(sys.argv[3])
n, hi = c.execute("select count(*), max(fetched_at) from fetched_ranges where fetched_at >= ?", (t,)).fetchone()
m = c.execute("select coalesce(sum(to_id - from_id + 1), 0) from fetched_ranges where fetched_at >= ?", (t,)).fetchone()[0]
print(n, max((hi or t) - t, 1), m)
PY
)
    floods=$(python3 - "$dir/run.err" "$(( ${t0%.*} + LAT_WARMUP ))" <<'PY'
import re, sys, datetime
t = int(sys.argv[2]); n = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if "FLOOD_WAIT: sleeping" not in line and "FLOOD_WAIT above the threshold" not in line:
        continue
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", line)
    if m and datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp() >= t:
        n += 1
print(n)
PY
)
    echo "$(count_posts "$dir/t.db") $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') $counts $floods $(count_posts "$dir/t.db" "select count(*) from posts where tagging_status = 'success'")"
  }
  read -r l_n l_s reqs span msgs floods _ <<<"$(latency_run off)"
  read -r m_n m_s _ _ _ _ m_t <<<"$(latency_run embedded)"
  printf '\n%-46s %s\n' "round trips of 100 ms, Telegram-like limits" "(tgsift run --once, one channel of $LAT_POSTS messages, getHistory allowed 20/s, burst 30)"
  printf '%-46s %s\n' "posts stored" "$l_n"
  printf '%-46s %s\n' "warm-up excluded, s" "$LAT_WARMUP"
  printf '%-46s %s\n' "getHistory/s after warm-up" "$(awk -v r="$reqs" -v s="$span" 'BEGIN { printf "%.2f", r / s }')"
  printf '%-46s %s\n' "share of the allowed rate" "$(awk -v r="$reqs" -v s="$span" 'BEGIN { printf "%.1f %%", 100 * r / s / 20 }')"
  printf '%-46s %s\n' "FLOOD_WAITs after warm-up" "$floods"
  printf '%-46s %s\n' "FLOOD_WAITs per 10,000 messages after warm-up" "$(awk -v f="$floods" -v m="$msgs" 'BEGIN { printf "%.2f", 1e4 * f / (m > 0 ? m : 1) }')"
  printf '%-46s %s\n' "one request at a time would allow, req/s" "10.00 (1 / 100 ms)"
  printf '%-46s %s\n' "wall time, tagging off / on, s" "$l_s / $m_s ($(awk -v a="$m_s" -v b="$l_s" 'BEGIN { printf "%.2f", a / b }') x; $m_t of $m_n posts tagged)"
fi

if want scale; then
  dir="$work/scale"
  start_sim "$dir" --posts 20 --channels "$SCALE_CHANNELS" --accounts "$SCALE_ACCOUNTS" --flood off \
    --sessions-out "$dir/simsessions" --authorized
  tg_env "$dir"
  for a in $(seq 0 $((SCALE_ACCOUNTS - 1))); do
    "$BIN" -q --db "$dir/t.db" account import "acc$a" --session "$dir/simsessions/sim$a.session" >/dev/null
  done
  # Channel i goes to account i mod N; each account's adds run one after another (they take its lease).
  set -- $channels
  all=("$@")
  adders=()
  for a in $(seq 0 $((SCALE_ACCOUNTS - 1))); do
    (
      for i in $(seq "$a" "$SCALE_ACCOUNTS" $((${#all[@]} - 1))); do
        "$BIN" -q --db "$dir/t.db" channels add "acc$a" "${all[$i]}" >/dev/null
      done
    ) &
    adders+=($!)
  done
  wait "${adders[@]}"
  expected=$(( $(count_posts "$dir/t.db" "select count(*) from channels") ))
  export TGSIFT_INGEST__POLL_INTERVAL=600
  "$BIN" -q --db "$dir/t.db" run >"$dir/run.out" 2>"$dir/run.err" &
  run_pid=$!
  pids+=("$run_pid")
  t0=$(date +%s.%N)
  until [ "$(count_posts "$dir/t.db" "select count(*) from channels where last_fetch_at is not null")" -ge "$expected" ]; do sleep 0.5; done
  until [ "$(count_posts "$dir/t.db" "select count(*) from posts where tagging_status in ('pending','retrying')")" -eq 0 ]; do sleep 0.5; done
  synced=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  sleep 5
  c0=$(cpu_secs "$run_pid"); sleep 60; c1=$(cpu_secs "$run_pid")
  peak=$(peak_rss_kib "$run_pid")
  kill -TERM "$run_pid"; wait "$run_pid" || true
  stop_sim
  printf '\n%-46s %s\n' "scale: one tgsift run, many channels" "($expected channels over $SCALE_ACCOUNTS accounts, 20 messages each, tagging on)"
  printf '%-46s %s\n' "posts stored" "$(count_posts "$dir/t.db")"
  printf '%-46s %s\n' "start to every channel synced and tagged, s" "$synced"
  printf '%-46s %s\n' "peak RSS, MiB" "$(mib "$peak")"
  printf '%-46s %s\n' "CPU between polls, % of one core (60 s)" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", 100 * (b - a) / 60 }')"
fi

if want tagging; then
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
  printf '\n%-46s %s\n' "tagging: embedded tagger vs Python yake" "($TAG_POSTS simulator posts, ru/en/mixed)"
  printf '%-46s %12s %14s %12s\n' "" "embedded" "embedded+yake" "Python yake"
  printf '%-46s %12s %14s %12s\n' "posts/s, $(tget threads) cores" "$(tget posts_per_s)" "$(yget posts_per_s)" "$yake_rate"
  printf '%-46s %12s %14s %12s\n' "ms per post, one core" "$(tget ms_per_post_one_core)" "$(yget ms_per_post_one_core)" "$yake_ms"
  if [ "$yake_rate" != "n/a" ]; then
    printf '%-46s %12s %14s\n' "throughput ratio to Python yake" \
      "$(awk -v a="$(tget posts_per_s)" -v b="$yake_rate" 'BEGIN { printf "%.1fx", a / b }')" \
      "$(awk -v a="$(yget posts_per_s)" -v b="$yake_rate" 'BEGIN { printf "%.1fx", a / b }')"
  fi
fi

if want live; then
  # Two simulators side by side: one serving nobody, one followed by a grammers client.
  start_sim "$work/live-a" --posts 10000 --channels 3 --live-rate 200 --flood off
  alone=$server_pid
  start_sim "$work/live-b" --posts 10000 --channels 3 --live-rate 200 --flood off \
    --session-out "$work/live-b/follow.session" --authorized
  followed=$server_pid
  target/release/examples/sim_follow "$work/live-b/follow.session" "$LIVE_SECS" >"$work/live-b/follow.out" &
  follower=$!
  pids+=("$follower")
  samples=""
  for at in 0 60 300 "$LIVE_SECS"; do
    [ "$at" -gt "$LIVE_SECS" ] && continue
    now=$(( $(date +%s) ))
    [ -n "${live_t0:-}" ] || live_t0=$now
    sleep $(( live_t0 + at - now > 0 ? live_t0 + at - now : 0 ))
    samples="$samples $at:$(rss_kib "$alone"):$(rss_kib "$followed")"
  done
  wait "$follower" || true
  kill "$alone" "$followed" 2>/dev/null || true
  printf '\n%-46s %s\n' "simulator serving for days" "(sim serve --live-rate 200: 3 channels of 10,000 posts, edits 0.02, deletions 0.01)"
  printf '%-46s' "RSS MiB at second"
  for s in $samples; do printf ' %10s' "${s%%:*}"; done; echo
  printf '%-46s' "  no client"
  for s in $samples; do v=${s#*:}; printf ' %10s' "$(mib "${v%%:*}")"; done; echo
  printf '%-46s' "  followed by a grammers client"
  for s in $samples; do printf ' %10s' "$(mib "${s##*:}")"; done; echo
  printf '%-46s %s\n' "client received" "$(cat "$work/live-b/follow.out")"
fi

if want follow; then
  # follow_run DIR SECS SETTLE SIM_ARGS…: `tgsift run` (live mode, defaults) following FOLLOW_CHANNELS
  # channels while the simulator publishes for SECS, then SETTLE seconds for the last posts to be
  # stored and tagged; sets `line` (key=value figures of live_latency plus
  # requests per hour by method, from tgsift's own /metrics) and `sim_counts` (what the simulator
  # withheld, from its exit summary).
  follow_run() {
    local dir=$1 secs=$2 settle=$3 port run_pid after_ms before_ms live_sql
    shift 3
    start_sim "$dir" --posts 20 --channels "$FOLLOW_CHANNELS" --flood off --live-rate "$FOLLOW_RATE" \
      --publish-log "$dir/published.csv" --session-out "$dir/sim.session" --authorized "$@"
    local sim_pid=$server_pid
    tg_env "$dir"
    "$BIN" -q --db "$dir/t.db" account import bench --session "$dir/sim.session" >/dev/null
    for c in $channels; do "$BIN" -q --db "$dir/t.db" channels add bench "$c" --backfill all >/dev/null; done
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$BIN" --db "$dir/t.db" run --http "127.0.0.1:$port" >"$dir/run.out" 2>"$dir/run.err" &
    run_pid=$!
    pids+=("$run_pid")
    live_sql="select count(*) from channel_live where pts is not null and member = 1"
    until [ "$(count_posts "$dir/t.db" "$live_sql")" -ge "$FOLLOW_CHANNELS" ]; do sleep 0.5; done
    sleep 5
    after_ms=$(date +%s%3N)
    requests() { # calls per method of the run so far, from its own /metrics: "method count" lines
      curl -sf "http://127.0.0.1:$port/metrics" | awk '/^tgsift_telegram_requests_total\{/ {
        match($0, /method="[^"]*"/); m = substr($0, RSTART + 8, RLENGTH - 9); n[m] += $NF }
        END { for (m in n) print m, n[m] }'
    }
    requests >"$dir/requests.0"
    sleep "$secs"
    requests >"$dir/requests.1"
    # Stop publishing first (the simulator keeps serving), give the last posts SETTLE seconds to be
    # stored and tagged, then stop tgsift.
    kill -USR1 "$sim_pid"
    sleep "$settle"
    kill -INT "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
    kill -TERM "$run_pid"; wait "$run_pid" || true
    before_ms=$(( after_ms + secs * 1000 ))
    awk -F, -v b="$before_ms" '$3 < b' "$dir/published.csv" >"$dir/window.csv"
    line=$(target/release/examples/live_latency "$dir/t.db" "$dir/window.csv" "$after_ms")
    local m
    for m in messages.getHistory updates.getChannelDifference updates.getDifference updates.getState; do
      line="$line $m=$(awk -v m="$m" -v s="$secs" 'FNR == NR { a[$1] = $2; next } $1 == m { printf "%.0f", ($2 - a[$1]) * 3600 / s; found = 1 } END { if (!found) print 0 }' "$dir/requests.0" "$dir/requests.1")"
    done
    sim_counts=$(grep -h "idle_stopped" "$dir/serve.out" "$dir/serve.err" | tail -1 || true)
  }
  fget() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

  follow_run "$work/follow" "$FOLLOW_SECS" 5
  per_hour=$(fget messages.getHistory)
  polling=$(( FOLLOW_CHANNELS * 60 ))
  printf '\n%-46s %s\n' "live mode: pushed updates instead of polling" "(tgsift run, $FOLLOW_CHANNELS channels on one account, $FOLLOW_RATE posts/s published, ${FOLLOW_SECS} s window, tagging on)"
  printf '%-46s %s\n' "posts published in the window / stored / missing" "$(fget published) / $(fget stored) / $(fget missing)"
  printf '%-46s %s\n' "publish → stored, p50 / p99 / max, ms" "$(fget store_p50_ms) / $(fget store_p99_ms) / $(fget store_max_ms)"
  printf '%-46s %s\n' "publish → tagged, p50 / p99, ms" "$(fget tag_p50_ms) / $(fget tag_p99_ms) ($(fget untagged) with text untagged)"
  printf '%-46s %s\n' "getHistory per hour (live)" "$per_hour"
  printf '%-46s %s\n' "getHistory per hour polling every 60 s" "$polling"
  printf '%-46s %s\n' "fewer requests than polling" "$(awk -v a="$per_hour" -v b="$polling" 'BEGIN { printf "%.1f %%", 100 * (1 - a / b) }')"

  # The same under Telegram's silences: pushes stop after 60 s without a request on the connection,
  # and SILENT_UNPUSHED of the channels are never pushed at all. Only the round robin of channel
  # differences (ingest.live_check_interval, default 300 s) and the keep-alive stand between them and
  # lost posts.
  # The last posts of a never-pushed channel may wait a whole check interval (300 s): SILENT_SETTLE.
  follow_run "$work/follow-silent" "$SILENT_SECS" "$SILENT_SETTLE" --push-idle-stop 60 --unpushed "$SILENT_UNPUSHED" \
    --live-deletes 0
  printf '\n%-46s %s\n' "live mode when Telegram goes silent" "(tgsift run, defaults, $FOLLOW_CHANNELS channels, $FOLLOW_RATE posts/s, pushes stop after 60 s idle, $SILENT_UNPUSHED of channels never pushed, ${SILENT_SECS} s window, no deletions so a missing post is a lost one)"
  printf '%-46s %s\n' "posts published in the window / stored / missing" "$(fget published) / $(fget stored) / $(fget missing)"
  printf '%-46s %s\n' "publish → stored, p50 / p99 / max, ms" "$(fget store_p50_ms) / $(fget store_p99_ms) / $(fget store_max_ms)"
  printf '%-46s %s\n' "requests per hour: getChannelDifference" "$(fget updates.getChannelDifference) ($(awk -v n="$(fget updates.getChannelDifference)" -v c="$FOLLOW_CHANNELS" 'BEGIN { printf "%.1f", n / c * 300 / 3600 }') per channel per 300 s check interval)"
  printf '%-46s %s\n' "requests per hour: getDifference / getState" "$(fget updates.getDifference) / $(fget updates.getState)"
  printf '%-46s %s\n' "requests per hour: getHistory" "$(fget messages.getHistory) (polling every 60 s: $(( FOLLOW_CHANNELS * 60 )))"
  printf '%-46s %s\n' "simulator" "$sim_counts"
fi

if want counts; then
  dir="$work/counts"
  start_sim "$dir" --posts "$COUNTS_POSTS" --channels "$COUNTS_CHANNELS" --flood realistic --recent \
    --session-out "$dir/sim.session" --authorized
  tg_env "$dir"
  "$BIN" -q --db "$dir/t.db" account import bench --session "$dir/sim.session" >/dev/null
  for c in $channels; do "$BIN" -q --db "$dir/t.db" channels add bench "$c" --backfill all >/dev/null; done
  TGSIFT_TAGGING__BACKEND=off "$BIN" -q --db "$dir/t.db" run --once >/dev/null 2>"$dir/once.err"
  young() { count_posts "$dir/t.db" "select count(*) from posts where date >= strftime('%s','now') - $1"; }
  day=$(young 86400); week=$(young 604800); month=$(young 2592000)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  TGSIFT_INGEST__MODE=poll TGSIFT_TAGGING__BACKEND=off TGSIFT_INGEST__COUNTS_REFRESH="15s/1d,60s/7d,1440s/30d" \
    "$BIN" --db "$dir/t.db" run --http "127.0.0.1:$port" >"$dir/run.out" 2>"$dir/run.err" &
  run_pid=$!
  pids+=("$run_pid")
  counts_calls() { # getMessagesViews + getMessagesReactions so far, from tgsift's /metrics
    curl -sf "http://127.0.0.1:$port/metrics" | awk '/^tgsift_telegram_requests_total\{/ && /getMessages(Views|Reactions)/ { n += $NF } END { print n + 0 }'
  }
  sleep 60
  c0=$(counts_calls); r0=$(count_posts "$dir/t.db" "select count(*) from post_counts")
  sleep "$COUNTS_SECS"
  c1=$(counts_calls); r1=$(count_posts "$dir/t.db" "select count(*) from post_counts")
  moved=$(count_posts "$dir/t.db" "select count(distinct post_id) from post_counts")
  kill -TERM "$run_pid"; wait "$run_pid" || true
  stop_sim
  # Each minute of the run stands for an hour of the real schedule.
  per_hour=$(awk -v a="$c0" -v b="$c1" -v s="$COUNTS_SECS" 'BEGIN { printf "%.0f", (b - a) * 60 / s }')
  printf '\n%-46s %s\n' "counts: refreshing views and reactions" "($COUNTS_CHANNELS channels of $COUNTS_POSTS posts ending now; schedule 15m/1d, 1h/7d, 1d/30d run 60 × faster)"
  printf '%-46s %s\n' "posts younger than 1 / 7 / 30 days" "$day / $week / $month"
  printf '%-46s %s\n' "requests per hour (views + reactions)" "$per_hour"
  printf '%-46s %s\n' "requests per hour per 1,000 posts < 30 days" "$(awk -v n="$per_hour" -v m="$month" 'BEGIN { printf "%.1f", m ? n * 1000 / m : 0 }')"
  printf '%-46s %s\n' "posts whose counters changed (history rows)" "$moved ($((r1 - r0)) rows in the window)"
fi

if want media; then
  dir="$work/media"
  start_sim "$dir" --posts "$MEDIA_POSTS" --channels "$MEDIA_CHANNELS" --flood off \
    --session-out "$dir/sim.session" --authorized --media-out "$dir/media.sim"
  tg_env "$dir"
  # The same channels into two databases: without downloads, then with every file.
  # (Each database with its own copy of the session: one session is never shared.)
  for db in plain files; do
    export TGSIFT_STORAGE__SESSIONS_DIR="$dir/$db.sessions"
    "$BIN" -q --db "$dir/$db.db" account import bench --session "$dir/sim.session" >/dev/null
    for c in $channels; do "$BIN" -q --db "$dir/$db.db" channels add bench "$c" --backfill all >/dev/null; done
  done
  read -r _ plain_cpu _ <<<"$(TGSIFT_STORAGE__SESSIONS_DIR="$dir/plain.sessions" TGSIFT_TAGGING__BACKEND=off \
    timed --db "$dir/plain.db" run --once)"
  read -r secs files_cpu peak <<<"$(TGSIFT_STORAGE__SESSIONS_DIR="$dir/files.sessions" TGSIFT_TAGGING__BACKEND=off \
    TGSIFT_MEDIA__DOWNLOAD=any TGSIFT_MEDIA__QUOTA=100GB TGSIFT_MEDIA__DIR="$dir/files" RUST_LOG=info \
    timed --db "$dir/files.db" run --once)"
  summary=$(grep -h "media: .* files" "$work/timed.err" "$work/timed.out" | tail -1 | sed 's/.*media: //; s/) .*/)/')
  mb=$(count_posts "$dir/files.db" "select printf('%.1f', coalesce(sum(size), 0) / 1e6) from media_files where status = 'done'")
  checked=$(python3 - "$dir/media.sim" "$dir/files.db" "$dir/files" <<'PY'
import hashlib, json, os, sqlite3, sys
want = {}
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    if d.get("sha256"):
        want[(d["channel"], d["message_id"])] = d["sha256"]
db = sqlite3.connect(sys.argv[2])
rows = db.execute("""select c.tg_id, p.message_id, f.sha256, f.path from posts p
    join channels c on c.id = p.channel_id join post_media m on m.post_id = p.id
    join media_files f on f.file_id = m.file_id where f.status = 'done'""").fetchall()
ok = sum(1 for u, mid, sha, path in rows if want.get((u, mid)) == sha
         and hashlib.sha256(open(os.path.join(sys.argv[3], path), "rb").read()).hexdigest() == sha)
print(f"{ok} of {len(want)} posts' files equal to the simulator's")
PY
)
  stop_sim
  printf '\n%-46s %s\n' "media: downloading every file" "($MEDIA_CHANNELS channels of $MEDIA_POSTS posts, run --once, floods off)"
  printf '%-46s %s\n' "downloads (the run's summary)" "$summary"
  printf '%-46s %s\n' "MB on disk" "$mb"
  printf '%-46s %s\n' "tgsift CPU s: without / with downloads" "$plain_cpu / $files_cpu"
  printf '%-46s %s\n' "CPU s per 100 MB downloaded" "$(awk -v a="$plain_cpu" -v b="$files_cpu" -v m="$mb" 'BEGIN { printf "%.2f", m ? (b - a) * 100 / m : 0 }')"
  printf '%-46s %s\n' "run with downloads: seconds / peak RSS MiB" "$secs / $(mib "$peak")"
  printf '%-46s %s\n' "check" "$checked"
fi

if want postgres; then
  export TGSIFT_SESSION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
  # A fresh schema of the benchmark's database; prints the URL tgsift opens it with.
  pg_schema() {
    PGOPTIONS='-c client_min_messages=warning' psql -q "$PG" -c "DROP SCHEMA IF EXISTS $1 CASCADE" -c "CREATE SCHEMA $1" >/dev/null
    echo "$PG?options=-c%20search_path%3D$1"
  }
  pg_count() { psql -qtA "$PG" -c "select count(*) from $1.posts"; }
  # CPU seconds of the PostgreSQL server: the postmaster's own and its exited children's (the
  # backend of each tgsift connection ends with the connection, and the postmaster reaps it), plus
  # the backends still running.
  pg_cpu() {
    local master total pid
    master=$(pgrep -o -x postgres || true)
    [ -n "$master" ] || { echo 0; return; }
    total=$(awk '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13] + f[14] + f[15]) / 100 }' "/proc/$master/stat")
    for pid in $(pgrep -P "$master" -x postgres || true); do
      total=$(awk -v t="$total" -v c="$(cpu_secs "$pid" 2>/dev/null || echo 0)" 'BEGIN { printf "%.2f", t + c }')
    done
    echo "$total"
  }

  # run --once of one E2E_SMALL-post channel into SQLite ($1 = sqlite) or PostgreSQL ($1 = postgres);
  # prints "posts seconds cpu_s peak_kib server_cpu_s".
  pg_e2e() {
    local kind=$1 dir="$work/pg-e2e-$1" db
    start_sim "$dir" --posts "$E2E_SMALL" --channels 1 --flood off --session-out "$dir/sim.session" --authorized
    tg_env "$dir"
    export TGSIFT_TELEGRAM__PACER_INITIAL_RATE=1000 TGSIFT_TELEGRAM__PACER_MAX_RATE=5000 TGSIFT_TAGGING__BACKEND=off
    "$BIN" -q --db "$dir/t.db" account import bench --session "$dir/sim.session" >/dev/null
    "$BIN" -q --db "$dir/t.db" channels add bench $channels >/dev/null
    db="$dir/t.db"
    if [ "$kind" = postgres ]; then
      db=$(pg_schema tgsift_bench_e2e)
      "$BIN" -q db copy --from "$dir/t.db" --to "$db" >/dev/null 2>&1
    fi
    local c0 n
    c0=$(pg_cpu)
    read -r secs cpu rss <<<"$(timed -q --db "$db" run --once)"
    local server
    server=$(awk -v a="$c0" -v b="$(pg_cpu)" 'BEGIN { printf "%.2f", b - a }')
    stop_sim
    if [ "$kind" = postgres ]; then n=$(pg_count tgsift_bench_e2e); else n=$(count_posts "$dir/t.db"); fi
    echo "$n $secs $cpu $rss $server"
  }
  read -r s_n s_s s_c s_r s_pg <<<"$(pg_e2e sqlite)"
  read -r p_n p_s p_c p_r p_pg <<<"$(pg_e2e postgres)"
  prate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
  printf '\n%-46s %s\n' "ingest: tgsift run --once → PostgreSQL vs SQLite" "(one channel of $E2E_SMALL messages, floods off, tagging off; same run)"
  printf '%-46s %14s %14s\n' "" "SQLite" "PostgreSQL"
  printf '%-46s %14s %14s\n' "posts stored" "$s_n" "$p_n"
  printf '%-46s %14s %14s\n' "wall time (whole process), s" "$s_s" "$p_s"
  printf '%-46s %14s %14s\n' "posts stored/s" "$(prate "$s_n" "$s_s")" "$(prate "$p_n" "$p_s")"
  printf '%-46s %14s %14s\n' "tgsift CPU s" "$s_c" "$p_c"
  printf '%-46s %14s %14s\n' "database server CPU s" "-" "$p_pg"
  printf '%-46s %14s %14s\n' "peak RSS, MiB" "$(mib "$s_r")" "$(mib "$p_r")"

  # PG_CHANNELS channels over 6 accounts, backfilled by $1 workers (`tgsift run`) on a fresh schema;
  # prints "seconds posts".
  dir="$work/pg-workers"
  start_sim "$dir" --posts "$PG_POSTS" --channels "$PG_CHANNELS" --accounts 6 --flood off \
    --latency-ms "$PG_LATENCY_MS" --sessions-out "$dir/simsessions" --authorized
  tg_env "$dir"
  export TGSIFT_TELEGRAM__PACER_INITIAL_RATE=1000 TGSIFT_TELEGRAM__PACER_MAX_RATE=5000 TGSIFT_TAGGING__BACKEND=off
  export TGSIFT_STORAGE__LEASE_TIME=6 TGSIFT_INGEST__POLL_INTERVAL=600
  for a in 0 1 2 3 4 5; do
    "$BIN" -q --db "$dir/t.db" account import "acc$a" --session "$dir/simsessions/sim$a.session" >/dev/null
  done
  set -- $channels
  all=("$@")
  for i in "${!all[@]}"; do "$BIN" -q --db "$dir/t.db" channels add "acc$((i % 6))" "${all[$i]}" >/dev/null; done
  workers_run() {
    local n=$1 schema=tgsift_bench_w$1 url t0 expected=$2 k
    url=$(pg_schema "$schema")
    "$BIN" -q db copy --from "$dir/t.db" --to "$url" >/dev/null 2>&1
    local wpids=()
    t0=$(date +%s.%N)
    for k in $(seq 1 "$n"); do
      "$BIN" -q --db "$url" run >"$dir/w$n-$k.out" 2>"$dir/w$n-$k.err" &
      wpids+=($!); pids+=($!)
    done
    until [ "$(pg_count "$schema")" -ge "$expected" ]; do sleep 0.2; done
    local secs
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    for k in "${wpids[@]}"; do kill -TERM "$k" 2>/dev/null || true; done
    for k in "${wpids[@]}"; do wait "$k" 2>/dev/null || true; done
    echo "$secs $(pg_count "$schema")"
  }
  # The posts the simulator holds: what one worker stores when it is done (run --once).
  once_url=$(pg_schema tgsift_bench_once)
  "$BIN" -q db copy --from "$dir/t.db" --to "$once_url" >/dev/null 2>&1
  "$BIN" -q --db "$once_url" run --once >/dev/null 2>"$dir/once.err"
  total=$(pg_count tgsift_bench_once)
  read -r one_s one_n <<<"$(workers_run 1 "$total")"
  read -r three_s three_n <<<"$(workers_run 3 "$total")"
  stop_sim
  printf '\n%-46s %s\n' "workers: 3 tgsift run vs 1 on PostgreSQL" "($PG_CHANNELS channels × $PG_POSTS messages over 6 accounts, simulator ${PG_LATENCY_MS} ms away, tagging off)"
  printf '%-46s %14s %14s\n' "" "1 worker" "3 workers"
  printf '%-46s %14s %14s\n' "posts stored" "$one_n" "$three_n"
  printf '%-46s %14s %14s\n' "start to every post stored, s" "$one_s" "$three_s"
  printf '%-46s %14s %14s\n' "posts stored/s" "$(prate "$one_n" "$one_s")" "$(prate "$three_n" "$three_s")"
  printf '%-46s %14s %14s\n' "speed-up" "1.00" "$(awk -v a="$one_s" -v b="$three_s" 'BEGIN { printf "%.2f", a / b }')"
fi

if want fleet; then
  export TGSIFT_SESSION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
  dir="$work/fleet"
  # Publishing starts with the simulator and goes on through onboarding: every post it logs must end
  # up stored once, whenever it was published. No deletions, so a missing post is a lost one.
  start_sim "$dir" --posts 20 --channels "$FLEET_CHANNELS" --accounts "$FLEET_ACCOUNTS" --shares --flood off \
    --live-rate "$FLEET_RATE" --live-deletes 0 --publish-log "$dir/published.csv" \
    --sessions-out "$dir/simsessions" --authorized
  fleet_sim=$server_pid
  tg_env "$dir"
  schema=tgsift_bench_fleet
  PGOPTIONS='-c client_min_messages=warning' psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE" -c "CREATE SCHEMA $schema" >/dev/null
  url="$PG?options=-c%20search_path%3D$schema"
  psqlf() { psql -qtA "$PG" -c "set search_path = $schema" -c "$1" | tail -1; }
  # Onboarding as a user does it: each account's session, then `channels import` of its dialogs —
  # queued jobs on PostgreSQL, run by the worker that takes the account.
  t0=$(date +%s.%N)
  for a in $(seq 0 $((FLEET_ACCOUNTS - 1))); do
    "$BIN" -q --db "$url" account import "acc$a" --session "$dir/simsessions/sim$a.session" >/dev/null
    "$BIN" -q --db "$url" channels import "acc$a" --no-wait >/dev/null
  done
  onboard=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  wpids=()
  t0=$(date +%s.%N)
  for k in $(seq 1 "$FLEET_WORKERS"); do
    "$BIN" -q --db "$url" run >"$dir/w$k.out" 2>"$dir/w$k.err" &
    wpids+=($!); pids+=($!)
  done
  # Every channel is some account's: all of them followed, then all followed live.
  # since_start SQL OP VALUE: waits (at most FLEET_WAIT s after the workers started) until the query's
  # count compares so; prints the seconds since the workers started, or "over FLEET_WAIT".
  FLEET_WAIT=${FLEET_WAIT:-1800}
  since_start() {
    until [ "$(psqlf "$1")" "$2" "$3" ]; do
      if awk -v a="$t0" -v b="$(date +%s.%N)" -v w="$FLEET_WAIT" 'BEGIN { exit !(b - a > w) }'; then
        echo "over $FLEET_WAIT"; return
      fi
      sleep 1
    done
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
  }
  imported_s=$(since_start "select count(*) from channels where active" -ge "$FLEET_CHANNELS")
  followed=$(psqlf "select count(*) from channels where active")
  live_s=$(since_start "select count(*) from channel_live where pts is not null and member" -ge "$followed")
  # Tagged: no post stored over 10 s ago still waits (publishing goes on, so some always do).
  tagged_s=$(since_start "select count(*) from posts where tagging_status in ('pending', 'retrying') and stored_at_ms < (extract(epoch from now()) * 1000)::bigint - 10000" -eq 0)
  sleep 5
  after_ms=$(date +%s%3N)
  sleep "$FLEET_SECS"
  before_ms=$(( after_ms + FLEET_SECS * 1000 ))
  # Idle: publishing stops; once the last posts are stored and tagged, a minute of CPU per worker.
  kill -USR1 "$fleet_sim"
  sleep 20
  declare -A c0
  for p in "${wpids[@]}"; do c0[$p]=$(cpu_secs "$p"); done
  sleep 60
  idle=()
  for p in "${wpids[@]}"; do idle+=("$(awk -v a="${c0[$p]}" -v b="$(cpu_secs "$p")" 'BEGIN { printf "%.2f", 100 * (b - a) / 60 }')"); done
  held=()
  for p in "${wpids[@]}"; do held+=("$(psqlf "select count(*) from account_leases l join workers w on w.id = l.owner where w.pid = $p and l.expires_at > now()")"); done
  # One worker dies while publishing goes on: its accounts must be taken over within the lease time
  # (storage.lease_time, 30 s by default) and nothing published meanwhile lost.
  kill -USR2 "$fleet_sim"
  sleep 10
  victim=${wpids[0]}
  victim_held=$(psqlf "select count(*) from account_leases l join workers w on w.id = l.owner where w.pid = $victim and l.expires_at > now()")
  victim_peak=$(mib "$(peak_rss_kib "$victim")")
  kill -KILL "$victim"; wait "$victim" 2>/dev/null || true
  tk=$(date +%s.%N)
  alive="${wpids[*]:1}"; alive=${alive// /,}
  t0=$tk FLEET_WAIT=300
  takeover=$(since_start "select count(*) from account_leases l join workers w on w.id = l.owner where w.pid in ($alive) and l.expires_at > now()" -ge "$FLEET_ACCOUNTS")
  sleep "$FLEET_KILL_SECS"
  kill -USR1 "$fleet_sim"
  sleep 30
  sim_rss=$(mib "$(peak_rss_kib "$fleet_sim")")
  # Peak RSS: the killed worker's until it died, the others' over the whole run (with its accounts).
  peaks=("$victim_peak")
  for p in "${wpids[@]:1}"; do peaks+=("$(mib "$(peak_rss_kib "$p")")"); done
  for p in "${wpids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${wpids[@]:1}"; do wait "$p" 2>/dev/null || true; done
  stop_sim
  psql -qtA "$PG" -c "set search_path = $schema" -c "\copy (select c.tg_id, p.message_id, p.stored_at_ms, p.tagged_at_ms, trim(p.text) != '' from posts p join channels c on c.id = p.channel_id) to '$dir/posts.csv' csv" >/dev/null
  awk -F, -v a="$after_ms" -v b="$before_ms" '$3 >= a && $3 < b' "$dir/published.csv" >"$dir/window.csv"
  line=$(target/release/examples/live_latency "$dir/posts.csv" "$dir/window.csv" "$after_ms")
  all=$(target/release/examples/live_latency "$dir/posts.csv" "$dir/published.csv")
  fget() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
  printf '\n%-46s %s\n' "fleet: $FLEET_WORKERS tgsift run workers on PostgreSQL" "($FLEET_ACCOUNTS accounts, $FLEET_CHANNELS channels, $FLEET_RATE posts/s published, tagging on)"
  printf '%-46s %s\n' "account import + channels import --no-wait, s" "$onboard"
  printf '%-46s %s\n' "workers start → imports done / live / tagged, s" "$imported_s ($followed channels) / $live_s / $tagged_s"
  printf '%-46s %s\n' "window, s / posts published / stored / missing" "$FLEET_SECS / $(fget "$line" published) / $(fget "$line" stored) / $(fget "$line" missing)"
  printf '%-46s %s\n' "publish → stored, p50 / p99 / max, ms" "$(fget "$line" store_p50_ms) / $(fget "$line" store_p99_ms) / $(fget "$line" store_max_ms)"
  printf '%-46s %s\n' "publish → tagged, p50 / p99, ms" "$(fget "$line" tag_p50_ms) / $(fget "$line" tag_p99_ms) ($(fget "$line" untagged) with text untagged)"
  printf '%-46s %s\n' "accounts held per worker" "${held[*]}"
  printf '%-46s %s\n' "peak RSS per worker, MiB (first one killed)" "${peaks[*]}"
  printf '%-46s %s\n' "idle CPU per worker, % of a core (60 s)" "${idle[*]}"
  printf '%-46s %s\n' "simulator peak RSS, MiB" "$sim_rss"
  printf '%-46s %s\n' "one worker killed: its accounts / taken over after, s" "$victim_held / $takeover"
  printf '%-46s %s\n' "whole run: published / stored / missing / twice" "$(fget "$all" published) / $(fget "$all" stored) / $(fget "$all" missing) / $(fget "$all" duplicates)"
fi
