//! `channels import`: following every channel an account already is a member of, from its dialog list.
//!
//! The dialogs come from `messages.getDialogs` through the client layer (pacer, FLOOD_WAIT policy,
//! breaker) with the access hash of every channel in them, so nothing is resolved:
//! `contacts.resolveUsername`, the method Telegram limits most, is never called, and channels without
//! a username are followed like the others. Broadcast channels are followed; supergroups with
//! `groups`; private chats, basic groups, channels the account is banned from or left, and what the
//! filters leave out are skipped, each with its reason.
//!
//! The import is resumable: after the channels of a page are followed, the offset of the next page is
//! stored for the account (`dialog_imports`). A FLOOD_WAIT above the threshold fails the attempt (the
//! job is retried when the wait is over) and a restart runs the job again; either way the next attempt
//! starts at the page it stopped at, not at the first one. An import asked with other options, or
//! after the previous one finished, starts at the first page. A dry run reads every page from the first
//! and stores nothing.

use serde_json::{Value, json};
use tgsift_store::{DialogImport, NewChannel, unix_now};
use tokio_util::sync::CancellationToken;

use super::jobs::Failure;
use super::{Ops, OpsError};
use crate::telegram::dialogs::{Dialog, DialogKind, DialogsOffset};

/// Entries each list of a job's result keeps (the counts are always whole).
const LISTED: usize = 2_000;

/// What one import is asked to do.
pub(crate) struct Import {
    /// Account name.
    pub account: String,
    /// Only channels whose title or @username matches.
    pub filter: Option<String>,
    /// Not channels whose title or @username matches.
    pub exclude: Option<String>,
    /// The backfill of the channels followed.
    pub backfill: String,
    /// Supergroups too.
    pub groups: bool,
    /// Change nothing.
    pub dry_run: bool,
}

/// Why a dialog is not followed; `None`: follow it.
fn skip_reason(
    d: &Dialog,
    groups: bool,
    filter: Option<&regex::Regex>,
    exclude: Option<&regex::Regex>,
) -> Option<&'static str> {
    match d.kind {
        DialogKind::User => return Some("a private chat"),
        DialogKind::BasicGroup => return Some("a basic group (not a channel)"),
        DialogKind::Forbidden => return Some("the account is banned from it"),
        DialogKind::Megagroup if !groups => {
            return Some("a group (add --groups to follow groups too)");
        }
        DialogKind::Channel | DialogKind::Megagroup => {}
    }
    if d.left {
        return Some("the account left it");
    }
    if d.access_hash == 0 {
        return Some("Telegram sent no access hash for it");
    }
    let matches = |re: &regex::Regex| {
        re.is_match(&d.title)
            || d.username
                .as_ref()
                .is_some_and(|u| re.is_match(&format!("@{u}")))
    };
    if filter.is_some_and(|re| !matches(re)) {
        return Some("does not match --filter");
    }
    if exclude.is_some_and(matches) {
        return Some("matches --exclude");
    }
    None
}

fn compile(flag: &str, re: Option<&str>) -> Result<Option<regex::Regex>, OpsError> {
    re.map(|r| {
        regex::Regex::new(r).map_err(|e| {
            OpsError::Invalid(format!("{flag} `{r}` is not a regular expression: {e}"))
        })
    })
    .transpose()
}

fn entry(d: &Dialog) -> Value {
    json!({
        "id": d.id, "label": d.label(), "title": d.title,
        "kind": match d.kind {
            DialogKind::Channel => "channel",
            DialogKind::Megagroup => "group",
            DialogKind::Forbidden => "forbidden",
            DialogKind::BasicGroup => "basic_group",
            DialogKind::User => "user",
        },
    })
}

/// Runs one attempt of an import (see the module docs); the job's result lists what was followed,
/// what the account already followed and what was skipped and why.
pub(super) async fn run(
    ops: &Ops,
    job_id: i64,
    import: Import,
    cancel: &CancellationToken,
) -> Result<Value, Failure> {
    let filter = compile("filter", import.filter.as_deref())?;
    let exclude = compile("exclude", import.exclude.as_deref())?;
    let row = ops.account(&import.account).await?;
    let options = json!({
        "filter": import.filter, "exclude": import.exclude, "groups": import.groups,
        "backfill": import.backfill,
    })
    .to_string();
    let account_id = row.id;
    let (stored, followed_before) = ops
        .store
        .read("read the dialogs import", move |s| {
            let ids: std::collections::HashSet<i64> = s
                .channels()?
                .into_iter()
                .filter(|c| c.account_id == account_id)
                .map(|c| c.tg_id)
                .collect();
            Ok((s.dialog_import(account_id)?, ids))
        })
        .await
        .map_err(OpsError::from)?;
    let now = unix_now();
    let mut state = match stored {
        Some(s) if !import.dry_run && s.finished_at.is_none() && s.options == options => s,
        _ => DialogImport::start(account_id, options, now),
    };
    let resumed_at = (state.pages > 0).then_some(state.pages + 1);
    if let Some(page) = resumed_at {
        tracing::info!(account = %import.account, page, "dialogs import goes on where it stopped");
    }
    if !import.dry_run {
        let s = state.clone();
        ops.store
            .with("record the dialogs import", move |st| {
                st.save_dialog_import(&s)
            })
            .await
            .map_err(OpsError::from)?;
    }
    let conn = ops.connections.get(row.id).await?;
    let client = &conn.account;
    let mut offset = DialogsOffset {
        date: state.offset_date,
        id: state.offset_id,
        peer: state.offset_peer.clone(),
    };
    let mut known = followed_before;
    let (mut followed, mut already, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let (mut n_followed, mut n_already, mut n_skipped) = (0usize, 0usize, 0usize);
    let mut seen_ids = std::collections::HashSet::new();
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let page = client.dialogs_page(&offset, state.dialogs).await?;
        let mut new = Vec::new();
        for d in &page.dialogs {
            // Telegram may list a dialog again on a later page: it counts once.
            if !seen_ids.insert((d.kind as u8, d.id)) {
                continue;
            }
            if let Some(why) = skip_reason(d, import.groups, filter.as_ref(), exclude.as_ref()) {
                n_skipped += 1;
                if skipped.len() < LISTED {
                    let mut e = entry(d);
                    e["reason"] = why.into();
                    skipped.push(e);
                }
            } else if known.contains(&d.id) {
                n_already += 1;
                if already.len() < LISTED {
                    already.push(entry(d));
                }
            } else {
                known.insert(d.id);
                n_followed += 1;
                if followed.len() < LISTED {
                    followed.push(entry(d));
                }
                new.push(NewChannel {
                    tg_id: d.id,
                    access_hash: d.access_hash,
                    username: d.username.clone(),
                    title: d.title.clone(),
                    backfill: import.backfill.clone(),
                });
            }
        }
        state.pages += 1;
        state.dialogs += page.dialogs.len() as u32;
        state.followed += new.len() as u32;
        state.updated_at = unix_now();
        match &page.next {
            Some(next) => {
                state.offset_date = next.date;
                state.offset_id = next.id;
                state.offset_peer = next.peer.clone();
            }
            None => state.finished_at = Some(state.updated_at),
        }
        if !import.dry_run {
            // The page's channels, then the offset past them: a crash between the two reads the
            // page again, and a channel already followed is left as it is.
            let s = state.clone();
            ops.store
                .with("follow a page of dialogs", move |st| {
                    for c in &new {
                        if let Some(ch) = st.add_channel(account_id, c)? {
                            // From the dialog list: the account is a member (pushed in live mode).
                            st.set_member(ch.id, true)?;
                        }
                    }
                    st.save_dialog_import(&s)
                })
                .await
                .map_err(OpsError::from)?;
        }
        let progress = json!({
            "pages": state.pages, "dialogs": state.dialogs, "followed": n_followed,
            "total": page.count,
        });
        let _ = ops
            .store
            .with("record a job's progress", move |s| {
                s.job_progress(job_id, &progress)
            })
            .await;
        match page.next {
            Some(next) => offset = next,
            None => break,
        }
    }
    Ok(json!({
        "account": import.account,
        "dry_run": import.dry_run,
        "groups": import.groups,
        "backfill": import.backfill,
        "resumed_at_page": resumed_at,
        "pages": state.pages,
        "dialogs": state.dialogs,
        "finished": state.finished_at.is_some(),
        "followed_count": n_followed,
        "followed_total": state.followed,
        "already_count": n_already,
        "skipped_count": n_skipped,
        "followed": followed,
        "already": already,
        "skipped": skipped,
    }))
}
