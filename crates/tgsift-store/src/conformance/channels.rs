//! [`ChannelStore`] on both backends: the exactly-once page writes, edits, deletions, channel states;
//! and, on PostgreSQL, that a worker's writes stop when it loses the account's lease.

use std::sync::Arc;
use std::time::Duration;

use super::{Inspect, on_postgres, on_sqlite, outcome, post, setup};
use crate::postgres::PgError;
use crate::postgres::backend::LeaseFences;
use crate::prelude::*;
use crate::{FetchedPage, PostIn, ShortRange, StoreError};

fn batches_upsert_and_advance_the_checkpoint<S: AccountStore + ChannelStore + Inspect + ?Sized>(
    s: &mut S,
) {
    let ch = setup(s);
    let page = [post(1, "a"), post(2, ""), post(4, "d")];
    assert_eq!(
        s.store_batch(ch, "@news", &page, Some((1, 4)))
            .expect("batch"),
        outcome(3, 0, 0, &[])
    );
    assert_eq!(
        s.channel(ch).expect("read").expect("exists").last_fetch_at,
        None,
        "a batch is not a completed pass: a pass cut short leaves the channel due"
    );
    assert_eq!(
        s.store_batch(ch, "@news", &page, Some((1, 4)))
            .expect("again"),
        outcome(0, 0, 3, &[]),
        "the same batch again duplicates nothing"
    );
    assert_eq!(s.message_ids(ch).expect("ids"), vec![1, 2, 4]);
    assert_eq!(
        s.channel(ch)
            .expect("read")
            .expect("exists")
            .last_message_id,
        4
    );
    s.store_batch(ch, "@news", &[post(5, "e")], Some((5, 7)))
        .expect("next");
    assert_eq!(s.fetched_ranges(ch).expect("ranges"), vec![(1, 7)]);
    assert_eq!(
        s.post_state(ch, 2).expect("stored").1,
        "skipped",
        "no text, nothing to tag"
    );
    assert_eq!(s.post_state(ch, 1).expect("stored").1, "pending");
    assert_eq!(s.channel_post_count(ch).expect("count"), 4);
    assert_eq!(s.post_counts().expect("counts").get(&ch), Some(&4));
    // A checkpoint never moves back.
    s.set_checkpoint(ch, 3).expect("checkpoint");
    assert_eq!(
        s.channel(ch)
            .expect("read")
            .expect("exists")
            .last_message_id,
        7
    );
    s.set_checkpoint(ch, 20).expect("checkpoint");
    assert_eq!(
        s.channel(ch)
            .expect("read")
            .expect("exists")
            .last_message_id,
        20
    );
}

fn grouped_pages_and_edits<S: AccountStore + ChannelStore + Inspect + ?Sized>(s: &mut S) {
    let ch = setup(s);
    s.store_batch(ch, "@news", &[post(2, "old")], Some((1, 2)))
        .expect("first page");
    s.tag_all(ch);
    let mut edited = post(2, "new");
    edited.edit_date = Some(1_800_000_000);
    let pages = vec![
        page(vec![edited.clone(), post(3, "c")], (1, 4)),
        page(vec![post(5, "e"), post(7, "g")], (5, 7)),
    ];
    assert_eq!(
        s.store_batches(ch, "@news", &pages).expect("group"),
        vec![outcome(1, 1, 0, &[]), outcome(2, 0, 0, &[])]
    );
    assert_eq!(s.message_ids(ch).expect("ids"), vec![2, 3, 5, 7]);
    assert_eq!(
        s.channel(ch)
            .expect("read")
            .expect("exists")
            .last_message_id,
        7
    );
    assert_eq!(s.fetched_ranges(ch).expect("ranges"), vec![(1, 7)]);
    let id = s.post_id(ch, 2);
    assert_eq!(
        s.post_versions(id).expect("versions"),
        vec![(
            "old".to_string(),
            None,
            s.post_versions(id).expect("v")[0].2
        )]
    );
    assert_eq!(
        s.post_state(ch, 2).expect("stored"),
        ("new".to_string(), "pending".to_string(), 0, None),
        "an edit drops the tags and makes the post due again"
    );
    // An older copy of the post (a page fetched before the edit) does not bring the old text back.
    let out = s
        .store_batch(ch, "@news", &[post(2, "old")], None)
        .expect("stale refresh");
    assert_eq!(out, outcome(0, 0, 1, &[]));
    assert_eq!(s.post_state(ch, 2).expect("stored").0, "new");
    // A refresh never inserts.
    let out = s
        .store_batch(ch, "@news", &[post(9, "not stored before")], None)
        .expect("refresh");
    assert_eq!(out, outcome(0, 0, 0, &[]));
    assert_eq!(s.message_ids(ch).expect("ids"), vec![2, 3, 5, 7]);
}

/// A backfill page of `range` with its posts, answered by as many messages as it holds posts.
fn page(posts: Vec<PostIn>, range: (i32, i32)) -> FetchedPage {
    let answered = i32::try_from(posts.len()).expect("small");
    FetchedPage {
        posts,
        range,
        answered,
    }
}

/// A page lacking a stored post marks nothing: the post is reported unseen, stays as it was until
/// ingest has asked about it, and is marked hidden (not deleted) on its word. Seen again, it is
/// visible again. A deletion Telegram announced before the post was stored still marks it deleted.
fn lacking_posts_are_unseen_then_hidden_not_deleted<
    S: AccountStore + ChannelStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    s.store_batch(
        ch,
        "@news",
        &[post(1, "a"), post(2, "b"), post(3, "c")],
        Some((1, 3)),
    )
    .expect("page");
    // The range again without 2 (reparse): unseen, not deleted.
    let out = s
        .store_batches(
            ch,
            "@news",
            &[page(vec![post(1, "a"), post(3, "c")], (1, 3))],
        )
        .expect("again");
    assert_eq!(out, vec![outcome(0, 0, 2, &[2])]);
    assert_eq!(s.deleted_ids(ch), Vec::<i32>::new());
    assert_eq!(
        s.unseen_between(ch, (1, 3), &[1, 3]).expect("unseen"),
        vec![2]
    );
    assert_eq!(s.mark_hidden(ch, &[2]).expect("hide"), 1);
    assert_eq!(s.mark_hidden(ch, &[2]).expect("again"), 0, "marked once");
    assert_eq!(s.hidden_count(ch).expect("count"), 1);
    assert_eq!(
        s.visible_ids_between(ch, 1, 3).expect("visible"),
        vec![1, 3]
    );
    assert_eq!(
        s.unseen_between(ch, (1, 3), &[1, 3]).expect("unseen"),
        Vec::<i32>::new(),
        "a hidden post is not asked about again"
    );
    assert_eq!(s.post_state(ch, 2).expect("kept").3, None, "not deleted");
    // Seen again (another account, a later pass): visible again.
    s.store_batch(ch, "@news", &[post(2, "b")], None)
        .expect("refresh");
    assert_eq!(s.hidden_count(ch).expect("count"), 0);
    assert_eq!(
        s.visible_ids_between(ch, 1, 3).expect("visible"),
        vec![1, 2, 3]
    );
    // A deletion learned before the post was stored marks it as it comes in.
    s.remember_deletion(ch, 5, 1_700_000_500);
    s.store_batch(ch, "@news", &[post(4, "d"), post(5, "e")], Some((4, 5)))
        .expect("next");
    assert_eq!(s.post_state(ch, 5).expect("stored").3, Some(1_700_000_500));
    assert_eq!(s.post_state(ch, 4).expect("stored").3, None);
}

/// A group of pages reports per page what each lacks of what was stored in its range, records each
/// range with the messages that answered it, and lists the short ones.
fn grouped_pages_report_unseen_per_page_and_short_ranges<
    S: AccountStore + ChannelStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    let all: Vec<_> = (1..=10).map(|i| post(i, "x")).collect();
    s.store_batch(ch, "@news", &all, Some((1, 10)))
        .expect("page");
    let pages = vec![
        page(vec![post(1, "x"), post(3, "x")], (1, 3)),
        FetchedPage {
            answered: 3,
            ..page(vec![post(4, "x"), post(5, "x"), post(6, "x")], (4, 6))
        },
        page(vec![post(9, "x"), post(11, "new")], (9, 11)),
    ];
    assert_eq!(
        s.store_batches(ch, "@news", &pages).expect("group"),
        vec![
            outcome(0, 0, 2, &[2]),
            outcome(0, 0, 3, &[]),
            outcome(1, 0, 1, &[10])
        ]
    );
    assert_eq!(
        s.deleted_ids(ch),
        Vec::<i32>::new(),
        "nothing is deleted by a page"
    );
    assert_eq!(s.fetched_ranges(ch).expect("ranges"), vec![(1, 11)]);
    assert_eq!(
        s.short_ranges(ch).expect("short"),
        vec![
            ShortRange {
                from: 1,
                to: 3,
                answered: 2
            },
            ShortRange {
                from: 9,
                to: 11,
                answered: 2
            },
        ],
        "ranges of unknown answers (the first page, stored without a count) are not listed"
    );
    assert_eq!(s.short_ranges(ch).expect("short")[0].unanswered(), 1);
}

fn channel_states<S: AccountStore + ChannelStore + ?Sized>(s: &mut S) {
    let ch = setup(s);
    s.park_channel(ch, 2_000_000_000, "FLOOD_WAIT 600")
        .expect("park");
    let row = s.channel(ch).expect("read").expect("exists");
    assert_eq!(
        (row.flood_until, row.last_error.as_deref(), row.failures),
        (Some(2_000_000_000), Some("FLOOD_WAIT 600"), 1)
    );
    s.touch_channel(ch).expect("touch");
    let row = s.channel(ch).expect("read").expect("exists");
    assert_eq!(
        (row.flood_until, row.last_error, row.failures),
        (None, None, 0)
    );
    assert!(row.last_fetch_at.is_some());
    s.fail_channel(ch, "CHANNEL_PRIVATE", true).expect("fail");
    let row = s.channel(ch).expect("read").expect("exists");
    assert_eq!((row.active, row.failures), (false, 1));
    s.set_channel_active(ch, true).expect("resume");
    let row = s.channel(ch).expect("read").expect("exists");
    assert_eq!((row.active, row.last_error, row.failures), (true, None, 0));
    assert_eq!(s.find_channels("@NEWS").expect("find").len(), 1);
    assert_eq!(s.find_channels("5").expect("by id")[0].id, ch);
    assert_eq!(
        s.find_channels(&format!("#{ch}")).expect("by row")[0].id,
        ch
    );
    assert!(s.find_channels("@other").expect("none").is_empty());
    assert_eq!(s.channels().expect("list").len(), 1);
    s.remove_channel(ch).expect("remove");
    assert!(s.channels().expect("list").is_empty());
}

/// Issue 31, item 1: a removed channel's ids (its own, its posts', its account's) never come back, so
/// "everything above the last id I read" never skips a new row.
fn ids_are_never_reused<S: AccountStore + ChannelStore + Inspect + ?Sized>(s: &mut S) {
    let ch = setup(s);
    s.store_batch(ch, "@news", &[post(1, "a"), post(2, "b")], Some((1, 2)))
        .expect("batch");
    let last_post = s.post_id(ch, 2);
    let account = s.account("a").expect("read").expect("exists").id;
    s.remove_channel(ch).expect("remove");
    let again = s
        .add_channel(account, &crate::testing::news_channel())
        .expect("add")
        .expect("new");
    assert!(again.id > ch, "channel id {} after {ch}", again.id);
    s.store_batch(again.id, "@news", &[post(1, "a")], Some((1, 1)))
        .expect("batch");
    let first_new_post = s.post_id(again.id, 1);
    assert!(
        first_new_post > last_post,
        "post id {first_new_post} after {last_post}"
    );
    assert!(s.remove_account("a").expect("remove account"));
    let a = s
        .add_account("a", None, None, std::path::Path::new("a.session"))
        .expect("account");
    assert!(a.id > account, "account id {} after {account}", a.id);
}

/// What each account's ingest reads every few seconds: its own channels only, and which accounts have
/// an active one at all.
fn channels_are_listed_per_account<S: AccountStore + ChannelStore + ?Sized>(s: &mut S) {
    let news = setup(s);
    let a = s.account("a").expect("read").expect("exists").id;
    let b = s
        .add_account("b", None, None, std::path::Path::new("b.session"))
        .expect("account b")
        .id;
    let idle = s
        .add_account("idle", None, None, std::path::Path::new("idle.session"))
        .expect("account idle")
        .id;
    let mut other = crate::testing::news_channel();
    let mut row = |account: i64, tg_id: i64, name: &str| {
        other.tg_id = tg_id;
        other.username = Some(name.into());
        s.add_channel(account, &other)
            .expect("add")
            .expect("new")
            .id
    };
    let b1 = row(b, 11, "b_one");
    let b2 = row(b, 12, "b_two");
    let paused = row(idle, 13, "paused");
    s.set_channel_active(paused, false).expect("pause");
    let ids = |rows: Vec<crate::ChannelRow>| rows.iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(s.account_channels(a).expect("a")), vec![news]);
    assert_eq!(ids(s.account_channels(b).expect("b")), vec![b1, b2]);
    let idle_rows = s.account_channels(idle).expect("idle");
    assert_eq!(ids(idle_rows.clone()), vec![paused]);
    assert!(!idle_rows[0].active, "inactive channels are listed too");
    assert_eq!(idle_rows[0].account, "idle");
    assert!(s.account_channels(9_999).expect("none").is_empty());
    let busy = s.accounts_with_active_channels().expect("busy");
    assert_eq!(busy, std::collections::HashSet::from([a, b]));
}

/// What a set-based write of a group could get wrong: an id twice in one page and again in the next
/// is stored once, a page older than a stored edit leaves the edit, and the posts of a removed
/// channel go with it (no write reaches a channel that is gone).
fn repeated_ids_and_newer_edits_in_a_group<
    S: AccountStore + ChannelStore + SearchStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    let mut newest = post(3, "newest");
    newest.edit_date = Some(1_800_000_000);
    s.store_batch(ch, "@news", &[newest], Some((1, 3)))
        .expect("first page");
    let mut older = post(3, "older");
    older.edit_date = Some(1_700_000_000);
    let pages = vec![
        page(
            vec![older, post(4, "d"), post(5, "e"), post(5, "e")],
            (1, 5),
        ),
        page(vec![post(5, "e"), post(6, "")], (5, 8)),
    ];
    let out = s.store_batches(ch, "@news", &pages).expect("group");
    assert_eq!(out.iter().map(|o| o.edited).sum::<usize>(), 0);
    assert!(out.iter().all(|o| o.unseen.is_empty()), "{out:?}");
    assert_eq!(s.message_ids(ch).expect("ids"), vec![3, 4, 5, 6]);
    assert_eq!(s.post_state(ch, 3).expect("stored").0, "newest");
    assert!(
        s.post_versions(s.post_id(ch, 3))
            .expect("versions")
            .is_empty()
    );
    assert_eq!(s.post_state(ch, 6).expect("stored").1, "skipped");
    assert_eq!(
        s.search_backlog().expect("backlog"),
        3,
        "posts 3, 4 and 5 have text"
    );
    assert_eq!(s.fetched_ranges(ch).expect("ranges"), vec![(1, 8)]);
    assert_eq!(s.post_counts().expect("counts").get(&ch), Some(&4));
    s.remove_channel(ch).expect("remove");
    assert_eq!(s.post_counts().expect("counts").get(&ch), None);
    assert_eq!(s.search_backlog().expect("backlog"), 0);
    assert!(
        s.store_batch(ch, "@news", &[post(9, "late")], Some((9, 9)))
            .is_err(),
        "posts of a channel that is gone are refused"
    );
    assert_eq!(s.channel_post_count(ch).expect("count"), 0);
}

both! {
    per_account => channels_are_listed_per_account,
    ids => ids_are_never_reused,
    repeats => repeated_ids_and_newer_edits_in_a_group,
    batches => batches_upsert_and_advance_the_checkpoint,
    edits => grouped_pages_and_edits,
    unseen => lacking_posts_are_unseen_then_hidden_not_deleted,
    grouped_unseen => grouped_pages_report_unseen_per_page_and_short_ranges,
    channel_state => channel_states,
}

/// PostgreSQL only: a worker's backend writes an account's data only while it holds the lease.
#[test]
fn a_fenced_backend_stops_writing_when_the_lease_is_lost() {
    on_postgres("conf_fenced", |admin| {
        let ch = setup(admin);
        let account = admin.account("a").expect("read").expect("exists").id;
        let store = admin.store().clone();
        let leases = Arc::new(LeaseFences::default());
        let mut worker = admin.clone().fenced(Arc::clone(&leases));
        // Not leased yet: refused.
        let err = worker.touch_channel(ch).expect_err("no lease");
        assert!(
            matches!(&err, StoreError::Postgres { source: PgError::NotLeased { account_id }, .. } if *account_id == account),
            "{err:?}"
        );
        let ttl = Duration::from_millis(800);
        let (me, other) = admin.block_on(async {
            (
                store.register_worker("a", 1).await.expect("worker"),
                store.register_worker("b", 2).await.expect("worker"),
            )
        });
        let lease = admin
            .block_on(store.claim_leases(me, 1, ttl))
            .expect("claim")
            .remove(0);
        leases.hold(lease);
        worker
            .store_batch(ch, "@news", &[post(1, "a")], Some((1, 1)))
            .expect("held: written");
        std::thread::sleep(ttl + Duration::from_millis(200));
        let taken = admin
            .block_on(store.claim_leases(other, 1, Duration::from_secs(60)))
            .expect("takeover");
        assert_eq!(taken.len(), 1);
        let err = worker
            .store_batch(ch, "@news", &[post(2, "b")], Some((2, 2)))
            .expect_err("fenced out");
        assert!(
            matches!(
                &err,
                StoreError::Postgres {
                    source: PgError::LeaseLost { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            admin.message_ids(ch).expect("ids"),
            vec![1],
            "the fenced write left nothing"
        );
        assert_eq!(
            admin
                .channel(ch)
                .expect("read")
                .expect("exists")
                .last_message_id,
            1
        );
    });
}
