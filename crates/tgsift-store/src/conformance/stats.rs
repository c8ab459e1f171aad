//! [`StatsStore`] on both backends: posts per channel and UTC day, tagging statuses of a period, and
//! the posts stored lately.

use std::path::Path;

use super::tagging::TaggingInspect;
use super::{Inspect, on_postgres, on_sqlite, post};
use crate::NewChannel;
use crate::prelude::*;

/// What the stats tests use of a backend.
trait Stats: AccountStore + ChannelStore + StatsStore + Inspect + TaggingInspect {}
impl<T: AccountStore + ChannelStore + StatsStore + Inspect + TaggingInspect + ?Sized> Stats for T {}

/// Account `a` following channels with these Telegram ids; their row ids.
fn channels<S: Stats + ?Sized>(s: &mut S, tg_ids: &[i64]) -> Vec<i64> {
    let a = s
        .add_account("a", None, None, Path::new("a.session"))
        .expect("account");
    tg_ids
        .iter()
        .map(|tg| {
            let c = NewChannel {
                tg_id: *tg,
                access_hash: 1,
                username: None,
                title: "t".into(),
                backfill: "all".into(),
            };
            s.add_channel(a.id, &c).expect("add").expect("new").id
        })
        .collect()
}

fn posts_are_counted_per_channel_and_utc_day<S: Stats + ?Sized>(s: &mut S) {
    let ids = channels(s, &[5, 6]);
    let day = 1_700_006_400; // 00:00 UTC
    let dated = |id: i32, date: i64, text: &str| {
        let mut p = post(id, text);
        p.date = date;
        p
    };
    s.store_batch(
        ids[0],
        "5",
        &[
            dated(1, day - 1, "before"),
            dated(2, day, "a"),
            dated(3, day + 86_399, "b"),
            dated(4, day + 86_400, ""),
            dated(5, day + 2 * 86_400, "after"),
        ],
        Some((1, 5)),
    )
    .expect("batch");
    s.store_batch(
        ids[1],
        "6",
        &[dated(1, day + 10, "c"), dated(2, day + 20, "gone")],
        Some((1, 2)),
    )
    .expect("batch");
    let gone = s.post_id(ids[1], 2);
    s.set_deleted_at(gone, 1);
    let to = day + 2 * 86_400;
    assert_eq!(
        s.posts_per_day(None, day, to).expect("count"),
        vec![
            (ids[0], day, 2),
            (ids[0], day + 86_400, 1),
            (ids[1], day, 1)
        ]
    );
    assert_eq!(
        s.posts_per_day(Some(&ids[1..]), day, to).expect("count"),
        vec![(ids[1], day, 1)]
    );
    assert!(
        s.posts_per_day(Some(&[]), day, to)
            .expect("no channels")
            .is_empty()
    );
    assert_eq!(
        s.posts_per_day(None, day - 86_400, day).expect("count"),
        vec![(ids[0], day - 86_400, 1)]
    );
    let statuses = s.status_counts(None, day, to).expect("statuses");
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        vec![("pending".to_owned(), 3), ("skipped".to_owned(), 1)]
    );
    let statuses = s.status_counts(Some(&ids[1..]), day, to).expect("statuses");
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        vec![("pending".to_owned(), 1)]
    );
}

fn posts_stored_lately_are_counted_from_the_first_one_in_the_window<S: Stats + ?Sized>(s: &mut S) {
    let ch = channels(s, &[5])[0];
    assert_eq!(s.posts_stored_since(0).expect("empty"), 0);
    let posts: Vec<_> = (1..=40).map(|id| post(id, &format!("post {id}"))).collect();
    s.store_batch(ch, "5", &posts, Some((1, 40)))
        .expect("batch");
    // Stored 1 s apart in message order (which is row id order); the first three before the time was
    // kept; a gap in the ids (removed rows) is stepped over.
    for m in 1..=40 {
        let id = s.post_id(ch, m);
        match m {
            1..=3 => s.set_stored_at(id, None),
            30 | 31 => s.remove_post(id),
            _ => s.set_stored_at(id, Some(1000 * i64::from(m))),
        }
    }
    let kept: Vec<i64> = (1..=40).filter(|m| *m != 30 && *m != 31).collect();
    for since in [
        0, 1_000, 4_000, 29_500, 30_000, 31_000, 32_000, 40_000, 41_000,
    ] {
        let expected = if since == 0 {
            kept.len()
        } else {
            kept.iter()
                .filter(|m| **m > 3 && **m * 1000 >= since)
                .count()
        };
        assert_eq!(
            s.posts_stored_since(since).expect("count"),
            expected as i64,
            "since {since}"
        );
    }
}

both! {
    stats_per_day => posts_are_counted_per_channel_and_utc_day,
    stats_stored_lately => posts_stored_lately_are_counted_from_the_first_one_in_the_window,
}
