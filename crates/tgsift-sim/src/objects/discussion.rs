//! The TL objects of discussion groups: the megagroup, the automatic forward of a post (its copy),
//! comments, a post's `messageReplies`, the users who comment and `channelFull`.

use grammers_tl_types as tl;

use crate::discussion::{CommentSender, Commenter, DiscussionSpec, Replies, SimComment};
use crate::files::Stamp;
use crate::media::SimMedia;
use crate::world::SimPost;

fn peer_channel(channel_id: i64) -> tl::enums::Peer {
    tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id })
}

/// The discussion group as a `channel` with `megagroup` (and `has_link`: it is linked to a
/// channel), never `min`; `left` when the account asking has not joined it.
pub(crate) fn megagroup(d: &DiscussionSpec, date: i32, left: bool) -> tl::enums::Chat {
    let spec = crate::world::ChannelSpec {
        id: d.group_id,
        access_hash: d.access_hash,
        username: None,
        title: d.title.clone(),
        lang: crate::Lang::En,
        posts: 0,
        seed: 0,
        start_date: date,
        service_run: None,
        discussion: None,
        megagroup: false,
    };
    match super::channel(&spec, left) {
        tl::enums::Chat::Channel(mut c) => {
            c.broadcast = false;
            c.megagroup = true;
            c.has_link = true;
            tl::enums::Chat::Channel(c)
        }
        other => other,
    }
}

/// The peer a comment is sent from: the user, the channel the user writes as, or the group
/// itself for an anonymous admin.
fn sender_peer(sender: &CommentSender, group_id: i64) -> tl::enums::Peer {
    match sender {
        CommentSender::User(user_id) => {
            tl::enums::Peer::User(tl::types::PeerUser { user_id: *user_id })
        }
        CommentSender::Channel(id) => peer_channel(*id),
        CommentSender::Anonymous(_) => peer_channel(group_id),
    }
}

/// A thread's `messageReplies`: on a channel post (`comments`, with the group's id), or on the
/// copy in the group.
pub(crate) fn message_replies(
    r: &Replies,
    on_post: bool,
    group_id: i64,
) -> tl::enums::MessageReplies {
    tl::enums::MessageReplies::Replies(tl::types::MessageReplies {
        comments: on_post,
        replies: r.count,
        replies_pts: r.pts,
        recent_repliers: (!r.recent.is_empty())
            .then(|| r.recent.iter().map(|s| sender_peer(s, group_id)).collect()),
        channel_id: on_post.then_some(group_id),
        max_id: r.max_id,
        read_max_id: None,
    })
}

/// The automatic forward of channel post `post` into the group, as message `id` there: from the
/// channel, with `fwd_from` naming the post, its text and media as they are now.
pub(crate) fn copy(
    group_id: i64,
    channel_id: i64,
    id: i32,
    post: &SimPost,
    replies: Option<tl::enums::MessageReplies>,
    stamp: &Stamp,
) -> tl::enums::Message {
    let mut msg = match super::message(channel_id, post, stamp) {
        tl::enums::Message::Message(m) => m,
        _ => unreachable!("a post is a message"),
    };
    msg.id = id;
    msg.post = false;
    msg.views = None;
    msg.forwards = None;
    msg.from_id = Some(peer_channel(channel_id));
    msg.peer_id = peer_channel(group_id);
    msg.fwd_from = Some(tl::enums::MessageFwdHeader::Header(
        tl::types::MessageFwdHeader {
            imported: false,
            saved_out: false,
            from_id: Some(peer_channel(channel_id)),
            from_name: None,
            date: post.date,
            channel_post: Some(post.id),
            post_author: None,
            saved_from_peer: Some(peer_channel(channel_id)),
            saved_from_msg_id: Some(post.id),
            saved_from_id: None,
            saved_from_name: None,
            saved_date: None,
            psa_type: None,
        },
    ));
    msg.replies = replies;
    tl::enums::Message::Message(msg)
}

/// A comment in the group: a reply to the copy (`reply_to_top_id` absent) or to another comment
/// of the thread (`reply_to_top_id` = the copy), from its sender, with its photo if any.
pub(crate) fn comment(
    group_id: i64,
    c: &SimComment,
    media: Option<&SimMedia>,
    stamp: &Stamp,
) -> tl::enums::Message {
    let p = SimPost {
        id: c.id,
        date: c.date,
        edit_date: c.edit_date,
        text: c.text.clone(),
        media: None,
        grouped_id: None,
        views: 0,
        forwards: 0,
    };
    let media = media.map(|m| super::media::message_media(group_id, c.id, c.date, m, stamp));
    let mut msg = match super::message_with(group_id, &p, media) {
        tl::enums::Message::Message(m) => m,
        _ => unreachable!("a post is a message"),
    };
    msg.post = false;
    msg.views = None;
    msg.forwards = None;
    msg.from_id = Some(sender_peer(&c.sender, group_id));
    if let CommentSender::Anonymous(signature) = &c.sender {
        msg.post_author = Some(signature.clone());
    }
    msg.reply_to = Some(tl::enums::MessageReplyHeader::Header(
        tl::types::MessageReplyHeader {
            reply_to_scheduled: false,
            forum_topic: false,
            quote: false,
            reply_to_ephemeral: false,
            reply_to_msg_id: Some(c.reply_to),
            reply_to_peer_id: None,
            reply_from: None,
            reply_media: None,
            reply_to_top_id: (c.reply_to != c.top_id).then_some(c.top_id),
            quote_text: None,
            quote_entities: None,
            quote_offset: None,
            todo_item_id: None,
            poll_option: None,
        },
    ));
    tl::enums::Message::Message(msg)
}

/// A user who comments (not a contact, no phone).
pub(crate) fn commenter(c: &Commenter) -> tl::enums::User {
    super::user_object(c.id, c.access_hash, &c.name, None, false)
}

/// `channelFull` of a channel or group `id`: its pts, newest message id (all read) and the chat it
/// is linked to, if any.
pub(crate) fn channel_full(
    id: i64,
    pts: i32,
    top: i32,
    linked_chat_id: Option<i64>,
    participants: Option<i32>,
) -> tl::enums::ChatFull {
    tl::enums::ChatFull::ChannelFull(tl::types::ChannelFull {
        can_view_participants: false,
        can_set_username: false,
        can_set_stickers: false,
        hidden_prehistory: false,
        can_set_location: false,
        has_scheduled: false,
        can_view_stats: false,
        blocked: false,
        can_delete_channel: false,
        antispam: false,
        participants_hidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        view_forum_as_messages: false,
        restricted_sponsored: false,
        can_view_revenue: false,
        paid_media_allowed: false,
        can_view_stars_revenue: false,
        paid_reactions_available: false,
        stargifts_available: false,
        paid_messages_available: false,
        has_welcome_messages: false,
        id,
        about: String::new(),
        participants_count: participants,
        admins_count: None,
        kicked_count: None,
        banned_count: None,
        online_count: None,
        read_inbox_max_id: top,
        read_outbox_max_id: 0,
        unread_count: 0,
        chat_photo: tl::enums::Photo::Empty(tl::types::PhotoEmpty { id: 0 }),
        notify_settings: tl::enums::PeerNotifySettings::Settings(tl::types::PeerNotifySettings {
            show_previews: None,
            silent: None,
            mute_until: None,
            ios_sound: None,
            android_sound: None,
            other_sound: None,
            stories_muted: None,
            stories_hide_sender: None,
            stories_ios_sound: None,
            stories_android_sound: None,
            stories_other_sound: None,
        }),
        exported_invite: None,
        bot_info: vec![],
        migrated_from_chat_id: None,
        migrated_from_max_id: None,
        pinned_msg_id: None,
        stickerset: None,
        available_min_id: None,
        folder_id: None,
        linked_chat_id,
        location: None,
        slowmode_seconds: None,
        slowmode_next_send_date: None,
        stats_dc: None,
        pts,
        call: None,
        ttl_period: None,
        pending_suggestions: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: None,
        recent_requesters: None,
        default_send_as: None,
        available_reactions: None,
        reactions_limit: None,
        stories: None,
        wallpaper: None,
        boosts_applied: None,
        boosts_unrestrict: None,
        emojiset: None,
        bot_verification: None,
        stargifts_count: None,
        send_paid_messages_stars: None,
        main_tab: None,
        guard_bot_id: None,
    })
}
