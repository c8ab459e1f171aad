//! `tgsift stats`: what an operator looks at weekly — posts per day per channel, the top tags of the
//! period against the period before (the same counting as `tags top`), the tagging status split, and
//! the FLOOD_WAITs and retries of the accounts.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tgsift_store::{ActivityRow, Storage, StoreError};

use crate::tagging::trends::{TagTrend, top_tags};

/// The period and channels of a report.
#[derive(Clone, Debug)]
pub struct StatsQuery {
    /// Only these channels (row ids); all when `None`.
    pub channel_ids: Option<Vec<i64>>,
    /// Start of the period (unix seconds, inclusive).
    pub since: i64,
    /// End of the period (unix seconds, exclusive).
    pub until: i64,
    /// How many top tags.
    pub top: usize,
}

/// Posts of one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Posts dated that day.
    pub posts: i64,
}

/// One channel's posts over the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelStats {
    /// `@name` or the numeric id.
    pub channel: String,
    /// Channel row id.
    pub id: i64,
    /// The account that follows it.
    pub account: String,
    /// Posts in the period.
    pub posts: i64,
    /// Posts per day, every day of the period (zeros included).
    pub per_day: Vec<DayCount>,
}

/// FLOOD_WAITs and retries of one account on one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActivityDay {
    /// Account name.
    pub account: String,
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// FLOOD_WAIT answers.
    pub floods: u64,
    /// Requests retried after transient failures.
    pub retries: u64,
}

/// The report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// Start of the period (unix seconds).
    pub since: i64,
    /// End of the period (unix seconds, exclusive).
    pub until: i64,
    /// The UTC days the period touches, `YYYY-MM-DD`.
    pub days: Vec<String>,
    /// Per channel, most posts first.
    pub channels: Vec<ChannelStats>,
    /// Posts in the period, all channels in scope.
    pub posts: i64,
    /// The most frequent tags, with their counts in the period of the same length before.
    pub top_tags: Vec<TagTrend>,
    /// Posts of the period per tagging status.
    pub tagging: BTreeMap<String, i64>,
    /// FLOOD_WAITs and retries per account and day (days without any are left out).
    pub activity: Vec<ActivityDay>,
    /// FLOOD_WAITs in the period.
    pub floods: u64,
    /// Retries in the period.
    pub retries: u64,
}

const DAY: i64 = 86_400;

/// `YYYY-MM-DD` of a unix time (UTC).
pub fn day_label(ts: i64) -> String {
    jiff::Timestamp::from_second(ts)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| ts.to_string())
}

/// Builds the report from the store.
pub fn collect(store: &dyn Storage, q: &StatsQuery) -> Result<Stats, StoreError> {
    let ids = q.channel_ids.as_deref();
    let first_day = q.since - q.since.rem_euclid(DAY);
    let day_starts: Vec<i64> = (0..)
        .map(|i| first_day + i * DAY)
        .take_while(|d| *d < q.until)
        .collect();
    let counts: HashMap<(i64, i64), i64> = store
        .posts_per_day(ids, q.since, q.until)?
        .into_iter()
        .map(|(ch, day, n)| ((ch, day), n))
        .collect();
    let mut channels: Vec<ChannelStats> = Vec::new();
    let mut accounts: Vec<i64> = Vec::new();
    for c in store.channels()? {
        if ids.is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        if !accounts.contains(&c.account_id) {
            accounts.push(c.account_id);
        }
        let per_day: Vec<DayCount> = day_starts
            .iter()
            .map(|d| DayCount {
                day: day_label(*d),
                posts: counts.get(&(c.id, *d)).copied().unwrap_or(0),
            })
            .collect();
        channels.push(ChannelStats {
            channel: c.label(),
            id: c.id,
            account: c.account.clone(),
            posts: per_day.iter().map(|d| d.posts).sum(),
            per_day,
        });
    }
    channels.sort_by(|a, b| b.posts.cmp(&a.posts).then(a.channel.cmp(&b.channel)));
    let len = q.until - q.since;
    let current = store.tags_between(ids, q.since, q.until)?;
    let previous = store.tags_between(ids, q.since - len, q.since)?;
    let activity: Vec<ActivityDay> = store
        .activity(ids.map(|_| accounts.as_slice()), q.since, q.until)?
        .into_iter()
        .map(
            |ActivityRow {
                 account,
                 day,
                 counts,
             }| ActivityDay {
                account,
                day: day_label(day),
                floods: counts.floods,
                retries: counts.retries,
            },
        )
        .collect();
    Ok(Stats {
        since: q.since,
        until: q.until,
        days: day_starts.iter().map(|d| day_label(*d)).collect(),
        posts: channels.iter().map(|c| c.posts).sum(),
        channels,
        top_tags: top_tags(&current, &previous, q.top.max(1)),
        tagging: store.status_counts(ids, q.since, q.until)?,
        floods: activity.iter().map(|a| a.floods).sum(),
        retries: activity.iter().map(|a| a.retries).sum(),
        activity,
    })
}
