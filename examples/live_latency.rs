//! Live mode's latency, exactly: joins the simulator's publish log (`tgsift sim serve --live-rate R
//! --publish-log FILE`: `channel_id,message_id,unix_ms` per published post) with tgsift's database
//! (`posts.stored_at_ms`, `posts.tagged_at_ms`) and prints the latency from publishing to stored and
//! to tagged. Message dates are whole seconds, so they cannot measure this; both clocks here are the
//! same machine's.
//!
//! Usage: `live_latency DB PUBLISH_LOG [AFTER_MS]` — only posts published at or after `AFTER_MS`
//! (unix milliseconds; e.g. once tgsift has caught up) count. Prints one `key=value` line. `DB` is
//! an SQLite file, or a `.csv` of the same rows exported from PostgreSQL (`tg_id,message_id,
//! stored_at_ms,tagged_at_ms,has_text` with `t`/`f`, empty for NULL: what `psql \copy … csv` writes).

use std::collections::HashMap;

use tgsift_store::SqliteStore;

fn percentile(sorted: &[i64], q: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].to_string()
}

/// When a post was stored and tagged (unix ms), and whether it has text (posts without are not
/// tagged).
#[derive(Clone, Copy)]
struct Stored {
    at: Option<i64>,
    tagged: Option<i64>,
    text: bool,
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(db), Some(log)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: live_latency DB PUBLISH_LOG [AFTER_MS]");
    };
    let after: i64 = match args.get(2) {
        Some(a) => a.parse()?,
        None => 0,
    };
    let mut published: HashMap<(i64, i32), i64> = HashMap::new();
    for (n, line) in std::fs::read_to_string(log)?.lines().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let parsed = match f.as_slice() {
            [c, m, t] => c
                .parse()
                .ok()
                .zip(m.parse().ok())
                .zip(t.parse::<i64>().ok()),
            _ => None,
        };
        let Some(((channel, message), at)) = parsed else {
            anyhow::bail!("{log}:{}: not `channel_id,message_id,unix_ms`", n + 1);
        };
        if at >= after {
            published.insert((channel, message), at);
        }
    }
    // (tg channel id, message id) -> when it was stored and tagged; the earliest when several
    // accounts follow a channel.
    let rows = if db.ends_with(".csv") {
        csv_rows(db)?
    } else {
        sqlite_rows(db)?
    };
    let mut stored_at: HashMap<(i64, i32), Stored> = HashMap::new();
    // Rows beyond the first of one post (a channel stored twice, under two of its followers).
    let mut duplicates = 0usize;
    for (c, m, s) in rows {
        if stored_at.contains_key(&(c, m)) {
            duplicates += 1;
        }
        let e = stored_at.entry((c, m)).or_insert(s);
        e.at = earliest(e.at, s.at);
        e.tagged = earliest(e.tagged, s.tagged);
    }
    let (mut store_lag, mut tag_lag) = (Vec::new(), Vec::new());
    let (mut missing, mut untagged) = (0usize, 0usize);
    for (key, at) in &published {
        match stored_at.get(key) {
            Some(Stored {
                at: Some(s),
                tagged,
                text,
            }) => {
                store_lag.push(s - at);
                match tagged {
                    Some(t) => tag_lag.push(t - at),
                    None if *text => untagged += 1,
                    None => {}
                }
            }
            _ => missing += 1,
        }
    }
    store_lag.sort_unstable();
    tag_lag.sort_unstable();
    println!(
        "published={} stored={} missing={} duplicates={} store_p50_ms={} store_p99_ms={} store_max_ms={} tagged={} untagged={} tag_p50_ms={} tag_p99_ms={}",
        published.len(),
        store_lag.len(),
        missing,
        duplicates,
        percentile(&store_lag, 0.5),
        percentile(&store_lag, 0.99),
        store_lag.last().map_or("-".into(), |v| v.to_string()),
        tag_lag.len(),
        untagged,
        percentile(&tag_lag, 0.5),
        percentile(&tag_lag, 0.99),
    );
    Ok(())
}

/// The posts' rows of an SQLite database.
fn sqlite_rows(db: &str) -> anyhow::Result<Vec<(i64, i32, Stored)>> {
    let store = SqliteStore::open(std::path::Path::new(db))?;
    Ok(store.read("posts", |c| {
        let mut st = c.prepare(
            "SELECT c.tg_id, p.message_id, p.stored_at_ms, p.tagged_at_ms, trim(p.text) != ''
             FROM posts p JOIN channels c ON c.id = p.channel_id",
        )?;
        st.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                Stored {
                    at: r.get(2)?,
                    tagged: r.get(3)?,
                    text: r.get(4)?,
                },
            ))
        })?
        .collect()
    })?)
}

/// The same rows from a CSV export (PostgreSQL).
fn csv_rows(path: &str) -> anyhow::Result<Vec<(i64, i32, Stored)>> {
    let opt = |v: &str| -> anyhow::Result<Option<i64>> {
        Ok(if v.is_empty() { None } else { Some(v.parse()?) })
    };
    let mut out = Vec::new();
    for (n, line) in std::fs::read_to_string(path)?.lines().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let [c, m, at, tagged, text] = f.as_slice() else {
            anyhow::bail!(
                "{path}:{}: not `tg_id,message_id,stored_at_ms,tagged_at_ms,has_text`",
                n + 1
            );
        };
        out.push((
            c.parse()?,
            m.parse()?,
            Stored {
                at: opt(at)?,
                tagged: opt(tagged)?,
                text: *text == "t",
            },
        ));
    }
    Ok(out)
}
