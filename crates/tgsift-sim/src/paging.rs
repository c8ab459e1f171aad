//! Telegram's `messages.getHistory` rule, written plainly over a list of messages.
//!
//! This is the executable specification the simulator's fast path ([`super::SimChannel::history_ids`],
//! rank arithmetic over generated ids) is property-tested against; it shares no code with it. It follows
//! Telegram's documentation of pagination (core.telegram.org/api/offsets) and what clients observe:
//!
//! 1. The list is every message of the chat, newest first (service messages included).
//! 2. The window starts at `offsetFromID(offset_id) + add_offset`, where `offsetFromID` counts the
//!    messages from the top down to `offset_id` inclusive (so `offset_id` itself is excluded). When
//!    `offset_id` is 0 and `offset_date` is not, it counts the messages dated at or after `offset_date`;
//!    `offset_id` wins when both are set.
//! 3. The window spans `limit` positions (at most 100). Positions before the newest message or past
//!    the oldest are empty: a window that starts above the top returns fewer messages, it never slides
//!    down to fill up with older ones.
//! 4. `max_id` and `min_id` filter the window afterwards (exclusive bounds), which is why a `max_id`
//!    far below the window's start returns nothing.
//!
//! `messages.getReplies` pages a thread of comments by the same rule, the list being the thread's
//! replies (the root excluded, nested replies included); [`super::discussion::replies_page`] is
//! tested against [`history_reference`] over threads.

/// Telegram's getHistory paging parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Start below this id (exclusive); 0 = from the newest.
    pub offset_id: i32,
    /// When `offset_id` is 0: start at the first message older than this date; 0 = unused.
    pub offset_date: i32,
    /// Shift of the start position (negative = towards newer messages).
    pub add_offset: i32,
    /// Number of messages wanted; clamped to 0..=100.
    pub limit: i32,
    /// If non-zero, only messages with `id < max_id` (applied after slicing).
    pub max_id: i32,
    /// If non-zero, only messages with `id > min_id` (applied after slicing).
    pub min_id: i32,
}

/// Most messages a single `messages.getHistory` call returns, as on Telegram.
pub const MAX_HISTORY_LIMIT: i32 = 100;

/// The ids `messages.getHistory` returns for `q`, newest first.
///
/// `messages` holds every existing message as `(id, date)`, ascending by id, with dates
/// non-decreasing in id (as Telegram assigns them).
pub fn history_reference(messages: &[(i32, i32)], q: &HistoryQuery) -> Vec<i32> {
    let newest_first: Vec<(i32, i32)> = messages.iter().rev().copied().collect();
    let before_start = if q.offset_id != 0 {
        newest_first
            .iter()
            .position(|&(id, _)| id < q.offset_id)
            .unwrap_or(newest_first.len())
    } else if q.offset_date != 0 {
        newest_first
            .iter()
            .position(|&(_, date)| date < q.offset_date)
            .unwrap_or(newest_first.len())
    } else {
        0
    };
    let start = before_start as i64 + i64::from(q.add_offset);
    let limit = i64::from(q.limit.clamp(0, MAX_HISTORY_LIMIT));
    (start..start + limit)
        .filter_map(|pos| usize::try_from(pos).ok())
        .filter_map(|pos| newest_first.get(pos))
        .map(|&(id, _)| id)
        .filter(|&id| q.max_id == 0 || id < q.max_id)
        .filter(|&id| q.min_id == 0 || id > q.min_id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(offset_id: i32, add_offset: i32, limit: i32) -> HistoryQuery {
        HistoryQuery {
            offset_id,
            add_offset,
            limit,
            ..Default::default()
        }
    }

    #[test]
    fn the_documented_examples() {
        // Ids 1..=50, one per second.
        let list: Vec<(i32, i32)> = (1..=50).map(|id| (id, 1000 + id)).collect();
        // 20 messages older than 30, newer (from 30 on, as offsetFromID counts 30 itself), around
        // 30 (the examples of core.telegram.org/api/offsets).
        assert_eq!(
            history_reference(&list, &q(30, 0, 20)),
            (10..=29).rev().collect::<Vec<_>>()
        );
        assert_eq!(
            history_reference(&list, &q(30, -20, 20)),
            (30..=49).rev().collect::<Vec<_>>()
        );
        assert_eq!(
            history_reference(&list, &q(30, -10, 20)),
            (20..=39).rev().collect::<Vec<_>>()
        );
        // At the top the window holds fewer messages and never slides down.
        assert_eq!(
            history_reference(&list, &q(46, -20, 20)),
            (46..=50).rev().collect::<Vec<_>>()
        );
        assert!(history_reference(&list, &q(51, -20, 20)).is_empty());
        // offset_id wins over offset_date; offset_date alone starts at the first older message.
        let both = HistoryQuery {
            offset_date: 1010,
            ..q(30, 0, 3)
        };
        assert_eq!(history_reference(&list, &both), vec![29, 28, 27]);
        let date = HistoryQuery {
            offset_date: 1010,
            limit: 3,
            ..Default::default()
        };
        assert_eq!(history_reference(&list, &date), vec![9, 8, 7]);
        // max_id filters the window, it does not move it.
        let low_max = HistoryQuery {
            max_id: 20,
            limit: 10,
            ..Default::default()
        };
        assert!(history_reference(&list, &low_max).is_empty());
    }
}
