//! Tag-quality evaluation of the embedded tagger (run by `scripts/eval-tags.sh`).
//!
//! ```text
//! eval_tags dump  DATASET OUT.jsonl            # {"id","text"} per document, for external taggers
//! eval_tags eval  DATASET NAME [--ext LABEL=PREDS.jsonl]...
//! eval_tags speed DATASET                      # tags() speed on ~1,000-character posts
//! ```
//!
//! `DATASET` is a keyphrase folder (`docsutf8/<id>.txt` + `keys/<id>.key`) or a JSON-lines gold file
//! (`{"id","text","tags":[..]}` per line, e.g. `tests/data/ru_posts.jsonl`). External predictions are
//! JSON lines `{"id","tags":[..]}` plus one `{"ms_per_doc": x}` line.
//!
//! The metric is the usual keyphrase one: each phrase is lower-cased, `ё` folded, split into words at
//! non-alphanumeric characters and every word Snowball-stemmed (English, or Russian for Cyrillic
//! words); a returned tag is correct when it equals a gold key (each gold key matched at most once).
//! Precision is over the tags returned (at most k), recall over the gold keys, and P, R and F1 are
//! computed per document and macro-averaged. Document frequencies for the embedded tagger's TF-IDF come
//! from the same dataset.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rust_stemmers::{Algorithm, Stemmer};
use tgsift_tagger::{DocFreq, EmbeddedTagger};

/// One evaluation document.
struct Doc {
    id: String,
    text: String,
    gold: Vec<String>,
}

fn load(path: &Path) -> Result<Vec<Doc>> {
    let mut docs = Vec::new();
    if path.is_dir() {
        let mut ids: Vec<String> = fs::read_dir(path.join("docsutf8"))
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".txt"))
                    .map(str::to_owned)
            })
            .collect();
        ids.sort();
        for id in ids {
            let text = fs::read(path.join("docsutf8").join(format!("{id}.txt")))?;
            let keys = fs::read(path.join("keys").join(format!("{id}.key"))).unwrap_or_default();
            let gold = String::from_utf8_lossy(&keys)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            docs.push(Doc {
                id,
                text: String::from_utf8_lossy(&text).into_owned(),
                gold,
            });
        }
    } else {
        let body =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (n, line) in body.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}", path.display(), n + 1))?;
            let id = v["id"]
                .as_str()
                .map_or_else(|| n.to_string(), str::to_owned);
            let text = v["text"].as_str().unwrap_or_default().to_owned();
            let gold = v["tags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            docs.push(Doc { id, text, gold });
        }
    }
    if docs.is_empty() {
        bail!("no documents in {}", path.display());
    }
    Ok(docs)
}

/// Stemmed, normalised form of a key phrase.
struct Norm {
    ru: Stemmer,
    en: Stemmer,
}

impl Norm {
    fn new() -> Self {
        Self {
            ru: Stemmer::create(Algorithm::Russian),
            en: Stemmer::create(Algorithm::English),
        }
    }

    fn phrase(&self, p: &str) -> String {
        let lower: String = p
            .chars()
            .flat_map(char::to_lowercase)
            .map(|c| if c == 'ё' { 'е' } else { c })
            .collect();
        lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| {
                if w.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c)) {
                    self.ru.stem(w).into_owned()
                } else {
                    self.en.stem(w).into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Macro-averaged precision, recall and F1 at one cut-off.
#[derive(Default, Clone, Copy)]
struct Prf {
    p: f64,
    r: f64,
    f: f64,
}

fn score(norm: &Norm, docs: &[Doc], preds: &HashMap<String, Vec<String>>, k: usize) -> Prf {
    let mut sum = Prf::default();
    for d in docs {
        let gold: HashSet<String> = d
            .gold
            .iter()
            .map(|g| norm.phrase(g))
            .filter(|g| !g.is_empty())
            .collect();
        let pred = preds.get(&d.id).map(Vec::as_slice).unwrap_or_default();
        let pred: Vec<String> = pred.iter().take(k).map(|p| norm.phrase(p)).collect();
        let mut matched: HashSet<&str> = HashSet::new();
        for p in &pred {
            if gold.contains(p) {
                matched.insert(p.as_str());
            }
        }
        let hits = matched.len() as f64;
        let p = if pred.is_empty() {
            0.0
        } else {
            hits / pred.len() as f64
        };
        let r = if gold.is_empty() {
            0.0
        } else {
            hits / gold.len() as f64
        };
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        sum.p += p;
        sum.r += r;
        sum.f += f;
    }
    let n = docs.len().max(1) as f64;
    Prf {
        p: 100.0 * sum.p / n,
        r: 100.0 * sum.r / n,
        f: 100.0 * sum.f / n,
    }
}

fn row(dataset: &str, tagger: &str, docs: &[Doc], preds: &HashMap<String, Vec<String>>, ms: f64) {
    let norm = Norm::new();
    let a = score(&norm, docs, preds, 5);
    let b = score(&norm, docs, preds, 10);
    println!(
        "| {dataset} | {tagger} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {ms:.2} |",
        a.p, a.r, a.f, b.p, b.r, b.f
    );
}

fn ext_preds(path: &Path) -> Result<(HashMap<String, Vec<String>>, f64)> {
    let body = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut preds = HashMap::new();
    let mut ms = f64::NAN;
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let Some(x) = v["ms_per_doc"].as_f64() {
            ms = x;
            continue;
        }
        let id = v["id"].as_str().unwrap_or_default().to_owned();
        let tags = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        preds.insert(id, tags);
    }
    Ok((preds, ms))
}

fn eval(path: &Path, name: &str, ext: &[(String, String)]) -> Result<()> {
    let docs = load(path)?;
    let tagger = EmbeddedTagger::new();
    let with_yake = EmbeddedTagger::new().with_yake(true);
    let df = DocFreq::from_texts(docs.iter().map(|d| d.text.as_str()));
    let top = |t: &EmbeddedTagger| {
        let start = Instant::now();
        let preds: HashMap<String, Vec<String>> = docs
            .iter()
            .map(|d| {
                let tags = t.top_k(&d.text, Some(&df), 10);
                (d.id.clone(), tags.into_iter().map(|t| t.tag).collect())
            })
            .collect();
        let ms = start.elapsed().as_secs_f64() * 1000.0 / docs.len() as f64;
        (preds, ms)
    };
    let (preds, ms) = top(&tagger);
    let (preds_yake, ms_yake) = top(&with_yake);
    let mut auto = HashMap::new();
    if let Some(n) = std::env::var("EVAL_DEBUG")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let norm = Norm::new();
        for d in docs.iter().take(n) {
            let gold: HashSet<String> = d.gold.iter().map(|g| norm.phrase(g)).collect();
            let p: Vec<String> = preds[&d.id]
                .iter()
                .map(|t| {
                    if gold.contains(&norm.phrase(t)) {
                        format!("[{t}]")
                    } else {
                        t.clone()
                    }
                })
                .collect();
            eprintln!(
                "== {} ({} chars)\n  pred: {}\n  gold: {}",
                d.id,
                d.text.len(),
                p.join(", "),
                d.gold.join(", ")
            );
        }
    }
    for d in &docs {
        let tags = tagger.tags(&d.text, Some(&df));
        auto.insert(
            d.id.clone(),
            tags.into_iter().map(|t| t.tag).collect::<Vec<_>>(),
        );
    }
    row(name, "embedded (default: TF-IDF)", &docs, &preds, ms);
    row(
        name,
        "embedded, embedded_yake = true",
        &docs,
        &preds_yake,
        ms_yake,
    );
    for (label, file) in ext {
        let (p, ms) = ext_preds(Path::new(file))?;
        row(name, label, &docs, &p, ms);
    }
    // tags() with its own 3–7 cut-off, scored at k = 7 (precision over what it returned).
    let norm = Norm::new();
    let a = score(&norm, &docs, &auto, MAX_AUTO);
    let mean = auto.values().map(Vec::len).sum::<usize>() as f64 / docs.len() as f64;
    println!(
        "| {name} | embedded tags() (3–7, mean {mean:.1}), scored at 7 | {:.1} / {:.1} / {:.1} | | |",
        a.p, a.r, a.f
    );
    Ok(())
}

const MAX_AUTO: usize = 7;

fn dump(path: &Path, out: &Path) -> Result<()> {
    let docs = load(path)?;
    let mut body = String::new();
    for d in &docs {
        body.push_str(&serde_json::json!({"id": d.id, "text": d.text}).to_string());
        body.push('\n');
    }
    fs::write(out, body).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Builds ~1,000-character posts from the dataset's texts and times `tags()` on them.
fn speed(path: &Path) -> Result<()> {
    let docs = load(path)?;
    let mut posts: Vec<String> = Vec::new();
    let mut cur = String::new();
    for d in &docs {
        for ch in d.text.chars() {
            cur.push(ch);
            if cur.chars().count() >= 1000 {
                posts.push(std::mem::take(&mut cur));
            }
        }
        cur.push('\n');
    }
    if posts.is_empty() {
        posts.push(cur);
    }
    let tagger = EmbeddedTagger::new();
    let df = DocFreq::from_texts(posts.iter().map(String::as_str));
    let rounds = (3000 / posts.len()).max(1);
    let mut n = 0usize;
    let mut tags = 0usize;
    // warm-up
    for p in posts.iter().take(20) {
        tags += tagger.tags(p, Some(&df)).len();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        for p in &posts {
            tags += tagger.tags(p, Some(&df)).len();
            n += 1;
        }
    }
    let with_df = start.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let start = Instant::now();
    for p in &posts {
        tags += tagger.tags(p, None).len();
    }
    let without = start.elapsed().as_secs_f64() * 1000.0 / posts.len() as f64;
    let start = Instant::now();
    let df2 = DocFreq::from_texts(posts.iter().map(String::as_str));
    let df_ms = start.elapsed().as_secs_f64() * 1000.0 / posts.len() as f64;
    println!(
        "speed {}: {} posts of ~1,000 chars: tags() {with_df:.3} ms/post with DocFreq, {without:.3} ms/post \
         without; DocFreq::add {df_ms:.3} ms/post ({} docs) [{tags} tags]",
        path.display(),
        posts.len(),
        df2.docs()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dump") if args.len() == 3 => dump(Path::new(&args[1]), Path::new(&args[2])),
        Some("speed") if args.len() == 2 => speed(Path::new(&args[1])),
        Some("eval") if args.len() >= 3 => {
            let mut ext = Vec::new();
            let mut rest = args[3..].iter();
            while let Some(a) = rest.next() {
                if a == "--ext" {
                    let Some(spec) = rest.next() else {
                        bail!("--ext needs LABEL=FILE")
                    };
                    let Some((label, file)) = spec.rsplit_once('=') else {
                        bail!("--ext needs LABEL=FILE")
                    };
                    ext.push((label.to_owned(), file.to_owned()));
                } else {
                    bail!("unknown argument {a}");
                }
            }
            eval(Path::new(&args[1]), &args[2], &ext)
        }
        _ => bail!(
            "usage: eval_tags dump DATASET OUT | eval DATASET NAME [--ext LABEL=FILE]... | speed DATASET"
        ),
    }
}
