#!/usr/bin/env bash
# Rebuilds the embedded tagger's Russian dictionary in crates/tgsift-tagger/src/data/ru_* from the
# OpenCorpora dictionary that pymorphy3-dicts-ru ships on PyPI: `scripts/build-ru-morph.sh`.
#
# The output is committed, so neither building nor running tgsift needs Python or the network; run
# this only to move to a newer dictionary. The data is OpenCorpora's (CC BY-SA 3.0, see
# crates/tgsift-tagger/src/data/README.md), the packaging pymorphy3's (MIT).
set -euo pipefail
cd "$(dirname "$0")/.."
PYMORPHY3=${PYMORPHY3:-2.0.6}
DICTS=${DICTS:-2.4.417150.4580142}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "pymorphy3==$PYMORPHY3" "pymorphy3-dicts-ru==$DICTS"
"$work/venv/bin/python" scripts/ru_morph_export.py "$work/export"
cargo run --quiet -p tgsift-tagger --example build_ru_morph -- "$work/export" crates/tgsift-tagger/src/data
ls -l crates/tgsift-tagger/src/data/ru_*
