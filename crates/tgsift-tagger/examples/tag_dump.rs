//! The tagger's output and its CPU time on a fixed set of texts: a reference to compare a changed
//! tagger against, and a benchmark that builds with this crate alone.
//!
//! ```text
//! tag_dump TEXTS.jsonl [--out FILE] [--rounds N]
//! ```
//!
//! `TEXTS.jsonl` holds one JSON string per line (`tag_bench --dump FILE` of the top-level crate
//! writes the benchmark's posts so). Document frequencies come from all the texts, as in
//! `tag_bench`. `--out` writes each text's tags with their scores (`tag<TAB>score`, `{:?}` so the
//! scores round-trip; a blank line after each text). The timing tags every text `N` times (default
//! 3) on one thread after a warm-up round and prints the thread's CPU µs per post, best round first.

use std::io::Write;

use anyhow::{Context, Result};
use tgsift_tagger::{DocFreq, EmbeddedTagger};

/// The calling thread's CPU time in nanoseconds (Linux's per-thread scheduler statistics).
fn thread_cpu_ns() -> Result<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let first = s.split_whitespace().next().context("empty schedstat")?;
    Ok(first.parse()?)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .context("usage: tag_dump TEXTS.jsonl [--out FILE] [--rounds N]")?;
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let rounds: usize = match value_of("--rounds") {
        Some(r) => r.parse()?,
        None => 3,
    };
    let texts: Vec<String> = std::fs::read_to_string(path)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let df = DocFreq::from_texts(texts.iter().map(String::as_str));
    let tagger = EmbeddedTagger::new();
    if let Some(out) = value_of("--out") {
        let mut f = std::io::BufWriter::new(std::fs::File::create(out)?);
        for t in &texts {
            for tag in tagger.tags(t, Some(&df)) {
                writeln!(f, "{}\t{:?}", tag.tag, tag.score)?;
            }
            writeln!(f)?;
        }
    }
    for t in &texts {
        std::hint::black_box(tagger.tags(t, Some(&df)));
    }
    let mut us: Vec<f64> = Vec::new();
    for _ in 0..rounds {
        let t0 = thread_cpu_ns()?;
        for t in &texts {
            std::hint::black_box(tagger.tags(t, Some(&df)));
        }
        us.push((thread_cpu_ns()? - t0) as f64 / 1000.0 / texts.len().max(1) as f64);
    }
    us.sort_by(f64::total_cmp);
    let shown: Vec<String> = us.iter().map(|u| format!("{u:.1}")).collect();
    println!("posts={} cpu_us_per_post={}", texts.len(), shown.join(" "));
    Ok(())
}
