//! Updates as Telegram sends them for broadcast channels: pushes, `updates.getState`,
//! `updates.getDifference` and `updates.getChannelDifference` (core.telegram.org/api/updates).
//!
//! - A push is a server-initiated `updates` (never inside `rpc_result`) holding one
//!   `updateNewChannelMessage`, `updateEditChannelMessage` or `updateDeleteChannelMessages` with the
//!   channel's pts after the event and its `pts_count`, the channel (with its access hash) in `chats`,
//!   and `seq = 0` (channel events do not touch the account's common sequence).
//! - The account's common box (private chats, small groups) never changes here: `getState` reports a
//!   fixed pts and seq, and `getDifference` from that state is empty, unless pushes were replaced by
//!   `updatesTooLong` — then it lists those channels as `updateChannelTooLong`.
//! - `getChannelDifference` replays the channel's event log from the client's pts: at most `limit`
//!   events, `final = false` with the pts reached when it cut the list; `channelDifferenceTooLong`
//!   (the dialog with the channel's pts, and the newest messages) when the client's pts is older than
//!   the log; `channelDifferenceEmpty` with a `timeout` when nothing is new (30 s unless set).
//! - A push may carry an update of a newer layer than the client's (a fault): the whole `updates`
//!   then fails to decode on the client, and the real event beside it is lost to it.

use grammers_tl_types as tl;
use tl::{Identifiable, Serializable};

use super::chat::Chat;
use super::events::{Event, EventKind};
use super::faults::PageFaults;
use super::files::Stamp;
use super::objects;

/// The account's common seq, for the same reason.
pub(crate) const COMMON_SEQ: i32 = 1;
/// Seconds after which clients should ask for a channel's difference again.
pub(crate) const CHANNEL_TIMEOUT: i32 = 30;
/// The constructor id of an update from a layer newer than any client's (in no grammers layer).
pub(crate) const UNKNOWN_UPDATE: u32 = 0x5ee1_dead;
/// Messages `channelDifferenceTooLong` carries (the newest ones).
pub(crate) const TOO_LONG_MESSAGES: i32 = 20;

/// `updates.state` of the account, whose common pts is `pts`.
pub(crate) fn state(pts: i32, now: i32) -> tl::enums::updates::State {
    tl::enums::updates::State::State(tl::types::updates::State {
        pts,
        qts: 0,
        date: now,
        seq: COMMON_SEQ,
        unread_count: 0,
    })
}

/// `updates.getDifference`: empty, or the Saved Messages sent after the client's pts (with the user,
/// `users`) and the channels whose pushes were cut by `updatesTooLong` as `updateChannelTooLong` (with
/// the pts to fetch from), with the current state (`pts` = the account's common pts now).
pub(crate) fn difference(
    too_long: &[(i64, i32)],
    chats: Vec<tl::enums::Chat>,
    saved: Vec<tl::enums::Message>,
    users: Vec<tl::enums::User>,
    pts: i32,
    now: i32,
) -> tl::enums::updates::Difference {
    if too_long.is_empty() && saved.is_empty() {
        return tl::enums::updates::Difference::Empty(tl::types::updates::DifferenceEmpty {
            date: now,
            seq: COMMON_SEQ,
        });
    }
    tl::enums::updates::Difference::Difference(tl::types::updates::Difference {
        new_messages: saved,
        new_encrypted_messages: vec![],
        other_updates: too_long
            .iter()
            .map(|&(channel_id, pts)| {
                tl::enums::Update::ChannelTooLong(tl::types::UpdateChannelTooLong {
                    channel_id,
                    pts: Some(pts),
                })
            })
            .collect(),
        chats,
        users,
        state: state(pts, now),
    })
}

/// The update an event of `chat` produces, with the message as it is now (file references issued
/// with `stamp`); `None` when the message it is about no longer exists (its deletion is a later
/// event).
pub(crate) fn event_update(chat: Chat<'_>, ev: &Event, stamp: &Stamp) -> Option<tl::enums::Update> {
    Some(match &ev.kind {
        EventKind::New(id) => {
            tl::enums::Update::NewChannelMessage(tl::types::UpdateNewChannelMessage {
                message: chat.message(*id, stamp)?,
                pts: ev.pts,
                pts_count: ev.count,
            })
        }
        EventKind::Edit(id) => {
            tl::enums::Update::EditChannelMessage(tl::types::UpdateEditChannelMessage {
                message: chat.message(*id, stamp)?,
                pts: ev.pts,
                pts_count: ev.count,
            })
        }
        EventKind::Delete(ids) => {
            tl::enums::Update::DeleteChannelMessages(tl::types::UpdateDeleteChannelMessages {
                channel_id: chat.id(),
                messages: ids.to_vec(),
                pts: ev.pts,
                pts_count: ev.count,
            })
        }
    })
}

/// Whether message `id` is a post hidden from the caller of these page faults.
fn hidden(pf: &PageFaults, chat: Chat<'_>, id: i32) -> bool {
    chat.is_post(id) && pf.hides(chat.id(), id)
}

/// The `updates` pushed for one event (to members only, so the chat is not `left`).
pub(crate) fn push_body(chat: Chat<'_>, ev: &Event, now: i32, stamp: &Stamp) -> Vec<u8> {
    updates_with(
        chat,
        event_update(chat, ev, stamp).into_iter().collect(),
        now,
    )
}

/// The `updates` with an `updateChannelTooLong` sent instead of a push (a fault).
pub(crate) fn channel_too_long_body(chat: Chat<'_>, pts_before: i32, now: i32) -> Vec<u8> {
    let update = tl::enums::Update::ChannelTooLong(tl::types::UpdateChannelTooLong {
        channel_id: chat.id(),
        pts: Some(pts_before),
    });
    updates_with(chat, vec![update], now)
}

/// The `updates` pushed for one event with an update of a newer layer after the real one: the
/// client cannot decode the update's fields, so the whole push fails (grammers: `MalformedUpdates`).
pub(crate) fn push_body_with_unknown(
    chat: Chat<'_>,
    ev: &Event,
    now: i32,
    stamp: &Stamp,
) -> Vec<u8> {
    let mut out = Vec::new();
    tl::types::Updates::CONSTRUCTOR_ID.serialize(&mut out);
    let real: Vec<tl::enums::Update> = event_update(chat, ev, stamp).into_iter().collect();
    0x1cb5_c415_u32.serialize(&mut out); // vector
    (real.len() as i32 + 1).serialize(&mut out);
    real.iter().for_each(|u| u.serialize(&mut out));
    UNKNOWN_UPDATE.serialize(&mut out);
    chat.id().serialize(&mut out); // fields only a newer layer knows
    ev.pts.serialize(&mut out);
    Vec::<tl::enums::User>::new().serialize(&mut out);
    vec![chat.object(false)].serialize(&mut out);
    now.serialize(&mut out);
    0i32.serialize(&mut out); // seq
    out
}

/// An `updates` of `chat` (not `left`: pushes go to members) with the chats and users its
/// messages name.
fn updates_with(chat: Chat<'_>, updates: Vec<tl::enums::Update>, now: i32) -> Vec<u8> {
    let messages: Vec<tl::enums::Message> = updates
        .iter()
        .filter_map(|u| match u {
            tl::enums::Update::NewChannelMessage(u) => Some(u.message.clone()),
            tl::enums::Update::EditChannelMessage(u) => Some(u.message.clone()),
            _ => None,
        })
        .collect();
    let (mut chats, users) = chat.peers(&messages, None);
    chats[0] = chat.object(false);
    tl::enums::Updates::Updates(tl::types::Updates {
        updates,
        users,
        chats,
        date: now,
        seq: 0,
    })
    .to_bytes()
}

/// `updates.getChannelDifference` of `chat` from `pts`, at most `limit` events, for `account`
/// (its membership shows in the chat objects); `empty_timeout` is the `timeout` of
/// `channelDifferenceEmpty` (seconds before the client should ask again). With page faults, new
/// and edited posts hidden from the caller are left out (the pts still moves past them), new
/// messages may be sent as `messageEmpty` placeholders and one may be repeated.
pub(crate) fn channel_difference(
    chat: Chat<'_>,
    pts: i32,
    limit: i32,
    account: Option<usize>,
    empty_timeout: i32,
    mut pf: Option<&mut PageFaults>,
    stamp: &Stamp,
) -> tl::enums::updates::ChannelDifference {
    use tl::enums::updates::ChannelDifference as D;
    let current = chat.pts();
    let Some(events) = chat.events().since(pts) else {
        let newest = chat.newest(TOO_LONG_MESSAGES);
        let top = newest.first().copied().unwrap_or(0);
        let messages: Vec<_> = newest
            .iter()
            .filter(|&&id| !pf.as_deref().is_some_and(|pf| hidden(pf, chat, id)))
            .filter_map(|&id| chat.message(id, stamp))
            .collect();
        let (chats, users) = chat.peers(&messages, account);
        return D::TooLong(tl::types::updates::ChannelDifferenceTooLong {
            r#final: true,
            timeout: Some(CHANNEL_TIMEOUT),
            dialog: objects::dialog(chat.id(), top, current),
            messages,
            chats,
            users,
        });
    };
    let limit = usize::try_from(limit.clamp(1, 100_000)).unwrap_or(1);
    let mut taken = events.take(limit + 1).collect::<Vec<_>>();
    if taken.is_empty() {
        return D::Empty(tl::types::updates::ChannelDifferenceEmpty {
            r#final: true,
            pts: current,
            timeout: Some(empty_timeout),
        });
    }
    let cut = taken.len() > limit;
    taken.truncate(limit);
    let reached = if cut {
        taken.last().map_or(current, |e| e.pts)
    } else {
        current
    };
    let mut new_messages = Vec::new();
    let mut other_updates = Vec::new();
    let mut named = Vec::new();
    for ev in taken {
        if let (Some(pf), EventKind::New(id) | EventKind::Edit(id)) = (pf.as_deref(), &ev.kind)
            && hidden(pf, chat, *id)
        {
            continue;
        }
        match event_update(chat, ev, stamp) {
            Some(tl::enums::Update::NewChannelMessage(u)) => {
                let blank = pf.as_deref_mut().is_some_and(|pf| pf.blank());
                new_messages.push(if blank {
                    objects::message_empty(u.message.id())
                } else {
                    u.message
                });
            }
            Some(other) => {
                if let tl::enums::Update::EditChannelMessage(u) = &other {
                    named.push(u.message.clone());
                }
                other_updates.push(other)
            }
            None => {}
        }
    }
    if let Some(pf) = pf {
        pf.maybe_dup(&mut new_messages);
    }
    named.extend(new_messages.iter().cloned());
    let (chats, users) = chat.peers(&named, account);
    D::Difference(tl::types::updates::ChannelDifference {
        r#final: !cut,
        pts: reached,
        timeout: Some(CHANNEL_TIMEOUT),
        new_messages,
        other_updates,
        chats,
        users,
    })
}

#[cfg(test)]
mod tests {
    use tl::Deserializable;

    use super::*;
    use crate::events::EventKind;
    use crate::state::World;
    use crate::world::ChannelSpec;

    fn channel() -> World {
        let spec = ChannelSpec {
            id: 1_000_000_007,
            access_hash: 99,
            username: Some("sim_news".into()),
            title: "News".into(),
            lang: crate::Lang::En,
            posts: 5,
            seed: 3,
            start_date: 1_600_000_000,
            service_run: None,
            discussion: None,
            megagroup: false,
        };
        World::new(vec![], vec![spec], 10, false)
    }

    #[test]
    fn an_unknown_update_makes_the_whole_push_undecodable_with_the_real_update_inside() {
        let world = channel();
        let ch = world.channels()[0].clone();
        let mut entry = crate::state::write(&ch);
        let id = entry.history.append("fresh".into(), 1_700_000_000);
        let ev = entry.events.record(EventKind::New(id)).clone();
        let stamp = crate::files::Files::new().stamp(1_700_000_000);
        let chat = Chat::Channel(&entry);
        let plain = push_body(chat, &ev, 1_700_000_000, &stamp);
        assert!(tl::enums::Updates::from_bytes(&plain).is_ok());
        let bad = push_body_with_unknown(chat, &ev, 1_700_000_000, &stamp);
        assert!(
            tl::enums::Updates::from_bytes(&bad).is_err(),
            "the client cannot decode it"
        );
        assert_eq!(tl::name_for_id(UNKNOWN_UPDATE), "(unknown)");
        let real = event_update(chat, &ev, &stamp)
            .expect("the post exists")
            .to_bytes();
        assert!(
            bad.windows(real.len()).any(|w| w == real.as_slice()),
            "the real update is inside"
        );
    }

    #[test]
    fn the_empty_difference_carries_the_timeout_asked_for() {
        let world = channel();
        let ch = world.channels()[0].clone();
        let entry = crate::state::read(&ch);
        let stamp = crate::files::Files::new().stamp(1_700_000_000);
        match channel_difference(
            Chat::Channel(&entry),
            entry.pts(),
            100,
            None,
            300,
            None,
            &stamp,
        ) {
            tl::enums::updates::ChannelDifference::Empty(e) => assert_eq!(e.timeout, Some(300)),
            other => panic!("{other:?}"),
        }
    }
}
