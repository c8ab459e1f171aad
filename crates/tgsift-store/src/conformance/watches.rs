//! Watches (`watches`, `watch_queue`, `watch_hits`): posts are queued only while a watch exists,
//! decided once per rule (queries once indexed, tags once tagged), matched once per watch whatever
//! happens to the post later, and delivered through claims, failures and digests.

use super::{Inspect, on_postgres, on_sqlite};
use crate::prelude::*;
use crate::testing::{EPOCH, post};
use crate::{NewWatch, WatchPass, decide};

/// What the watch tests use of a backend.
trait WatchTest: AccountStore + ChannelStore + SearchStore + WatchStore + Inspect {}
impl<T: AccountStore + ChannelStore + SearchStore + WatchStore + Inspect + ?Sized> WatchTest for T {}

fn pass<S: WatchTest + ?Sized>(s: &mut S, now: i64) -> WatchPass {
    let watches = s.watches().expect("watches");
    let candidates = s.watch_candidates(now, 100).expect("candidates");
    let pass = decide(&watches, &candidates, now, |q, ids| {
        s.watch_query_hits(q, ids)
    })
    .expect("decide");
    s.record_watch_pass(&pass, now).expect("record");
    pass
}

fn claimed<S: WatchTest + ?Sized>(s: &mut S, now: i64) -> Vec<(i64, i32, i64)> {
    s.claim_watch_hits(now, 60, 100)
        .expect("claim")
        .iter()
        .map(|h| (h.watch_id, h.message_id, h.attempts))
        .collect()
}

fn watches_match_each_post_once_and_deliver_it<S: WatchTest + ?Sized>(s: &mut S) {
    let ch = crate::testing::follow_news(s);
    // Stored before any watch: never queued.
    s.store_batch(ch, "@news", &[post(1, "нефть старая")], Some((1, 1)))
        .expect("batch");
    let new = |name: &str| NewWatch {
        name: name.into(),
        sink: format!("webhook:http://127.0.0.1:9/{name}"),
        ..NewWatch::default()
    };
    let oil = s
        .add_watch(
            &NewWatch {
                query: Some("нефть".into()),
                ..new("oil")
            },
            EPOCH,
        )
        .expect("add")
        .expect("new");
    let tagged = s
        .add_watch(
            &NewWatch {
                tag: Some("X".into()),
                ..new("tagged")
            },
            EPOCH,
        )
        .expect("add")
        .expect("new");
    let digest = s
        .add_watch(
            &NewWatch {
                channels: vec![ch],
                every: Some(3_600),
                sink: "saved-messages".into(),
                ..new("digest")
            },
            EPOCH,
        )
        .expect("add")
        .expect("new");
    // Sending into the watched channel itself would match what it sent: never its own chat's posts.
    s.add_watch(
        &NewWatch {
            channels: vec![ch],
            sink: "telegram:@News".into(),
            ..new("loop")
        },
        EPOCH,
    )
    .expect("add")
    .expect("new");
    let again = NewWatch {
        tag: Some("y".into()),
        ..new("oil")
    };
    assert_eq!(
        s.add_watch(&again, EPOCH).expect("add"),
        None,
        "names are unique"
    );
    assert_eq!((oil.query.as_deref(), oil.pending), (Some("нефть"), 0));
    assert!(
        s.watch_candidates(EPOCH, 100)
            .expect("candidates")
            .is_empty()
    );

    s.store_batch(
        ch,
        "@news",
        &[post(2, "нефть дорожает"), post(3, "другое")],
        Some((2, 3)),
    )
    .expect("batch");
    let (p2, p3) = (s.post_id(ch, 2), s.post_id(ch, 3));
    // Query rules wait for the search index.
    assert_eq!(pass(s, EPOCH + 100), WatchPass::default());
    s.index_queued().expect("index");
    let first = pass(s, EPOCH + 100);
    let mut hits = first.hits.clone();
    hits.sort_unstable();
    let mut want = vec![(oil.id, p2), (digest.id, p2), (digest.id, p3)];
    want.sort_unstable();
    assert_eq!(hits, want);
    assert_eq!(first.decided.len(), 2, "both wait for their tags");
    // Waiting for tags: nothing to decide until the tagging ends.
    assert!(
        s.watch_candidates(EPOCH + 100, 100)
            .expect("candidates")
            .is_empty()
    );
    s.tag_all(ch);
    let second = pass(s, EPOCH + 100);
    let mut hits = second.hits.clone();
    hits.sort_unstable();
    assert_eq!(hits, [(tagged.id, p2), (tagged.id, p3)]);
    assert_eq!(second.done.len(), 2);
    assert!(
        s.watch_candidates(EPOCH + 100, 100)
            .expect("candidates")
            .is_empty()
    );

    // Matches at once are due at once; the digest waits for its period.
    let mut due = claimed(s, EPOCH + 200);
    due.sort_unstable();
    assert_eq!(due, [(oil.id, 2, 0), (tagged.id, 2, 0), (tagged.id, 3, 0)]);
    assert!(claimed(s, EPOCH + 200).is_empty(), "claimed matches wait");
    s.watch_failed(oil.id, &[p2], "webhook answered 503", EPOCH + 300)
        .expect("failed");
    s.watch_delivered(tagged.id, &[p2, p3], EPOCH + 201)
        .expect("delivered");
    let listed = s.watches().expect("watches");
    let figures = |name: &str| {
        let w = listed.iter().find(|w| w.name == name).expect("listed");
        (w.delivered, w.pending, w.last_error.clone())
    };
    assert_eq!(figures("oil"), (0, 1, Some("webhook answered 503".into())));
    assert_eq!(figures("tagged"), (2, 0, None));
    assert_eq!(figures("digest"), (0, 2, None));
    assert!(claimed(s, EPOCH + 299).is_empty());
    assert_eq!(claimed(s, EPOCH + 300), [(oil.id, 2, 1)]);
    s.watch_delivered(oil.id, &[p2], EPOCH + 301)
        .expect("delivered");

    // An edit queues the post again; a match delivered stays delivered (once per watch).
    let mut edited = post(2, "нефть дорожает снова");
    edited.edit_date = Some(EPOCH + 400);
    s.store_batch(ch, "@news", &[edited], None).expect("edit");
    s.index_queued().expect("index");
    assert_eq!(pass(s, EPOCH + 400).hits.len(), 2, "oil and digest again");
    assert!(claimed(s, EPOCH + 500).is_empty());

    // The digest goes out once its period has passed, then waits a period again.
    let mut digest_due = claimed(s, EPOCH + 3_600);
    digest_due.sort_unstable();
    assert_eq!(digest_due, [(digest.id, 2, 0), (digest.id, 3, 0)]);
    s.watch_delivered(digest.id, &[p2, p3], EPOCH + 3_600)
        .expect("delivered");
    s.store_batch(ch, "@news", &[post(4, "ещё")], Some((4, 4)))
        .expect("batch");
    let p4 = s.post_id(ch, 4);
    s.index_queued().expect("index");
    pass(s, EPOCH + 3_700);
    assert!(claimed(s, EPOCH + 3_700).is_empty());
    assert_eq!(claimed(s, EPOCH + 7_200), [(digest.id, 4, 0)]);

    // What a message about a post shows, and a watch's recent posts.
    let shown = s.watch_posts(&[p2]).expect("posts");
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (
            shown[0].text.as_str(),
            shown[0].tags.clone(),
            shown[0].link()
        ),
        (
            "нефть дорожает снова",
            Vec::<String>::new(),
            "https://t.me/news/2".to_string()
        ),
        "the edit dropped the tags"
    );
    assert_eq!(shown[0].account, "a");
    // Tagged `x` (any case), newest first: the edit took post 2's tag, post 4 was never tagged.
    let p1 = s.post_id(ch, 1);
    assert_eq!(s.watch_recent(&tagged, 10).expect("recent"), [p3, p1]);
    assert_eq!(s.watch_recent(&digest, 2).expect("recent"), [p4, p3]);
    assert_eq!(s.watch_recent(&oil, 10).expect("recent"), [p2, p1]);

    // Removing the last watch empties the queue.
    assert!(s.remove_watch("oil").expect("remove"));
    assert!(!s.remove_watch("oil").expect("remove"));
    assert!(s.remove_watch("tagged").expect("remove"));
    assert!(s.remove_watch("digest").expect("remove"));
    assert!(s.remove_watch("loop").expect("remove"));
    assert!(s.watches().expect("watches").is_empty());
    s.store_batch(ch, "@news", &[post(5, "нефть")], Some((5, 5)))
        .expect("batch");
    assert!(
        s.watch_candidates(EPOCH, 100)
            .expect("candidates")
            .is_empty()
    );
}

both! {
    watches_match_each_post_once => watches_match_each_post_once_and_deliver_it,
}
