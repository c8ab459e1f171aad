//! Counters that stay current: which posts are due under the schedule, counters that rise and never
//! fall, the history of each change.

use super::{Inspect, on_postgres, on_sqlite};
use crate::prelude::*;
use crate::{CountsIn, PostIn, RefreshStep};

/// What the counts tests use of a backend.
trait Counts: AccountStore + ChannelStore + CountStore + TaggingStore + Inspect {}
impl<T: AccountStore + ChannelStore + CountStore + TaggingStore + Inspect + ?Sized> Counts for T {}

const DAY: i64 = 86_400;

/// Every 15 min for a day, hourly for a week.
const SCHEDULE: [RefreshStep; 2] = [
    RefreshStep {
        until: DAY,
        every: 900,
    },
    RefreshStep {
        until: 7 * DAY,
        every: 3_600,
    },
];

fn counts_due_rise_and_keep_their_history<S: Counts + ?Sized>(s: &mut S) {
    let ch = crate::testing::follow_news(s);
    // Stored "now" (`stored_at_ms` is the wall clock): ask as if later. Posts 1 h, 2 days and 9 days
    // old at `now`; post 4 is deleted.
    let now = crate::unix_now() + 10 * DAY;
    let posts = [
        (1, now - 3_600),
        (2, now - 2 * DAY),
        (3, now - 9 * DAY),
        (4, now - 60),
    ]
    .map(|(id, date)| PostIn::new(id, date, "x").counts(Some(100), Some(1)));
    s.store_batch(ch, "@news", &posts, Some((1, 4)))
        .expect("batch");
    s.mark_deleted(ch, 4);
    assert_eq!(s.counts_due(ch, &SCHEDULE, now, 10).expect("due"), [1, 2]);
    assert!(s.counts_due(ch, &[], now, 10).expect("due").is_empty());
    assert_eq!(s.counts_due(ch, &SCHEDULE, now, 1).expect("due").len(), 1);

    let fresh = |id: i32, views: i32| CountsIn {
        message_id: id,
        views: Some(views),
        forwards: Some(2),
        replies: Some(4),
        replies_max_id: None,
        reactions: Some(vec![("👍".into(), views / 10), ("🔥".into(), 1)]),
    };
    assert_eq!(
        s.record_counts(ch, &[fresh(1, 150), fresh(2, 100), fresh(9, 1)], now)
            .expect("record"),
        2,
        "post 2's views did not move, but its forwards, replies and reactions did"
    );
    // Read now: due again after its period (15 min for the young post, 1 h for the other).
    assert!(
        s.counts_due(ch, &SCHEDULE, now + 899, 10)
            .expect("due")
            .is_empty()
    );
    assert_eq!(
        s.counts_due(ch, &SCHEDULE, now + 900, 10).expect("due"),
        [1]
    );
    assert_eq!(
        s.counts_due(ch, &SCHEDULE, now + 3_600, 10).expect("due"),
        [1, 2]
    );

    // A stale answer (fewer views, a reaction missing) lowers nothing; a higher one raises.
    assert_eq!(
        s.record_counts(ch, &[fresh(1, 120)], now + 900)
            .expect("stale"),
        0
    );
    assert_eq!(
        s.record_counts(ch, &[fresh(1, 400)], now + 1_800)
            .expect("up"),
        1
    );
    let p1 = s.post_id(ch, 1);
    let history = s.count_history(p1).expect("history");
    let points: Vec<(i64, Option<i64>)> = history.iter().map(|h| (h.at, h.views)).collect();
    assert_eq!(points, [(now, Some(150)), (now + 1_800, Some(400))]);
    assert_eq!(
        history[1].reactions.as_deref(),
        Some(r#"{"👍":40,"🔥":1}"#),
        "reactions per emoji"
    );
    assert_eq!(
        (history[1].forwards, history[1].replies),
        (Some(2), Some(4))
    );
    // A page fetched later with the old counters leaves the fresh ones.
    s.store_batch(
        ch,
        "@news",
        &[PostIn::new(1, now - 3_600, "x").counts(Some(100), Some(1))],
        None,
    )
    .expect("refresh");
    let listed = s
        .list_posts(&crate::PostFilter {
            limit: 10,
            ..Default::default()
        })
        .expect("list");
    let p = listed.iter().find(|p| p.message_id == 1).expect("post 1");
    assert_eq!(p.id, p1);
    let views: i64 = s
        .count_history(p1)
        .expect("history")
        .last()
        .and_then(|h| h.views)
        .expect("views");
    assert_eq!(views, 400);
}

both! {
    counts_due_rise_history => counts_due_rise_and_keep_their_history,
}
