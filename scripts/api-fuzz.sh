#!/usr/bin/env bash
# The HTTP API against its own OpenAPI document: schemathesis (every check on: status codes, content
# types, response schemas, valid data accepted, invalid data refused, auth not ignored, methods…)
# sends generated requests to `tgsift run --http` on a small demo database for a bounded time, and
# this script fails on any failure or any 5xx.
#
# schemathesis comes from PyPI into a venv (pinned below). Runs in about a minute.
#
# Usage: scripts/api-fuzz.sh                 API_FUZZ_SECONDS=300 scripts/api-fuzz.sh (a longer look)
#        TGSIFT_BIN=target/release/tgsift scripts/api-fuzz.sh (another binary; default: a debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
SCHEMATHESIS=4.32.5
SECONDS_BUDGET=${API_FUZZ_SECONDS:-45}
SEED=${API_FUZZ_SEED:-1}
# API_FUZZ_VENV: a venv kept between runs (made when missing); `--prepare` only makes it (CI makes it
# while other work runs). Without it, a throw-away venv per run.
prepare_venv() {
  if [ ! -x "$1/bin/schemathesis" ]; then
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS"
  fi
}
if [ "${1:-}" = "--prepare" ]; then
  [ -n "${API_FUZZ_VENV:-}" ] || { echo "api-fuzz: --prepare needs API_FUZZ_VENV" >&2; exit 2; }
  prepare_venv "$API_FUZZ_VENV"
  exit 0
fi
if [ -z "${TGSIFT_BIN:-}" ]; then
  cargo build --quiet --bin tgsift
  TGSIFT_BIN="${CARGO_TARGET_DIR:-target}/debug/tgsift"
fi
TGSIFT_BIN=$(realpath "$TGSIFT_BIN")
work=$(mktemp -d)
service=""
cleanup() {
  [ -n "$service" ] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

venv="${API_FUZZ_VENV:-$work/venv}"
prepare_venv "$venv"

# Three channels of posts, tagged, from the embedded simulator (the demo account's Telegram is gone
# afterwards: the service keeps trying it in the background, which the API does not mind).
(cd "$work" && "$TGSIFT_BIN" -q demo --posts 300 --out demo.db >demo.out 2>&1)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token="api-fuzz-$RANDOM$RANDOM"
(
  cd "$work"
  export TG_API_ID=12345 TG_API_HASH=0123456789abcdef0123456789abcdef
  export TGSIFT_HTTP__TOKEN="$token" TGSIFT_STORAGE__SESSIONS_DIR=demo.sessions
  exec "$TGSIFT_BIN" --db demo.db run --http "127.0.0.1:$port" >run.out 2>run.err
) &
service=$!

# Rules between fields, which a JSON Schema cannot state, make some schema-valid bodies invalid: a
# range whose `from_id` is above its `to_id` (reparse, retag; reparse also takes either a range or
# `all`), a backfill string that is not `all`, a number or `since:` and a real date, a `filter` or
# `exclude` of `channels/import` that is not a regular expression, a watch with both a tag and a query
# (or neither and no channel), a query without a word, a channel nobody follows or a sink that is not
# one of its three forms. The API answers those 422, as its document says, so 422 counts as a right answer to valid-looking data there and
# nowhere else. A search (`q`) needs a letter or a digit: no pattern can say so portably (JSON
# Schema's `\w` is ASCII, Python's follows its own Unicode version, the server Rust's), so the
# document says it in words and a query of only punctuation is answered 422.
cat >"$work/schemathesis.toml" <<'TOML'
[[operations]]
include-name = ["POST /api/v1/reparse", "POST /api/v1/retag", "POST /api/v1/channels", "POST /api/v1/channels/import", "POST /api/v1/watches", "GET /api/v1/posts"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
TOML

# Every check; a request that takes over 10 s counts as a failure too.
set +e
# From the work folder: schemathesis keeps its caches (.hypothesis, .schemathesis) where it runs.
cd "$work"
"$venv/bin/schemathesis" --no-color --config-file "$work/schemathesis.toml" run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $token" --wait-for-schema 30 \
  --checks all --max-time "$SECONDS_BUDGET" --seed "$SEED" --workers 1 \
  --request-timeout 10 --output-truncate false 2>&1 | tee "$work/schemathesis.out"
status=${PIPESTATUS[0]}
set -e
# schemathesis counts a 5xx as a failure; the service's log names each one too.
if grep -q "HTTP request failed" "$work/run.err"; then
  echo "api-fuzz: the service answered 5xx:" >&2
  grep "HTTP request failed" "$work/run.err" | head -20 >&2
  status=1
fi
if ! kill -0 "$service" 2>/dev/null; then
  echo "api-fuzz: the service died during the run:" >&2
  tail -20 "$work/run.err" >&2
  status=1
fi
# One plain closing line: requests that passed and failures.
counts=$(grep -Eo '[0-9]+ generated, [0-9]+ passed' "$work/schemathesis.out" | tail -1 | grep -Eo '[0-9]+ passed' || true)
failures=$(grep -Eo '[0-9]+ found [0-9]+ unique failures' "$work/schemathesis.out" | grep -Eo '[0-9]+ unique' | grep -Eo '[0-9]+' || true)
[ -n "$counts" ] && echo "api-fuzz: $counts, ${failures:-0} failed"
exit "$status"
