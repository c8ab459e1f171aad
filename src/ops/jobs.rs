//! Admin jobs: what each kind does, the runner that executes them inside the service, and running one
//! in the CLI's own process when no service holds the account.
//!
//! A job is retried up to `jobs.max_attempts` times with a growing delay (or the FLOOD_WAIT Telegram
//! asked for) when its failure may pass; a failure retrying cannot help (the channel is private, the
//! account is logged out) fails it at once. A cancel requested while it runs stops it at its next
//! batch; a job interrupted by a shutdown is queued again without losing an attempt.

use std::sync::Arc;
use std::time::Duration;

use grammers_session::Session;
use grammers_session::types::PeerId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tgsift_store::{AccountState, JobEnd, JobRow, NewAlert, NewChannel};
use tokio_util::sync::CancellationToken;

use super::{Ops, OpsError};
use crate::config::Backfill;
use crate::ingest::progress::Progress;
use crate::ingest::{channel_info, fetch_range};
use crate::task::TaskError;
use crate::telegram::channels::ChannelRef;
use crate::telegram::connections::ConnectError;
use crate::telegram::error::TgError;

/// Jobs run at once by one service.
const CONCURRENT_JOBS: usize = 4;
/// How often the runner looks for due jobs, and a running job for a cancel request.
const POLL: Duration = Duration::from_secs(1);

/// A channel as an attempt of `channel_add` resolved it, kept in the job's arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedChannel {
    /// Channel id.
    pub id: i64,
    /// Access hash for the job's account.
    pub access_hash: i64,
    /// Username, if public.
    #[serde(default)]
    pub username: Option<String>,
    /// Title.
    pub title: String,
}

/// What a job is asked to do, with its arguments (stored as the job's `args`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobSpec {
    /// Follow a channel with an account: resolve it, check its history can be read, record it.
    ChannelAdd {
        /// Account name.
        account: String,
        /// `@name`, a t.me link or a numeric id.
        channel: String,
        /// `all`, N or `since:DATE` (default: `ingest.backfill`).
        #[serde(default)]
        backfill: Option<String>,
        /// Join the channel first, so its posts are pushed (live mode) instead of polled.
        #[serde(default)]
        join: bool,
        /// Read the comments under its posts too.
        #[serde(default)]
        comments: bool,
        /// What an earlier attempt resolved `channel` to: a retry does not resolve it again
        /// (`contacts.resolveUsername` is the method Telegram limits most).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolved: Option<ResolvedChannel>,
    },
    /// Fetch a range of a channel again, upserting.
    Reparse {
        /// `@name`, numeric id or `#row`.
        channel: String,
        /// First id (with `to_id`).
        #[serde(default)]
        from_id: Option<i32>,
        /// Last id (with `from_id`).
        #[serde(default)]
        to_id: Option<i32>,
        /// The whole history.
        #[serde(default)]
        all: bool,
    },
    /// Tag posts again (their tags are replaced): one channel or all, a range of ids or all.
    Retag {
        /// `@name`, numeric id or `#row`; all channels when absent.
        #[serde(default)]
        channel: Option<String>,
        /// First message id.
        #[serde(default)]
        from_id: Option<i32>,
        /// Last message id.
        #[serde(default)]
        to_id: Option<i32>,
    },
    /// Make `retrying` (and with `force` also `failed`) posts due now.
    TaggingRetry {
        /// At most this many.
        #[serde(default = "default_limit")]
        limit: usize,
        /// Include `failed` posts.
        #[serde(default)]
        force: bool,
        /// Only this account's posts.
        #[serde(default)]
        account: Option<String>,
    },
    /// Follow every channel an account is a member of, paging its dialogs (no username is resolved);
    /// resumable: the offset is kept per account ([`super::import`]).
    ChannelsImport {
        /// Account name.
        account: String,
        /// Only channels whose title or @username matches this regular expression.
        #[serde(default)]
        filter: Option<String>,
        /// Leave out channels whose title or @username matches this regular expression.
        #[serde(default)]
        exclude: Option<String>,
        /// `all`, N or `since:DATE` for each channel followed (default: `ingest.backfill`).
        #[serde(default)]
        backfill: Option<String>,
        /// Supergroups too, not only broadcast channels.
        #[serde(default)]
        groups: bool,
        /// List what would be followed and what is skipped, change nothing.
        #[serde(default)]
        dry_run: bool,
    },
    /// Ask Telegram whether an account's session still works.
    AccountCheck {
        /// Account name.
        account: String,
    },
}

fn default_limit() -> usize {
    50
}

impl JobSpec {
    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            JobSpec::ChannelAdd { .. } => "channel_add",
            JobSpec::Reparse { .. } => "reparse",
            JobSpec::Retag { .. } => "retag",
            JobSpec::TaggingRetry { .. } => "tagging_retry",
            JobSpec::ChannelsImport { .. } => "channels_import",
            JobSpec::AccountCheck { .. } => "account_check",
        }
    }

    /// The stored arguments.
    pub fn args(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The spec a stored job was made from.
    pub fn of(job: &JobRow) -> Result<Self, OpsError> {
        serde_json::from_value(job.args.clone())
            .map_err(|e| OpsError::Invalid(format!("job {} has unusable arguments: {e}", job.id)))
    }

    /// Refuses arguments no attempt could succeed with.
    pub(crate) fn validate(&self) -> Result<(), OpsError> {
        let bad = |m: String| Err(OpsError::Invalid(m));
        match self {
            JobSpec::ChannelAdd {
                channel, backfill, ..
            } => {
                ChannelRef::parse(channel).map_err(OpsError::Invalid)?;
                if let Some(b) = backfill {
                    Backfill::parse(b).map_err(|e| OpsError::Invalid(format!("backfill: {e}")))?;
                }
                Ok(())
            }
            JobSpec::ChannelsImport {
                filter,
                exclude,
                backfill,
                ..
            } => {
                for (flag, re) in [("filter", filter), ("exclude", exclude)] {
                    if let Some(re) = re {
                        regex::Regex::new(re).map_err(|e| {
                            OpsError::Invalid(format!(
                                "{flag} `{re}` is not a regular expression: {e}"
                            ))
                        })?;
                    }
                }
                if let Some(b) = backfill {
                    Backfill::parse(b).map_err(|e| OpsError::Invalid(format!("backfill: {e}")))?;
                }
                Ok(())
            }
            JobSpec::Reparse {
                from_id,
                to_id,
                all,
                ..
            } => match (from_id, to_id, all) {
                (None, None, true) => Ok(()),
                (Some(a), Some(b), false) if *a >= 1 && a <= b => Ok(()),
                _ => bad("give either from_id and to_id (1 ≤ from_id ≤ to_id) or all".into()),
            },
            JobSpec::Retag { from_id, to_id, .. } => match (from_id, to_id) {
                (Some(a), Some(b)) if a > b => bad("from_id must not be above to_id".into()),
                _ => Ok(()),
            },
            JobSpec::TaggingRetry { limit, .. } if *limit == 0 || *limit > 1_000_000 => {
                bad("limit must be 1 to 1000000".into())
            }
            _ => Ok(()),
        }
    }

    /// The account whose Telegram session the job needs, if any.
    pub async fn account(&self, ops: &Ops) -> Result<Option<tgsift_store::AccountRow>, OpsError> {
        match self {
            JobSpec::ChannelAdd { account, .. }
            | JobSpec::ChannelsImport { account, .. }
            | JobSpec::AccountCheck { account } => Ok(Some(ops.account(account).await?)),
            JobSpec::Reparse { channel, .. } => {
                let ch = ops.channel(channel).await?;
                Ok(Some(ops.account(&ch.account).await?))
            }
            _ => Ok(None),
        }
    }
}

/// Why an attempt failed, and whether another attempt may help.
pub(super) struct Failure {
    error: String,
    /// Seconds before the next attempt; `None` = retrying cannot help.
    retry_in: Option<i64>,
    /// The request was wrong (unknown account, bad reference…), not the run.
    usage: bool,
    /// Telegram refused the account itself: (account, state, reason), to stop it with.
    account_stop: Option<(String, AccountState, String)>,
}

impl From<OpsError> for Failure {
    fn from(e: OpsError) -> Self {
        let retry = matches!(e, OpsError::Store(_) | OpsError::Other(_));
        Failure {
            error: format!("{e:#}"),
            retry_in: retry.then_some(0),
            usage: !retry,
            account_stop: None,
        }
    }
}

impl From<TgError> for Failure {
    fn from(e: TgError) -> Self {
        let retry_in = match &e {
            TgError::FloodWait { seconds, .. } | TgError::Budget { seconds, .. } => {
                Some(i64::from(*seconds))
            }
            e if e.is_temporary() => Some(0),
            _ => None,
        };
        let account_stop = match &e {
            TgError::AccountStopped {
                account,
                state,
                reason,
            } => Some((account.clone(), *state, reason.clone())),
            _ => None,
        };
        Failure {
            error: e.to_string(),
            retry_in,
            usage: false,
            account_stop,
        }
    }
}

impl From<ConnectError> for Failure {
    fn from(e: ConnectError) -> Self {
        let usage = matches!(&e, ConnectError::Session(s) if s.is_usage());
        // A stopped account is not retried: an admin acts first.
        let stopped = matches!(&e, ConnectError::Stopped { .. });
        Failure {
            error: e.to_string(),
            // A session file that is missing or broken does not mend itself.
            retry_in: (!usage && !stopped).then_some(0),
            usage,
            account_stop: None,
        }
    }
}

/// Runs one claimed attempt of `job` and records how it ended; returns the job as it is now.
pub(crate) async fn run_one(
    ops: &Ops,
    job: JobRow,
    alerts: Option<&crate::alerts::Alerts>,
    shutdown: &CancellationToken,
) -> Result<Option<JobRow>, tgsift_store::StoreError> {
    let cancel = shutdown.child_token();
    let watch = {
        let (store, c, id) = (ops.store.clone(), cancel.clone(), job.id);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                if store
                    .read("read a job's cancel flag", move |s| {
                        s.job_cancel_requested(id)
                    })
                    .await
                    .unwrap_or(false)
                {
                    c.cancel();
                    return;
                }
            }
        })
    };
    tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job started");
    let outcome = execute(ops, &job, &cancel).await;
    watch.abort();
    let end = match outcome {
        _ if shutdown.is_cancelled() => {
            // Not the job's fault: it runs again when the service is back, without losing an attempt.
            let id = job.id;
            ops.store
                .with("queue an interrupted job", move |s| {
                    s.requeue_interrupted_job(id)
                })
                .await?;
            return ops.store.read("read a job", move |s| s.job(id)).await;
        }
        Ok(_) if cancel.is_cancelled() => JobEnd::Cancelled,
        Ok(result) => JobEnd::Done(result),
        Err(f) => {
            if let Some((account, state, reason)) = &f.account_stop {
                let name = account.clone();
                let row = ops
                    .store
                    .read("read the account", move |s| s.account(&name))
                    .await?;
                if let Some(row) = row {
                    // Outside the service (a job run by the CLI) the alert is queued all the same,
                    // for the service to deliver.
                    let own = alerts.is_none().then(|| {
                        crate::alerts::Alerts::new(
                            ops.store.clone(),
                            ops.config.alerts.clone(),
                            None,
                        )
                    });
                    crate::ingest::account::stop_account(
                        &ops.store,
                        alerts.or(own.as_ref()),
                        row.id,
                        account,
                        *state,
                        reason,
                    )
                    .await?;
                }
            }
            let retry_in = match f.retry_in {
                // Growing delays between attempts: 5 s, 10 s, 20 s…
                Some(d) => d.max(5 << job.attempts.saturating_sub(1).min(10)),
                None => {
                    // Nothing another attempt could change: this was the last one.
                    let id = job.id;
                    ops.store
                        .with("use up a job's attempts", move |s| s.exhaust_job(id))
                        .await?;
                    0
                }
            };
            tracing::warn!(job = job.id, kind = %job.kind, error = %f.error, "job attempt failed");
            JobEnd::Failed {
                error: f.error,
                retry_in,
                usage: f.usage,
            }
        }
    };
    let id = job.id;
    let after = ops
        .store
        .with("record a job's end", move |s| s.finish_job(id, &end))
        .await?;
    if let (Some(a), Some(j)) = (alerts, &after)
        && j.state == "failed"
    {
        a.raise_or_log(NewAlert {
            kind: "job_failed".into(),
            dedup_key: format!("job:{}", j.id),
            account: j
                .args
                .get("account")
                .and_then(Value::as_str)
                .map(str::to_string),
            message: format!(
                "admin job {} ({}) failed after {} attempt(s): {}",
                j.id,
                j.kind,
                j.attempts,
                j.last_error.as_deref().unwrap_or("")
            ),
            details: json!({"job": j.id, "kind": j.kind, "args": j.args}),
        })
        .await;
    }
    Ok(after)
}

async fn execute(ops: &Ops, job: &JobRow, cancel: &CancellationToken) -> Result<Value, Failure> {
    match JobSpec::of(job)? {
        JobSpec::ChannelAdd {
            account,
            channel,
            backfill,
            join,
            comments,
            resolved,
        } => {
            let add = ChannelAdd {
                job,
                account: &account,
                reference: &channel,
                backfill,
                join,
                comments,
                resolved,
            };
            channel_add(ops, add).await
        }
        JobSpec::Reparse {
            channel,
            from_id,
            to_id,
            ..
        } => {
            let range = from_id.zip(to_id).unwrap_or((1, i32::MAX));
            reparse(ops, job.id, &channel, range, cancel).await
        }
        JobSpec::Retag {
            channel,
            from_id,
            to_id,
        } => {
            let channel_id = match channel {
                Some(c) => Some(ops.channel(&c).await?.id),
                None => None,
            };
            let n = ops
                .store
                .with("queue posts for tagging again", move |s| {
                    s.requeue_for_retag(channel_id, from_id, to_id)
                })
                .await
                .map_err(OpsError::from)?;
            Ok(json!({"requeued": n}))
        }
        JobSpec::TaggingRetry {
            limit,
            force,
            account,
        } => {
            let n = ops
                .store
                .with("re-queue posts for tagging", move |s| {
                    s.requeue_tagging(account.as_deref(), limit, force)
                })
                .await
                .map_err(OpsError::from)?;
            Ok(json!({"requeued": n}))
        }
        JobSpec::ChannelsImport {
            account,
            filter,
            exclude,
            backfill,
            groups,
            dry_run,
        } => {
            let import = super::import::Import {
                account,
                filter,
                exclude,
                backfill: default_backfill(ops, backfill),
                groups,
                dry_run,
            };
            super::import::run(ops, job.id, import, cancel).await
        }
        JobSpec::AccountCheck { account } => account_check(ops, &account).await,
    }
}

/// The backfill asked for, else `ingest.backfill` as text.
fn default_backfill(ops: &Ops, backfill: Option<String>) -> String {
    match backfill {
        Some(b) => b,
        None => match &ops.config.ingest.backfill {
            Backfill::All => "all".to_string(),
            Backfill::Last(n) => n.to_string(),
            Backfill::Since(ts) => {
                let day =
                    jiff::Timestamp::from_second(*ts).map(|t| t.strftime("%Y-%m-%d").to_string());
                format!("since:{}", day.unwrap_or_default())
            }
        },
    }
}

/// The arguments of one `channel_add` attempt.
struct ChannelAdd<'a> {
    job: &'a JobRow,
    account: &'a str,
    reference: &'a str,
    backfill: Option<String>,
    join: bool,
    comments: bool,
    resolved: Option<ResolvedChannel>,
}

async fn channel_add(ops: &Ops, add: ChannelAdd<'_>) -> Result<Value, Failure> {
    let ChannelAdd {
        job,
        account,
        reference,
        backfill,
        join,
        comments,
        resolved,
    } = add;
    let parsed = ChannelRef::parse(reference).map_err(OpsError::Invalid)?;
    let backfill = default_backfill(ops, backfill);
    let row = ops.account(account).await?;
    let conn = ops.connections.get(row.id).await?;
    let client = &conn.account;
    let info = match (&parsed, resolved) {
        (_, Some(r)) => crate::telegram::channels::ChannelInfo {
            id: r.id,
            access_hash: r.access_hash,
            username: r.username,
            title: r.title,
            member: None,
        },
        (ChannelRef::Username(name), None) => {
            let info = client.resolve_username(name).await?;
            remember_resolved(ops, job, &info).await;
            info
        }
        (ChannelRef::Id(id), None) => {
            // A numeric id needs the access hash this account learned when it saw the channel.
            let session = crate::telegram::session::SqliteSession::open(&row.session_path)
                .map_err(|e| OpsError::Other(e.into()))?;
            let peer = PeerId::channel(*id)
                .ok_or_else(|| OpsError::Invalid(format!("{id} is not a valid channel id")))?;
            let hash = session
                .peer_ref(peer)
                .await
                .ok()
                .flatten()
                .map(|r| r.auth.hash())
                .ok_or_else(|| {
                    OpsError::Invalid(format!(
                        "channel id {id} is unknown to account {account}: add it once by @username or t.me link"
                    ))
                })?;
            client.channel_by_id(*id, hash).await?
        }
    };
    // History access is checked now, so a private or banned channel is refused before anything is stored.
    let page = client.newest(&info, 1).await?;
    let mut info = crate::telegram::channels::ChannelInfo {
        member: page.member.or(info.member),
        ..info
    };
    // Joined before anything is stored: a channel that cannot be joined is not added half-way.
    if join && info.member != Some(true) {
        refuse_past_channel_limit(ops, &row, &info).await?;
        client.join_channel(&info).await?;
        info.member = Some(true);
    }
    let how = match info.member {
        Some(true) if ops.config.ingest.mode == crate::config::IngestMode::Live => {
            "updates are pushed to it (live)"
        }
        Some(true) => "polled (ingest.mode = poll)",
        _ => "polled: it is not a member (add --join to follow it live)",
    };
    let new = NewChannel {
        tg_id: info.id,
        access_hash: info.access_hash,
        username: info.username.clone(),
        title: info.title.clone(),
        backfill: backfill.clone(),
    };
    let (id, tg_id, member) = (row.id, info.id, info.member);
    let added = ops
        .store
        .with("add a channel", move |s| {
            let added = s.add_channel(id, &new)?;
            let ch = match &added {
                Some(ch) => Some(ch.clone()),
                None => s
                    .channels()?
                    .into_iter()
                    .find(|c| c.account_id == id && c.tg_id == tg_id),
            };
            if let Some(ch) = &ch {
                if let Some(m) = member {
                    s.set_member(ch.id, m)?;
                }
                if comments {
                    s.set_channel_comments(ch.id, true)?;
                }
            }
            Ok(added)
        })
        .await
        .map_err(OpsError::from)?;
    Ok(match added {
        Some(ch) => json!({
            "channel_id": ch.id, "label": ch.label(), "title": ch.title, "backfill": backfill,
            "added": true, "member": member, "how": how, "comments": comments,
        }),
        None => json!({
            "label": reference, "added": false, "reason": "the account already follows it",
            "member": member, "how": how, "comments": comments,
        }),
    })
}

/// Keeps what `contacts.resolveUsername` answered in the job's arguments, so a retry (after a long
/// budget wait, a flood or a restart) reuses it; a failure to store it only costs a resolve later.
async fn remember_resolved(ops: &Ops, job: &JobRow, info: &crate::telegram::channels::ChannelInfo) {
    let resolved = ResolvedChannel {
        id: info.id,
        access_hash: info.access_hash,
        username: info.username.clone(),
        title: info.title.clone(),
    };
    let (Ok(resolved), Some(fields)) = (serde_json::to_value(resolved), job.args.as_object())
    else {
        return;
    };
    let mut fields = fields.clone();
    fields.insert("resolved".into(), resolved);
    let (job_id, args) = (job.id, Value::Object(fields));
    if let Err(e) = ops
        .store
        .with("remember a resolved channel", move |s| {
            s.job_args(job_id, &args)
        })
        .await
    {
        tracing::warn!(job = job_id, error = %e, "could not keep the resolved channel with the job");
    }
}

/// Refuses to join when the account is already a member of `telegram.max_channels` channels tgsift
/// follows: Telegram answers `CHANNELS_TOO_MUCH` at 500, and tgsift stops short of it.
async fn refuse_past_channel_limit(
    ops: &Ops,
    row: &tgsift_store::AccountRow,
    info: &crate::telegram::channels::ChannelInfo,
) -> Result<(), Failure> {
    let limit = ops.config.telegram.max_channels as usize;
    let id = row.id;
    let joined = ops
        .store
        .with("count the channels an account joined", move |s| {
            Ok(s.live_rows(id)?
                .into_iter()
                .filter(|c| c.member == Some(true))
                .count())
        })
        .await
        .map_err(OpsError::from)?;
    if joined < limit {
        return Ok(());
    }
    Err(crate::telegram::error::TgError::JoinRefused {
        account: row.name.clone(),
        channel: info
            .username
            .as_ref()
            .map_or_else(|| info.id.to_string(), |u| format!("@{u}")),
        reason: format!(
            "the account is a member of {joined} channels, the most tgsift joins (telegram.max_channels = {limit}; Telegram refuses past 500): leave channels it no longer needs, or add this one with another account"
        ),
    }
    .into())
}

async fn reparse(
    ops: &Ops,
    job_id: i64,
    reference: &str,
    (from, to): (i32, i32),
    cancel: &CancellationToken,
) -> Result<Value, Failure> {
    let ch = ops.channel(reference).await?;
    let conn = ops.connections.get(ch.account_id).await?;
    let head = conn.account.newest(&channel_info(&ch), 1).await?;
    // Never past the channel's newest message: the checkpoint must not skip posts still to come.
    let top = to.min(head.newest_id);
    let progress = Arc::new(Progress::hidden().channel(&ch.label()));
    progress.fix_total(i64::from(top.saturating_sub(from) + 1).max(0));
    let reporter = {
        let (store, p) = (ops.store.clone(), Arc::clone(&progress));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                let v = json!({"fetched": p.fetched(), "ids_total": p.total()});
                let _ = store
                    .with("record a job's progress", move |s| {
                        s.job_progress(job_id, &v)
                    })
                    .await;
            }
        })
    };
    let result = fetch_range(
        &conn.account,
        &ops.store,
        &ch,
        from - 1,
        top,
        &progress,
        cancel,
    )
    .await;
    reporter.abort();
    let (report, last) = result.map_err(|e| match e {
        crate::ingest::SyncError::Telegram(t) => Failure::from(t),
        crate::ingest::SyncError::Store(s) => Failure::from(OpsError::from(s)),
    })?;
    Ok(json!({
        "channel": ch.label(), "from_id": from, "to_id": last.max(from - 1),
        "inserted": report.inserted, "updated": report.edited, "interrupted": report.interrupted,
    }))
}

async fn account_check(ops: &Ops, account: &str) -> Result<Value, Failure> {
    let row = ops.account(account).await?;
    let conn = ops.connections.get_even_stopped(row.id).await?;
    let users = conn
        .account
        .invoke(&grammers_tl_types::functions::users::GetUsers {
            id: vec![grammers_tl_types::enums::InputUser::UserSelf],
        })
        .await?;
    // A frozen account still answers who it is; reading its state is what it may not do.
    conn.account
        .invoke(&grammers_tl_types::functions::updates::GetState {})
        .await?;
    let id = users.first().map(|u| u.id()).unwrap_or_default();
    // An imported session learns its user here: one Telegram user, one account.
    let others = ops
        .store
        .read("list accounts", |s| s.accounts())
        .await
        .map_err(OpsError::from)?;
    if let Some(refusal) = others
        .iter()
        .filter(|a| a.name != account)
        .find_map(|a| super::accounts::same_user(id, a))
    {
        return Err(Failure::from(refusal));
    }
    if row.user_id != Some(id) || row.disabled_reason.is_some() {
        // A good check also resumes an account the service had stopped as logged out.
        let name = account.to_string();
        ops.store
            .with("record the account's user", move |s| {
                s.set_account_user(&name, id, None)
            })
            .await
            .map_err(OpsError::from)?;
    }
    Ok(json!({"account": account, "user_id": id}))
}

/// Seconds a command waits for its own job's next attempt; a job due later stays queued.
const WAIT_HERE_AT_MOST: i64 = 120;

/// How often the runner looks for jobs whose worker died.
const ORPHANS_EVERY: Duration = Duration::from_secs(30);

/// Queues again the jobs of workers that died mid-attempt (killed on this host, or silent for longer
/// than the heartbeat allows anywhere); returns how many.
async fn requeue_orphans(ops: &Ops, me: i64) -> Result<usize, tgsift_store::StoreError> {
    let host = crate::telegram::session_lock::hostname();
    let n = ops
        .store
        .with("queue again the jobs of dead workers", move |s| {
            s.mark_vanished_workers(&host, me, &|pid| {
                crate::telegram::session_lock::pid_alive(i64::from(pid))
            })?;
            s.requeue_orphan_jobs()
        })
        .await?;
    if n > 0 {
        tracing::info!(jobs = n, "jobs whose worker died are queued again");
    }
    Ok(n)
}

/// The `jobs` task: runs due jobs (a few at once) until `cancel`; jobs left running by a worker that
/// died are queued again first, and looked for again every 30 s (another machine's worker may die).
/// `wake` (PostgreSQL's NOTIFY of a queued job) ends a wait for the next poll early.
pub(crate) async fn run_jobs(
    ops: Ops,
    worker_id: i64,
    alerts: Option<Arc<crate::alerts::Alerts>>,
    wake: Arc<tokio::sync::Notify>,
    cancel: CancellationToken,
) -> Result<(), TaskError> {
    requeue_orphans(&ops, worker_id).await?;
    let mut orphans_checked = tokio::time::Instant::now();
    let mut running = tokio::task::JoinSet::new();
    loop {
        if orphans_checked.elapsed() >= ORPHANS_EVERY {
            requeue_orphans(&ops, worker_id).await?;
            orphans_checked = tokio::time::Instant::now();
        }
        while running.len() < CONCURRENT_JOBS && !cancel.is_cancelled() {
            let Some(job) = claim_next(&ops, worker_id).await? else {
                break;
            };
            let (ops, alerts, cancel) = (ops.clone(), alerts.clone(), cancel.clone());
            running.spawn(async move { run_one(&ops, job, alerts.as_deref(), &cancel).await });
        }
        tokio::select! {
            _ = cancel.cancelled() => {
                while let Some(done) = running.join_next().await {
                    if let Ok(Err(e)) = done {
                        tracing::warn!(error = %e, "a job's end could not be recorded");
                    }
                }
                return Ok(());
            }
            Some(done) = running.join_next(), if !running.is_empty() => {
                match done {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.into()),
                    Err(e) => tracing::error!(error = %e, "a job panicked; it is queued again at the next start"),
                }
            }
            _ = tokio::time::sleep(POLL) => {}
            _ = wake.notified() => {}
        }
    }
}

/// Claims the next due job this worker may run: with several workers (PostgreSQL), a job that needs
/// an account goes to the one serving it.
async fn claim_next(ops: &Ops, worker_id: i64) -> Result<Option<JobRow>, tgsift_store::StoreError> {
    let serving = ops.connections.leases().map(|l| l.account_ids());
    ops.store
        .with("claim a job", move |s| match serving {
            None => s.claim_job(worker_id, &[]),
            Some(accounts) => s.claim_job_among(worker_id, &accounts),
        })
        .await
}

/// Runs the jobs that are due and this worker may take (on PostgreSQL, those of the accounts it
/// holds), one after another, until none is; returns how many attempts ran. `run --once` does this
/// before it fetches, so a channel queued by `channels add` while no service ran is added (and then
/// backfilled) by the next cron-style run. An attempt that fails with a retry stays queued for later.
pub(crate) async fn run_due_jobs(
    ops: &Ops,
    worker_id: i64,
    alerts: Option<&crate::alerts::Alerts>,
    cancel: &CancellationToken,
) -> Result<usize, tgsift_store::StoreError> {
    requeue_orphans(ops, worker_id).await?;
    let mut ran = 0;
    while !cancel.is_cancelled() {
        let Some(job) = claim_next(ops, worker_id).await? else {
            break;
        };
        run_one(ops, job, alerts, cancel).await?;
        ran += 1;
    }
    Ok(ran)
}

/// Whether a job has ended (done, failed or cancelled).
pub(crate) fn ended(job: &JobRow) -> bool {
    matches!(job.state.as_str(), "done" | "failed" | "cancelled")
}

/// Runs a queued job in this process (the CLI, when no service runs jobs) until it ends: its attempts,
/// with their backoff, one after another. If another worker took it meanwhile, waits for that one.
/// A `shutdown` (Ctrl-C) queues it again without losing an attempt and returns it `queued`.
pub(crate) async fn run_here(
    ops: &Ops,
    job_id: i64,
    shutdown: &CancellationToken,
) -> Result<JobRow, OpsError> {
    let host = crate::telegram::session_lock::hostname();
    let pid = std::process::id();
    let worker = ops
        .store
        .with("register the worker", move |s| {
            s.register_worker(&host, pid)
        })
        .await?;
    // Jobs a dead CLI or service left running are due again first.
    requeue_orphans(ops, worker).await?;
    // A long job (a reparse of a big channel) must not look orphaned to a service starting meanwhile.
    let heartbeat = {
        let store = ops.store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let _ = store
                    .with("record the worker's heartbeat", move |s| {
                        s.heartbeat_worker(worker)
                    })
                    .await;
            }
        })
    };
    let out = async {
        loop {
            let started = ops
                .store
                .with("start a job", move |s| s.start_job(job_id, worker))
                .await?;
            let job = match started {
                Some(job) => run_one(ops, job, None, shutdown)
                    .await?
                    .ok_or_else(|| OpsError::NotFound(format!("no job {job_id}")))?,
                None => ops.job(job_id).await?,
            };
            if ended(&job) || shutdown.is_cancelled() {
                return Ok(job);
            }
            let due_in = job.not_before.map_or(1, |t| t - tgsift_store::unix_now());
            if due_in > WAIT_HERE_AT_MOST {
                // A long FLOOD_WAIT or a used-up budget: the job stays queued for the service.
                return Ok(job);
            }
            // Waiting for its backoff, or run by another worker: look again when it may have moved.
            let wait = due_in.clamp(1, 60);
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(job),
                _ = tokio::time::sleep(Duration::from_secs(wait as u64)) => {}
            }
        }
    }
    .await;
    heartbeat.abort();
    let _ = ops
        .store
        .with("record the worker's stop", move |s| {
            s.stop_worker(worker, None)
        })
        .await;
    out
}
