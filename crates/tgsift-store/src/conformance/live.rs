//! [`LiveStore`] on both backends: pushed posts, edits and deletions applied with the channel's pts,
//! the checkpoint moving only across known ids.

use super::{Inspect, on_postgres, on_sqlite, setup};
use crate::prelude::*;
use crate::testing::post;
use crate::{LiveBatch, LiveChange, LiveRow};

fn new(id: i32, text: &str) -> LiveChange {
    LiveChange::New {
        id,
        post: Some(post(id, text)),
    }
}

fn batch(ch: i64, changes: Vec<LiveChange>, pts: i32) -> LiveBatch {
    LiveBatch {
        channel_id: ch,
        changes,
        pts: Some(pts),
    }
}

fn pushed_posts_move_the_checkpoint_only_across_known_ids<
    S: AccountStore + ChannelStore + LiveStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    s.store_batch(ch, "@news", &[post(1, "a"), post(2, "b")], Some((1, 2)))
        .expect("backfill");
    // 3 is a post, 4 a service message: both contiguous.
    let out = s
        .apply_live(&[batch(
            ch,
            vec![new(3, "c"), LiveChange::New { id: 4, post: None }],
            10,
        )])
        .expect("apply");
    assert_eq!(out[0].inserted, vec![(3, 1_700_000_003)]);
    assert_eq!((out[0].checkpoint, out[0].hole), (4, false));
    // 6 arrives but 5 was never seen: stored, the checkpoint stays, a hole is reported.
    let out = s
        .apply_live(&[batch(ch, vec![new(6, "f")], 11)])
        .expect("apply");
    assert_eq!((out[0].checkpoint, out[0].hole), (4, true));
    assert_eq!(
        s.channel(ch).expect("read").expect("row").last_message_id,
        4
    );
    assert_eq!(s.message_ids(ch).expect("ids"), vec![1, 2, 3, 6]);
    // The poller fills the hole: the checkpoint passes 5 and 6.
    s.store_batch(ch, "@news", &[post(5, "e"), post(6, "f")], Some((5, 6)))
        .expect("fill");
    let out = s
        .apply_live(&[batch(ch, vec![new(7, "g")], 12)])
        .expect("apply");
    assert_eq!((out[0].checkpoint, out[0].hole), (7, false));
    assert_eq!(s.fetched_ranges(ch).expect("ranges"), vec![(1, 7)]);
    assert_eq!(
        s.live_rows(s.channel(ch).expect("r").expect("r").account_id)
            .expect("live")[0]
            .pts,
        Some(12)
    );
    // The same updates again (a difference replaying them): nothing twice.
    let out = s
        .apply_live(&[batch(ch, vec![new(6, "f"), new(7, "g")], 12)])
        .expect("again");
    assert!(out[0].inserted.is_empty());
    assert_eq!(s.message_ids(ch).expect("ids"), vec![1, 2, 3, 5, 6, 7]);
}

fn edits_keep_the_old_text_and_stale_pages_do_not_bring_it_back<
    S: AccountStore + ChannelStore + LiveStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    s.store_batch(ch, "@news", &[post(1, "first")], Some((1, 1)))
        .expect("backfill");
    s.tag_all(ch);
    let out = s
        .apply_live(&[batch(
            ch,
            vec![LiveChange::Edit(
                post(1, "second").edited(Some(1_800_000_000)),
            )],
            3,
        )])
        .expect("edit");
    assert_eq!(out[0].edited, 1);
    // A page fetched before the edit and written after it: ignored.
    let stale = s
        .store_batch(ch, "@news", &[post(1, "first")], None)
        .expect("stale");
    assert_eq!((stale.edited, stale.unchanged), (0, 1));
    let (text, status, tags, _) = s.post_state(ch, 1).expect("stored");
    let tagged = s.tagged_at(ch, 1);
    assert_eq!(
        (text.as_str(), status.as_str(), tags, tagged),
        ("second", "pending", 0, None)
    );
    let id = s.post_id(ch, 1);
    assert_eq!(
        s.post_versions(id).expect("versions"),
        vec![(
            "first".to_string(),
            None,
            s.post_versions(id).expect("v")[0].2
        )]
    );
    // A second edit keeps both earlier texts, oldest first.
    s.apply_live(&[batch(
        ch,
        vec![LiveChange::Edit(
            post(1, "third").edited(Some(1_800_000_100)),
        )],
        4,
    )])
    .expect("edit again");
    let texts: Vec<String> = s
        .post_versions(id)
        .expect("versions")
        .into_iter()
        .map(|v| v.0)
        .collect();
    assert_eq!(texts, vec!["first", "second"]);
}

fn deletions_mark_posts_and_reach_posts_stored_after_them<
    S: AccountStore + ChannelStore + LiveStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    s.store_batch(ch, "@news", &[post(1, "a"), post(2, "b")], Some((1, 2)))
        .expect("backfill");
    // 2 is stored; 5 is above the checkpoint and not stored yet.
    let out = s
        .apply_live(&[batch(ch, vec![LiveChange::Delete(vec![2, 5])], 7)])
        .expect("delete");
    assert_eq!(out[0].deleted, 1);
    // The page holding 5 was fetched before the deletion and is written after it.
    s.store_batch(
        ch,
        "@news",
        &[post(3, "c"), post(4, "d"), post(5, "e")],
        Some((3, 5)),
    )
    .expect("late page");
    assert_eq!(s.deleted_ids(ch), vec![2, 5]);
    assert_eq!(
        s.message_ids(ch).expect("ids"),
        vec![1, 2, 3, 4, 5],
        "rows are kept"
    );
    let tombstones = s.tombstones(ch);
    assert_eq!(tombstones, 0, "forgotten once the checkpoint passed them");
}

fn a_removed_channel_is_skipped_and_polls_keep_the_live_pts<
    S: AccountStore + ChannelStore + LiveStore + Inspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    let account = s.channel(ch).expect("r").expect("r").account_id;
    s.note_channel_seen(ch, Some(40), Some(true)).expect("seen");
    s.apply_live(&[batch(ch, vec![], 45)]).expect("pts");
    s.note_channel_seen(ch, Some(41), None).expect("seen again");
    assert_eq!(
        s.live_rows(account).expect("rows"),
        vec![LiveRow {
            channel_id: ch,
            pts: Some(45),
            member: Some(true)
        }]
    );
    s.remove_channel(ch).expect("remove");
    let out = s
        .apply_live(&[batch(ch, vec![new(1, "a")], 46)])
        .expect("apply");
    assert!(out[0].gone);
    s.note_channel_seen(ch, Some(1), Some(true))
        .expect("no row for a removed channel");
}

both! {
    pushed_posts_move_the_checkpoint_only_across_known_ids => pushed_posts_move_the_checkpoint_only_across_known_ids,
    edits_keep_the_old_text_and_stale_pages_do_not_bring_it_back => edits_keep_the_old_text_and_stale_pages_do_not_bring_it_back,
    deletions_mark_posts_and_reach_posts_stored_after_them => deletions_mark_posts_and_reach_posts_stored_after_them,
    a_removed_channel_is_skipped_and_polls_keep_the_live_pts => a_removed_channel_is_skipped_and_polls_keep_the_live_pts,
}
