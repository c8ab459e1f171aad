#!/usr/bin/env bash
# Checks the simulator's Telegram penalties with an independent client (Telethon 1.45 from PyPI, in a
# throw-away venv): see scripts/telethon_penalties.py for what is checked. Then compares the simulator's
# own --flood-report with what Telethon received, and prints "reference check passed".
#
# Usage: scripts/sim-reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin tgsift
BIN=$PWD/target/release/tgsift
work=$(mktemp -d)
sim=""
cleanup() { [[ -n "$sim" ]] && kill "$sim" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 -m venv "$work/venv" >/dev/null
"$work/venv/bin/pip" install -q "telethon==1.45.0" >/dev/null

"$BIN" -q sim serve --flood telegram --channels 8 --max-channels 7 --posts 50 --authorized \
  --string-session-out "$work/telethon.txt" --flood-report "$work/floods.json" \
  >"$work/serve.out" 2>"$work/serve.err" &
sim=$!
for _ in $(seq 1 400); do grep -q "serving until" "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
grep -q "serving until" "$work/serve.out" || { cat "$work/serve.err"; echo "simulator did not start" >&2; exit 1; }
read -r -a channels <<<"$(awk '/^channels:/ { $1 = ""; print }' "$work/serve.out")"

"$work/venv/bin/python" scripts/telethon_penalties.py "$work/telethon.txt" "${channels[@]}" | tee "$work/telethon.out"
kill -INT "$sim"
wait "$sim" || true
sim=""
python3 - "$work/floods.json" "$work/telethon.out" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))["accounts"]
seen = int(next(l for l in open(sys.argv[2]) if l.startswith("floods ")).split()[1])
assert len(report) == 1, report
a = report[0]
assert a["floods"] == seen, f"the simulator reports {a['floods']} FLOOD_WAITs, Telethon received {seen}"
assert a["state"] == "frozen", a["state"]
print(f"simulator report: {a['floods']} FLOOD_WAITs, account {a['state']} — as Telethon saw")
print("reference check passed")
EOF
