//! [`TrendStore`] on both backends: the tags of the posts of a period.

use super::tagging::TaggingInspect;
use super::{Inspect, on_postgres, on_sqlite, post, setup};
use crate::NewChannel;
use crate::prelude::*;

/// What the trends tests use of a backend.
trait Trends: AccountStore + ChannelStore + TrendStore + Inspect + TaggingInspect {}
impl<T: AccountStore + ChannelStore + TrendStore + Inspect + TaggingInspect + ?Sized> Trends for T {}

fn tags_of_a_period_by_post_and_tag<S: Trends + ?Sized>(s: &mut S) {
    let news = setup(s);
    let account = s.account("a").expect("read").expect("exists").id;
    let other = s
        .add_channel(
            account,
            &NewChannel {
                tg_id: 6,
                access_hash: 1,
                username: None,
                title: "Other".into(),
                backfill: "all".into(),
            },
        )
        .expect("add")
        .expect("new")
        .id;
    assert_eq!(s.newest_post_date(None).expect("newest"), None, "no posts");
    // Dated 1_700_000_001 …
    s.store_batch(
        news,
        "@news",
        &[post(1, "a"), post(2, "b"), post(3, "c")],
        Some((1, 3)),
    )
    .expect("batch");
    s.store_batch(other, "6", &[post(2, "d")], Some((2, 2)))
        .expect("batch");
    let p = |s: &S, ch, m| s.post_id(ch, m);
    let (n1, n2, n3, o2) = (p(s, news, 1), p(s, news, 2), p(s, news, 3), p(s, other, 2));
    for (id, tag) in [
        (n2, "b"),
        (n2, "Б"),
        (n2, "B"),
        (n1, "x"),
        (n3, "late"),
        (o2, "other"),
    ] {
        s.add_tag(id, tag, 0.5);
    }
    s.set_deleted_at(n1, 5);
    let tags = |v: &[(i64, &str)]| {
        v.iter()
            .map(|(id, t)| (*id, t.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        s.tags_between(None, 1_700_000_001, 1_700_000_003)
            .expect("tags"),
        tags(&[(n1, "x"), (n2, "B"), (n2, "b"), (n2, "Б"), (o2, "other")]),
        "by post, then tag in byte order; deleted posts too"
    );
    assert_eq!(
        s.tags_between(Some(&[other]), 0, i64::MAX).expect("tags"),
        tags(&[(o2, "other")])
    );
    assert_eq!(
        s.tags_between(Some(&[news]), 1_700_000_003, 1_700_000_004)
            .expect("tags"),
        tags(&[(n3, "late")])
    );
    assert!(
        s.tags_between(Some(&[]), 0, i64::MAX)
            .expect("no channels")
            .is_empty()
    );
    assert!(
        s.tags_between(None, 1_700_000_004, 1_800_000_000)
            .expect("none")
            .is_empty()
    );
    assert_eq!(
        s.newest_post_date(None).expect("newest"),
        Some(1_700_000_003)
    );
    assert_eq!(
        s.newest_post_date(Some(&[other])).expect("newest"),
        Some(1_700_000_002)
    );
    assert_eq!(s.newest_post_date(Some(&[])).expect("newest"), None);
}

both! {
    trends_tags_between => tags_of_a_period_by_post_and_tag,
}
