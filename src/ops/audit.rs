//! `channels audit`: is every channel complete? Stored posts and fetched ranges are compared with what
//! the server says is the newest message; gaps are listed with the command that repairs them.

use serde::Serialize;
use tgsift_store::ChannelRow;

use super::{Ops, OpsError};
use crate::ingest::channel_info;
use crate::telegram::connections::ConnectError;

/// One channel's completeness.
#[derive(Clone, Debug, Serialize)]
pub struct ChannelAudit {
    /// Channel label.
    pub channel: String,
    /// Owning account.
    pub account: String,
    /// Posts stored.
    pub stored: usize,
    /// The server's message count (service messages included), if it answered.
    pub server_count: Option<i32>,
    /// The channel's checkpoint.
    pub checkpoint: i32,
    /// The server's newest id (0 if it did not answer).
    pub server_newest: i32,
    /// Why the server could not be asked.
    pub server_error: Option<String>,
    /// Id ranges below the checkpoint never fetched.
    pub gaps: Vec<(i32, i32)>,
    /// Fetched ranges the server answered with fewer messages than ids: `(from, to, answered)`.
    /// Every id of them was asked for (complete by ids), but what is missing is deleted, hidden from
    /// this account, or never used — Telegram does not say which.
    pub short: Vec<(i32, i32, i32)>,
    /// Stored posts gone from this account's view (marked hidden).
    pub hidden: usize,
}

impl ChannelAudit {
    /// Newer ids the service has not fetched yet.
    pub fn behind(&self) -> i32 {
        (self.server_newest - self.checkpoint).max(0)
    }

    /// Ids the short ranges lack.
    pub fn unanswered(&self) -> i64 {
        self.short
            .iter()
            .map(|&(a, b, n)| i64::from((b - a + 1 - n).max(0)))
            .sum()
    }

    /// Nothing missing.
    pub fn complete(&self) -> bool {
        self.gaps.is_empty() && self.behind() == 0
    }
}

/// Gaps in `ranges` (merged, ascending) within start..=upto.
pub(crate) fn coverage_gaps(ranges: &[(i32, i32)], start: i32, upto: i32) -> Vec<(i32, i32)> {
    let mut gaps = Vec::new();
    let mut next = start;
    for &(a, b) in ranges {
        if a > next {
            gaps.push((next, (a - 1).min(upto)));
        }
        next = next.max(b.saturating_add(1));
        if next > upto {
            break;
        }
    }
    if next <= upto {
        gaps.push((next, upto));
    }
    gaps.retain(|(a, b)| a <= b);
    gaps
}

impl Ops {
    /// Audits one channel or all, asking each account's Telegram connection for the newest id.
    pub async fn audit(&self, reference: Option<&str>) -> Result<Vec<ChannelAudit>, OpsError> {
        let channels: Vec<ChannelRow> = match reference {
            Some(r) => vec![self.channel(r).await?],
            None => self.store.read("list channels", |s| s.channels()).await?,
        };
        let mut out = Vec::with_capacity(channels.len());
        for ch in channels {
            // On PostgreSQL only the worker holding the account talks to Telegram with it: what is
            // stored is audited, the server is not asked.
            let conn = match self.connections.get(ch.account_id).await {
                Ok(conn) => Some(conn),
                Err(e @ ConnectError::WorkersOnly(_)) => {
                    tracing::debug!(error = %e, "auditing what is stored only");
                    None
                }
                Err(e) => return Err(OpsError::Conflict(format!("account {}: {e}", ch.account))),
            };
            let id = ch.id;
            let (ids, ranges, short, hidden) = self
                .store
                .read("read a channel's coverage", move |s| {
                    Ok((
                        s.message_ids(id)?.len(),
                        s.fetched_ranges(id)?,
                        s.short_ranges(id)?,
                        s.hidden_count(id)?,
                    ))
                })
                .await?;
            let server = match &conn {
                Some(conn) => conn
                    .account
                    .newest(&channel_info(&ch), 1)
                    .await
                    .map_err(|e| e.to_string()),
                None => Err(format!(
                    "on PostgreSQL, account {}'s session is used only by the `tgsift run` worker holding it",
                    ch.account
                )),
            };
            // A partial backfill (`last N`, `since:`) is complete from where it started.
            let start = if ch.backfill == "all" {
                1
            } else {
                ranges.first().map(|r| r.0).unwrap_or(1)
            };
            // The server's count includes service messages (pins, title changes…), which are not
            // posts: completeness is judged by the fetched ranges and the newest id, not by counts.
            out.push(ChannelAudit {
                channel: ch.label(),
                account: ch.account.clone(),
                stored: ids,
                server_count: server.as_ref().map(|p| p.count).ok(),
                checkpoint: ch.last_message_id,
                server_newest: server.as_ref().map(|p| p.newest_id).unwrap_or(0),
                server_error: server.as_ref().err().cloned(),
                gaps: coverage_gaps(&ranges, start, ch.last_message_id),
                short: short.iter().map(|r| (r.from, r.to, r.answered)).collect(),
                hidden,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::coverage_gaps;

    #[test]
    fn gaps_in_coverage_are_found() {
        assert_eq!(coverage_gaps(&[(1, 10), (21, 30)], 1, 30), vec![(11, 20)]);
        assert_eq!(coverage_gaps(&[(5, 10)], 1, 12), vec![(1, 4), (11, 12)]);
        assert_eq!(coverage_gaps(&[(5, 10)], 5, 10), vec![]);
        assert_eq!(coverage_gaps(&[(1, 12)], 1, 12), vec![]);
        assert_eq!(coverage_gaps(&[], 1, 0), vec![]);
    }
}
