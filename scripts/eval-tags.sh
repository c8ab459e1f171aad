#!/usr/bin/env bash
# Tag quality of the embedded tagger next to Python yake, as one table: `scripts/eval-tags.sh`.
#
# Datasets:
# - the English keyphrase sets in ../shared/data/keyphrase/ (or $KEYPHRASE_DIR): 500N-KPCrowd (news),
#   Inspec and SemEval2017 (science). They are read from there and unpacked into a temporary folder,
#   never copied into the repository; when the folder is absent they are skipped with a message.
# - tests/data/ru_posts.jsonl (row `ru_posts`, the tuning set): 100 Russian channel-style posts (news,
#   tech, finance, sport) with 5 gold tags each, written and labelled for this project; the tagger's
#   word lists and weights were checked against it.
# - tests/data/ru_posts_heldout.jsonl (row `ru_posts_heldout`): 120 more posts (news, tech, finance,
#   sport, culture, local news), labelled before any tagger ran on them and committed on their own;
#   never used to choose weights or lists: the honest Russian figure.
#
# Metric (crates/tgsift-tagger/examples/eval_tags.rs): stemmed exact match, P / R / F1 at 5 and at 10, macro-averaged over
# documents; the embedded tagger's TF-IDF learns its document frequencies from the same set, as it
# learns them per channel in the product. Python yake (PyPI, in a throw-away venv) runs with n=1 on
# KPCrowd, n=3 on Inspec and SemEval2017 (its best settings there) and n=1 and n=2 on the Russian set.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYPHRASE_DIR=${KEYPHRASE_DIR:-../shared/data/keyphrase}

cargo build --release --quiet -p tgsift-tagger --example eval_tags
EVAL=target/release/examples/eval_tags
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name|dataset path|yake language|yake n values
sets=()
if [ -d "$KEYPHRASE_DIR" ]; then
  for spec in "500N-KPCrowd-v1.1|1" "Inspec|3" "SemEval2017|3"; do
    name=${spec%%|*}
    zip="$KEYPHRASE_DIR/$name.zip"
    if [ ! -f "$zip" ]; then
      echo "skipping $name: $zip not found" >&2
      continue
    fi
    unzip -q -o "$zip" -d "$work/data"
    sets+=("$name|$work/data/$name|en|${spec##*|}")
  done
else
  echo "skipping the English keyphrase sets: $KEYPHRASE_DIR not found (set KEYPHRASE_DIR to where the zips are)" >&2
fi
sets+=("ru_posts|tests/data/ru_posts.jsonl|ru|1 2")
sets+=("ru_posts_heldout|tests/data/ru_posts_heldout.jsonl|ru|1 2")

yake_py=""
if python3 -m venv "$work/venv" >/dev/null 2>&1 && "$work/venv/bin/pip" install -q yake >/dev/null 2>&1; then
  yake_py="$work/venv/bin/python"
  echo "Python yake $("$yake_py" -c 'import importlib.metadata as m; print(m.version("yake"))')" >&2
else
  echo "Python yake could not be installed (pip install yake failed): its rows are left out" >&2
fi

printf '| dataset | tagger | @5 P / R / F1 | @10 P / R / F1 | ms/doc |\n|---|---|---|---|---|\n'
for s in "${sets[@]}"; do
  IFS='|' read -r name path lang ns <<<"$s"
  ext=()
  if [ -n "$yake_py" ]; then
    "$EVAL" dump "$path" "$work/$name.docs.jsonl"
    for n in $ns; do
      "$yake_py" - "$work/$name.docs.jsonl" "$lang" "$n" >"$work/$name.yake$n.jsonl" <<'PY'
import json, sys, time, yake
docs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
ex = yake.KeywordExtractor(lan=sys.argv[2], n=int(sys.argv[3]), top=10)
t0 = time.perf_counter()
out = [{"id": d["id"], "tags": [k for k, _ in ex.extract_keywords(d["text"])]} for d in docs]
ms = (time.perf_counter() - t0) * 1000 / max(len(docs), 1)
for o in out:
    print(json.dumps(o, ensure_ascii=False))
print(json.dumps({"ms_per_doc": ms}))
PY
      ext+=(--ext "Python yake n=$n=$work/$name.yake$n.jsonl")
    done
  fi
  "$EVAL" eval "$path" "$name" "${ext[@]}"
done
