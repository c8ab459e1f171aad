//! Benchmark of the embedded tagger on the simulator's generated posts: posts/s on both cores and
//! milliseconds per post. With `--dump FILE` it also writes the texts (one JSON string per line) so
//! `scripts/bench.sh` can time Python yake on exactly the same texts.
//! Usage: `tag_bench [POSTS] [--dump FILE] [--yake]` (`--yake`: with `tagging.embedded_yake`).

use std::io::Write;
use std::time::Instant;

use tgsift_sim::Lang;
use tgsift_sim::textgen::post_text;
use tgsift_tagger::{DocFreq, EmbeddedTagger};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let posts: i32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let texts: Vec<String> = (1..=posts)
        .map(|i| post_text([Lang::Ru, Lang::En, Lang::Mixed][(i % 3) as usize], 42, i).text)
        .collect();
    if let Some(pos) = args.iter().position(|a| a == "--dump") {
        let path = args.get(pos + 1).ok_or("--dump needs a file")?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for t in &texts {
            writeln!(f, "{}", serde_json::to_string(t)?)?;
        }
    }
    let df = DocFreq::from_texts(texts.iter().map(String::as_str));
    let tagger = EmbeddedTagger::new().with_yake(args.iter().any(|a| a == "--yake"));
    // Warm-up, then one thread per core.
    for t in texts.iter().take(50) {
        std::hint::black_box(tagger.tags(t, Some(&df)));
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let t0 = Instant::now();
    let tagged: usize = std::thread::scope(|s| {
        let chunks: Vec<&[String]> = texts.chunks(texts.len().div_ceil(threads)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (tagger, df) = (&tagger, &df);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|t| usize::from(!tagger.tags(t, Some(df)).is_empty()))
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for t in texts.iter().take(1_000) {
        std::hint::black_box(tagger.tags(t, Some(&df)));
    }
    let per_post_ms = t1.elapsed().as_secs_f64() * 1000.0 / texts.len().min(1_000) as f64;
    println!(
        "posts={} tagged={tagged} threads={threads} seconds={secs:.3} posts_per_s={:.0} ms_per_post_one_core={per_post_ms:.3}",
        texts.len(),
        texts.len() as f64 / secs
    );
    Ok(())
}
