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
//!   the log; `channelDifferenceEmpty` with a `timeout` when nothing is new.

use grammers_tl_types as tl;
use tl::Serializable;

use super::events::{Event, EventKind};
use super::faults::PageFaults;
use super::objects;
use super::state::ChannelEntry;
use super::world::HistoryQuery;

/// The account's common seq, for the same reason.
pub(crate) const COMMON_SEQ: i32 = 1;
/// Seconds after which clients should ask for a channel's difference again.
pub(crate) const CHANNEL_TIMEOUT: i32 = 30;
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

/// The update an event produces, with the message as it is now; `None` when the message it is
/// about no longer exists (its deletion is a later event).
pub(crate) fn event_update(entry: &ChannelEntry, ev: &Event) -> Option<tl::enums::Update> {
    let spec = entry.history.spec();
    Some(match &ev.kind {
        EventKind::New(id) => {
            tl::enums::Update::NewChannelMessage(tl::types::UpdateNewChannelMessage {
                message: objects::message_of(spec.id, &entry.history.message(*id)?),
                pts: ev.pts,
                pts_count: ev.count,
            })
        }
        EventKind::Edit(id) => {
            tl::enums::Update::EditChannelMessage(tl::types::UpdateEditChannelMessage {
                message: objects::message_of(spec.id, &entry.history.message(*id)?),
                pts: ev.pts,
                pts_count: ev.count,
            })
        }
        EventKind::Delete(ids) => {
            tl::enums::Update::DeleteChannelMessages(tl::types::UpdateDeleteChannelMessages {
                channel_id: spec.id,
                messages: ids.to_vec(),
                pts: ev.pts,
                pts_count: ev.count,
            })
        }
    })
}

/// Whether message `id` is a post hidden from the caller of these page faults.
fn hidden(pf: &PageFaults, entry: &ChannelEntry, id: i32) -> bool {
    !entry.history.is_service(id) && pf.hides(entry.history.spec().id, id)
}

/// The `updates` pushed for one event (to members only, so the channel is not `left`).
pub(crate) fn push_body(entry: &ChannelEntry, ev: &Event, now: i32) -> Vec<u8> {
    updates_with(entry, event_update(entry, ev).into_iter().collect(), now)
}

/// The `updates` with an `updateChannelTooLong` sent instead of a push (a fault).
pub(crate) fn channel_too_long_body(entry: &ChannelEntry, pts_before: i32, now: i32) -> Vec<u8> {
    let update = tl::enums::Update::ChannelTooLong(tl::types::UpdateChannelTooLong {
        channel_id: entry.history.spec().id,
        pts: Some(pts_before),
    });
    updates_with(entry, vec![update], now)
}

fn updates_with(entry: &ChannelEntry, updates: Vec<tl::enums::Update>, now: i32) -> Vec<u8> {
    tl::enums::Updates::Updates(tl::types::Updates {
        updates,
        users: vec![],
        chats: vec![objects::channel(entry.history.spec(), false)],
        date: now,
        seq: 0,
    })
    .to_bytes()
}

/// `updates.getChannelDifference` from `pts`, at most `limit` events; `left` is the caller's
/// membership (for the channel object). With page faults, new and edited posts hidden from the
/// caller are left out (the pts still moves past them), new messages may be sent as `messageEmpty`
/// placeholders and one may be repeated.
pub(crate) fn channel_difference(
    entry: &ChannelEntry,
    pts: i32,
    limit: i32,
    left: bool,
    mut pf: Option<&mut PageFaults>,
) -> tl::enums::updates::ChannelDifference {
    use tl::enums::updates::ChannelDifference as D;
    let spec = entry.history.spec();
    let current = entry.pts();
    let chats = vec![objects::channel(spec, left)];
    let Some(events) = entry.events.since(pts) else {
        let newest = entry.history.history(&HistoryQuery {
            limit: TOO_LONG_MESSAGES,
            ..Default::default()
        });
        let top = newest.first().map_or(0, |m| m.id());
        return D::TooLong(tl::types::updates::ChannelDifferenceTooLong {
            r#final: true,
            timeout: Some(CHANNEL_TIMEOUT),
            dialog: objects::dialog(spec.id, top, current),
            messages: newest
                .iter()
                .filter(|m| !pf.as_deref().is_some_and(|pf| hidden(pf, entry, m.id())))
                .map(|m| objects::message_of(spec.id, m))
                .collect(),
            chats,
            users: vec![],
        });
    };
    let limit = usize::try_from(limit.clamp(1, 100_000)).unwrap_or(1);
    let mut taken = events.take(limit + 1).collect::<Vec<_>>();
    if taken.is_empty() {
        return D::Empty(tl::types::updates::ChannelDifferenceEmpty {
            r#final: true,
            pts: current,
            timeout: Some(CHANNEL_TIMEOUT),
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
    for ev in taken {
        if let (Some(pf), EventKind::New(id) | EventKind::Edit(id)) = (pf.as_deref(), &ev.kind)
            && hidden(pf, entry, *id)
        {
            continue;
        }
        match event_update(entry, ev) {
            Some(tl::enums::Update::NewChannelMessage(u)) => {
                let blank = pf.as_deref_mut().is_some_and(|pf| pf.blank());
                new_messages.push(if blank {
                    objects::message_empty(u.message.id())
                } else {
                    u.message
                });
            }
            Some(other) => other_updates.push(other),
            None => {}
        }
    }
    if let Some(pf) = pf {
        pf.maybe_dup(&mut new_messages);
    }
    D::Difference(tl::types::updates::ChannelDifference {
        r#final: !cut,
        pts: reached,
        timeout: Some(CHANNEL_TIMEOUT),
        new_messages,
        other_updates,
        chats,
        users: vec![],
    })
}
