//! Builds the embedded tagger's compact Russian dictionary from the tables that
//! `scripts/ru_morph_export.py` writes (run both with `scripts/build-ru-morph.sh`).
//!
//! Usage: `build_ru_morph EXPORT_DIR OUT_DIR`. Writes to OUT_DIR:
//! - `ru_stems.fst`: an `fst::Map` from `stem \0 paradigm (u16, big-endian)` to the stem's ё mask;
//! - `ru_best.fst`: an `fst::Map` from an ambiguous word (ё folded) to its most probable tag id;
//! - `ru_paradigms.bin`, `ru_suffixes.txt`, `ru_prefixes.txt`, `ru_tags.txt`: copied as exported.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

fn build_map(pairs: &mut [(Vec<u8>, u64)], out: &Path) -> Result<usize> {
    pairs.sort();
    let mut b = fst::MapBuilder::memory();
    let mut last: Option<&[u8]> = None;
    for (k, v) in pairs.iter() {
        if last == Some(k.as_slice()) {
            continue;
        }
        b.insert(k, *v)?;
        last = Some(k);
    }
    let bytes = b.into_inner()?;
    fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(bytes.len())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, out] = args.as_slice() else {
        bail!("usage: build_ru_morph EXPORT_DIR OUT_DIR");
    };
    let (src, out) = (Path::new(src), Path::new(out));
    fs::create_dir_all(out)?;

    let mut stems = Vec::new();
    let body = fs::read_to_string(src.join("stems.tsv")).context("reading stems.tsv")?;
    for line in body.lines() {
        let mut f = line.split('\t');
        let (Some(stem), Some(para), Some(mask)) = (f.next(), f.next(), f.next()) else {
            bail!("bad stems.tsv line {line:?}");
        };
        let para: u16 = para.parse()?;
        let mut key = stem.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&para.to_be_bytes());
        stems.push((key, mask.parse::<u64>()?));
    }
    let n = stems.len();
    let size = build_map(&mut stems, &out.join("ru_stems.fst"))?;
    eprintln!("ru_stems.fst: {n} lexemes, {size} bytes");

    let mut best = Vec::new();
    let body = fs::read_to_string(src.join("best.tsv")).context("reading best.tsv")?;
    for line in body.lines() {
        let Some((word, tag)) = line.split_once('\t') else {
            bail!("bad best.tsv line {line:?}");
        };
        best.push((word.as_bytes().to_vec(), tag.parse::<u64>()?));
    }
    let n = best.len();
    let size = build_map(&mut best, &out.join("ru_best.fst"))?;
    eprintln!("ru_best.fst: {n} words, {size} bytes");

    for (from, to) in [
        ("paradigms.bin", "ru_paradigms.bin"),
        ("suffixes.txt", "ru_suffixes.txt"),
        ("prefixes.txt", "ru_prefixes.txt"),
        ("tags.txt", "ru_tags.txt"),
    ] {
        fs::copy(src.join(from), out.join(to)).with_context(|| format!("copying {from}"))?;
    }
    Ok(())
}
