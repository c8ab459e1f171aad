//! Updates as tgsift consumes them: what Telegram pushes, read into channel events, and the calls
//! that fill the gaps (`updates.getState`, `updates.getDifference`, `updates.getChannelDifference`)
//! or make pushes come (`channels.joinChannel`).
//!
//! # Why not grammers' `stream_updates`
//!
//! grammers 0.11 has a complete update machine (`MessageBoxes` behind `Client::stream_updates`), but
//! tgsift reads the raw pushes itself and keeps its own per-channel pts (in `ingest::live`):
//!
//! - grammers sends its difference calls straight to the connection pool, past [`Account::invoke`]:
//!   no flood windows, no pacer, no request timeout (a difference that never comes back stalls the
//!   stream for good), no breaker, no cancellation. With grammers' retries off (they are, so retries
//!   happen at one layer) a FLOOD_WAIT or a dropped connection comes out of `next()` with the box still
//!   "getting difference", and the caller can only call again at once.
//! - It drops edits and deletions (`other_updates`) of a *final* channel difference: it ends the
//!   difference first, sets the pts to the final one, then runs those updates through the normal gap
//!   check, which skips them as already seen (`apply_channel_difference` in grammers-session).
//! - Its state lives in the session file, written apart from the posts: a crash between the two either
//!   loses events or claims them. tgsift writes each channel's pts in the same transaction as the
//!   posts it covers.
//! - It tracks every chat the account sees and can only fill a channel's gap if the session's peer
//!   cache holds the channel's hash; tgsift follows its own channels with the hashes it stored, and
//!   only those.
//!
//! So this module reads grammers' raw update channel (the unsolicited `updates` the connection
//! receives, and a marker when the connection closed) and turns it into [`Pushed`] items; nothing
//! outside `telegram/` sees TL types.

use std::sync::Arc;
use std::time::Duration;

use grammers_session::updates::UpdatesLike;
use grammers_tl_types as tl;
use tokio::sync::mpsc;

use super::channels::{
    ChannelInfo, RemotePost, input_channel, label_of, remote_post, with_channel,
};
use super::client::Account;
use super::clock::ClockSkew;
use super::comments::{GroupMessage, group_message};
use super::error::TgError;

/// Events one `getChannelDifference` may return (Telegram's limit for user accounts).
pub(crate) const CHANNEL_DIFF_LIMIT: i32 = 100;

/// A message as an update carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A post (text and/or media).
    Post(RemotePost),
    /// A service message (pin, title change…): it takes an id but is not a post.
    Service(i32),
    /// A message of a group (not a channel's post): in a discussion group, a comment or a post's
    /// copy.
    Group(Box<GroupMessage>),
}

impl Message {
    /// The message id.
    pub fn id(&self) -> i32 {
        match self {
            Message::Post(p) => p.id,
            Message::Service(id) => *id,
            Message::Group(g) => g.comment.message_id,
        }
    }
}

/// What one channel update changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new message.
    New(Message),
    /// An edited message.
    Edit(Message),
    /// Deleted message ids.
    Delete(Vec<i32>),
    /// An event tgsift does not store (a pin, a link preview…) that still advances the pts.
    Other,
}

/// One update of a channel's event sequence: it brings the channel's pts to `pts` and took `count`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelEvent {
    /// Telegram channel id.
    pub channel_id: i64,
    /// The channel's pts after the event.
    pub pts: i32,
    /// How many pts the event took (0 for some events that only carry the current pts).
    pub count: i32,
    /// What changed.
    pub change: Change,
}

/// What arrived from Telegram without being asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// An event of a channel.
    Event(ChannelEvent),
    /// Too many events of this channel to push: fetch its difference (from `pts` if the client has
    /// none of its own).
    ChannelTooLong { channel_id: i64, pts: Option<i32> },
    /// `updatesTooLong`: too many updates for the account; `getDifference` tells which channels.
    TooLong,
    /// The connection closed: whatever was pushed meanwhile is lost, and the new connection gets
    /// nothing until updates are asked for again.
    ConnectionLost,
    /// Updates arrived that could not be read: treat as a gap.
    Unreadable,
}

/// The account's common update state (private chats and small groups), needed to ask
/// `updates.getDifference`, which names the channels whose pushes were cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommonState {
    /// Common pts.
    pub pts: i32,
    /// Secondary (secret chats) qts.
    pub qts: i32,
    /// Date of the state.
    pub date: i32,
    /// Sequence number.
    pub seq: i32,
}

/// What `updates.getDifference` returned, as far as channels go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountDifference {
    /// Channel events and `ChannelTooLong`s in it (private messages are not tgsift's business).
    pub pushed: Vec<Pushed>,
    /// The state to ask from next time.
    pub state: CommonState,
    /// False when Telegram cut the difference (`differenceSlice`): ask again from `state`.
    pub complete: bool,
    /// `differenceTooLong`: the account was away too long; every channel must be asked itself.
    pub too_long: bool,
}

/// What `updates.getChannelDifference` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelDifference {
    /// Nothing new; the channel's pts is `pts`. Telegram asks to come back after `timeout`.
    Empty { pts: i32, timeout: Option<Duration> },
    /// Events since the pts asked from: new messages (oldest first) then the other changes, in
    /// Telegram's order; they bring the channel to `pts`. Not `complete`: ask again from `pts`.
    Changes {
        changes: Vec<Change>,
        pts: i32,
        complete: bool,
    },
    /// The pts asked from is older than Telegram keeps: the channel's pts is now `pts`, `messages`
    /// are its newest messages, and everything between must be fetched from its history.
    TooLong { pts: i32, messages: Vec<Message> },
}

/// grammers' raw update channel, read into [`Pushed`] items; their dates measure the clock.
pub(crate) struct Updates {
    rx: mpsc::Receiver<UpdatesLike>,
    clock: Arc<ClockSkew>,
    heard: Arc<std::sync::Mutex<std::time::Instant>>,
}

impl Updates {
    /// Wraps the receiver of a sender pool's update channel; `heard` is set to the arrival of every
    /// push (the connection is alive, whatever its pings say).
    pub(crate) fn new(
        rx: mpsc::Receiver<UpdatesLike>,
        clock: Arc<ClockSkew>,
        heard: Arc<std::sync::Mutex<std::time::Instant>>,
    ) -> Self {
        Updates { rx, clock, heard }
    }

    /// Waits for the next push; `None` once the connection pool is gone.
    pub(crate) async fn next(&mut self) -> Option<Vec<Pushed>> {
        let u = self.rx.recv().await?;
        Some(self.read(u))
    }

    /// The next push if one is waiting.
    pub(crate) fn try_next(&mut self) -> Option<Vec<Pushed>> {
        let u = self.rx.try_recv().ok()?;
        Some(self.read(u))
    }

    fn read(&self, u: UpdatesLike) -> Vec<Pushed> {
        if let Some(date) = date_of(&u) {
            self.clock.observe(date);
            *self.heard.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
        }
        read_updates_like(u)
    }
}

/// Telegram's clock when it sent the push (containers carry it; single updates do not).
fn date_of(u: &UpdatesLike) -> Option<i32> {
    use tl::enums::Updates as U;
    let u = match u {
        UpdatesLike::Updates(u) => u,
        UpdatesLike::ChatInviteJoinResult(r) => &r.updates,
        _ => return None,
    };
    match u {
        U::UpdateShort(s) => Some(s.date),
        U::Combined(c) => Some(c.date),
        U::Updates(c) => Some(c.date),
        _ => None,
    }
}

fn read_updates_like(u: UpdatesLike) -> Vec<Pushed> {
    match u {
        UpdatesLike::Updates(u) => read_updates(u),
        UpdatesLike::ChatInviteJoinResult(r) => read_updates(r.updates),
        UpdatesLike::ConnectionClosed => vec![Pushed::ConnectionLost],
        UpdatesLike::MalformedUpdates => vec![Pushed::Unreadable],
        // Answers to our own calls about private chats: no channel events.
        _ => Vec::new(),
    }
}

fn read_updates(u: tl::enums::Updates) -> Vec<Pushed> {
    use tl::enums::Updates as U;
    match u {
        U::TooLong => vec![Pushed::TooLong],
        U::UpdateShort(s) => read_update(s.update).into_iter().collect(),
        U::Combined(c) => c.updates.into_iter().filter_map(read_update).collect(),
        U::Updates(c) => c.updates.into_iter().filter_map(read_update).collect(),
        // Private and group messages: the common box, not channels.
        U::UpdateShortMessage(_) | U::UpdateShortChatMessage(_) | U::UpdateShortSentMessage(_) => {
            Vec::new()
        }
    }
}

/// The channel a message belongs to.
fn channel_of(m: &tl::enums::Message) -> Option<i64> {
    let peer = match m {
        tl::enums::Message::Message(m) => Some(&m.peer_id),
        tl::enums::Message::Service(m) => Some(&m.peer_id),
        tl::enums::Message::Empty(m) => m.peer_id.as_ref(),
    };
    match peer {
        Some(tl::enums::Peer::Channel(c)) => Some(c.channel_id),
        _ => None,
    }
}

fn message(m: tl::enums::Message) -> Option<Message> {
    match m {
        tl::enums::Message::Message(m) if !m.post => {
            Some(Message::Group(Box::new(group_message(m))))
        }
        tl::enums::Message::Message(m) => Some(Message::Post(remote_post(m))),
        tl::enums::Message::Service(m) => Some(Message::Service(m.id)),
        tl::enums::Message::Empty(_) => None,
    }
}

fn event(channel_id: i64, pts: i32, count: i32, change: Change) -> Option<Pushed> {
    Some(Pushed::Event(ChannelEvent {
        channel_id,
        pts,
        count,
        change,
    }))
}

/// One update, if it concerns a channel's event sequence.
fn read_update(u: tl::enums::Update) -> Option<Pushed> {
    use tl::enums::Update as U;
    match u {
        U::NewChannelMessage(u) => {
            let ch = channel_of(&u.message)?;
            let change = message(u.message).map_or(Change::Other, Change::New);
            event(ch, u.pts, u.pts_count, change)
        }
        U::EditChannelMessage(u) => {
            let ch = channel_of(&u.message)?;
            let change = message(u.message).map_or(Change::Other, Change::Edit);
            event(ch, u.pts, u.pts_count, change)
        }
        U::DeleteChannelMessages(u) => {
            event(u.channel_id, u.pts, u.pts_count, Change::Delete(u.messages))
        }
        U::ChannelWebPage(u) => event(u.channel_id, u.pts, u.pts_count, Change::Other),
        U::PinnedChannelMessages(u) => event(u.channel_id, u.pts, u.pts_count, Change::Other),
        U::ChannelTooLong(u) => Some(Pushed::ChannelTooLong {
            channel_id: u.channel_id,
            pts: u.pts,
        }),
        _ => None,
    }
}

impl Account {
    /// Takes the connection's update channel (once; `None` afterwards). Pushes start only after
    /// [`Account::common_state`] or [`Account::difference`] asked for them on the connection.
    pub(crate) fn take_updates(&self) -> Option<Updates> {
        self.take_update_receiver()
            .map(|rx| Updates::new(rx, Arc::clone(self.clock()), self.heard()))
    }

    /// `updates.getState`: the account's common state — and, as for Telegram, the call after which
    /// this connection gets updates pushed.
    pub(crate) async fn common_state(&self) -> Result<CommonState, TgError> {
        let tl::enums::updates::State::State(s) =
            self.invoke(&tl::functions::updates::GetState {}).await?;
        self.clock().observe(s.date);
        Ok(CommonState {
            pts: s.pts,
            qts: s.qts,
            date: s.date,
            seq: s.seq,
        })
    }

    /// `updates.getDifference` from `from`: the channels it names (`updateChannelTooLong`) and the
    /// channel events it carries. Also makes a new connection get updates pushed again.
    pub async fn difference(&self, from: &CommonState) -> Result<AccountDifference, TgError> {
        use tl::enums::updates::Difference as D;
        let req = tl::functions::updates::GetDifference {
            pts: from.pts,
            pts_limit: None,
            pts_total_limit: None,
            date: from.date.max(1),
            qts: from.qts,
            qts_limit: None,
        };
        let updates = |list: Vec<tl::enums::Update>| -> Vec<Pushed> {
            list.into_iter().filter_map(read_update).collect()
        };
        let state = |s: tl::enums::updates::State| {
            let tl::enums::updates::State::State(s) = s;
            CommonState {
                pts: s.pts,
                qts: s.qts,
                date: s.date,
                seq: s.seq,
            }
        };
        let answer = self.invoke(&req).await?;
        let date = match &answer {
            D::Empty(e) => e.date,
            D::Difference(d) => {
                let tl::enums::updates::State::State(s) = &d.state;
                s.date
            }
            D::Slice(d) => {
                let tl::enums::updates::State::State(s) = &d.intermediate_state;
                s.date
            }
            D::TooLong(_) => 0,
        };
        self.clock().observe(date);
        Ok(match answer {
            D::Empty(e) => AccountDifference {
                pushed: Vec::new(),
                state: CommonState {
                    date: e.date,
                    seq: e.seq,
                    ..*from
                },
                complete: true,
                too_long: false,
            },
            D::Difference(d) => AccountDifference {
                pushed: updates(d.other_updates),
                state: state(d.state),
                complete: true,
                too_long: false,
            },
            D::Slice(d) => AccountDifference {
                pushed: updates(d.other_updates),
                state: state(d.intermediate_state),
                complete: false,
                too_long: false,
            },
            D::TooLong(t) => AccountDifference {
                pushed: Vec::new(),
                state: CommonState {
                    pts: t.pts,
                    ..*from
                },
                complete: true,
                too_long: true,
            },
        })
    }

    /// `updates.getChannelDifference` of one channel from `pts` (at most [`CHANNEL_DIFF_LIMIT`]
    /// events). Edits and deletions of a final difference are returned like any other.
    pub async fn channel_difference(
        &self,
        c: &ChannelInfo,
        pts: i32,
    ) -> Result<ChannelDifference, TgError> {
        use tl::enums::updates::ChannelDifference as D;
        let req = tl::functions::updates::GetChannelDifference {
            force: false,
            channel: input_channel(c),
            filter: tl::enums::ChannelMessagesFilter::Empty,
            pts: pts.max(1),
            limit: CHANNEL_DIFF_LIMIT,
        };
        let answer = self
            .invoke(&req)
            .await
            .map_err(|e| with_channel(e, &label_of(c)))?;
        let timeout = |t: Option<i32>| t.map(|s| Duration::from_secs(s.max(0) as u64));
        Ok(match answer {
            D::Empty(e) => ChannelDifference::Empty {
                pts: e.pts,
                timeout: timeout(e.timeout),
            },
            D::Difference(d) => {
                let mut news: Vec<Message> = d
                    .new_messages
                    .into_iter()
                    .filter(|m| channel_of(m).is_none_or(|id| id == c.id))
                    .filter_map(message)
                    .collect();
                news.sort_by_key(Message::id);
                let mut changes: Vec<Change> = news.into_iter().map(Change::New).collect();
                changes.extend(
                    d.other_updates
                        .into_iter()
                        .filter_map(|u| match read_update(u)? {
                            Pushed::Event(e) if e.channel_id == c.id => Some(e.change),
                            _ => None,
                        }),
                );
                ChannelDifference::Changes {
                    changes,
                    pts: d.pts,
                    complete: d.r#final,
                }
            }
            D::TooLong(t) => {
                let pts = match t.dialog {
                    tl::enums::Dialog::Dialog(d) => d.pts,
                    _ => None,
                };
                let mut messages: Vec<Message> =
                    t.messages.into_iter().filter_map(message).collect();
                messages.sort_by_key(Message::id);
                ChannelDifference::TooLong {
                    pts: pts.unwrap_or(req.pts),
                    messages,
                }
            }
        })
    }

    /// `channels.joinChannel`: the account becomes a member, so the channel's updates are pushed.
    pub(crate) async fn join_channel(&self, c: &ChannelInfo) -> Result<(), TgError> {
        let req = tl::functions::channels::JoinChannel {
            channel: input_channel(c),
        };
        match self.invoke(&req).await {
            Ok(_) => Ok(()),
            // Joined meanwhile (by another client): what was asked for is the case.
            Err(TgError::Rpc { name, .. }) if name == "USER_ALREADY_PARTICIPANT" => Ok(()),
            Err(e) => Err(with_channel(e, &label_of(c))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel_msg(id: i32, channel: i64, text: &str) -> tl::enums::Message {
        tl::enums::Message::Message(tl::types::Message {
            out: false,
            mentioned: false,
            media_unread: false,
            silent: false,
            post: true,
            from_scheduled: false,
            legacy: false,
            edit_hide: false,
            pinned: false,
            noforwards: false,
            invert_media: false,
            offline: false,
            video_processing_pending: false,
            paid_suggested_post_stars: false,
            paid_suggested_post_ton: false,
            id,
            from_id: None,
            from_boosts_applied: None,
            from_rank: None,
            peer_id: tl::enums::Peer::Channel(tl::types::PeerChannel {
                channel_id: channel,
            }),
            saved_peer_id: None,
            fwd_from: None,
            via_bot_id: None,
            via_business_bot_id: None,
            guestchat_via_from: None,
            reply_to: None,
            date: 1_700_000_000,
            message: text.into(),
            media: None,
            reply_markup: None,
            entities: None,
            views: Some(3),
            forwards: None,
            replies: None,
            edit_date: None,
            post_author: None,
            grouped_id: None,
            reactions: None,
            restriction_reason: None,
            ttl_period: None,
            quick_reply_shortcut_id: None,
            effect: None,
            factcheck: None,
            report_delivery_until_date: None,
            paid_message_stars: None,
            suggested_post: None,
            schedule_repeat_period: None,
            summary_from_language: None,
            rich_message: None,
        })
    }

    /// A message of discussion group 900: `reply` is (answered id, thread top id).
    fn group_msg(
        id: i32,
        from: Option<tl::enums::Peer>,
        reply: Option<(i32, Option<i32>)>,
    ) -> tl::enums::Message {
        let tl::enums::Message::Message(mut m) = channel_msg(id, 900, "c") else {
            unreachable!("channel_msg makes a message")
        };
        m.post = false;
        m.from_id = from;
        m.reply_to = reply.map(|(to, top)| {
            tl::types::MessageReplyHeader {
                reply_to_scheduled: false,
                forum_topic: false,
                quote: false,
                reply_to_ephemeral: false,
                reply_to_msg_id: Some(to),
                reply_to_peer_id: None,
                reply_from: None,
                reply_media: None,
                reply_to_top_id: top,
                quote_text: None,
                quote_entities: None,
                quote_offset: None,
                todo_item_id: None,
                poll_option: None,
            }
            .into()
        });
        tl::enums::Message::Message(m)
    }

    #[test]
    fn a_discussion_group_s_messages_are_read_as_comments_with_their_thread() {
        use tgsift_store::CommentSender;
        let read = |m: tl::enums::Message| match message(m) {
            Some(Message::Group(g)) => *g,
            other => panic!("not a group message: {other:?}"),
        };
        // A user's comment on the post whose copy is 50.
        let g = read(group_msg(
            51,
            Some(tl::types::PeerUser { user_id: 7 }.into()),
            Some((50, None)),
        ));
        assert_eq!(
            (g.root, g.copy_of, g.comment.reply_to),
            (Some(50), None, None)
        );
        assert_eq!(g.comment.sender, CommentSender::User { id: 7 });
        // A reply to comment 51 in the same thread, written as another channel.
        let g = read(group_msg(
            52,
            Some(tl::types::PeerChannel { channel_id: 33 }.into()),
            Some((51, Some(50))),
        ));
        assert_eq!((g.root, g.comment.reply_to), (Some(50), Some(51)));
        assert_eq!(g.comment.sender, CommentSender::Channel { id: 33 });
        // An anonymous admin writes as the group itself.
        let g = read(group_msg(
            53,
            Some(tl::types::PeerChannel { channel_id: 900 }.into()),
            Some((50, None)),
        ));
        assert_eq!(g.comment.sender, CommentSender::Anonymous { author: None });
        // The post's copy names the channel and post it came from.
        let tl::enums::Message::Message(mut copy) = group_msg(50, None, None) else {
            unreachable!()
        };
        copy.fwd_from = Some(
            tl::types::MessageFwdHeader {
                imported: false,
                saved_out: false,
                from_id: Some(tl::types::PeerChannel { channel_id: 42 }.into()),
                from_name: None,
                date: 1_700_000_000,
                channel_post: Some(9),
                post_author: None,
                saved_from_peer: Some(tl::types::PeerChannel { channel_id: 42 }.into()),
                saved_from_msg_id: Some(9),
                saved_from_id: None,
                saved_from_name: None,
                saved_date: None,
                psa_type: None,
            }
            .into(),
        );
        let g = read(tl::enums::Message::Message(copy));
        assert_eq!((g.root, g.copy_of), (None, Some((42, 9))));
        // A channel's own post stays a post.
        assert!(matches!(
            message(channel_msg(9, 42, "p")),
            Some(Message::Post(_))
        ));
    }

    #[test]
    fn pushes_are_read_into_channel_events_and_gaps() {
        let updates = tl::enums::Updates::Updates(tl::types::Updates {
            updates: vec![
                tl::types::UpdateNewChannelMessage {
                    message: channel_msg(7, 42, "hello"),
                    pts: 10,
                    pts_count: 1,
                }
                .into(),
                tl::types::UpdateDeleteChannelMessages {
                    channel_id: 42,
                    messages: vec![3, 4],
                    pts: 12,
                    pts_count: 2,
                }
                .into(),
                tl::types::UpdateChannelTooLong {
                    channel_id: 43,
                    pts: Some(99),
                }
                .into(),
                tl::types::UpdateUserName {
                    user_id: 1,
                    first_name: String::new(),
                    last_name: String::new(),
                    usernames: vec![],
                }
                .into(),
            ],
            users: vec![],
            chats: vec![],
            date: 0,
            seq: 0,
        });
        let got = read_updates_like(UpdatesLike::Updates(updates));
        assert_eq!(got.len(), 3, "the user update is not a channel's: {got:?}");
        match &got[0] {
            Pushed::Event(ChannelEvent {
                channel_id: 42,
                pts: 10,
                count: 1,
                change: Change::New(Message::Post(p)),
            }) => assert_eq!((p.id, p.text.as_str(), p.views), (7, "hello", Some(3))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            got[1],
            Pushed::Event(ChannelEvent {
                channel_id: 42,
                pts: 12,
                count: 2,
                change: Change::Delete(vec![3, 4])
            })
        );
        assert_eq!(
            got[2],
            Pushed::ChannelTooLong {
                channel_id: 43,
                pts: Some(99)
            }
        );
        assert_eq!(
            read_updates_like(UpdatesLike::Updates(tl::enums::Updates::TooLong)),
            vec![Pushed::TooLong]
        );
        assert_eq!(
            read_updates_like(UpdatesLike::ConnectionClosed),
            vec![Pushed::ConnectionLost]
        );
    }
}
