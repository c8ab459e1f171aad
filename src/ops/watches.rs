//! Watches as operators manage them (`tgsift watch …`, `/api/v1/watches`): create one from what a
//! user typed (every part checked and named when wrong), list them with their delivery figures,
//! remove one, and test one — which stored posts it would have matched, and one delivery through its
//! sink to see that the sink works.

use serde::{Deserialize, Serialize};
use tgsift_store::{NewWatch, WatchHit, WatchRow, match_expression, unix_now};

use super::{Ops, OpsError};
use crate::sinks::Sink;
use crate::watches::{Delivery, Watches};

/// A watch as a user asks for it: channels by reference, the digest period as a span.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchSpec {
    /// Unique name: 1–64 ASCII letters, digits, `-` and `_`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub name: String,
    /// Posts with this tag (as `tags top` names it).
    #[serde(default)]
    pub tag: Option<String>,
    /// Posts matching this search (the syntax of `tgsift search`).
    #[serde(default)]
    pub query: Option<String>,
    /// Only (or all) posts of these channels: `@name`, numeric id or `#row`.
    #[serde(default)]
    pub channels: Vec<String>,
    /// `webhook:URL`, `saved-messages` or `telegram:@chat`.
    #[schema(
        pattern = "^(saved-messages|webhook:https?://[^ ]+|telegram:@?[A-Za-z][A-Za-z0-9_]{3,31})$"
    )]
    pub sink: String,
    /// Batch matches into one message per period (`30m`, `1h`, `1d`); absent: each post at once.
    #[serde(default)]
    pub every: Option<String>,
    /// The account that sends to Telegram sinks; absent: the account following the post's channel.
    #[serde(default)]
    pub account: Option<String>,
}

/// What `watch test` found and did.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WatchTest {
    /// The watch.
    pub watch: WatchRow,
    /// The newest stored posts it matches (whenever they were stored), newest first.
    pub recent: Vec<WatchHit>,
    /// Whether a test delivery was made.
    pub sent: bool,
    /// Why the test delivery failed, if it did.
    pub error: Option<String>,
}

fn invalid(m: String) -> OpsError {
    OpsError::Invalid(m)
}

impl Ops {
    /// Creates a watch; every part is checked first.
    pub async fn add_watch(&self, spec: WatchSpec) -> Result<WatchRow, OpsError> {
        let name = spec.name.clone();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(format!(
                "watch name `{name}`: use 1–64 ASCII letters, digits, - or _"
            )));
        }
        let tag = spec.tag.map(|t| t.trim().to_string());
        let query = spec.query.map(|q| q.trim().to_string());
        if tag.is_some() && query.is_some() {
            return Err(invalid(format!(
                "watch {name}: give a tag or a query, not both (make two watches)"
            )));
        }
        if tag.as_deref() == Some("") {
            return Err(invalid(format!("watch {name}: the tag is empty")));
        }
        if let Some(q) = &query
            && match_expression(q).is_none()
        {
            return Err(invalid(format!(
                "watch {name}: the query `{q}` has no word to look for"
            )));
        }
        if tag.is_none() && query.is_none() && spec.channels.is_empty() {
            return Err(invalid(format!(
                "watch {name}: say what to watch: a tag, a query and/or channels"
            )));
        }
        let sink = Sink::parse(&spec.sink).map_err(|e| invalid(format!("watch {name}: {e}")))?;
        let every = match spec.every.as_deref() {
            None => None,
            Some(e) => Some(crate::config::span_secs(e).ok_or_else(|| {
                invalid(format!(
                    "watch {name}: `--every {e}` is not a period such as 30m, 1h or 1d"
                ))
            })?),
        };
        if let Some(a) = &spec.account {
            self.account(a).await?;
        }
        if sink.on_telegram() && spec.account.is_none() && self.accounts().await?.is_empty() {
            return Err(invalid(format!(
                "watch {name}: sink {} sends as a Telegram account, and there is none: add one first",
                spec.sink
            )));
        }
        let mut channels = Vec::with_capacity(spec.channels.len());
        for c in &spec.channels {
            channels.push(self.channel(c).await?.id);
        }
        channels.sort_unstable();
        channels.dedup();
        let new = NewWatch {
            name: name.clone(),
            tag,
            query,
            channels,
            sink: spec.sink.trim().to_string(),
            every,
            account: spec.account,
        };
        self.store
            .with("add a watch", move |s| s.add_watch(&new, unix_now()))
            .await?
            .ok_or_else(|| {
                OpsError::Conflict(format!(
                    "a watch named {name} exists: remove it first or choose another name"
                ))
            })
    }

    /// Every watch with its delivery figures.
    pub async fn watches(&self) -> Result<Vec<WatchRow>, OpsError> {
        Ok(self.store.read("list watches", |s| s.watches()).await?)
    }

    /// The watch of that name.
    pub async fn watch(&self, name: &str) -> Result<WatchRow, OpsError> {
        self.watches()
            .await?
            .into_iter()
            .find(|w| w.name == name)
            .ok_or_else(|| {
                OpsError::NotFound(format!("no watch is named {name}: see `tgsift watch list`"))
            })
    }

    /// Removes a watch and its undelivered matches.
    pub async fn remove_watch(&self, name: &str) -> Result<WatchRow, OpsError> {
        let watch = self.watch(name).await?;
        let n = name.to_string();
        self.store
            .with("remove a watch", move |s| s.remove_watch(&n))
            .await?;
        Ok(watch)
    }

    /// The newest stored posts a watch matches and, when `send`, one delivery of the newest (or of
    /// an empty test message) through its sink, marked as a test.
    pub async fn test_watch(&self, name: &str, send: bool) -> Result<WatchTest, OpsError> {
        let watch = self.watch(name).await?;
        let w = watch.clone();
        let recent = self
            .store
            .read("read a watch's recent posts", move |s| {
                let ids = s.watch_recent(&w, 5)?;
                s.watch_posts(&ids)
            })
            .await?;
        let error = if send {
            let posts = &recent[..recent.len().min(1)];
            Watches::new(self.store.clone())
                .deliver(
                    &Delivery {
                        watch: &watch,
                        posts,
                        test: true,
                    },
                    &self.connections,
                )
                .await
                .err()
        } else {
            None
        };
        Ok(WatchTest {
            watch,
            recent,
            sent: send && error.is_none(),
            error,
        })
    }
}
