//! Channel access: parsing what operators type (`@name`, t.me links, ids), resolving it once, and
//! paging a channel's history in the shapes ingest needs (ascending after a checkpoint, newest page).

use grammers_tl_types as tl;

use super::client::Account;
use super::error::TgError;

/// A channel as an operator names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChannelRef {
    /// A public username (without `@`).
    Username(String),
    /// A numeric channel id (bare, not the Bot API `-100…` form).
    Id(i64),
}

impl ChannelRef {
    /// Parses `@name`, `name`, `https://t.me/name`, `t.me/s/name/123`, `t.me/c/123/45`, `123` or `-100123`.
    pub(crate) fn parse(input: &str) -> Result<ChannelRef, String> {
        let s = input.trim();
        let path = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let path = path.strip_prefix("www.").unwrap_or(path);
        let rest = path
            .strip_prefix("t.me/")
            .or_else(|| path.strip_prefix("telegram.me/"));
        if let Some(rest) = rest {
            let mut parts = rest.split(['/', '?']).filter(|p| !p.is_empty());
            let first = parts.next().unwrap_or("");
            if first.starts_with('+') || first == "joinchat" {
                return Err(format!(
                    "`{input}` is an invite link: join the channel in a Telegram app first, then add it by @username or id"
                ));
            }
            let name = match first {
                "s" => parts.next().unwrap_or(""),
                "c" => {
                    let id = parts.next().unwrap_or("");
                    return id
                        .parse::<i64>()
                        .ok()
                        .filter(|id| *id > 0)
                        .map(ChannelRef::Id)
                        .ok_or_else(|| format!("`{input}` has no channel id after t.me/c/"));
                }
                other => other,
            };
            return username(name)
                .ok_or_else(|| format!("`{input}` is not a t.me link to a channel"));
        }
        // Bot API ids of channels are the bare id behind "-100".
        let digits = s.strip_prefix("-100").unwrap_or(s);
        if let Ok(n) = digits.parse::<i64>() {
            return if n > 0 {
                Ok(ChannelRef::Id(n))
            } else {
                Err(format!("`{input}` is not a channel id"))
            };
        }
        username(s.trim_start_matches('@')).ok_or_else(|| {
            format!("`{input}` is neither @username, a t.me link nor a numeric channel id")
        })
    }
}

fn username(name: &str) -> Option<ChannelRef> {
    let ok = (4..=32).contains(&name.len())
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| ChannelRef::Username(name.to_string()))
}

/// What tgsift keeps about a resolved channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Channel id.
    pub id: i64,
    /// Access hash (valid for this account).
    pub access_hash: i64,
    /// Username, if public.
    pub username: Option<String>,
    /// Title.
    pub title: String,
    /// Whether the account is a member (members get the channel's updates pushed); `None` when the
    /// answer did not say.
    pub member: Option<bool>,
}

impl ChannelInfo {
    /// The channel of a stored row, as the client layer addresses it.
    pub(crate) fn of(ch: &tgsift_store::ChannelRow) -> ChannelInfo {
        ChannelInfo {
            id: ch.tg_id,
            access_hash: ch.access_hash,
            username: ch.username.clone(),
            title: ch.title.clone(),
            member: None,
        }
    }
}

/// One post as fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePost {
    /// Message id.
    pub id: i32,
    /// Date (unix seconds).
    pub date: i32,
    /// Edit date.
    pub edit_date: Option<i32>,
    /// Text or caption.
    pub text: String,
    /// Views.
    pub views: Option<i32>,
    /// Forwards.
    pub forwards: Option<i32>,
    /// Album id.
    pub grouped_id: Option<i64>,
    /// Its media, if any (boxed: most posts have none, and posts travel in enums).
    pub media: Option<Box<tgsift_store::Media>>,
    /// Its comment thread, when the channel has a discussion group.
    pub thread: Option<tgsift_store::Thread>,
}

/// A page of history plus the server's count of messages in the channel.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// Posts, in the order the method documents (service messages are not posts).
    pub posts: Vec<RemotePost>,
    /// Messages in the channel, per the server (service messages included).
    pub count: i32,
    /// Highest id of any message the server returned (posts, service messages…); 0 if none. A page
    /// of only service messages has no post but still moves the reader past its ids.
    pub newest_id: i32,
    /// Lowest id of any message the server returned; 0 if none.
    pub oldest_id: i32,
    /// Distinct messages of any kind the server returned. Fewer than asked for proves nothing: Telegram
    /// cuts pages short in the middle of a channel (posts hidden from the account, and worse).
    pub returned: usize,
    /// The distinct ids of the messages of any kind the server returned, ascending.
    pub ids: Vec<i32>,
    /// Ids the server answered with a `messageEmpty` placeholder inside the page: the message may
    /// exist (ask `channels.getMessages`), so neither present nor absent.
    pub placeholders: Vec<i32>,
    /// The channel's pts when the page was read (`messages.channelMessages` carries it): where the
    /// updates after this page start.
    pub pts: Option<i32>,
    /// Whether the account is a member of the channel, if the answer said.
    pub member: Option<bool>,
}

fn info_from_chats(chats: Vec<tl::enums::Chat>, id: i64) -> Option<ChannelInfo> {
    chats.into_iter().find_map(|c| match c {
        tl::enums::Chat::Channel(ch) if ch.id == id && ch.broadcast => Some(ChannelInfo {
            id: ch.id,
            access_hash: ch.access_hash?,
            username: ch.username,
            title: ch.title,
            member: Some(!ch.left),
        }),
        _ => None,
    })
}

/// Whether the account is a member of channel `id`, as `chats` of an answer say.
pub(super) fn member_in(chats: &[tl::enums::Chat], id: i64) -> Option<bool> {
    chats.iter().find_map(|c| match c {
        tl::enums::Chat::Channel(ch) if ch.id == id => Some(!ch.left),
        _ => None,
    })
}

/// A message of a channel as tgsift stores it.
pub(super) fn remote_post(m: tl::types::Message) -> RemotePost {
    RemotePost {
        id: m.id,
        date: m.date,
        edit_date: m.edit_date,
        text: m.message,
        views: m.views,
        forwards: m.forwards,
        grouped_id: m.grouped_id,
        media: super::media::media_of(m.media.as_ref()).map(Box::new),
        thread: m.replies.and_then(thread),
    }
}

/// A post's comment thread, from the `replies` Telegram puts on it: only a comment section
/// (`comments`) counts, not the replies of a group's thread.
pub(super) fn thread(r: tl::enums::MessageReplies) -> Option<tgsift_store::Thread> {
    let tl::enums::MessageReplies::Replies(r) = r;
    r.comments.then_some(tgsift_store::Thread {
        replies: r.replies,
        max_id: r.max_id,
    })
}

fn page(messages: tl::enums::messages::Messages, channel: i64) -> Page {
    let (list, count, pts, member) = match messages {
        tl::enums::messages::Messages::ChannelMessages(m) => {
            let member = member_in(&m.chats, channel);
            (m.messages, m.count, Some(m.pts).filter(|p| *p > 0), member)
        }
        tl::enums::messages::Messages::Slice(m) => (m.messages, m.count, None, None),
        tl::enums::messages::Messages::Messages(m) => {
            let n = m.messages.len() as i32;
            (m.messages, n, None, None)
        }
        tl::enums::messages::Messages::NotModified(m) => (Vec::new(), m.count, None, None),
    };
    // Repeated ids (seen on bad connections) count once; the first copy of a post is kept.
    let mut ids: Vec<i32> = Vec::with_capacity(list.len());
    let mut placeholders = Vec::new();
    let mut posts: Vec<RemotePost> = Vec::with_capacity(list.len());
    for m in list {
        match m {
            tl::enums::Message::Empty(e) => {
                if e.id > 0 {
                    placeholders.push(e.id);
                }
            }
            tl::enums::Message::Message(m) => {
                ids.push(m.id);
                posts.push(remote_post(m));
            }
            other => ids.push(other.id()),
        }
    }
    let raw = ids.len();
    ids.sort_unstable();
    ids.dedup();
    placeholders.sort_unstable();
    placeholders.dedup();
    placeholders.retain(|id| ids.binary_search(id).is_err());
    if raw != ids.len() {
        let mut seen = std::collections::HashSet::with_capacity(posts.len());
        posts.retain(|p| seen.insert(p.id));
    }
    let (oldest_id, newest_id, returned) = (
        ids.first().copied().unwrap_or(0),
        ids.last().copied().unwrap_or(0),
        ids.len(),
    );
    Page {
        posts,
        count,
        newest_id,
        oldest_id,
        returned,
        ids,
        placeholders,
        pts,
        member,
    }
}

/// What `channels.getMessages` answered for one id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A post.
    Post(RemotePost),
    /// A message that is not a post (a service message).
    Other,
    /// `messageEmpty`: deleted, hidden from this account, or a placeholder of a bad moment.
    Empty,
}

/// The newest id a page reached (a message of any kind or a placeholder), 0 if none.
fn newest_reached(p: &Page) -> i32 {
    p.ids
        .last()
        .copied()
        .into_iter()
        .chain(p.placeholders.last().copied())
        .max()
        .unwrap_or(0)
}

/// How errors name a channel: `@username`, else its id.
/// The channel as a method's `InputChannel` names it.
pub(super) fn input_channel(c: &ChannelInfo) -> tl::enums::InputChannel {
    tl::enums::InputChannel::Channel(tl::types::InputChannel {
        channel_id: c.id,
        access_hash: c.access_hash,
    })
}

pub(crate) fn label_of(c: &ChannelInfo) -> String {
    c.username
        .as_ref()
        .map(|u| format!("@{u}"))
        .unwrap_or_else(|| c.id.to_string())
}

/// `messages.getHistory` for a channel, with Telegram's paging parameters.
fn history_request(
    c: &ChannelInfo,
    offset_id: i32,
    offset_date: i32,
    add_offset: i32,
    limit: i32,
    min_id: i32,
) -> tl::functions::messages::GetHistory {
    tl::functions::messages::GetHistory {
        peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
            channel_id: c.id,
            access_hash: c.access_hash,
        }),
        offset_id,
        offset_date,
        add_offset,
        limit,
        max_id: 0,
        min_id,
        hash: 0,
    }
}

impl Account {
    /// Resolves a username once (the most flood-prone call: keep the result).
    pub async fn resolve_username(&self, name: &str) -> Result<ChannelInfo, TgError> {
        let req = tl::functions::contacts::ResolveUsername {
            username: name.to_string(),
            referer: None,
        };
        let resolved = self.invoke(&req).await.map_err(|e| match e {
            TgError::Username { reason, .. } => TgError::Username {
                username: name.to_string(),
                reason,
            },
            other => other,
        })?;
        let tl::enums::contacts::ResolvedPeer::Peer(r) = resolved;
        let tl::enums::Peer::Channel(p) = r.peer else {
            return Err(TgError::Username {
                username: name.to_string(),
                reason: "not a channel".into(),
            });
        };
        info_from_chats(r.chats, p.channel_id).ok_or_else(|| TgError::Username {
            username: name.to_string(),
            reason: "not a broadcast channel".into(),
        })
    }

    /// Looks a channel up by id and access hash (checks the account can see it).
    pub(crate) async fn channel_by_id(
        &self,
        id: i64,
        access_hash: i64,
    ) -> Result<ChannelInfo, TgError> {
        let req = tl::functions::channels::GetChannels {
            id: vec![tl::enums::InputChannel::Channel(tl::types::InputChannel {
                channel_id: id,
                access_hash,
            })],
        };
        let chats = match self
            .invoke(&req)
            .await
            .map_err(|e| with_channel(e, &id.to_string()))?
        {
            tl::enums::messages::Chats::Chats(c) => c.chats,
            tl::enums::messages::Chats::Slice(c) => c.chats,
        };
        info_from_chats(chats, id).ok_or_else(|| TgError::Channel {
            account: self.name().to_string(),
            channel: id.to_string(),
            reason: "not a broadcast channel".into(),
        })
    }

    async fn history(
        &self,
        c: &ChannelInfo,
        req: tl::functions::messages::GetHistory,
    ) -> Result<Page, TgError> {
        self.invoke(&req)
            .await
            .map(|m| page(m, c.id))
            .map_err(|e| with_channel(e, &label_of(c)))
    }

    /// Every message with an id in `(lo, hi]` (`hi - lo` ≤ 100), posts oldest first: one page of a
    /// backfill, which — unlike paging from the last id seen — can be asked for before the previous
    /// page has come back. The window starts below `hi + 1` and `min_id` cuts it at `lo`, so it holds
    /// every message of the range whatever Telegram's order of filtering.
    pub(crate) async fn history_range(
        &self,
        c: &ChannelInfo,
        lo: i32,
        hi: i32,
    ) -> Result<Page, TgError> {
        let limit = hi.saturating_sub(lo).clamp(1, 100);
        let req = history_request(c, hi.saturating_add(1), 0, 0, limit, lo);
        let mut p = self.history(c, req).await?;
        let inside = |id: &i32| *id > lo && *id <= hi;
        p.posts.retain(|m| inside(&m.id));
        p.posts.sort_by_key(|m| m.id);
        p.ids.retain(inside);
        p.placeholders.retain(inside);
        p.returned = p.ids.len();
        p.oldest_id = p.ids.first().copied().unwrap_or(0);
        p.newest_id = p.ids.last().copied().unwrap_or(0);
        Ok(p)
    }

    /// What `channels.getMessages` answers for `ids` (at most 100 per request, so several requests
    /// for more), by id; an id the answer left out counts as empty.
    pub(crate) async fn messages_by_id(
        &self,
        c: &ChannelInfo,
        ids: &[i32],
    ) -> Result<std::collections::HashMap<i32, Lookup>, TgError> {
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            for m in self.get_messages(c, chunk).await? {
                let (id, found) = match m {
                    tl::enums::Message::Message(m) => (m.id, Lookup::Post(remote_post(m))),
                    tl::enums::Message::Service(m) => (m.id, Lookup::Other),
                    tl::enums::Message::Empty(m) => (m.id, Lookup::Empty),
                };
                // A repeated id answered once empty and once not is there.
                match out.get(&id) {
                    Some(Lookup::Post(_) | Lookup::Other) => {}
                    _ => {
                        out.insert(id, found);
                    }
                }
            }
            for id in chunk {
                out.entry(*id).or_insert(Lookup::Empty);
            }
        }
        Ok(out)
    }

    /// `channels.getMessages` for at most 100 ids: the messages of the answer as Telegram sent them.
    pub(crate) async fn get_messages(
        &self,
        c: &ChannelInfo,
        ids: &[i32],
    ) -> Result<Vec<tl::enums::Message>, TgError> {
        let req = tl::functions::channels::GetMessages {
            channel: input_channel(c),
            id: ids
                .iter()
                .map(|&id| tl::enums::InputMessage::Id(tl::types::InputMessageId { id }))
                .collect(),
        };
        let answer = self
            .invoke(&req)
            .await
            .map_err(|e| with_channel(e, &label_of(c)))?;
        Ok(match answer {
            tl::enums::messages::Messages::ChannelMessages(m) => m.messages,
            tl::enums::messages::Messages::Slice(m) => m.messages,
            tl::enums::messages::Messages::Messages(m) => m.messages,
            tl::enums::messages::Messages::NotModified(_) => Vec::new(),
        })
    }

    /// The newest `limit` messages (posts newest first): where a channel's top is, and the recent
    /// posts whose edits a poll notices.
    pub async fn newest(&self, c: &ChannelInfo, limit: i32) -> Result<Page, TgError> {
        let req = history_request(c, 0, 0, 0, limit.clamp(1, 100), 0);
        self.history(c, req).await
    }

    /// The id just below the newest `n` messages (where a "last N" backfill starts), 0 if fewer
    /// exist. A few messages are asked for, so a hidden one at the position moves the start a little
    /// lower instead of to the channel's beginning.
    pub(crate) async fn id_before_newest(&self, c: &ChannelInfo, n: u32) -> Result<i32, TgError> {
        let req = history_request(c, 0, 0, i32::try_from(n).unwrap_or(i32::MAX), 5, 0);
        Ok(newest_reached(&self.history(c, req).await?))
    }

    /// The newest message dated before `date` (where a "since DATE" backfill starts), 0 if none.
    pub(crate) async fn id_before_date(&self, c: &ChannelInfo, date: i64) -> Result<i32, TgError> {
        let req = history_request(c, 0, i32::try_from(date).unwrap_or(i32::MAX), 0, 5, 0);
        Ok(newest_reached(&self.history(c, req).await?))
    }
}

pub(super) fn with_channel(e: TgError, label: &str) -> TgError {
    match e {
        TgError::Channel {
            account, reason, ..
        } => TgError::Channel {
            account,
            channel: label.to_string(),
            reason,
        },
        TgError::JoinRefused {
            account, reason, ..
        } => TgError::JoinRefused {
            account,
            channel: label.to_string(),
            reason,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_like_operators_write_them() {
        let u = |s: &str| Ok(ChannelRef::Username(s.to_string()));
        assert_eq!(ChannelRef::parse("@durov"), u("durov"));
        assert_eq!(ChannelRef::parse("durov"), u("durov"));
        assert_eq!(ChannelRef::parse("https://t.me/durov"), u("durov"));
        assert_eq!(ChannelRef::parse("t.me/s/durov/123"), u("durov"));
        assert_eq!(
            ChannelRef::parse("https://t.me/c/1234567/89"),
            Ok(ChannelRef::Id(1_234_567))
        );
        assert_eq!(ChannelRef::parse("1234567"), Ok(ChannelRef::Id(1_234_567)));
        assert_eq!(
            ChannelRef::parse("-1001234567"),
            Ok(ChannelRef::Id(1_234_567))
        );
        assert!(
            ChannelRef::parse("https://t.me/+AbCdEf")
                .expect_err("invite")
                .contains("invite link")
        );
        assert!(ChannelRef::parse("@x").is_err());
        assert!(ChannelRef::parse("not a channel!").is_err());
    }
}
