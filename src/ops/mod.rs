//! The admin layer: every operation an operator can ask for, once, for both front ends.
//!
//! The CLI and the HTTP API only translate requests into these calls and render the answers; the SQL
//! stays in the store, the Telegram calls in the client layer, the retries in the job runner. Work that
//! needs Telegram or may take long (adding a channel, a reparse, re-tagging, retrying tagging, checking
//! an account) is a durable job ([`jobs`]): queued at once, run by the service's job runner — or by the
//! CLI itself when no service holds the account's session.

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod db;
pub mod export;
pub(crate) mod figures;
pub(crate) mod import;
pub(crate) mod jobs;
pub(crate) mod posts;
pub mod stats;
pub(crate) mod status;
pub(crate) mod watches;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use tgsift_store::prelude::*;
use tgsift_store::{
    AccountRow, AsyncStore, ChannelRow, JobRow, PostFilter, PostRow, StoreError, StoredSession,
    TagStats, unix_now,
};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::tagging::worker::{Outcome, Pipeline};
use crate::telegram::client::Policy;
use crate::telegram::connections::Connections;
use crate::telegram::login::mask_phone;
use crate::telegram::session::SqliteSession;
use crate::telegram::session_lock::SessionLock;

pub use jobs::JobSpec;
pub use watches::{WatchSpec, WatchTest};

/// Why an operation was refused or failed, by what the caller should do (HTTP status, exit code).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The thing asked for does not exist (404, exit 2).
    #[error("{0}")]
    NotFound(String),
    /// The request is wrong (422, exit 2).
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state (409, exit 2).
    #[error("{0}")]
    Conflict(String),
    /// The database failed (500, exit 1).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that failed while doing the work (500, exit 1).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Tagging figures, as `tags stats --json` prints and `GET /api/v1/tagging/stats` answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TaggingStats {
    /// Posts in scope.
    pub total: i64,
    /// Posts that have at least one tag.
    pub with_tags: i64,
    /// Posts waiting for another attempt.
    pub needing_retry: i64,
    /// Posts per status.
    pub by_status: std::collections::BTreeMap<String, i64>,
    /// The configured tagger.
    pub backend: String,
    /// Attempts per post before `failed`.
    pub max_attempts: u32,
}

/// What `account list` and `GET /api/v1/accounts` show about one account.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// Account name.
    pub name: String,
    /// Masked phone.
    pub phone: String,
    /// Telegram user id, once known.
    pub user_id: Option<i64>,
    /// `active`, or why Telegram refused it: `logged_out`, `key_revoked`, `frozen`, `banned`.
    pub state: String,
    /// What the owner can do about a stopped account; `None` while it is active.
    pub what_to_do: Option<String>,
    /// `yes`, `no`, `no session`, or `stopped: <why>` when the service stopped serving it.
    pub logged_in: String,
    /// The circuit breaker as last persisted.
    pub breaker: String,
    /// Who holds the session lease, or `free`.
    pub lease: String,
}

/// A channel with its stored post count, for lists.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    /// Row id.
    pub id: i64,
    /// Owning account.
    pub account: String,
    /// `@username` or id.
    pub label: String,
    /// Title.
    pub title: String,
    /// `active`, `parked`, `paused`, `failed`, or `waiting` while its account cannot reach
    /// Telegram (its circuit breaker is open): active, but nothing is fetched.
    pub state: String,
    /// Since when its account cannot reach Telegram (unix seconds), while `waiting`.
    pub waiting_since: Option<i64>,
    /// Posts stored.
    pub posts: i64,
    /// Checkpoint.
    pub last_message_id: i32,
    /// Last good poll (unix seconds).
    pub last_fetch_at: Option<i64>,
    /// Parked until (unix seconds).
    pub flood_until: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
    /// When the account was first seen no longer a member of it (the `channel_left` alert);
    /// `None` while it is one. `channels prune-left` stops polling such channels.
    pub left_at: Option<i64>,
}

impl ChannelView {
    /// The channel as lists show it; `unreachable` are the accounts that cannot reach Telegram now,
    /// with since when (unix ms).
    fn of(c: ChannelRow, posts: i64, now: i64, unreachable: &[(String, i64)]) -> Self {
        let waiting_since = unreachable
            .iter()
            .find(|(account, _)| *account == c.account)
            .map(|(_, since_ms)| since_ms / 1000);
        // Parked or not, an active channel of an account that cannot reach Telegram waits for it
        // (its park is often that very failure): that is what to know about it.
        let state = match c.state(now) {
            "active" | "parked" if waiting_since.is_some() => "waiting",
            other => other,
        };
        ChannelView {
            id: c.id,
            label: c.label(),
            account: c.account,
            title: c.title,
            state: state.into(),
            waiting_since: waiting_since.filter(|_| state == "waiting"),
            posts,
            last_message_id: c.last_message_id,
            last_fetch_at: c.last_fetch_at,
            flood_until: c.flood_until,
            last_error: c.last_error,
            left_at: c.left_at,
        }
    }
}

/// An earlier text of an edited post.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PostVersion {
    /// What the post said.
    pub text: String,
    /// The edit date that text carried (unix seconds), if it was itself an edit.
    pub edit_date: Option<i64>,
    /// When an edit replaced it (unix seconds).
    pub replaced_at: i64,
}

/// A FLOOD_WAIT window still open: the account sends no `method` call before `until_ms`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FloodWindow {
    /// Account name.
    pub account: String,
    /// The Telegram method.
    pub method: String,
    /// Open until (unix milliseconds).
    pub until_ms: i64,
}

/// The admin operations over one database (and, for Telegram work, one process's connections).
#[derive(Clone)]
pub struct Ops {
    /// The database.
    pub store: AsyncStore,
    /// The effective configuration.
    pub config: Arc<Config>,
    /// The tagging pipeline (`None` when tagging is off).
    pub pipeline: Option<Arc<Pipeline>>,
    /// The process's Telegram connections.
    pub connections: Arc<Connections>,
}

impl Ops {
    /// The admin layer over the database `config` names, with Telegram connections of this process
    /// (stopped by `cancel`) and, when `tagging`, the configured tagging pipeline.
    pub async fn open(
        config: &Config,
        cancel: &CancellationToken,
        tagging: bool,
    ) -> Result<Ops, OpsError> {
        let store = AsyncStore::open_database(&config.storage.database).await?;
        let pipeline = if tagging {
            Pipeline::from_config(&config.tagging, store.clone())
                .map_err(|e| OpsError::Invalid(format!("tagging backend: {e}")))?
        } else {
            None
        };
        let connections = Connections::new(
            store.clone(),
            Policy::from(&config.telegram),
            config.telegram.api_id.unwrap_or(0),
            None,
            cancel.clone(),
        );
        Ok(Ops {
            store,
            config: Arc::new(config.clone()),
            pipeline,
            connections: Arc::new(connections),
        })
    }

    /// Whether a `tgsift run` process with a job runner is alive (it executes queued jobs).
    pub(crate) async fn job_runner_alive(&self) -> Result<bool, OpsError> {
        Ok(self
            .store
            .read("look for a job runner", |s| s.job_runner_alive())
            .await?)
    }

    /// Whether the database is PostgreSQL, where an account is used only by the worker holding
    /// its lease.
    pub(crate) fn on_postgres(&self) -> bool {
        self.store.as_postgres().is_some()
    }

    /// The alert sinks of the configuration, over this database (no metrics).
    pub fn alerts(&self) -> crate::alerts::Alerts {
        crate::alerts::Alerts::new(self.store.clone(), self.config.alerts.clone(), None)
    }

    /// Tagging figures, for all accounts or one.
    pub(crate) async fn tagging_stats(
        &self,
        account: Option<String>,
    ) -> Result<TaggingStats, OpsError> {
        let s: TagStats = self
            .store
            .read("count tagging statuses", move |s| {
                s.tag_stats(account.as_deref())
            })
            .await?;
        let t = &self.config.tagging;
        Ok(TaggingStats {
            total: s.total,
            with_tags: s.with_tags,
            needing_retry: s.needing_retry,
            by_status: s.by_status,
            backend: t.backend.clone(),
            max_attempts: t.max_attempts,
        })
    }

    /// Queues a job; it runs in the service (or, from the CLI, in this process).
    pub(crate) async fn enqueue(&self, spec: JobSpec) -> Result<JobRow, OpsError> {
        spec.validate()?;
        // Only the worker serving the account can run a job that talks to Telegram through it. An
        // account not found here is left to the run, which fails naming it.
        let account = spec.account(self).await.ok().flatten().map(|a| a.id);
        let (kind, args) = (spec.kind(), spec.args());
        let max = self.config.jobs.max_attempts;
        Ok(self
            .store
            .with("queue a job", move |s| {
                s.enqueue_job_for(kind, &args, max, account)
            })
            .await?)
    }

    /// One job.
    pub async fn job(&self, id: i64) -> Result<JobRow, OpsError> {
        self.store
            .read("read a job", move |s| s.job(id))
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("no job {id}")))
    }

    /// Jobs newest first, below job id `before`.
    pub async fn jobs(
        &self,
        state: Option<String>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<JobRow>, OpsError> {
        Ok(self
            .store
            .read("list jobs", move |s| {
                s.jobs(state.as_deref(), before, limit)
            })
            .await?)
    }

    /// Queues a failed or cancelled job again (its arguments kept, a fresh set of attempts).
    pub async fn retry_job(&self, id: i64) -> Result<JobRow, OpsError> {
        let job = self
            .store
            .with("retry a job", move |s| s.retry_job(id))
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("no job {id}")))?;
        if job.state != "queued" {
            return Err(OpsError::Conflict(format!(
                "job {id} is {}: only failed or cancelled jobs can be retried",
                job.state
            )));
        }
        Ok(job)
    }

    /// Cancels a job: a queued one at once, a running one at its next batch.
    pub(crate) async fn cancel_job(&self, id: i64) -> Result<JobRow, OpsError> {
        let job = self
            .store
            .with("cancel a job", move |s| s.cancel_job(id))
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("no job {id}")))?;
        if !(job.state == "cancelled" || job.cancel_requested) {
            return Err(OpsError::Conflict(format!(
                "job {id} already ended ({}): nothing to cancel",
                job.state
            )));
        }
        Ok(job)
    }

    /// Re-tags one post now (the tags are replaced).
    pub async fn regenerate(&self, post_id: i64) -> Result<Outcome, OpsError> {
        let pipeline = self.pipeline()?;
        let secs = self.config.tagging.claim_timeout.ceil() as i64;
        let due = self
            .store
            .with("claim a post", move |s| s.claim_post(post_id, secs))
            .await?
            .ok_or_else(|| {
                OpsError::NotFound(format!("post {post_id} does not exist or has no text"))
            })?;
        Ok(pipeline.tag_one(due).await?)
    }

    /// Posts matching a filter, newest first.
    pub async fn posts(&self, filter: PostFilter) -> Result<Vec<PostRow>, OpsError> {
        Ok(self
            .store
            .read("list posts", move |s| s.list_posts(&filter))
            .await?)
    }

    /// One post with its tags.
    pub async fn post(&self, id: i64) -> Result<PostRow, OpsError> {
        self.store
            .read("read a post", move |s| s.post(id))
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("no post with id {id}")))
    }

    /// The earlier texts of a post, oldest first (its current text is the post's own).
    pub async fn post_versions(&self, id: i64) -> Result<Vec<PostVersion>, OpsError> {
        self.store
            .read("read a post's versions", move |s| {
                if s.post(id)?.is_none() {
                    return Ok(None);
                }
                Ok(Some(
                    s.post_versions(id)?
                        .into_iter()
                        .map(|(text, edit_date, replaced_at)| PostVersion {
                            text,
                            edit_date,
                            replaced_at,
                        })
                        .collect(),
                ))
            })
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("no post with id {id}")))
    }

    /// Posts stored since `since` (unix seconds) and the FLOOD_WAIT windows open now, per account.
    pub(crate) async fn recent_activity(
        &self,
        since: i64,
    ) -> Result<(i64, Vec<FloodWindow>), OpsError> {
        Ok(self
            .store
            .read("read the recent activity", move |s| {
                let stored = s.posts_stored_since(since.saturating_mul(1000))?;
                let mut windows = Vec::new();
                for a in s.accounts()? {
                    for (method, until_ms) in s.load_client_state(a.id)?.windows {
                        windows.push(FloodWindow {
                            account: a.name.clone(),
                            method,
                            until_ms,
                        });
                    }
                }
                Ok((stored, windows))
            })
            .await?)
    }

    /// Every followed channel with its state and post count, by account then row id.
    pub async fn channels(&self) -> Result<Vec<ChannelView>, OpsError> {
        let now = unix_now();
        Ok(self
            .store
            .read("list channels", move |s| {
                let counts = s.post_counts()?;
                let unreachable = unreachable_accounts(s)?;
                Ok(s.channels()?
                    .into_iter()
                    .map(|c| {
                        let n = counts.get(&c.id).copied().unwrap_or(0);
                        ChannelView::of(c, n, now, &unreachable)
                    })
                    .collect())
            })
            .await?)
    }

    /// The accounts that cannot reach Telegram now, with since when (unix ms): `/readyz` reports
    /// the service degraded while there are any.
    pub(crate) async fn unreachable_accounts(&self) -> Result<Vec<(String, i64)>, OpsError> {
        Ok(self
            .store
            .read("read the accounts' breakers", |s| unreachable_accounts(s))
            .await?)
    }

    /// Every followed channel as stored (no post counts: cheap enough to ask every few seconds).
    pub(crate) async fn channel_rows(&self) -> Result<Vec<ChannelRow>, OpsError> {
        Ok(self.store.read("list channels", |s| s.channels()).await?)
    }

    /// The one channel a reference (`@name`, numeric id, `#row`) names.
    pub async fn channel(&self, reference: &str) -> Result<ChannelRow, OpsError> {
        let r = reference.to_string();
        let mut found = self
            .store
            .read("find a channel", move |s| s.find_channels(&r))
            .await?;
        match found.len() {
            0 => Err(OpsError::NotFound(format!(
                "no followed channel matches `{reference}`: see `tgsift channels list`"
            ))),
            1 => Ok(found.remove(0)),
            _ => Err(OpsError::Invalid(format!(
                "`{reference}` matches several channels ({}): name one by `#row`",
                found
                    .iter()
                    .map(|c| format!("#{} of {}", c.id, c.account))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Pauses (stops polling) or resumes (and clears errors and parks) a channel; returns it as it is now.
    /// Reads (or stops reading) the comments under a channel's posts.
    pub(crate) async fn set_channel_comments(&self, id: i64, on: bool) -> Result<(), OpsError> {
        let found = self
            .store
            .with("set a channel's comments", move |s| {
                s.set_channel_comments(id, on)
            })
            .await?;
        if found {
            Ok(())
        } else {
            Err(OpsError::NotFound(format!("no channel #{id}")))
        }
    }

    pub(crate) async fn set_channel_active(
        &self,
        id: i64,
        active: bool,
    ) -> Result<ChannelView, OpsError> {
        let now = unix_now();
        self.store
            .with("change a channel's state", move |s| {
                if s.channel(id)?.is_none() {
                    return Ok(None);
                }
                s.set_channel_active(id, active)?;
                let n = s.channel_post_count(id)?;
                let unreachable = unreachable_accounts(&*s)?;
                Ok(s.channel(id)?
                    .map(|c| ChannelView::of(c, n, now, &unreachable)))
            })
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("no channel #{id}")))
    }

    /// Stops polling the active channels the account has left (of one account, or all); their posts
    /// stay. Returns them as they are now.
    pub async fn prune_left(&self, account: Option<&str>) -> Result<Vec<ChannelView>, OpsError> {
        if let Some(name) = account {
            self.account(name).await?;
        }
        let account = account.map(str::to_string);
        let now = unix_now();
        Ok(self
            .store
            .with("stop polling channels the account left", move |s| {
                let mut out = Vec::new();
                for c in s.channels()? {
                    if c.left_at.is_none()
                        || !c.active
                        || account.as_ref().is_some_and(|a| *a != c.account)
                    {
                        continue;
                    }
                    s.set_channel_active(c.id, false)?;
                    let n = s.channel_post_count(c.id)?;
                    if let Some(c) = s.channel(c.id)? {
                        out.push(ChannelView::of(c, n, now, &[]));
                    }
                }
                Ok(out)
            })
            .await?)
    }

    /// Stops following a channel and deletes its posts; returns it as it was.
    pub async fn remove_channel(&self, id: i64) -> Result<ChannelView, OpsError> {
        let now = unix_now();
        self.store
            .with("remove a channel", move |s| {
                let Some(c) = s.channel(id)? else {
                    return Ok(None);
                };
                let n = s.channel_post_count(id)?;
                s.remove_channel(id)?;
                Ok(Some(ChannelView::of(c, n, now, &[])))
            })
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("no channel #{id}")))
    }

    /// The account with this name.
    pub async fn account(&self, name: &str) -> Result<AccountRow, OpsError> {
        self.find_account(name).await?.ok_or_else(|| {
            OpsError::NotFound(format!(
                "no account named {name}: see `tgsift account list`"
            ))
        })
    }

    /// Serves an account Telegram had refused again (the admin's word that its owner dealt with it);
    /// returns the state it was in.
    pub async fn resume_account(&self, name: &str) -> Result<tgsift_store::AccountState, OpsError> {
        let row = self.account(name).await?;
        let id = row.id;
        self.store
            .with("resume the account", move |s| {
                s.set_account_state(id, tgsift_store::AccountState::Active, None)
            })
            .await?;
        Ok(row.state)
    }

    /// Gives account `name` its own SOCKS5 proxy (`None`: back to `telegram.proxy`); used from the
    /// next connection on. Returns the account's client identity as stored.
    pub async fn set_account_proxy(
        &self,
        name: &str,
        proxy: Option<String>,
    ) -> Result<tgsift_store::ClientIdentity, OpsError> {
        if let Some(problem) = proxy.as_deref().and_then(crate::config::proxy_problem) {
            return Err(OpsError::Invalid(format!(
                "proxy for account {name}: {problem}"
            )));
        }
        let row = self.account(name).await?;
        let mut identity = row
            .identity
            .clone()
            .unwrap_or_else(|| self.config.telegram.identity());
        identity.proxy = proxy;
        let (id, stored) = (row.id, identity.clone());
        self.store
            .with("set the account's proxy", move |s| {
                s.set_account_identity(id, &stored)
            })
            .await?;
        Ok(identity)
    }

    /// Every account with its login, breaker and lease state (phones masked).
    pub async fn accounts(&self) -> Result<Vec<AccountView>, OpsError> {
        Ok(self.store.read("list accounts", account_states).await?)
    }
}

/// The accounts that cannot reach Telegram now (their circuit breaker is open) and since when (unix
/// ms): their channels wait, and `/readyz` says the service is degraded.
pub(crate) fn unreachable_accounts(store: &dyn Storage) -> Result<Vec<(String, i64)>, StoreError> {
    store.open_breakers()
}

/// What `account list`, `status` and the HTTP API show about each account.
pub(crate) fn account_states(store: &dyn Storage) -> Result<Vec<AccountView>, StoreError> {
    let now_ms = unix_now() * 1000;
    let stored: Option<HashMap<i64, StoredSession>> = store
        .stored_sessions()?
        .map(|all| all.into_iter().map(|s| (s.account_id, s)).collect());
    let mut out = Vec::new();
    for a in store.accounts()? {
        // (has a session, it says whose, who holds the lease)
        let (session, knows_user, lease) = match &stored {
            Some(stored) => match stored.get(&a.id) {
                Some(s) => (s.has_session, s.knows_user, s.lease.clone()),
                None => (false, false, None),
            },
            None => {
                let file = SqliteSession::open(&a.session_path).ok();
                (
                    file.is_some(),
                    file.is_some_and(|s| s.self_user().is_some()),
                    SessionLock::holder(&a.session_path).map(|h| h.describe()),
                )
            }
        };
        let logged_in = match (&a.disabled_reason, session, knows_user) {
            (Some(why), _, _) => format!("stopped: {why}"),
            (None, true, true) => "yes".into(),
            // An imported session (a Telethon string, say) has keys but does not say whose they are:
            // `account check` asks Telegram.
            (None, true, false) => "unchecked".into(),
            (None, false, _) => "no session".into(),
        };
        let lease = lease.unwrap_or_else(|| "free".into());
        let (failures, open_until) = store.load_client_state(a.id)?.breaker;
        let breaker = match open_until.filter(|u| *u > now_ms) {
            Some(u) => format!("open, retry in {} s", (u - now_ms) / 1000 + 1),
            None if failures > 0 => format!("closed ({failures} failures)"),
            None => "closed".into(),
        };
        let what_to_do = (a.state != tgsift_store::AccountState::Active)
            .then(|| crate::telegram::error::what_to_do(&a.name, a.state));
        out.push(AccountView {
            name: a.name,
            phone: a
                .phone
                .as_deref()
                .map(mask_phone)
                .unwrap_or_else(|| "-".into()),
            user_id: a.user_id,
            state: a.state.to_string(),
            what_to_do,
            logged_in,
            breaker,
            lease,
        });
    }
    Ok(out)
}
