//! The methods of discussion groups and comments: `channels.getFullChannel` (the linked chat),
//! `messages.getReplies` (a post's thread, paged as getHistory pages a chat) and
//! `messages.getDiscussionMessage` (the thread's root in the group).

use grammers_tl_types as tl;

use super::{Reply, chat_for, user_id};
use crate::chat::Chat;
use crate::discussion::replies_page;
use crate::objects;
use crate::shared::Shared;
use crate::state::{ChannelEntry, GroupEntry, Side, read};
use crate::world::HistoryQuery;

type Entry = std::sync::Arc<std::sync::RwLock<ChannelEntry>>;

/// The channel or group an `InputPeer` names, with the checks of getHistory (`PEER_ID_INVALID`
/// for other peers, `CHANNEL_INVALID`, `CHANNEL_PRIVATE`).
fn peer_chat(
    shared: &Shared,
    user: Option<usize>,
    peer: &tl::enums::InputPeer,
) -> Result<(Entry, Side), Reply> {
    let tl::enums::InputPeer::Channel(c) = peer else {
        return Err(Reply::err(400, "PEER_ID_INVALID"));
    };
    let input = tl::enums::InputChannel::Channel(tl::types::InputChannel {
        channel_id: c.channel_id,
        access_hash: c.access_hash,
    });
    chat_for(shared, user, &input, true)
}

/// The post whose thread `msg_id` names: a post of the channel, or its copy in the group.
/// `MSG_ID_INVALID` when there is no such thread (no discussion group, a post before
/// `linked_from`, a service message, a comment, a deleted or unknown id).
fn thread_post(entry: &ChannelEntry, side: Side, msg_id: i32) -> Result<(&GroupEntry, i32), Reply> {
    let invalid = || Reply::err(400, "MSG_ID_INVALID");
    let g = entry.discussion.as_ref().ok_or_else(invalid)?;
    let post = match side {
        Side::Channel => msg_id,
        Side::Group => g
            .thread
            .post_of_copy(&entry.history, msg_id)
            .ok_or_else(invalid)?,
    };
    g.thread
        .copy_id(&entry.history, post)
        .map(|_| (g, post))
        .ok_or_else(invalid)
}

/// Telegram's hash of a list of message ids (core.telegram.org/api/offsets#hash-generation):
/// a client that sends the hash of the page it has gets `messages.messagesNotModified`.
pub(crate) fn ids_hash(ids: &[i32]) -> i64 {
    let mut h: u64 = 0;
    for &id in ids {
        h ^= h >> 21;
        h ^= h << 35;
        h ^= h >> 4;
        h = h.wrapping_add(id as u32 as u64);
    }
    h as i64
}

/// `messages.getReplies` on (channel, post) or (group, copy): the thread's replies, newest first,
/// windowed by getHistory's rule over the thread (offset_id, offset_date, add_offset, limit up to
/// 100, then max_id / min_id), with `count` = the whole thread and the group's pts; short pages,
/// placeholders and repeats under the page faults, as history pages get them.
pub(super) fn get_replies(
    shared: &Shared,
    user: Option<usize>,
    req: &tl::functions::messages::GetReplies,
) -> Reply {
    let (ch, side) = match peer_chat(shared, user, &req.peer) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let entry = read(&ch);
    let (g, post) = match thread_post(&entry, side, req.msg_id) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let thread = g
        .thread
        .thread_ids(&entry.history, post)
        .unwrap_or_default();
    let count = thread.len() as i32;
    let q = HistoryQuery {
        offset_id: req.offset_id,
        offset_date: req.offset_date,
        add_offset: req.add_offset,
        limit: req.limit,
        max_id: req.max_id,
        min_id: req.min_id,
    };
    let mut ids = replies_page(&thread, &q);
    if req.hash != 0 && req.hash == ids_hash(&ids) {
        return Reply::ok(tl::enums::messages::Messages::NotModified(
            tl::types::messages::MessagesNotModified { count },
        ));
    }
    let mut pf = shared.faults.page_faults(user_id(shared, user));
    if let Some(pf) = pf.as_mut() {
        ids.truncate(pf.page_len(ids.len()));
    }
    let stamp = shared.stamp();
    let chat = Chat::Group(&entry, g);
    let mut messages: Vec<tl::enums::Message> = ids
        .iter()
        .filter_map(|&id| {
            if pf.as_mut().is_some_and(|pf| pf.blank()) {
                return Some(objects::message_empty(id));
            }
            chat.message(id, &stamp)
        })
        .collect();
    if let Some(pf) = pf.as_mut() {
        pf.maybe_dup(&mut messages);
    }
    let (chats, users) = chat.peers(&messages, user);
    Reply::ok(tl::enums::messages::Messages::ChannelMessages(
        tl::types::messages::ChannelMessages {
            inexact: false,
            pts: g.events.pts(),
            count,
            offset_id_offset: None,
            messages,
            topics: vec![],
            chats,
            users,
        },
    ))
}

/// `messages.getDiscussionMessage` on (channel, post) or (group, copy): the copy that roots the
/// thread, its newest reply, and what the account read of it (the simulator's accounts never open
/// threads: everything after the root is unread).
pub(super) fn get_discussion_message(
    shared: &Shared,
    user: Option<usize>,
    peer: &tl::enums::InputPeer,
    msg_id: i32,
) -> Reply {
    let (ch, side) = match peer_chat(shared, user, peer) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let entry = read(&ch);
    let (g, post) = match thread_post(&entry, side, msg_id) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let chat = Chat::Group(&entry, g);
    let Some(copy) = g.thread.copy_id(&entry.history, post) else {
        return Reply::err(400, "MSG_ID_INVALID");
    };
    let messages: Vec<_> = chat.message(copy, &shared.stamp()).into_iter().collect();
    let thread = g
        .thread
        .thread_ids(&entry.history, post)
        .unwrap_or_default();
    let (chats, users) = chat.peers(&messages, user);
    Reply::ok(tl::enums::messages::DiscussionMessage::Message(
        tl::types::messages::DiscussionMessage {
            messages,
            max_id: thread.last().map(|&(id, _)| id),
            read_inbox_max_id: Some(copy),
            read_outbox_max_id: None,
            unread_count: thread.len() as i32,
            chats,
            users,
        },
    ))
}

/// `channels.getFullChannel`: `channelFull` of the channel (with `linked_chat_id` = its group) or
/// of the group (linked to the channel), both chats in `chats`.
pub(super) fn get_full_channel(
    shared: &Shared,
    user: Option<usize>,
    input: &tl::enums::InputChannel,
) -> Reply {
    let (ch, side) = match chat_for(shared, user, input, true) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let entry = read(&ch);
    let Some(chat) = Chat::of(&entry, side) else {
        return Reply::err(400, "CHANNEL_INVALID");
    };
    let mut chats = vec![chat.object(chat.left(user))];
    let (top, linked) = match (side, &entry.discussion) {
        (Side::Group, Some(g)) => {
            let channel = Chat::Channel(&entry);
            chats.push(channel.object(channel.left(user)));
            (g.thread.top_id(), Some(entry.history.spec().id))
        }
        (_, Some(g)) => {
            let group = Chat::Group(&entry, g);
            chats.push(group.object(group.left(user)));
            (entry.history.top_id(), Some(g.id()))
        }
        (_, None) => (entry.history.top_id(), None),
    };
    Reply::ok(tl::enums::messages::ChatFull::Full(
        tl::types::messages::ChatFull {
            full_chat: objects::channel_full(chat.id(), chat.pts(), top, linked, None),
            chats,
            users: vec![],
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_of_no_ids_is_zero_and_order_matters() {
        assert_eq!(ids_hash(&[]), 0);
        assert_ne!(ids_hash(&[1, 2]), ids_hash(&[2, 1]));
        assert_eq!(ids_hash(&[5]), 5);
    }
}
