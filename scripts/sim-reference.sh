#!/usr/bin/env bash
# Checks the simulator against an independent MTProto client (Telethon 1.45 from PyPI, in a throw-away
# venv), each part against its own `sim serve`:
#   1. penalties (`--flood telegram`): scripts/telethon_penalties.py, then the simulator's own
#      --flood-report must agree with the FLOOD_WAITs Telethon received;
#   2. silences: scripts/telethon_silences.py against
#        `--salt-rotate 2 --clock-skew 600 --push-idle-stop 2 --live-rate 10` (salts, clock ahead,
#        pushes stopping on an idle connection),
#        `--clock-skew -600` (clock behind), and
#        `--unpushed 1.0 --live-rate 10` (posts found only by getChannelDifference);
#      after each, the simulator's own counts at Ctrl-C (bad_server_salt, bad_msg_16/17, pushes
#      delivered / idle_stopped / unpushed) must agree with what Telethon received on the wire;
#   3. media: scripts/telethon_media.py reads every post of `--channels 3 --posts 800` with Telethon's
#      own accessors, and what it saw must equal the simulator's `--media-out` field by field (kind,
#      MIME type, size, file name, width, height, duration, file id, DC), every kind served at least once;
#   4. downloads: scripts/telethon_download.py downloads ~30 posts' files of the same world with
#      Telethon's own download_media (every kind of file at least twice, one over 1 MB), and each
#      file's sha256 must equal the `--media-out` sha256; the simulator's counts at Ctrl-C must show
#      that Telethon met FILE_MIGRATE and imported its authorization on the files' DC;
#   5. comments: scripts/telethon_comments.py against `--comments 40 --comments-out`: Telethon's
#      GetFullChannelRequest names each channel's linked group, its own
#      iter_messages(channel, reply_to=post) reads at least 24 threads (one also oldest first), and
#      every comment it sees (id, reply_to, top id, sender kind and id or signature, text, date,
#      edit date, media) and each thread's total must equal --comments-out; a post from before
#      the group was linked makes Telethon raise MsgIdInvalidError;
#   6. qr: scripts/telethon_qr.py logs a logged-out session in with Telethon's own client.qr_login()
#      against `--qr-auto-accept 1`, once plainly and once with `--account-dc 4 --password …` (Telethon
#      follows loginTokenMigrateTo to DC 4 and answers SESSION_PASSWORD_NEEDED); get_me() must be
#      the account the simulator accepted the token as, and the token Telethon replaced at once must
#      be refused by auth.importLoginToken.
#   7. dialogs: scripts/telethon_dialogs.py against `--channels 240 --dialogs 20 --dialogs-out`:
#      Telethon's own iter_dialogs lists exactly the simulator's dialogs (channels, supergroups,
#      private chats, basic groups), none twice, with the right total; folder 1 is the archive.
# Runs every part even when one fails; prints "reference check passed" or exits non-zero.
#
# Usage: scripts/sim-reference.sh [PART…]   (parts: penalties silences media downloads comments qr
#        dialogs; default: all)
set -euo pipefail
parts=("$@")
((${#parts[@]})) || parts=(penalties silences media downloads comments qr dialogs)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin tgsift
BIN=$PWD/target/release/tgsift
work=$(mktemp -d)
sim=""
cleanup() { [[ -n "$sim" ]] && kill "$sim" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failed=()

python3 -m venv "$work/venv" >/dev/null
"$work/venv/bin/pip" install -q "telethon==1.45.0" >/dev/null
PY="$work/venv/bin/python"

# start_sim NAME ARG…: `sim serve ARG…` with an authorized Telethon string session in $work/NAME.session,
# its output in $work/NAME.out; sets $sim (its pid) and $channels (its @usernames).
start_sim() {
  local name=$1
  shift
  "$BIN" -q sim serve "$@" --authorized --string-session-out "$work/$name.session" \
    >"$work/$name.out" 2>"$work/$name.err" &
  sim=$!
  for _ in $(seq 1 400); do grep -q "serving until" "$work/$name.out" 2>/dev/null && break; sleep 0.05; done
  grep -q "serving until" "$work/$name.out" || { cat "$work/$name.err"; echo "simulator $name did not start" >&2; exit 1; }
  read -r -a channels <<<"$(awk '/^channels:/ { $1 = ""; print }' "$work/$name.out")"
}

# stop_sim: Ctrl-C, so it prints its counts to $work/NAME.out, and waits for it.
stop_sim() {
  kill -INT "$sim"
  timeout 20 tail --pid="$sim" -f /dev/null || { kill "$sim"; echo "simulator did not stop" >&2; }
  wait "$sim" || true
  sim=""
}

if want penalties; then
echo "== penalties (sim serve --flood telegram)"
start_sim penalties --flood telegram --channels 8 --max-channels 7 --posts 50 --flood-report "$work/floods.json"
if ! timeout 120 "$PY" scripts/telethon_penalties.py "$work/penalties.session" "${channels[@]}" | tee "$work/penalties.telethon"; then
  failed+=(penalties)
fi
stop_sim
python3 - "$work/floods.json" "$work/penalties.telethon" <<'EOF' || failed+=(penalties-report)
import json, sys
report = json.load(open(sys.argv[1]))["accounts"]
seen = int(next(l for l in open(sys.argv[2]) if l.startswith("floods ")).split()[1])
assert len(report) == 1, report
a = report[0]
assert a["floods"] == seen, f"the simulator reports {a['floods']} FLOOD_WAITs, Telethon received {seen}"
assert a["state"] == "frozen", a["state"]
print(f"simulator report: {a['floods']} FLOOD_WAITs, account {a['state']} — as Telethon saw")
EOF
fi

# silences MODE ARG…: telethon_silences.py MODE against `sim serve ARG…`, then the simulator's counts
# against Telethon's "wire" line.
silences() {
  local mode=$1
  shift
  echo "== silences: $mode (sim serve $*)"
  start_sim "$mode" --flood off --channels 3 --posts 30 "$@"
  if ! timeout 90 "$PY" scripts/telethon_silences.py "$mode" "$work/$mode.session" "${channels[@]}" | tee "$work/$mode.telethon"; then
    failed+=("silences-$mode")
  fi
  stop_sim
  python3 - "$mode" "$work/$mode.out" "$work/$mode.telethon" <<'EOF' || failed+=("silences-$mode-counts")
import re, sys
mode, out, telethon = sys.argv[1:]
def counts(path, prefix):
    line = next((l for l in open(path) if l.startswith(prefix)), None)
    assert line, f"no '{prefix}' line in {path}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
sim, seen = counts(out, "silences:"), counts(telethon, "wire ")
# A bad_server_salt may answer an ack Telethon sent just before closing (never read): at least as many.
checks = {
    "ahead": [
        ("bad_msg_16", sim["bad_msg_16"] == seen["bad_msg_16"] > 0),
        ("bad_server_salt", sim["bad_server_salt"] >= seen["bad_server_salt"] > 0),
        ("pushes delivered", sim["delivered"] >= seen["pushes"] > 0),
        ("pushes idle_stopped", sim["idle_stopped"] > 0),
    ],
    "behind": [("bad_msg_17", sim["bad_msg_17"] == seen["bad_msg_17"] > 0)],
    "unpushed": [
        ("pushes unpushed", sim["unpushed"] > 0),
        ("pushes delivered", sim["delivered"] == seen["pushes"] == 0),
    ],
}[mode]
bad = [name for name, ok in checks if not ok]
shown = " ".join(f"{k}={sim[k]}" for k in ("delivered", "idle_stopped", "unpushed", "bad_server_salt", "bad_msg_16", "bad_msg_17"))
print(f"simulator counts: {shown} — {'as Telethon saw' if not bad else 'DISAGREE with Telethon on ' + ', '.join(bad)}")
sys.exit(1 if bad else 0)
EOF
}

if want silences; then
silences ahead --salt-rotate 2 --clock-skew 600 --push-idle-stop 2 --live-rate 10 --live-edits 0 --live-deletes 0
silences behind --clock-skew -600
silences unpushed --unpushed 1.0 --live-rate 10 --live-edits 0 --live-deletes 0
fi

if want media; then
# 800 posts per channel: the smallest round figure at which the default seed serves every kind
# (contacts are 1 % of media).
echo "== media (sim serve --media-out)"
start_sim media --flood off --channels 3 --posts 800 --media-out "$work/media.sim"
if ! timeout 120 "$PY" scripts/telethon_media.py "$work/media.session" "${channels[@]}" >"$work/media.telethon"; then
  failed+=(media)
fi
stop_sim
python3 - "$work/media.sim" "$work/media.telethon" <<'EOF' || failed+=(media-compare)
import collections, json, sys
def load(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        d = json.loads(line)
        rows[(d["channel"], d["message_id"])] = d
    return rows
sim, seen = load(sys.argv[1]), load(sys.argv[2])
problems = [f"{k}: the simulator serves media Telethon did not see" for k in sorted(sim.keys() - seen.keys())]
problems += [f"{k}: Telethon saw media the simulator did not write" for k in sorted(seen.keys() - sim.keys())]
for k in sorted(sim.keys() & seen.keys()):
    # sha256 is what a download gives: part 4 checks it.
    for field in sorted((sim[k].keys() | seen[k].keys()) - {"sha256"}):
        a, b = sim[k].get(field, "(absent)"), seen[k].get(field, "(absent)")
        if a != b:
            problems.append(f"{k} {field}: simulator {a!r}, Telethon {b!r}")
kinds = collections.Counter(d["kind"] for d in sim.values())
every = {"photo", "video", "document", "audio", "voice", "sticker", "poll", "web_page", "geo", "contact"}
if every - kinds.keys():
    problems.append("kinds never served: " + ", ".join(sorted(every - kinds.keys())))
print("media kinds: " + " ".join(f"{k}={kinds[k]}" for k in sorted(kinds, key=lambda k: -kinds[k])))
for p in problems[:20]:
    print("  " + p)
verdict = "as Telethon saw them, field by field" if not problems else f"{len(problems)} DIFFERENCES with Telethon"
print(f"media: {len(sim)} posts with media in the simulator, {len(seen)} seen by Telethon — {verdict}")
sys.exit(1 if problems else 0)
EOF
fi

if want downloads; then
echo "== downloads (sim serve --media-out, Telethon's download_media)"
start_sim downloads --flood off --channels 3 --posts 800 --media-out "$work/downloads.sim"
if ! timeout 300 "$PY" scripts/telethon_download.py "$work/downloads.session" "$work/downloads.sim" \
  "${channels[@]}" >"$work/downloads.telethon"; then
  failed+=(downloads)
fi
stop_sim
python3 - "$work/downloads.sim" "$work/downloads.telethon" "$work/downloads.out" <<'EOF' || failed+=(downloads-compare)
import collections, json, re, sys
sim = {}
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    sim[(d["channel"], d["message_id"])] = d
got = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
problems = []
for g in got:
    s = sim.get((g["channel"], g["message_id"]))
    if s is None:
        problems.append(f"{g['channel']}/{g['message_id']}: not in --media-out")
    elif s["sha256"] != g["sha256"]:
        problems.append(f"{g['channel']}/{g['message_id']} {g['kind']}: simulator sha256 {s['sha256']}, "
                        f"Telethon downloaded {g['size']} bytes with sha256 {g['sha256']}")
    elif s["size"] != g["size"]:
        problems.append(f"{g['channel']}/{g['message_id']} {g['kind']}: size {s['size']}, downloaded {g['size']}")
kinds = collections.Counter(g["kind"] for g in got)
every = {"photo", "video", "document", "audio", "voice", "sticker", "web_page"}
few = sorted(k for k in every if kinds[k] < 2)
if few:
    problems.append("kinds downloaded fewer than twice: " + ", ".join(few))
if not any(g["size"] and g["size"] > 1_048_576 for g in got):
    problems.append("no file over 1 MB was downloaded")
line = next((l for l in open(sys.argv[3]) if l.startswith("files:")), "")
files = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
if not (files.get("file_migrates", 0) > 0 and files.get("auth_imports", 0) > 0):
    problems.append(f"the simulator saw no FILE_MIGRATE or no imported authorization: {line.strip()!r}")
print("downloaded: " + " ".join(f"{k}={kinds[k]}" for k in sorted(kinds, key=lambda k: -kinds[k])))
print(f"simulator {line.strip()}")
for p in problems[:20]:
    print("  " + p)
verdict = "every sha256 as the simulator wrote it" if not problems else f"{len(problems)} PROBLEMS"
print(f"downloads: {len(got)} files, {sum(g['size'] or 0 for g in got)} bytes by Telethon — {verdict}")
sys.exit(1 if problems or not got else 0)
EOF
fi

if want comments; then
echo "== comments (sim serve --comments 40 --comments-out, Telethon's iter_messages(reply_to=…))"
start_sim comments --flood off --channels 3 --posts 800 --comments 40 --comments-out "$work/comments.sim"
if ! timeout 300 "$PY" scripts/telethon_comments.py "$work/comments.session" "${channels[@]}" \
  >"$work/comments.telethon"; then
  failed+=(comments)
fi
stop_sim
python3 - "$work/comments.sim" "$work/comments.telethon" <<'EOF' || failed+=(comments-compare)
import collections, json, sys
FIELDS = ("id", "date", "edit_date", "reply_to", "top_id", "sender", "sender_id", "signature", "text", "media")
groups, linked_from, threads = {}, {}, collections.defaultdict(list)
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    if "group" in d:
        groups[d["channel"]], linked_from[d["channel"]] = d["group"], d["linked_from"]
    else:
        threads[(d["channel"], d["post"])].append(tuple(d[f] for f in FIELDS))
seen, totals, errors, problems = collections.defaultdict(list), {}, [], []
for line in open(sys.argv[2], encoding="utf-8"):
    d = json.loads(line)
    if "linked_chat_id" in d:
        if groups.get(d["channel"]) != d["linked_chat_id"]:
            problems.append(f"channel {d['channel']}: Telethon sees linked chat {d['linked_chat_id']}, "
                            f"the simulator's group is {groups.get(d['channel'])}")
    elif "error" in d:
        errors.append(d)
    elif "total" in d:
        totals[(d["channel"], d["post"])] = (d["total"], d["read"])
    else:
        seen[(d["channel"], d["post"])].append(tuple(d[f] for f in FIELDS))
for key, (total, read) in sorted(totals.items()):
    sim, got = threads.get(key, []), seen.get(key, [])
    if total != len(sim) or read != len(sim):
        problems.append(f"{key}: {len(sim)} comments in the simulator, Telethon's total {total}, read {read}")
    for a, b in zip(sim, got):
        if a != b:
            diff = {f: (x, y) for f, x, y in zip(FIELDS, a, b) if x != y}
            problems.append(f"{key} comment {a[0]}: simulator vs Telethon {diff}")
            break
for e in errors:
    if e["error"] != "MsgIdInvalidError" or e["post"] >= linked_from.get(e["channel"], 0):
        problems.append(f"post {e['post']} of {e['channel']} (linked from {linked_from.get(e['channel'])}): "
                        f"Telethon got {e['error']!r}, expected MsgIdInvalidError")
if len(totals) < 20:
    problems.append(f"only {len(totals)} threads read")
if len(errors) < len(groups):
    problems.append(f"only {len(errors)} posts without a comment section tried")
comments = [c for t in seen.values() for c in t]
kinds = collections.Counter(c[5] for c in comments)
shape = (f"{sum(1 for c in comments if c[3] != c[4])} nested, {sum(1 for c in comments if c[9])} with a photo, "
         f"{sum(1 for c in comments if c[2])} edited; senders " + " ".join(f"{k}={n}" for k, n in sorted(kinds.items())))
for p in problems[:20]:
    print("  " + p)
verdict = "as the simulator holds them, field by field" if not problems else f"{len(problems)} DIFFERENCES"
print(f"comments: {len(totals)} threads, {len(comments)} comments read by Telethon ({shape}); "
      f"{len(errors)} posts before the link raised {sorted({e['error'] for e in errors})} — {verdict}")
sys.exit(1 if problems else 0)
EOF
fi

# qr NAME MIGRATED PASSWORD ARG…: telethon_qr.py against `sim serve --qr-auto-accept 1 ARG…` with a
# logged-out string session; what Telethon reports must show the move (yes/no) and the 2FA step
# (PASSWORD, or - for none) the run should have.
qr() {
  local name=$1 migrated=$2 password=$3
  shift 3
  echo "== qr: $name (sim serve --qr-auto-accept 1 $*)"
  "$BIN" -q sim serve --flood off --channels 1 --posts 10 --qr-auto-accept 1 "$@" \
    --string-session-out "$work/qr-$name.session" >"$work/qr-$name.out" 2>"$work/qr-$name.err" &
  sim=$!
  for _ in $(seq 1 400); do grep -q "serving until" "$work/qr-$name.out" 2>/dev/null && break; sleep 0.05; done
  grep -q "serving until" "$work/qr-$name.out" || { cat "$work/qr-$name.err"; echo "simulator qr-$name did not start" >&2; exit 1; }
  local user
  user=$(sed -n 's/^QR login: .*, user \([0-9]*\))$/\1/p' "$work/qr-$name.out")
  local pw=()
  [[ "$password" == "-" ]] || pw=("$password")
  if ! timeout 90 "$PY" scripts/telethon_qr.py "$work/qr-$name.session" "$user" "${pw[@]}" | tee "$work/qr-$name.telethon"; then
    failed+=("qr-$name")
  fi
  stop_sim
  python3 - "$work/qr-$name.telethon" "$user" "$migrated" "$password" <<'EOF' || failed+=("qr-$name-check")
import json, sys
seen = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
user, migrated, password = int(sys.argv[2]), sys.argv[3] == "yes", sys.argv[4] != "-"
problems = []
if seen["user_id"] != user:
    problems.append(f"Telethon is user {seen['user_id']}, the simulator accepted the token as {user}")
if seen["migrated"] != migrated:
    problems.append(f"Telethon {'moved' if seen['migrated'] else 'stayed'} (DC {seen['dc']}), expected {'a move' if migrated else 'no move'}")
if seen["password"] != password:
    problems.append(f"2FA asked: {seen['password']}, expected {password}")
for p in problems:
    print("  " + p)
print(f"qr: Telethon logged in as user {seen['user_id']} on DC {seen['dc']}, replaced token refused with "
      f"{seen['first_token']} — {'as expected' if not problems else 'PROBLEMS'}")
sys.exit(1 if problems else 0)
EOF
}

if want qr; then
qr plain no -
qr dc4-2fa yes "qr-reference-pw" --account-dc 4 --password "qr-reference-pw"
fi

if want dialogs; then
echo "== dialogs (sim serve --channels 240 --dialogs 20)"
start_sim dialogs --channels 240 --dialogs 20 --posts 3 --dialogs-out "$work/dialogs.jsonl"
if ! timeout 120 "$PY" scripts/telethon_dialogs.py "$work/dialogs.session" "$work/dialogs.jsonl"; then
  failed+=(dialogs)
fi
stop_sim
fi

if ((${#failed[@]})); then
  echo "reference check FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "reference check passed"
