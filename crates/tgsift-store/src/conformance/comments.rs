//! Comments (`comments`, `comment_threads`): which channels want them, which threads are due (never
//! read and not empty, or Telegram's count or newest id moved), comments stored once and updated
//! when edited, a whole read marking what is gone, posts without a comment section never asked again.

use super::{Inspect, on_postgres, on_sqlite};
use crate::prelude::*;
use crate::testing::EPOCH;
use crate::{CommentIn, CommentSender, CommentStats, LiveComment, PostIn, Thread, ThreadRead};

/// What the comment tests use of a backend.
trait CommentTest: AccountStore + ChannelStore + CommentStore + CountStore + Inspect {}
impl<T: AccountStore + ChannelStore + CommentStore + CountStore + Inspect + ?Sized> CommentTest
    for T
{
}

fn at(id: i32, thread: Option<(i32, Option<i32>)>) -> PostIn {
    PostIn::new(id, EPOCH + i64::from(id) * 60, format!("post {id}"))
        .thread(thread.map(|(replies, max_id)| Thread { replies, max_id }))
}

fn comment(id: i32, reply_to: Option<i32>, text: &str) -> CommentIn {
    CommentIn {
        message_id: id,
        reply_to,
        sender: CommentSender::User {
            id: 700 + i64::from(id),
        },
        date: EPOCH + 10_000 + i64::from(id),
        edit_date: None,
        text: text.into(),
        has_media: false,
    }
}

fn due<S: CommentTest + ?Sized>(s: &S, ch: i64) -> Vec<(i32, i32, i32, i64)> {
    s.threads_due(ch, 100)
        .expect("due")
        .iter()
        .map(|t| (t.message_id, t.replies, t.stored_max_id, t.stored))
        .collect()
}

fn threads_are_read_when_they_move_and_comments_are_kept<S: CommentTest + ?Sized>(s: &mut S) {
    let ch = crate::testing::follow_news(s);
    let account = s.accounts().expect("accounts")[0].id;

    // Only flagged channels, unless every channel's comments are wanted.
    assert!(s.comment_channels(account, false).expect("list").is_empty());
    assert_eq!(s.comment_channels(account, true).expect("list").len(), 1);
    assert!(s.set_channel_comments(ch, true).expect("flag"));
    assert!(!s.set_channel_comments(ch + 1_000, true).expect("flag"));
    let listed = s.comment_channels(account, false).expect("list");
    assert_eq!((listed.len(), listed[0].group), (1, None));
    s.set_discussion(ch, (2_000_000_001, -77)).expect("group");
    assert_eq!(
        s.comment_channels(account, false).expect("list")[0].group,
        Some((2_000_000_001, -77))
    );

    // Post 1 predates the group (no thread), 2 has none yet, 3 and 4 have comments.
    let posts = [
        at(1, None),
        at(2, Some((0, None))),
        at(3, Some((3, Some(103)))),
        at(4, Some((1, Some(104)))),
    ];
    s.store_batch(ch, "@news", &posts, Some((1, 4)))
        .expect("batch");
    assert_eq!(due(s, ch), [(4, 1, 0, 0), (3, 3, 0, 0)], "newest first");

    // A read that came back incomplete stores what it got; the thread stays due.
    let p4 = s.post_id(ch, 4);
    assert_eq!(
        s.store_comments(p4, &[comment(104, None, "partial")], None, EPOCH)
            .expect("store"),
        1
    );
    assert_eq!(due(s, ch), [(4, 1, 0, 1), (3, 3, 0, 0)]);

    // Reading post 3's thread stores its comments; it is due no more.
    let p3 = s.post_id(ch, 3);
    let read = [
        comment(101, None, "first"),
        comment(102, Some(101), "a reply"),
        comment(103, None, "third"),
    ];
    let whole = ThreadRead {
        count: 3,
        max_id: 103,
        whole: true,
        root: Some(100),
    };
    assert_eq!(
        s.store_comments(p3, &read, Some(whole), EPOCH)
            .expect("store"),
        3
    );
    assert_eq!(due(s, ch), [(4, 1, 0, 1)]);
    let stored = s.comments_of(p3).expect("comments");
    assert_eq!(
        stored
            .iter()
            .map(|c| (c.message_id, c.reply_to, c.text.as_str()))
            .collect::<Vec<_>>(),
        [
            (101, None, "first"),
            (102, Some(101), "a reply"),
            (103, None, "third")
        ]
    );
    assert_eq!(stored[0].sender, CommentSender::User { id: 801 });
    assert!(stored.iter().all(|c| c.tags.is_empty()));

    // Tagging: comments not tagged yet, oldest first; tagged with none is tagged too.
    let to_tag = s.comments_to_tag(10).expect("to tag");
    assert_eq!(
        to_tag.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
        ["partial", "first", "a reply", "third"]
    );
    let tags = vec![
        (to_tag[2].0, vec!["Ответ".to_string()]),
        (to_tag[3].0, vec!["Сбербанк".to_string(), "ИИ".to_string()]),
        (to_tag[1].0, Vec::new()),
    ];
    s.set_comment_tags(&tags).expect("tags");
    assert_eq!(s.comments_to_tag(10).expect("to tag").len(), 1);
    let stored = s.comments_of(p3).expect("comments");
    assert_eq!(
        stored.iter().map(|c| c.tags.clone()).collect::<Vec<_>>(),
        [
            vec![],
            vec!["Ответ".to_string()],
            vec!["Сбербанк".to_string(), "ИИ".to_string()]
        ]
    );

    // The same read again adds nothing.
    assert_eq!(
        s.store_comments(p3, &read, Some(whole), EPOCH)
            .expect("store"),
        0
    );

    // A page shows the thread moved (a new comment): due, past what is stored.
    s.store_batch(ch, "@news", &[at(3, Some((4, Some(107))))], Some((3, 3)))
        .expect("page");
    assert_eq!(due(s, ch), [(4, 1, 0, 1), (3, 4, 103, 3)]);
    let mut edited = comment(102, Some(101), "a reply, edited");
    edited.edit_date = Some(EPOCH + 20_000);
    let anonymous = CommentIn {
        sender: CommentSender::Anonymous {
            author: Some("Editor".into()),
        },
        ..comment(107, Some(102), "from the admins")
    };
    let incremental = ThreadRead {
        count: 4,
        max_id: 107,
        whole: false,
        root: None,
    };
    assert_eq!(
        s.store_comments(p3, &[anonymous, edited], Some(incremental), EPOCH + 60)
            .expect("store"),
        1
    );
    assert_eq!(due(s, ch), [(4, 1, 0, 1)]);
    let stored = s.comments_of(p3).expect("comments");
    assert_eq!(stored.len(), 4);
    assert_eq!(
        (stored[1].text.as_str(), stored[1].edit_date),
        ("a reply, edited", Some(EPOCH + 20_000))
    );
    assert!(
        stored[1].tags.is_empty(),
        "an edited comment is tagged again"
    );
    assert_eq!(
        stored[2].tags,
        ["Сбербанк", "ИИ"],
        "an unchanged one keeps its tags"
    );
    assert_eq!(
        stored[3].sender,
        CommentSender::Anonymous {
            author: Some("Editor".into())
        }
    );
    // An older edit read later does not bring the old text back.
    let stale = comment(102, Some(101), "a reply");
    s.store_comments(p3, &[stale], Some(incremental), EPOCH + 61)
        .expect("store");
    assert_eq!(
        s.comments_of(p3).expect("comments")[1].text,
        "a reply, edited"
    );

    // A whole read without 101: it is kept, marked deleted; the count falls with the read.
    let kept = [
        comment(102, Some(101), "a reply, edited"),
        comment(103, None, "third"),
    ];
    let mut kept = kept.to_vec();
    kept[0].edit_date = Some(EPOCH + 20_000);
    let whole = ThreadRead {
        count: 3,
        max_id: 107,
        whole: true,
        root: Some(100),
    };
    s.store_comments(p3, &kept, Some(whole), EPOCH + 120)
        .expect("store");
    let stored = s.comments_of(p3).expect("comments");
    let deleted: Vec<(i32, Option<i64>)> = stored
        .iter()
        .map(|c| (c.message_id, c.deleted_at))
        .collect();
    assert_eq!(
        deleted,
        [
            (101, Some(EPOCH + 120)),
            (102, None),
            (103, None),
            (107, Some(EPOCH + 120))
        ],
        "what a whole read lacks is marked deleted"
    );
    assert!(
        due(s, ch).iter().all(|d| d.0 != 3),
        "the read's count is the post's"
    );

    // A counts refresh never lowers the count, but a higher one makes the thread due again.
    s.record_counts(
        ch,
        &[crate::CountsIn {
            message_id: 3,
            replies: Some(5),
            replies_max_id: Some(110),
            ..Default::default()
        }],
        EPOCH + 200,
    )
    .expect("counts");
    assert_eq!(due(s, ch), [(4, 1, 0, 1), (3, 5, 107, 2)]);

    // Post 4: no comment section after all (MSG_ID_INVALID): never due again.
    s.no_comment_section(p4, EPOCH).expect("none");
    s.store_batch(ch, "@news", &[at(4, Some((2, Some(108))))], Some((4, 4)))
        .expect("page");
    assert_eq!(due(s, ch), [(3, 5, 107, 2)]);

    assert_eq!(
        s.comment_stats(false).expect("stats"),
        CommentStats {
            channels: 1,
            threads: 1,
            comments: 3
        }
    );

    // A paused channel's comments are not read.
    s.set_channel_active(ch, false).expect("pause");
    assert!(s.comment_channels(account, false).expect("list").is_empty());
}

fn pushed_comments_land_in_their_thread<S: CommentTest + ?Sized>(s: &mut S) {
    let ch = crate::testing::follow_news(s);
    s.store_batch(
        ch,
        "@news",
        &[at(1, Some((0, None))), at(2, Some((0, None)))],
        Some((1, 2)),
    )
    .expect("batch");
    let (p1, p2) = (s.post_id(ch, 1), s.post_id(ch, 2));

    // Post 1's copy arrives in the group, then a comment: stored, and the thread stays read.
    let pushed = [
        LiveComment::Root {
            channel_id: ch,
            post: 1,
            root: 50,
        },
        LiveComment::Comment {
            channel_id: ch,
            root: 50,
            comment: comment(51, None, "live"),
        },
    ];
    assert_eq!(s.apply_live_comments(&pushed, EPOCH).expect("apply"), 1);
    assert_eq!(s.apply_live_comments(&pushed, EPOCH).expect("apply"), 0);
    assert!(due(s, ch).is_empty(), "{:?}", due(s, ch));
    let texts: Vec<(i32, String)> = s
        .comments_of(p1)
        .expect("comments")
        .into_iter()
        .map(|c| (c.message_id, c.text))
        .collect();
    assert_eq!(texts, [(51, "live".to_string())]);

    // A comment whose thread's root is unknown is left to the reader.
    let stray = [LiveComment::Comment {
        channel_id: ch,
        root: 999,
        comment: comment(99, None, "stray"),
    }];
    assert_eq!(s.apply_live_comments(&stray, EPOCH).expect("apply"), 0);

    // Post 2's thread was read with its root; a page then shows more than a push brings: the
    // pushed comment is stored and the thread stays due for the reader.
    let read = ThreadRead {
        count: 1,
        max_id: 61,
        whole: true,
        root: Some(60),
    };
    s.store_comments(p2, &[comment(61, None, "read")], Some(read), EPOCH)
        .expect("store");
    s.store_batch(ch, "@news", &[at(2, Some((3, Some(64))))], Some((2, 2)))
        .expect("page");
    let pushed = [LiveComment::Comment {
        channel_id: ch,
        root: 60,
        comment: comment(62, Some(61), "pushed"),
    }];
    assert_eq!(s.apply_live_comments(&pushed, EPOCH).expect("apply"), 1);
    assert_eq!(due(s, ch), [(2, 3, 61, 2)]);

    // Deletions pushed mark the comments.
    let gone = [LiveComment::Deleted {
        channel_id: ch,
        ids: vec![51, 12_345],
    }];
    s.apply_live_comments(&gone, EPOCH + 5).expect("apply");
    let c = &s.comments_of(p1).expect("comments")[0];
    assert_eq!((c.message_id, c.deleted_at), (51, Some(EPOCH + 5)));
}

both! {
    comment_threads_read_when_they_move => threads_are_read_when_they_move_and_comments_are_kept,
    pushed_comments_land_in_their_thread => pushed_comments_land_in_their_thread,
}
