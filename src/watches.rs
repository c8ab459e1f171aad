//! Watches: telling a person when a post about their subject appears.
//!
//! A watch names posts by a tag, a search or channels, and a sink ([`crate::sinks`]). The store
//! queues every post stored or edited while a watch exists (`tgsift_store::model::watches` explains
//! the tables); the `watches` task decides queued posts against the watches — a search once the post
//! is in the index, a tag once its tagging has ended — and records each match once per watch. The
//! same task delivers due matches: at once, or batched into a digest every `--every`. A failed
//! delivery is tried again after 5 s, 10 s, 20 s … up to 5 min apart, for as long as it takes, so a
//! post matched while the sink is down is delivered when the sink comes back; matching and
//! delivering only read and write the database and the sink, never blocking ingest.

use std::sync::Arc;
use std::time::Duration;

use grammers_tl_types as tl;
use serde_json::json;
use tgsift_store::{AsyncStore, StoreError, WatchHit, WatchPass, WatchRow, decide, unix_now};
use tokio_util::sync::CancellationToken;

use crate::sinks::{Chats, Sink};
use crate::task::TaskError;
use crate::telegram::connections::Connections;

/// How often the queue and the due matches are looked at.
const EVERY: Duration = Duration::from_secs(1);
/// Queued posts decided per pass.
const BATCH: usize = 500;
/// Matches claimed per delivery pass.
const CLAIM: usize = 200;
/// How long a claimed match is left to its deliverer before another may try.
const LEASE_SECS: i64 = 120;
/// The longest wait between two attempts of a match.
const MAX_RETRY_SECS: i64 = 300;
/// Characters of a post's text in a delivery.
const EXCERPT_CHARS: usize = 300;

/// Matches posts to watches and delivers the matches; cheap to share.
pub struct Watches {
    store: AsyncStore,
    http: reqwest::Client,
    chats: Chats,
}

/// What one delivery was about: a watch and its matched posts (one, or a digest's).
pub(crate) struct Delivery<'a> {
    /// The watch.
    pub watch: &'a WatchRow,
    /// Its posts, oldest match first.
    pub posts: &'a [WatchHit],
    /// A `watch test` delivery (marked as such).
    pub test: bool,
}

impl Watches {
    /// Watches over `store`.
    pub fn new(store: AsyncStore) -> Self {
        Watches {
            store,
            http: crate::sinks::http_client(),
            chats: Chats::default(),
        }
    }

    /// The `watches` task: decides queued posts and delivers due matches until `cancel`.
    pub async fn run(
        self: Arc<Self>,
        connections: Arc<Connections>,
        cancel: CancellationToken,
    ) -> Result<(), TaskError> {
        loop {
            self.match_queued(unix_now()).await?;
            self.deliver_due(&connections, unix_now()).await?;
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(EVERY) => {}
            }
        }
    }

    /// `run --once`'s pass, after its ingest and tagging: indexes what a search rule needs, decides
    /// the queue and makes one delivery attempt of each due match (the next run retries failures).
    pub(crate) async fn once(&self, connections: &Connections) -> Result<(), StoreError> {
        let watches = self.store.read("list watches", |s| s.watches()).await?;
        if watches.is_empty() {
            return Ok(());
        }
        if watches.iter().any(|w| w.query.is_some()) {
            self.store.index_search_queue().await?;
        }
        let new = self.match_queued(unix_now()).await?;
        let sent = self.deliver_due(connections, unix_now()).await?;
        tracing::info!(
            matches = new,
            deliveries = sent,
            "watches decided and delivered"
        );
        Ok(())
    }

    /// Decides every queued post that can be decided at `now`; returns the new matches.
    pub(crate) async fn match_queued(&self, now: i64) -> Result<usize, StoreError> {
        let mut new = 0;
        loop {
            let (pass, seen) = self
                .store
                .read("decide posts for the watches", move |s| {
                    let candidates = s.watch_candidates(now, BATCH)?;
                    if candidates.is_empty() {
                        return Ok((WatchPass::default(), 0));
                    }
                    let watches = s.watches()?;
                    let pass = decide(&watches, &candidates, now, |q, ids| {
                        s.watch_query_hits(q, ids)
                    })?;
                    Ok((pass, candidates.len()))
                })
                .await?;
            // Nothing decided: no write (the task asks every second, beside ingest's writes).
            if pass == WatchPass::default() {
                return Ok(new);
            }
            let progress = !pass.decided.is_empty() || !pass.done.is_empty();
            new += self
                .store
                .with("record what the watches matched", move |s| {
                    s.record_watch_pass(&pass, now)
                })
                .await?;
            // A full batch where nothing moved is posts waiting for the search index.
            if seen < BATCH || !progress {
                return Ok(new);
            }
        }
    }

    /// Delivers the matches due at `now`; returns how many deliveries were attempted.
    pub(crate) async fn deliver_due(
        &self,
        connections: &Connections,
        now: i64,
    ) -> Result<usize, StoreError> {
        let hits = self
            .store
            .with("claim watch matches", move |s| {
                s.claim_watch_hits(now, LEASE_SECS, CLAIM)
            })
            .await?;
        if hits.is_empty() {
            return Ok(0);
        }
        let watches = self.store.read("list watches", |s| s.watches()).await?;
        let mut groups: Vec<(i64, Vec<WatchHit>)> = Vec::new();
        for h in hits {
            match groups.iter_mut().find(|(w, _)| *w == h.watch_id) {
                Some((_, g)) => g.push(h),
                None => groups.push((h.watch_id, vec![h])),
            }
        }
        let mut attempts = 0;
        for (watch_id, posts) in groups {
            let Some(watch) = watches.iter().find(|w| w.id == watch_id) else {
                continue;
            };
            // A digest is one delivery; otherwise each post is its own.
            let batches: Vec<&[WatchHit]> = if watch.every.is_some() {
                vec![&posts[..]]
            } else {
                posts.chunks(1).collect()
            };
            for batch in batches {
                attempts += 1;
                let outcome = self
                    .deliver(
                        &Delivery {
                            watch,
                            posts: batch,
                            test: false,
                        },
                        connections,
                    )
                    .await;
                let ids: Vec<i64> = batch.iter().map(|h| h.post_id).collect();
                let now = unix_now();
                match outcome {
                    Ok(()) => {
                        self.store
                            .with("record a watch delivery", move |s| {
                                s.watch_delivered(watch_id, &ids, now)
                            })
                            .await?
                    }
                    Err(e) => {
                        let tries = batch.iter().map(|h| h.attempts).max().unwrap_or(0);
                        let retry_at = now + retry_after(tries);
                        tracing::warn!(watch = %watch.name, error = %e, retry_at, "watch delivery failed; will retry");
                        self.store
                            .with("record a failed watch delivery", move |s| {
                                s.watch_failed(watch_id, &ids, &e, retry_at)
                            })
                            .await?
                    }
                }
            }
        }
        Ok(attempts)
    }

    /// Delivers once through the watch's sink.
    pub(crate) async fn deliver(
        &self,
        d: &Delivery<'_>,
        connections: &Connections,
    ) -> Result<(), String> {
        match Sink::parse(&d.watch.sink)? {
            Sink::Webhook(url) => crate::sinks::post_json(&self.http, &url, &webhook_body(d)).await,
            sink => {
                // The watch's account, else the one following the post's channel, else any.
                let named = d
                    .watch
                    .account
                    .clone()
                    .or_else(|| d.posts.first().map(|p| p.account.clone()));
                let accounts = self
                    .store
                    .read("list accounts", |s| s.accounts())
                    .await
                    .map_err(|e| e.to_string())?;
                let account = match &named {
                    Some(name) => accounts
                        .into_iter()
                        .find(|a| &a.name == name)
                        .ok_or_else(|| format!("account {name} no longer exists"))?,
                    None => accounts
                        .into_iter()
                        .find(|a| a.disabled_reason.is_none())
                        .ok_or("no logged-in account to send with")?,
                };
                let name = account.name.clone();
                if let Some(reason) = &account.disabled_reason {
                    return Err(format!("account {name} cannot send: {reason}"));
                }
                let conn = connections
                    .get(account.id)
                    .await
                    .map_err(|e| e.to_string())?;
                let peer = match &sink {
                    Sink::Chat(chat) => self.chats.peer(account.id, &conn.account, chat).await?,
                    _ => tl::enums::InputPeer::PeerSelf,
                };
                for part in crate::sinks::split_message(&telegram_text(d)) {
                    crate::sinks::send_text(&conn.account, peer.clone(), part).await?;
                }
                Ok(())
            }
        }
    }
}

/// Seconds before the next attempt after `attempts` failed ones: 5, 10, 20 … at most 5 min.
fn retry_after(attempts: i64) -> i64 {
    (5i64 << attempts.clamp(0, 16)).min(MAX_RETRY_SECS)
}

/// The first [`EXCERPT_CHARS`] characters of a text, its whitespace folded.
pub(crate) fn excerpt(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match folded.char_indices().nth(EXCERPT_CHARS) {
        Some((at, _)) => format!("{}…", &folded[..at]),
        None => folded,
    }
}

/// What a webhook receives: the watch and its posts (one, or a digest's).
pub(crate) fn webhook_body(d: &Delivery<'_>) -> serde_json::Value {
    let posts: Vec<serde_json::Value> = d
        .posts
        .iter()
        .map(|p| {
            json!({
                "id": p.post_id,
                "channel": p.channel_username.as_ref().map(|u| format!("@{u}"))
                    .unwrap_or_else(|| p.channel_tg_id.to_string()),
                "channel_title": p.channel_title,
                "message_id": p.message_id,
                "link": p.link(),
                "date": p.date,
                "edit_date": p.edit_date,
                "excerpt": excerpt(&p.text),
                "tags": p.tags,
            })
        })
        .collect();
    json!({
        "kind": "watch",
        "watch": d.watch.name,
        "digest": d.watch.every.is_some(),
        "test": d.test,
        "posts": posts,
    })
}

/// What a Telegram sink receives: a header, then each post's channel, excerpt, link and tags.
pub(crate) fn telegram_text(d: &Delivery<'_>) -> String {
    let mut text = match (d.test, d.posts.len()) {
        (true, _) => format!("tgsift watch «{}» (test)\n", d.watch.name),
        (false, 1) => format!("tgsift watch «{}»\n", d.watch.name),
        (false, n) => format!("tgsift watch «{}»: {n} posts\n", d.watch.name),
    };
    if d.posts.is_empty() {
        text.push_str("\n(no stored post matches it yet)\n");
    }
    for p in d.posts {
        text.push('\n');
        text.push_str(&p.channel_title);
        if let Some(u) = &p.channel_username {
            text.push_str(&format!(" (@{u})"));
        }
        text.push('\n');
        let body = excerpt(&p.text);
        if !body.is_empty() {
            text.push_str(&body);
            text.push('\n');
        }
        text.push_str(&p.link());
        text.push('\n');
        if !p.tags.is_empty() {
            text.push_str(&format!("tags: {}\n", p.tags.join(", ")));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: i64, text: &str) -> WatchHit {
        WatchHit {
            watch_id: 1,
            post_id: id,
            attempts: 0,
            channel_title: "Новости".into(),
            channel_username: Some("news".into()),
            channel_tg_id: 1001,
            account: "main".into(),
            message_id: i32::try_from(id).unwrap_or(0),
            date: 1_700_000_000,
            edit_date: None,
            text: text.into(),
            tags: vec!["Нефть".into()],
        }
    }

    fn watch(every: Option<i64>) -> WatchRow {
        WatchRow {
            id: 1,
            name: "oil".into(),
            tag: None,
            query: Some("нефть".into()),
            channels: vec![],
            sink: "saved-messages".into(),
            every,
            account: None,
            created_at: 0,
            last_digest_at: None,
            delivered: 0,
            pending: 0,
            last_error: None,
            last_delivered_at: None,
        }
    }

    #[test]
    fn retries_back_off_to_five_minutes() {
        assert_eq!(
            (0..8).map(retry_after).collect::<Vec<_>>(),
            [5, 10, 20, 40, 80, 160, 300, 300]
        );
        assert_eq!(retry_after(1_000), 300);
    }

    #[test]
    fn excerpts_fold_whitespace_and_cut_on_characters() {
        assert_eq!(excerpt("  нефть\n\n дорожает  "), "нефть дорожает");
        let long = "ё".repeat(EXCERPT_CHARS + 10);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn deliveries_carry_link_channel_excerpt_and_tags() {
        let w = watch(None);
        let posts = [hit(7, "Нефть дорожает")];
        let d = Delivery {
            watch: &w,
            posts: &posts,
            test: false,
        };
        let body = webhook_body(&d);
        assert_eq!(body["watch"], "oil");
        assert_eq!(body["posts"][0]["link"], "https://t.me/news/7");
        assert_eq!(body["posts"][0]["channel"], "@news");
        assert_eq!(body["posts"][0]["excerpt"], "Нефть дорожает");
        assert_eq!(body["posts"][0]["tags"][0], "Нефть");
        assert_eq!(
            telegram_text(&d),
            "tgsift watch «oil»\n\nНовости (@news)\nНефть дорожает\nhttps://t.me/news/7\ntags: Нефть\n"
        );
        let w = watch(Some(3600));
        let posts = [hit(7, "a"), hit(8, "b")];
        let d = Delivery {
            watch: &w,
            posts: &posts,
            test: false,
        };
        assert!(telegram_text(&d).starts_with("tgsift watch «oil»: 2 posts\n"));
        assert_eq!(webhook_body(&d)["digest"], true);
    }
}
