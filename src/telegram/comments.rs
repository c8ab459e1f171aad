//! Comments: a channel's discussion group (`channels.getFullChannel`) and the replies under a post
//! (`messages.getReplies`, named by the channel and the post, as Telegram allows without joining the
//! group), read through the client layer like every call. Telegram lists a thread newest first and
//! counts every message in it, nested replies included.

use grammers_tl_types as tl;
use tgsift_store::{CommentIn, CommentSender};

use super::channels::{ChannelInfo, input_channel, label_of, with_channel};
use super::client::Account;
use super::error::TgError;

/// Most messages `messages.getReplies` returns per call.
pub(crate) const REPLIES_PER_CALL: i32 = 100;

/// One page of a thread.
#[derive(Clone, Debug, Default)]
pub(crate) struct RepliesPage {
    /// The comments on the page, newest first as answered.
    pub comments: Vec<CommentIn>,
    /// Messages in the whole thread, per the answer.
    pub count: i32,
    /// Lowest id of any message answered (0: none): where the next page starts.
    pub oldest_id: i32,
    /// Highest id of any message answered (0: none).
    pub newest_id: i32,
    /// The id of the post's copy in the discussion group, which every comment answers or descends
    /// from, if a comment on the page named it.
    pub root: Option<i32>,
    /// Placeholders (`messageEmpty`) answered in place of messages: the page is not whole.
    pub placeholders: usize,
}

/// A message of a discussion group as a push brings it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMessage {
    /// The message as a comment.
    pub comment: CommentIn,
    /// The thread it belongs to: the id of the post's copy it answers or descends from.
    pub root: Option<i32>,
    /// For the copy itself: the channel and post it was forwarded from.
    pub copy_of: Option<(i64, i32)>,
}

impl Account {
    /// The discussion group linked to channel `c`: `(Telegram id, access hash)`, or `(0, 0)` when it
    /// has none.
    pub(crate) async fn discussion(&self, c: &ChannelInfo) -> Result<(i64, i64), TgError> {
        let full = self
            .invoke(&tl::functions::channels::GetFullChannel {
                channel: input_channel(c),
            })
            .await
            .map_err(|e| with_channel(e, &label_of(c)))?;
        let tl::enums::messages::ChatFull::Full(full) = full;
        let linked = match full.full_chat {
            tl::enums::ChatFull::ChannelFull(f) => f.linked_chat_id,
            _ => None,
        };
        let Some(group) = linked.filter(|id| *id != 0) else {
            return Ok((0, 0));
        };
        let hash = full.chats.iter().find_map(|chat| match chat {
            tl::enums::Chat::Channel(ch) if ch.id == group => ch.access_hash,
            _ => None,
        });
        Ok((group, hash.unwrap_or(0)))
    }

    /// One page of the replies under post `post` of channel `c`: the newest ones below `offset_id`
    /// (0: from the newest) and above `min_id`, at most `limit` (≤ 100).
    pub(crate) async fn replies(
        &self,
        c: &ChannelInfo,
        post: i32,
        offset_id: i32,
        min_id: i32,
        limit: i32,
    ) -> Result<RepliesPage, TgError> {
        let answer = self
            .invoke(&tl::functions::messages::GetReplies {
                peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
                    channel_id: c.id,
                    access_hash: c.access_hash,
                }),
                msg_id: post,
                offset_id,
                offset_date: 0,
                add_offset: 0,
                limit: limit.clamp(1, REPLIES_PER_CALL),
                max_id: 0,
                min_id,
                hash: 0,
            })
            .await
            .map_err(|e| with_channel(e, &label_of(c)))?;
        Ok(replies_page(answer))
    }
}

/// A page from `messages.getReplies`' answer.
fn replies_page(answer: tl::enums::messages::Messages) -> RepliesPage {
    let (list, count) = match answer {
        tl::enums::messages::Messages::ChannelMessages(m) => (m.messages, m.count),
        tl::enums::messages::Messages::Slice(m) => (m.messages, m.count),
        tl::enums::messages::Messages::Messages(m) => {
            let n = i32::try_from(m.messages.len()).unwrap_or(i32::MAX);
            (m.messages, n)
        }
        tl::enums::messages::Messages::NotModified(m) => (Vec::new(), m.count),
    };
    let mut page = RepliesPage {
        count,
        ..RepliesPage::default()
    };
    for m in list {
        let id = match &m {
            tl::enums::Message::Message(m) => m.id,
            tl::enums::Message::Service(m) => m.id,
            tl::enums::Message::Empty(m) => m.id,
        };
        page.oldest_id = if page.oldest_id == 0 {
            id
        } else {
            page.oldest_id.min(id)
        };
        page.newest_id = page.newest_id.max(id);
        match m {
            tl::enums::Message::Message(m) => {
                page.root = page.root.or(root_of(&m));
                page.comments.push(comment(m));
            }
            tl::enums::Message::Empty(_) => page.placeholders += 1,
            tl::enums::Message::Service(_) => {}
        }
    }
    page
}

/// The thread a group message belongs to: the post's copy it answers, directly or through others.
fn root_of(m: &tl::types::Message) -> Option<i32> {
    match &m.reply_to {
        Some(tl::enums::MessageReplyHeader::Header(h)) => h.reply_to_top_id.or(h.reply_to_msg_id),
        _ => None,
    }
}

/// A group's message as a push brings it: a comment with its thread, or a post's copy.
pub(super) fn group_message(m: tl::types::Message) -> GroupMessage {
    let copy_of = match &m.fwd_from {
        Some(tl::enums::MessageFwdHeader::Header(f)) => {
            match (&f.saved_from_peer, f.saved_from_msg_id) {
                (Some(tl::enums::Peer::Channel(c)), Some(id)) => Some((c.channel_id, id)),
                _ => None,
            }
        }
        None => None,
    };
    GroupMessage {
        root: root_of(&m),
        copy_of,
        comment: comment(m),
    }
}

/// A message of the discussion group as a comment: whom it answers (a comment, or the post's copy in
/// the group, which is the thread's root) and who wrote it.
fn comment(m: tl::types::Message) -> CommentIn {
    let group = match &m.peer_id {
        tl::enums::Peer::Channel(p) => p.channel_id,
        _ => 0,
    };
    let reply_to = match &m.reply_to {
        // A reply to another comment names the root as its top; a reply to the post names the root.
        Some(tl::enums::MessageReplyHeader::Header(h)) if h.reply_to_top_id.is_some() => {
            h.reply_to_msg_id
        }
        _ => None,
    };
    let sender = match m.from_id {
        Some(tl::enums::Peer::User(u)) => CommentSender::User { id: u.user_id },
        Some(tl::enums::Peer::Channel(c)) if c.channel_id != group => {
            CommentSender::Channel { id: c.channel_id }
        }
        // No sender, or the group itself: an anonymous admin.
        _ => CommentSender::Anonymous {
            author: m.post_author,
        },
    };
    CommentIn {
        message_id: m.id,
        reply_to,
        sender,
        date: i64::from(m.date),
        edit_date: m.edit_date.map(i64::from),
        text: m.message,
        has_media: m.media.is_some(),
    }
}
