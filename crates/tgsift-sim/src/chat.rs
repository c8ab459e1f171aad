//! One chat of a channel entry as clients see it — the broadcast channel, or its discussion group —
//! so that pushes, `getChannelDifference` and message lookups serve both the same way: its id, pts
//! and events, its messages as TL objects (posts with their `replies`), and the chats and users a
//! list of its messages needs besides itself.

use grammers_tl_types as tl;

use super::discussion::GroupMessage;
use super::events::EventLog;
use super::files::Stamp;
use super::objects;
use super::state::{ChannelEntry, GroupEntry, Side};
use super::world::{HistoryQuery, SimMessage};

/// A channel entry seen as one of its chats.
#[derive(Clone, Copy)]
pub(crate) enum Chat<'a> {
    /// The broadcast channel.
    Channel(&'a ChannelEntry),
    /// Its discussion group.
    Group(&'a ChannelEntry, &'a GroupEntry),
}

impl<'a> Chat<'a> {
    /// The chat `side` of `entry`; `None` for the group of a channel without one.
    pub(crate) fn of(entry: &'a ChannelEntry, side: Side) -> Option<Chat<'a>> {
        match side {
            Side::Channel => Some(Chat::Channel(entry)),
            Side::Group => entry.discussion.as_ref().map(|g| Chat::Group(entry, g)),
        }
    }

    /// The channel entry.
    pub(crate) fn entry(&self) -> &'a ChannelEntry {
        match self {
            Chat::Channel(e) | Chat::Group(e, _) => e,
        }
    }

    /// The chat's id.
    pub(crate) fn id(&self) -> i64 {
        match self {
            Chat::Channel(e) => e.history.spec().id,
            Chat::Group(_, g) => g.id(),
        }
    }

    /// The chat's update events.
    pub(crate) fn events(&self) -> &'a EventLog {
        match self {
            Chat::Channel(e) => &e.events,
            Chat::Group(_, g) => &g.events,
        }
    }

    /// The chat's pts.
    pub(crate) fn pts(&self) -> i32 {
        self.events().pts()
    }

    /// Whether `account` is a member (gets the chat's pushes).
    pub(crate) fn is_member(&self, account: usize) -> bool {
        match self {
            Chat::Channel(e) => e.is_member(account),
            Chat::Group(e, g) => g.is_member(account) && !e.banned.contains(&account),
        }
    }

    /// Whether `account` (`None`: not logged in) sees the chat as `left`.
    pub(crate) fn left(&self, account: Option<usize>) -> bool {
        match self {
            Chat::Channel(e) => account.is_none_or(|u| !e.members.contains(u)),
            Chat::Group(_, g) => account.is_none_or(|u| !g.is_member(u)),
        }
    }

    /// Whether message `id` is a channel post (what page faults may hide); never in the group.
    pub(crate) fn is_post(&self, id: i32) -> bool {
        matches!(self, Chat::Channel(e) if e.history.is_post(id))
    }

    /// The chat's object for an account that sees it as `left` or not.
    pub(crate) fn object(&self, left: bool) -> tl::enums::Chat {
        match self {
            Chat::Channel(e) => objects::channel(e.history.spec(), left),
            Chat::Group(e, g) => {
                objects::megagroup(g.thread.spec(), e.history.spec().start_date, left)
            }
        }
    }

    /// Message `id` as it is now (file references issued with `stamp`); `None` when it does not
    /// exist.
    pub(crate) fn message(&self, id: i32, stamp: &Stamp) -> Option<tl::enums::Message> {
        match self {
            Chat::Channel(e) => Some(channel_message(e, &e.history.message(id)?, stamp)),
            Chat::Group(e, g) => group_message(e, g, id, stamp),
        }
    }

    /// The newest `n` existing message ids, newest first.
    pub(crate) fn newest(&self, n: i32) -> Vec<i32> {
        match self {
            Chat::Channel(e) => e.history.history_ids(&HistoryQuery {
                limit: n,
                ..Default::default()
            }),
            Chat::Group(e, g) => g.thread.newest(&e.history, n.max(0) as usize),
        }
    }

    /// The chats (this one first, as `left` for the account or not) and users that `messages`
    /// name: in the group, the channel its copies come from and whoever wrote the comments.
    pub(crate) fn peers(
        &self,
        messages: &[tl::enums::Message],
        account: Option<usize>,
    ) -> (Vec<tl::enums::Chat>, Vec<tl::enums::User>) {
        let mut chats = vec![self.object(self.left(account))];
        let mut users = Vec::new();
        if let Chat::Group(e, g) = self {
            let channel = Chat::Channel(e);
            chats.push(channel.object(channel.left(account)));
            let (mut seen_users, mut seen_chats) = (Vec::new(), Vec::new());
            for m in messages {
                let tl::enums::Message::Message(m) = m else {
                    continue;
                };
                match &m.from_id {
                    Some(tl::enums::Peer::User(u)) if !seen_users.contains(&u.user_id) => {
                        seen_users.push(u.user_id);
                        if let Some(c) = g.thread.commenter(u.user_id) {
                            users.push(objects::commenter(c));
                        }
                    }
                    Some(tl::enums::Peer::Channel(c)) if !seen_chats.contains(&c.channel_id) => {
                        seen_chats.push(c.channel_id);
                        if let Some(p) = g.thread.persona(c.channel_id) {
                            chats.push(objects::channel(p, true));
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let (more_chats, more_users) = self.repliers(messages);
            chats.extend(more_chats);
            users.extend(more_users);
        }
        (chats, users)
    }

    /// The users and chats the `recent_repliers` of posts name.
    fn repliers(
        &self,
        messages: &[tl::enums::Message],
    ) -> (Vec<tl::enums::Chat>, Vec<tl::enums::User>) {
        let (Chat::Channel(_), Some(g)) = (self, self.entry().discussion.as_ref()) else {
            return (vec![], vec![]);
        };
        let (mut chats, mut users) = (Vec::new(), Vec::new());
        let (mut seen_users, mut seen_chats) = (Vec::new(), Vec::new());
        for m in messages {
            let tl::enums::Message::Message(m) = m else {
                continue;
            };
            let Some(tl::enums::MessageReplies::Replies(r)) = &m.replies else {
                continue;
            };
            for peer in r.recent_repliers.iter().flatten() {
                match peer {
                    tl::enums::Peer::User(u) if !seen_users.contains(&u.user_id) => {
                        seen_users.push(u.user_id);
                        users.extend(g.thread.commenter(u.user_id).map(objects::commenter));
                    }
                    tl::enums::Peer::Channel(c) if !seen_chats.contains(&c.channel_id) => {
                        seen_chats.push(c.channel_id);
                        if c.channel_id == g.id() {
                            chats.push(objects::megagroup(
                                g.thread.spec(),
                                self.entry().history.spec().start_date,
                                true,
                            ));
                        } else if let Some(p) = g.thread.persona(c.channel_id) {
                            chats.push(objects::channel(p, true));
                        }
                    }
                    _ => {}
                }
            }
        }
        (chats, users)
    }
}

/// A channel message as served: a post carries its `replies` when it has a comment section.
pub(crate) fn channel_message(
    entry: &ChannelEntry,
    m: &SimMessage,
    stamp: &Stamp,
) -> tl::enums::Message {
    let spec = entry.history.spec();
    let mut msg = objects::message_of(spec.id, m, stamp);
    if let (tl::enums::Message::Message(msg), Some(g)) = (&mut msg, &entry.discussion) {
        msg.replies = g
            .thread
            .replies(&entry.history, msg.id)
            .map(|r| objects::message_replies(&r, true, g.id()));
    }
    msg
}

/// Group message `id` as served: a copy (with its thread's `replies`) or a comment.
fn group_message(
    entry: &ChannelEntry,
    g: &GroupEntry,
    id: i32,
    stamp: &Stamp,
) -> Option<tl::enums::Message> {
    let ch = &entry.history;
    let group_id = g.id();
    Some(match g.thread.message(ch, id)? {
        GroupMessage::Copy { id, post } => {
            let p = ch.post(post)?;
            let replies = g
                .thread
                .replies(ch, post)
                .map(|r| objects::message_replies(&r, false, group_id));
            objects::copy(group_id, ch.spec().id, id, &p, replies, stamp)
        }
        GroupMessage::Comment { comment, .. } => {
            let media = comment
                .has_media
                .then(|| g.thread.media(comment.id))
                .flatten();
            objects::comment(group_id, &comment, media.as_ref(), stamp)
        }
    })
}
