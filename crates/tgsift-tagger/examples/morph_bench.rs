//! Speed of the Russian dictionary alone: parses per second over the words of a JSON-lines file.
//! Usage: `morph_bench FILE.jsonl [--dump]` (e.g. `tests/data/ru_posts.jsonl`); `--dump` prints
//! `word<TAB>lemma<TAB>part of speech` of each distinct word's best parse, for comparing with pymorphy3.

use std::time::Instant;

use tgsift_tagger::morph::Morph;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: morph_bench FILE.jsonl")?;
    let body = std::fs::read_to_string(&path)?;
    let mut words: Vec<String> = Vec::new();
    for line in body.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let text = v["text"].as_str().unwrap_or_default().to_lowercase();
        words.extend(
            text.split(|c: char| !c.is_alphabetic() && c != '-')
                .filter(|w| w.chars().any(|c| ('а'..='я').contains(&c) || c == 'ё'))
                .map(str::to_owned),
        );
    }
    let t0 = Instant::now();
    let m = Morph::get();
    if std::env::args().any(|a| a == "--dump") {
        let mut seen = std::collections::BTreeSet::new();
        for w in &words {
            if seen.insert(w.clone()) {
                let p = m.parse(w);
                match p.first() {
                    Some(b) => println!(
                        "{w}\t{}\t{:?}",
                        m.lemma(b).unwrap_or_default(),
                        m.tag(b).pos
                    ),
                    None => println!("{w}\t\t"),
                }
            }
        }
        return Ok(());
    }
    let load = t0.elapsed();
    let t1 = Instant::now();
    let rounds = 5;
    let mut parses = 0usize;
    let mut unknown = 0usize;
    for _ in 0..rounds {
        for w in &words {
            let p = m.parse(w);
            parses += p.len();
            unknown += usize::from(p.is_empty());
        }
    }
    let per_word = t1.elapsed().as_secs_f64() * 1e6 / (rounds * words.len()).max(1) as f64;
    println!(
        "dictionary load {:.1} ms; {} words x {rounds}: {per_word:.2} us/word, {:.2} parses/word, {:.1} % unknown",
        load.as_secs_f64() * 1000.0,
        words.len(),
        parses as f64 / (rounds * words.len()).max(1) as f64,
        100.0 * unknown as f64 / (rounds * words.len()).max(1) as f64
    );
    Ok(())
}
