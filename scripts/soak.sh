#!/usr/bin/env bash
# Account-safety soak: `tgsift run` against the simulator's Telegram penalty model (`--flood telegram`:
# waits that double when floods repeat, strict resolveUsername/joinChannel budgets, accounts frozen
# after 30 floods in an hour) for SOAK_MINUTES (default 30), and prints a table:
#   - 2 accounts, 10 channels added at the start and 200 more queued right after (`channels add
#     --no-wait`: 210 resolveUsername calls), SOAK_POSTS posts each (210,000 by default) backfilled,
#     new posts pushed at SOAK_RATE per second throughout;
#   - per account: FLOOD_WAITs the simulator gave (its own count, from --flood-report), those after
#     the first 5 minutes as a rate per hour, and its state at the end (active/frozen);
#   - channels added, and whether every channel's stored ids equal the simulator's (up to the
#     newest stored id: posts published after the stop are not expected).
# With SOAK_OLD_BIN=/path/to/an/older/tgsift, the same soak runs with that binary at the same time,
# side by side (e.g. the pacer before the account-safety change, which probed for floods). SOAK_BIN
# runs another binary instead of this checkout's (the simulator is always this checkout's).
#
# Usage: scripts/soak.sh            SOAK_MINUTES=5 scripts/soak.sh (a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${SOAK_MINUTES:-30}
POSTS=${SOAK_POSTS:-1000}
RATE=${SOAK_RATE:-2}
cargo build --release --quiet --bin tgsift
BIN=$PWD/target/release/tgsift
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# soak NAME TGSIFT_BINARY: runs one soak in $work/NAME, leaves results in $work/NAME/result.
soak() {
  local name=$1 tg=$2 dir="$work/$1"
  mkdir -p "$dir"
  # The simulator is always this checkout's: the same penalties for every binary compared.
  "$BIN" -q sim serve --flood telegram --channels 210 --posts "$POSTS" --accounts 2 \
    --sessions-out "$dir/simsessions" --authorized --live-rate "$RATE" --live-deletes 0 --seed 7 \
    --flood-report "$dir/floods.json" --ids-out "$dir/ids.txt" >"$dir/serve.out" 2>"$dir/serve.err" &
  local sim=$!
  pids+=("$sim")
  for _ in $(seq 1 400); do grep -q "serving until" "$dir/serve.out" 2>/dev/null && break; sleep 0.05; done
  grep -q "serving until" "$dir/serve.out" || { cat "$dir/serve.err"; echo "simulator did not start" >&2; exit 1; }
  read -r -a all <<<"$(awk '/^channels:/ { $1 = ""; print }' "$dir/serve.out")"
  (
    export TG_API_ID=12345 TG_API_HASH=0123456789abcdef0123456789abcdef
    export TGSIFT_STORAGE__SESSIONS_DIR="$dir/sessions" TGSIFT_STORAGE__DATABASE="$dir/t.db"
    for a in 0 1; do "$tg" -q account import "acc$a" --session "$dir/simsessions/sim$a.session" >/dev/null; done
    for i in $(seq 0 9); do "$tg" -q channels add "acc$((i % 2))" "${all[$i]}" --no-wait >/dev/null; done
    "$tg" run >"$dir/run.out" 2>"$dir/run.err" &
    local run=$!
    sleep 5
    for i in $(seq 10 209); do "$tg" -q channels add "acc$((i % 2))" "${all[$i]}" --no-wait >/dev/null; done
    sleep $((MINUTES * 60 - 5))
    kill -TERM "$run"
    wait "$run" || true
  )
  kill -INT "$sim"
  wait "$sim" || true
  python3 - "$dir" "$MINUTES" >"$dir/result" <<'EOF'
import json, sqlite3, sys
d, minutes = sys.argv[1], float(sys.argv[2])
rep = json.load(open(d + "/floods.json"))
db = sqlite3.connect(d + "/t.db")
truth = {}
for line in open(d + "/ids.txt"):
    name, _, ids = line.strip().partition(" ")
    truth[name.lstrip("@").lower()] = [int(i) for i in ids.split(",") if i]
added = db.execute("select count(*) from channels").fetchone()[0]
exact = 0
for cid, user in db.execute("select id, username from channels"):
    stored = {r[0] for r in db.execute("select message_id from posts where channel_id = ?", (cid,))}
    top = max(stored, default=0)
    if stored and stored == {i for i in truth.get((user or "").lower(), []) if i <= top}:
        exact += 1
posts = db.execute("select count(*) from posts").fetchone()[0]
floods, later, states = [], [], []
for a in rep["accounts"]:
    floods.append(a["floods"])
    late = [w for w in a["flood_waits"] if w["at"] >= 300]
    later.append(len(late) / max(minutes - 5, 1) * 60)
    states.append(a["state"])
resolves = sum(m["calls"] for a in rep["accounts"] for m in a["methods"] if m["method"] == "contacts.resolveUsername")
longest = max((m["longest_wait"] for a in rep["accounts"] for m in a["methods"]), default=0)
print(f"{added}/210")
print(f"{exact}/{added}")
print(posts)
print(resolves)
print(" / ".join(str(f) for f in floods))
print(" / ".join(f"{r:.1f}" for r in later))
print(longest)
print(" / ".join(states))
EOF
}

soak new "${SOAK_BIN:-$BIN}" &
new=$!
if [[ -n "${SOAK_OLD_BIN:-}" ]]; then soak old "$SOAK_OLD_BIN" & old=$!; fi
wait "$new"
[[ -n "${SOAK_OLD_BIN:-}" ]] && wait "$old"

labels=("channels added" "channels whose stored ids are exact" "posts stored" "resolveUsername calls" \
  "FLOOD_WAITs per account (simulator's count)" "  after the first 5 min, per hour" "longest FLOOD_WAIT, s" \
  "account states at the end")
mapfile -t a <"$work/new/result"
b=(); [[ -f "$work/old/result" ]] && mapfile -t b <"$work/old/result"
printf '\n%-44s %-18s %s\n' "soak: $MINUTES min, --flood telegram" "${SOAK_BIN:-this checkout}" "${SOAK_OLD_BIN:+older binary}"
for i in "${!labels[@]}"; do printf '%-44s %-18s %s\n' "${labels[$i]}" "${a[$i]:-}" "${b[$i]:-}"; done
