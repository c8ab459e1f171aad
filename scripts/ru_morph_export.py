"""Exports the OpenCorpora dictionary compiled by pymorphy3-dicts-ru into the plain tables that
`crates/tgsift-tagger/examples/build_ru_morph.rs` turns into the embedded tagger's compact Russian dictionary.

Run by `scripts/build-ru-morph.sh`; usage: `python ru_morph_export.py OUT_DIR`.

Written to OUT_DIR:
- stems.tsv       `stem<TAB>paradigm<TAB>yo_mask` per lexeme (stem ё-folded; bit i of yo_mask: the
                  i-th letter of the stem is ё);
- paradigms.bin   u16 little-endian: paradigm count, then per paradigm its form count n and n
                  suffix ids, n tag ids, n prefix ids (pymorphy's own layout);
- suffixes.txt    one paradigm suffix per line (line number = id; the first is empty);
- prefixes.txt    the paradigm prefixes (``, `по`, `наи`), one per line;
- tags.txt        `tag<TAB>prior` per tag id: OpenCorpora tag and its share in the corpus-based
                  P(tag | word) table, used to rank the parses of an ambiguous word;
- best.tsv        `word<TAB>tag id` for the ambiguous words whose most probable tag (per
                  pymorphy3's P(tag | word)) differs from the prior's choice.
"""

import array
import collections
import json
import os
import sys

import pymorphy3

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
morph = pymorphy3.MorphAnalyzer()
d = morph.dictionary


def fold(s):
    return s.replace("ё", "е")


prefixes = list(d.paradigm_prefixes)
suffixes = list(d.suffixes)
paradigms = [list(p) for p in d.paradigms]
tags = [str(t) for t in d.gramtab]
tag_id = {t: i for i, t in enumerate(tags)}

# lexemes: (folded stem, paradigm) -> ё mask
stems = {}
conflicts = 0
for word, (para, idx) in d.words.items():
    p = paradigms[para]
    n = len(p) // 3
    suffix = suffixes[p[idx]]
    prefix = prefixes[p[2 * n + idx]]
    stem = word[len(prefix) : len(word) - len(suffix)] if suffix else word[len(prefix) :]
    mask = 0
    for i, c in enumerate(stem[:63]):
        if c == "ё":
            mask |= 1 << i
    key = (fold(stem), para)
    old = stems.get(key)
    if old is None:
        stems[key] = mask
    elif old != mask:
        conflicts += 1
with open(os.path.join(out, "stems.tsv"), "w", encoding="utf-8") as f:
    for (stem, para), mask in stems.items():
        f.write(f"{stem}\t{para}\t{mask}\n")

buf = array.array("H", [len(paradigms)])
for p in paradigms:
    buf.append(len(p) // 3)
    buf.extend(p)
if sys.byteorder != "little":
    buf.byteswap()
with open(os.path.join(out, "paradigms.bin"), "wb") as f:
    f.write(buf.tobytes())
with open(os.path.join(out, "suffixes.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(suffixes) + "\n")
with open(os.path.join(out, "prefixes.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(prefixes) + "\n")

# P(tag | word) from the annotated corpus: a prior per tag, and the words it decides otherwise.
p_t_w = collections.defaultdict(dict)
prior = collections.Counter()
for key, value in morph.prob_estimator.p_t_given_w.items():
    word, tag = key.split(":", 1)
    prob = value / 1e6
    p_t_w[word][tag] = prob
    prior[tag] += prob
total = sum(prior.values())
with open(os.path.join(out, "tags.txt"), "w", encoding="utf-8") as f:
    for t in tags:
        f.write(f"{t}\t{prior.get(t, 0.0) / total:.3e}\n")

best = {}
for word, probs in p_t_w.items():
    parses = d.words.get(word) if hasattr(d.words, "get") else None
    if not parses:
        continue
    cand = []
    for para, idx in parses:
        p = paradigms[para]
        n = len(p) // 3
        cand.append(tags[p[n + idx]])
    if len(set(cand)) < 2:
        continue
    default = max(cand, key=lambda t: prior.get(t, 0.0))
    top = max(probs, key=lambda t: probs[t])
    if top in tag_id and top != default and top in cand:
        best.setdefault(fold(word), tag_id[top])
with open(os.path.join(out, "best.tsv"), "w", encoding="utf-8") as f:
    for word, t in best.items():
        f.write(f"{word}\t{t}\n")

meta = dict(d.meta) if not isinstance(d.meta, list) else dict(d.meta)
print(
    json.dumps(
        {
            "source": meta.get("source"),
            "source_revision": meta.get("source_revision"),
            "lexemes": len(stems),
            "paradigms": len(paradigms),
            "suffixes": len(suffixes),
            "tags": len(tags),
            "best_overrides": len(best),
            "yo_conflicts": conflicts,
        },
        ensure_ascii=False,
    ),
    file=sys.stderr,
)
