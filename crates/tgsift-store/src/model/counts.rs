//! Counters that stay current: views, forwards, replies and reactions of recent posts, refreshed on a
//! schedule that thins out as a post ages, each change kept in `post_counts` so a post's views can be
//! plotted over time. Telegram raises a counter only when someone looks; it never goes down, so an
//! answer below what is stored (a stale replica) never lowers it.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// One step of the refresh schedule: posts younger than `until` seconds are refreshed every `every`
/// seconds (steps ordered by `until`; a post older than the last step is no longer refreshed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshStep {
    /// Age limit of the step, seconds since the post's date.
    pub until: i64,
    /// Seconds between two refreshes of a post of this age.
    pub every: i64,
}

/// Fresh counters of one post, as Telegram answered them (`None`: not in the answer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountsIn {
    /// Message id in the channel.
    pub message_id: i32,
    /// Views.
    pub views: Option<i32>,
    /// Forwards.
    pub forwards: Option<i32>,
    /// Comments in the linked discussion group.
    pub replies: Option<i32>,
    /// The newest comment's id in the discussion group (what tells the comments reader that a
    /// thread moved); kept at its highest, never part of the history.
    pub replies_max_id: Option<i32>,
    /// Reactions per emoji (or `custom:ID`); `None` when the answer said nothing of them.
    pub reactions: Option<Vec<(String, i32)>>,
}

/// One point of a post's counter history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRow {
    /// When it was read (unix seconds).
    pub at: i64,
    /// Views.
    pub views: Option<i64>,
    /// Forwards.
    pub forwards: Option<i64>,
    /// Comments.
    pub replies: Option<i64>,
    /// Reactions per emoji, as a JSON object (`{"👍": 12}`).
    pub reactions: Option<String>,
}

/// The reactions of an answer as the JSON object stored in `posts.reactions` (counts as numbers; keys
/// in byte order, as serde_json writes an object).
pub fn reactions_json(r: &[(String, i32)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = r
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The SQL expression of a post's refresh period under `schedule` (`date` and `now` named as given),
/// or `None` for an empty schedule; the integers come from the configuration, never from input text.
pub(crate) fn period_sql(schedule: &[RefreshStep], date: &str, now: &str) -> Option<String> {
    let mut steps: Vec<RefreshStep> = schedule.to_vec();
    steps.sort_by_key(|s| s.until);
    let last = steps.last()?;
    let mut sql = String::from("CASE");
    for s in &steps {
        sql.push_str(&format!(
            " WHEN {date} >= {now} - {} THEN {}",
            s.until, s.every
        ));
    }
    sql.push_str(&format!(" ELSE {} END", last.every));
    Some(sql)
}

/// The query of [`CountStore::counts_due`] with the backend's placeholders for the channel, `now` and
/// the limit: `(message id, fully due)` of the channel's posts past half their period, read (or
/// stored) longest ago first; `None` for an empty schedule.
pub(crate) fn due_sql(
    schedule: &[RefreshStep],
    [channel, now, limit]: [&str; 3],
) -> Option<String> {
    let period = period_sql(schedule, "p.date", now)?;
    let oldest = schedule.iter().map(|s| s.until).max()?;
    let read = "coalesce(p.counts_at, p.stored_at_ms / 1000, 0)";
    Some(format!(
        "SELECT p.message_id, {read} <= {now} - ({period}) FROM posts p
         WHERE p.channel_id = {channel} AND p.date >= {now} - {oldest} AND p.deleted_at IS NULL
           AND {read} <= {now} - ({period}) / 2
         ORDER BY {read}, p.message_id LIMIT {limit}"
    ))
}

/// The posts a refresh reads, from candidates past half their period in the order they were read
/// (`(message id, fully due)`): none while no candidate is fully due, else all of them. Posts
/// published one by one would otherwise each be due alone and cost a request pair each; read
/// together, they stay together.
pub(crate) fn due_with_company(candidates: Vec<(i32, bool)>) -> Vec<i32> {
    if candidates.iter().any(|c| c.1) {
        candidates.into_iter().map(|c| c.0).collect()
    } else {
        Vec::new()
    }
}

/// Refreshing the counters of recent posts.
pub trait CountStore {
    /// Message ids of the channel's posts whose counters are due under `schedule` at `now` (not
    /// deleted, younger than the schedule's last step, last read — or, before their first refresh,
    /// stored — at least its period ago), the ones read longest ago first, at most `limit`; with
    /// them, the posts past half their period ([`due_with_company`]). Pages fetched again do not
    /// count as a read: they carry no reactions.
    fn counts_due(
        &self,
        channel_id: i64,
        schedule: &[RefreshStep],
        now: i64,
        limit: usize,
    ) -> Result<Vec<i32>, StoreError>;

    /// Records fresh counters of the channel's posts read at `now`: each counter rises to the answer
    /// and never falls, reactions per emoji likewise; a post whose counters changed gets a row in its
    /// history. Every post named is marked read at `now`. Returns how many changed.
    fn record_counts(
        &mut self,
        channel_id: i64,
        counts: &[CountsIn],
        now: i64,
    ) -> Result<usize, StoreError>;

    /// A post's counters over time, oldest first.
    fn count_history(&self, post_id: i64) -> Result<Vec<CountRow>, StoreError>;
}

/// A post's counters as stored: views, forwards, replies, reactions (JSON).
pub(crate) type Stored<'a> = (Option<i64>, Option<i64>, Option<i64>, Option<&'a str>);

/// A post's counters after a merge, reactions as owned JSON.
pub(crate) type Merged = (Option<i64>, Option<i64>, Option<i64>, Option<String>);

/// Merges fresh counters into stored ones: each rises, none falls; `None` in the answer keeps what is
/// stored. Returns the merged values and whether anything changed.
pub(crate) fn merge(stored: Stored<'_>, fresh: &CountsIn) -> (Merged, bool) {
    let up = |old: Option<i64>, new: Option<i32>| match (old, new.map(i64::from)) {
        (Some(o), Some(n)) => Some(o.max(n)),
        (o, n) => n.or(o),
    };
    let views = up(stored.0, fresh.views);
    let forwards = up(stored.1, fresh.forwards);
    let replies = up(stored.2, fresh.replies);
    let old_reactions: Vec<(String, i64)> = stored
        .3
        .and_then(|j| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(j).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.as_i64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let reactions = match &fresh.reactions {
        None => stored.3.map(str::to_owned),
        Some(new) => {
            let mut merged: Vec<(String, i32)> = new
                .iter()
                .map(|(k, n)| {
                    let old = old_reactions
                        .iter()
                        .find(|(o, _)| o == k)
                        .map_or(0, |(_, c)| *c);
                    (k.clone(), (*n).max(i32::try_from(old).unwrap_or(i32::MAX)))
                })
                .collect();
            for (k, c) in &old_reactions {
                if !new.iter().any(|(n, _)| n == k) {
                    merged.push((k.clone(), i32::try_from(*c).unwrap_or(i32::MAX)));
                }
            }
            Some(reactions_json(&merged))
        }
    };
    let changed = views != stored.0
        || forwards != stored.1
        || replies != stored.2
        || reactions.as_deref() != stored.3;
    ((views, forwards, replies, reactions), changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_rise_and_never_fall() {
        let fresh = CountsIn {
            message_id: 1,
            views: Some(90),
            forwards: Some(7),
            replies: None,
            replies_max_id: None,
            reactions: Some(vec![("👍".into(), 3), ("🔥".into(), 9)]),
        };
        let ((v, f, r, re), changed) = merge(
            (Some(100), Some(5), Some(2), Some(r#"{"👍":4,"😢":1}"#)),
            &fresh,
        );
        assert_eq!((v, f, r), (Some(100), Some(7), Some(2)));
        assert_eq!(re.as_deref(), Some(r#"{"👍":4,"🔥":9,"😢":1}"#));
        assert!(changed);
        let same = merge((Some(100), Some(7), Some(2), re.as_deref()), &fresh);
        assert!(!same.1, "a stale answer changes nothing");
    }

    #[test]
    fn half_due_posts_come_along_only_with_a_due_one() {
        assert_eq!(due_with_company(vec![(3, true), (5, false)]), [3, 5]);
        assert!(due_with_company(vec![(3, false), (5, false)]).is_empty());
        assert!(due_with_company(Vec::new()).is_empty());
    }

    #[test]
    fn the_period_follows_the_posts_age() {
        let s = [
            RefreshStep {
                until: 604_800,
                every: 3_600,
            },
            RefreshStep {
                until: 86_400,
                every: 900,
            },
        ];
        assert_eq!(
            period_sql(&s, "p.date", "?2").as_deref(),
            Some(
                "CASE WHEN p.date >= ?2 - 86400 THEN 900 WHEN p.date >= ?2 - 604800 THEN 3600 ELSE 3600 END"
            )
        );
        assert_eq!(period_sql(&[], "d", "n"), None);
    }
}
