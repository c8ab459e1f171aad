//! Channels with a linked discussion group, against the real, unmodified grammers 0.11 MTProto
//! layer: `channels.getFullChannel` names the group, `messages.getReplies` pages every thread
//! exactly as the simulator holds it, posts older than the link have no comment section, the
//! posts' `replies` follow the threads, and comments written live reach the group's members only.

use crate::common::{strict_client, within};
use std::time::Duration;

use grammers_client::Client;
use grammers_mtsender::InvocationError;
use grammers_session::updates::UpdatesLike;
use grammers_tl_types as tl;
use tgsift_sim::{CommentSender, DiscussionSpec, Sim, SimComment, SimConfig};
use tokio::sync::mpsc;

const CHANNEL: &str = "sim_news";

/// One channel of 600 posts with a discussion group (up to 40 comments per post), two accounts.
async fn sim() -> Sim {
    let mut cfg = SimConfig::generated(42, 1, 600);
    cfg.accounts.push(tgsift_sim::AccountSpec::generated(1));
    for ch in &mut cfg.channels {
        ch.discussion = Some(DiscussionSpec::for_channel(ch, 40));
    }
    Sim::start(cfg).await.expect("start sim")
}

fn channel_ids(sim: &Sim) -> (i64, i64) {
    sim.with_channel(CHANNEL, |c| (c.spec().id, c.spec().access_hash))
        .expect("channel")
}

fn input_channel(sim: &Sim) -> tl::enums::InputChannel {
    let (channel_id, access_hash) = channel_ids(sim);
    tl::enums::InputChannel::Channel(tl::types::InputChannel {
        channel_id,
        access_hash,
    })
}

fn channel_peer(sim: &Sim) -> tl::enums::InputPeer {
    let (channel_id, access_hash) = channel_ids(sim);
    tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
        channel_id,
        access_hash,
    })
}

fn group_peer(sim: &Sim) -> tl::enums::InputPeer {
    let (channel_id, access_hash) = sim.discussion(CHANNEL).expect("a group");
    tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
        channel_id,
        access_hash,
    })
}

fn group_input(sim: &Sim) -> tl::enums::InputChannel {
    let (channel_id, access_hash) = sim.discussion(CHANNEL).expect("a group");
    tl::enums::InputChannel::Channel(tl::types::InputChannel {
        channel_id,
        access_hash,
    })
}

fn replies_query(
    peer: tl::enums::InputPeer,
    msg_id: i32,
    offset_id: i32,
    limit: i32,
) -> tl::functions::messages::GetReplies {
    tl::functions::messages::GetReplies {
        peer,
        msg_id,
        offset_id,
        offset_date: 0,
        add_offset: 0,
        limit,
        max_id: 0,
        min_id: 0,
        hash: 0,
    }
}

/// Posts (ascending) whose threads hold at least `min` comments.
fn busy_posts(sim: &Sim, min: usize) -> Vec<i32> {
    sim.with_channel(CHANNEL, |c| c.post_ids())
        .expect("channel")
        .into_iter()
        .filter(|&p| sim.comments(CHANNEL, p).is_some_and(|t| t.len() >= min))
        .collect()
}

/// A post's `replies` as `channels.getMessages` serves it.
async fn post_replies(c: &Client, sim: &Sim, post: i32) -> Option<tl::types::MessageReplies> {
    let got = c
        .invoke(&tl::functions::channels::GetMessages {
            channel: input_channel(sim),
            id: vec![tl::enums::InputMessage::Id(tl::types::InputMessageId {
                id: post,
            })],
        })
        .await
        .expect("getMessages");
    let tl::enums::messages::Messages::ChannelMessages(m) = got else {
        panic!("{got:?}")
    };
    match m.messages.into_iter().next() {
        Some(tl::enums::Message::Message(msg)) => {
            msg.replies.map(|tl::enums::MessageReplies::Replies(r)| r)
        }
        other => panic!("post {post}: {other:?}"),
    }
}

/// What a comment looks like on the wire, as the simulator's own view: (id, reply_to, top_id,
/// sender, text, date, edit_date, has_media).
fn as_sim(group_id: i64, m: &tl::enums::Message) -> SimComment {
    let tl::enums::Message::Message(m) = m else {
        panic!("{m:?}")
    };
    assert_eq!(
        m.peer_id,
        tl::enums::Peer::Channel(tl::types::PeerChannel {
            channel_id: group_id
        })
    );
    let Some(tl::enums::MessageReplyHeader::Header(h)) = &m.reply_to else {
        panic!("comment {} replies to nothing", m.id)
    };
    let reply_to = h.reply_to_msg_id.expect("reply_to_msg_id");
    let sender = match (&m.from_id, &m.post_author) {
        (Some(tl::enums::Peer::User(u)), None) => CommentSender::User(u.user_id),
        (Some(tl::enums::Peer::Channel(c)), Some(sig)) if c.channel_id == group_id => {
            CommentSender::Anonymous(sig.clone())
        }
        (Some(tl::enums::Peer::Channel(c)), None) => CommentSender::Channel(c.channel_id),
        other => panic!("comment {}: sender {other:?}", m.id),
    };
    SimComment {
        id: m.id,
        date: m.date,
        edit_date: m.edit_date,
        text: m.message.clone(),
        reply_to,
        top_id: h.reply_to_top_id.unwrap_or(reply_to),
        sender,
        has_media: m.media.is_some(),
    }
}

#[tokio::test]
async fn get_full_channel_names_the_linked_group_both_ways() {
    within(30, async {
        let sim = sim().await;
        let (c, _updates) = strict_client(&sim, 0);
        let (group_id, group_hash) = sim.discussion(CHANNEL).expect("a group");
        let (channel_id, _) = channel_ids(&sim);
        let tl::enums::messages::ChatFull::Full(full) = c
            .invoke(&tl::functions::channels::GetFullChannel {
                channel: input_channel(&sim),
            })
            .await
            .expect("getFullChannel");
        let tl::enums::ChatFull::ChannelFull(cf) = &full.full_chat else {
            panic!("{:?}", full.full_chat)
        };
        assert_eq!((cf.id, cf.linked_chat_id), (channel_id, Some(group_id)));
        let channels: Vec<&tl::types::Channel> = full
            .chats
            .iter()
            .filter_map(|c| match c {
                tl::enums::Chat::Channel(c) => Some(c),
                _ => None,
            })
            .collect();
        let broadcast = channels
            .iter()
            .find(|c| c.id == channel_id)
            .expect("channel");
        assert!(broadcast.broadcast && broadcast.has_link);
        let group = channels.iter().find(|c| c.id == group_id).expect("group");
        assert!(group.megagroup && !group.broadcast && group.has_link);
        assert_eq!(group.access_hash, Some(group_hash));

        let tl::enums::messages::ChatFull::Full(full) = c
            .invoke(&tl::functions::channels::GetFullChannel {
                channel: group_input(&sim),
            })
            .await
            .expect("getFullChannel of the group");
        let tl::enums::ChatFull::ChannelFull(gf) = &full.full_chat else {
            panic!("{:?}", full.full_chat)
        };
        assert_eq!((gf.id, gf.linked_chat_id), (group_id, Some(channel_id)));
        // A wrong access hash is refused as for any channel.
        let forged = tl::enums::InputChannel::Channel(tl::types::InputChannel {
            channel_id: group_id,
            access_hash: group_hash ^ 1,
        });
        let err = c
            .invoke(&tl::functions::channels::GetFullChannel { channel: forged })
            .await
            .expect_err("forged hash");
        assert!(err.is("CHANNEL_INVALID"), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn get_replies_pages_every_thread_exactly_as_the_simulator_holds_it() {
    within(60, async {
        let sim = sim().await;
        let (c, _updates) = strict_client(&sim, 0);
        let (group_id, _) = sim.discussion(CHANNEL).expect("a group");
        let posts = busy_posts(&sim, 8);
        assert!(posts.len() >= 6, "{} busy posts", posts.len());
        let mut kinds = std::collections::HashSet::new();
        for &post in posts.iter().rev().take(6) {
            let want = sim.comments(CHANNEL, post).expect("thread");
            let copy = sim.discussion_copy(CHANNEL, post).expect("copy");
            // From the channel's post, and from its copy in the group.
            for peer in [(channel_peer(&sim), post), (group_peer(&sim), copy)] {
                let mut got: Vec<SimComment> = Vec::new();
                let mut offset_id = 0;
                loop {
                    let page = c
                        .invoke(&replies_query(peer.0.clone(), peer.1, offset_id, 7))
                        .await
                        .expect("getReplies");
                    let tl::enums::messages::Messages::ChannelMessages(page) = page else {
                        panic!("{page:?}")
                    };
                    assert_eq!(page.count as usize, want.len(), "count of post {post}");
                    assert!(page.messages.len() <= 7);
                    let Some(last) = page.messages.last().map(|m| m.id()) else {
                        break;
                    };
                    for m in &page.messages {
                        let comment = as_sim(group_id, m);
                        // Whoever wrote it comes along.
                        match &comment.sender {
                            CommentSender::User(id) => {
                                assert!(page.users.iter().any(|u| u.id() == *id))
                            }
                            CommentSender::Channel(id) => {
                                assert!(page.chats.iter().any(|c| c.id() == *id))
                            }
                            CommentSender::Anonymous(_) => {}
                        }
                        kinds.insert(std::mem::discriminant(&comment.sender));
                        got.push(comment);
                    }
                    offset_id = last;
                }
                got.reverse();
                assert_eq!(got, want, "thread of post {post}");
            }
        }
        assert!(kinds.len() >= 2, "more than one kind of sender");
        // max_id / min_id filter the window; limit is at most 100.
        let post = *posts.last().expect("post");
        let want = sim.comments(CHANNEL, post).expect("thread");
        let mid = want[want.len() / 2].id;
        let mut q = replies_query(channel_peer(&sim), post, 0, 1000);
        q.max_id = mid;
        let tl::enums::messages::Messages::ChannelMessages(page) =
            c.invoke(&q).await.expect("getReplies")
        else {
            panic!()
        };
        assert!(page.messages.iter().all(|m| m.id() < mid));
        assert_eq!(page.messages.len(), want.len() / 2);
    })
    .await;
}

#[tokio::test]
async fn posts_before_the_link_have_no_comment_section() {
    within(30, async {
        let sim = sim().await;
        let (c, _updates) = strict_client(&sim, 0);
        let (group_id, _) = sim.discussion(CHANNEL).expect("a group");
        let linked_from = sim
            .with_channel(CHANNEL, |ch| {
                ch.spec().discussion.as_ref().map(|d| d.linked_from)
            })
            .flatten()
            .expect("linked_from");
        let posts = sim.with_channel(CHANNEL, |c| c.post_ids()).expect("posts");
        let early = *posts
            .iter()
            .rfind(|&&p| p < linked_from)
            .expect("an early post");
        assert_eq!(sim.comments(CHANNEL, early), None);
        assert_eq!(post_replies(&c, &sim, early).await, None);
        let err = c
            .invoke(&replies_query(channel_peer(&sim), early, 0, 10))
            .await
            .expect_err("no comment section");
        assert!(err.is("MSG_ID_INVALID"), "{err:?}");
        // A service message and an id past the top are no threads either.
        let service = sim
            .with_channel(CHANNEL, |ch| {
                (linked_from..600).find(|&id| ch.is_service(id))
            })
            .flatten()
            .expect("a service message after the link");
        for id in [service, 10_000] {
            let err = c
                .invoke(&replies_query(channel_peer(&sim), id, 0, 10))
                .await
                .expect_err("no thread");
            assert!(err.is("MSG_ID_INVALID"), "{id}: {err:?}");
        }
        // Every later post has one, naming the group.
        let late = *posts
            .iter()
            .find(|&&p| p >= linked_from)
            .expect("a later post");
        let r = post_replies(&c, &sim, late).await.expect("replies");
        assert!(r.comments);
        assert_eq!(r.channel_id, Some(group_id));
        let n = sim.comments(CHANNEL, late).expect("thread").len();
        assert_eq!(r.replies as usize, n);
        // The discussion message is the copy, forwarded from the post.
        let tl::enums::messages::DiscussionMessage::Message(d) = c
            .invoke(&tl::functions::messages::GetDiscussionMessage {
                peer: channel_peer(&sim),
                msg_id: late,
            })
            .await
            .expect("getDiscussionMessage");
        let Some(tl::enums::Message::Message(copy)) = d.messages.first() else {
            panic!("{d:?}")
        };
        assert_eq!(Some(copy.id), sim.discussion_copy(CHANNEL, late));
        let Some(tl::enums::MessageFwdHeader::Header(fwd)) = &copy.fwd_from else {
            panic!("{copy:?}")
        };
        assert_eq!(
            (fwd.channel_post, fwd.saved_from_msg_id),
            (Some(late), Some(late))
        );
        let err = c
            .invoke(&tl::functions::messages::GetDiscussionMessage {
                peer: channel_peer(&sim),
                msg_id: early,
            })
            .await
            .expect_err("no discussion");
        assert!(err.is("MSG_ID_INVALID"), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn replies_count_and_max_id_move_on_the_post() {
    within(30, async {
        let sim = sim().await;
        let (c, _updates) = strict_client(&sim, 0);
        let post = *busy_posts(&sim, 3).last().expect("a busy post");
        let before = post_replies(&c, &sim, post).await.expect("replies");
        let first = sim.comments(CHANNEL, post).expect("thread")[0].id;
        let id = sim
            .add_comment(CHANNEL, post, Some(first), "late to the party")
            .expect("written");
        let after = post_replies(&c, &sim, post).await.expect("replies");
        assert_eq!(after.replies, before.replies + 1);
        assert_eq!(after.max_id, Some(id));
        assert!(after.replies_pts > before.replies_pts);
        // getMessagesViews says the same.
        let tl::enums::messages::MessageViews::Views(v) = c
            .invoke(&tl::functions::messages::GetMessagesViews {
                peer: channel_peer(&sim),
                id: vec![post],
                increment: false,
            })
            .await
            .expect("getMessagesViews");
        let tl::enums::MessageViews::Views(v) = &v.views[0];
        let Some(tl::enums::MessageReplies::Replies(r)) = &v.replies else {
            panic!("{v:?}")
        };
        assert_eq!((r.replies, r.max_id), (after.replies, Some(id)));
        assert!(sim.edit_comment(CHANNEL, id, "edited"));
        assert_eq!(sim.delete_comments(CHANNEL, &[id, first]), 2);
        let gone = post_replies(&c, &sim, post).await.expect("replies");
        assert_eq!(gone.replies, before.replies - 1);
        let thread = sim.comments(CHANNEL, post).expect("thread");
        assert!(!thread.iter().any(|t| t.id == id || t.id == first));
    })
    .await;
}

/// The next `updateNewChannelMessage` of chat `chat_id` among the raw updates, within `wait`.
async fn next_new_message(
    updates: &mut mpsc::Receiver<UpdatesLike>,
    chat_id: i64,
    wait: Duration,
) -> Option<tl::types::Message> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let got = tokio::time::timeout_at(deadline, updates.recv())
            .await
            .ok()??;
        let UpdatesLike::Updates(tl::enums::Updates::Updates(u)) = got else {
            continue;
        };
        for update in u.updates {
            if let tl::enums::Update::NewChannelMessage(n) = update
                && let tl::enums::Message::Message(m) = n.message
                && m.peer_id
                    == tl::enums::Peer::Channel(tl::types::PeerChannel {
                        channel_id: chat_id,
                    })
            {
                return Some(m);
            }
        }
    }
}

#[tokio::test]
async fn a_live_comment_reaches_the_groups_members_only() {
    within(30, async {
        let sim = sim().await;
        let (group_id, _) = sim.discussion(CHANNEL).expect("a group");
        let (member, mut member_updates) = strict_client(&sim, 0);
        let (outsider, mut outsider_updates) = strict_client(&sim, 1);
        for c in [&member, &outsider] {
            c.invoke(&tl::functions::updates::GetState {})
                .await
                .expect("getState");
        }
        // Account 0 joins the group the way a client does; account 1 stays out.
        member
            .invoke(&tl::functions::channels::JoinChannel {
                channel: group_input(&sim),
            })
            .await
            .expect("join the group");
        let err = member
            .invoke(&tl::functions::channels::JoinChannel {
                channel: group_input(&sim),
            })
            .await
            .expect_err("joined already");
        assert!(err.is("USER_ALREADY_PARTICIPANT"), "{err:?}");
        let pts = sim.discussion_pts(CHANNEL).expect("group pts");
        let post = *busy_posts(&sim, 1).last().expect("a post with comments");
        let id = sim
            .add_comment(CHANNEL, post, None, "pushed to members")
            .expect("written");
        let pushed = next_new_message(&mut member_updates, group_id, Duration::from_secs(5))
            .await
            .expect("the member got the comment");
        assert_eq!(
            (pushed.id, pushed.message.as_str()),
            (id, "pushed to members")
        );
        assert!(
            next_new_message(&mut outsider_updates, group_id, Duration::from_millis(700))
                .await
                .is_none(),
            "a non-member got the group's push"
        );
        // A new post is forwarded into the group as well, and the group's difference has both.
        let new_post = sim
            .append_post(CHANNEL, "a post published live")
            .expect("post");
        // Its push already names its comment section (account 0 follows the channel too).
        let (channel_id, _) = channel_ids(&sim);
        let pushed_post = next_new_message(&mut member_updates, channel_id, Duration::from_secs(5))
            .await
            .expect("the channel's push");
        let Some(tl::enums::MessageReplies::Replies(r)) = &pushed_post.replies else {
            panic!("{pushed_post:?}")
        };
        assert_eq!(
            (r.comments, r.channel_id, r.replies),
            (true, Some(group_id), 0)
        );
        let copy = next_new_message(&mut member_updates, group_id, Duration::from_secs(5))
            .await
            .expect("the member got the copy");
        assert_eq!(Some(copy.id), sim.discussion_copy(CHANNEL, new_post));
        // The outsider still reads the thread.
        let tl::enums::messages::Messages::ChannelMessages(page) = outsider
            .invoke(&replies_query(channel_peer(&sim), post, 0, 1))
            .await
            .expect("getReplies")
        else {
            panic!()
        };
        assert_eq!(page.messages.first().map(|m| m.id()), Some(id));
        let diff = outsider
            .invoke(&tl::functions::updates::GetChannelDifference {
                force: false,
                channel: group_input(&sim),
                filter: tl::enums::ChannelMessagesFilter::Empty,
                pts,
                limit: 100,
            })
            .await
            .expect("getChannelDifference of the group");
        let tl::enums::updates::ChannelDifference::Difference(d) = diff else {
            panic!("{diff:?}")
        };
        let ids: Vec<i32> = d.new_messages.iter().map(|m| m.id()).collect();
        assert_eq!(ids, vec![id, copy.id]);
        assert_eq!(d.pts, sim.discussion_pts(CHANNEL).expect("pts"));
    })
    .await;
}

#[tokio::test]
async fn banned_accounts_cannot_read_threads() {
    within(30, async {
        let sim = sim().await;
        let (c, _updates) = strict_client(&sim, 0);
        let post = *busy_posts(&sim, 1).last().expect("a post with comments");
        sim.ban(CHANNEL, 0);
        for peer in [channel_peer(&sim), group_peer(&sim)] {
            let err: InvocationError = c
                .invoke(&replies_query(peer, post, 0, 10))
                .await
                .expect_err("banned");
            assert!(err.is("CHANNEL_PRIVATE"), "{err:?}");
        }
    })
    .await;
}
