//! A channel's update events and its pts: what `updates.getChannelDifference` replays.
//!
//! Every new message, edit and deletion advances the channel's pts by its `pts_count` (1, or the
//! number of deleted messages). Telegram keeps a bounded window of these events per channel: a client
//! whose pts is older than the window gets `channelDifferenceTooLong` and must refetch. The log here is
//! bounded the same way, so a channel that runs for days costs constant memory.

use std::collections::VecDeque;

/// What an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// A new message with this id.
    New(i32),
    /// The message with this id was edited.
    Edit(i32),
    /// These messages were deleted.
    Delete(Box<[i32]>),
}

/// One event: the channel pts after it, and how many pts it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    /// Channel pts after the event.
    pub pts: i32,
    /// The event's `pts_count`.
    pub count: i32,
    /// What happened.
    pub kind: EventKind,
}

/// The newest events of one channel (at most `capacity`) and its current pts.
#[derive(Clone, Debug)]
pub(crate) struct EventLog {
    pts: i32,
    events: VecDeque<Event>,
    capacity: usize,
}

impl EventLog {
    /// A log starting at `pts` that keeps the newest `capacity` events (at least 1).
    pub(crate) fn new(pts: i32, capacity: usize) -> Self {
        EventLog {
            pts,
            // Grown on demand up to the capacity, never beyond (a ring once full).
            events: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The channel's current pts.
    pub(crate) fn pts(&self) -> i32 {
        self.pts
    }

    /// Records an event; returns it (with its pts). The oldest event is forgotten when full.
    pub(crate) fn record(&mut self, kind: EventKind) -> &Event {
        let count = match &kind {
            EventKind::Delete(ids) => i32::try_from(ids.len()).unwrap_or(i32::MAX).max(1),
            _ => 1,
        };
        self.pts = self.pts.saturating_add(count);
        if self.events.len() == self.capacity {
            self.events.pop_front();
        } else if self.events.len() == self.events.capacity() {
            // Grow to at most the capacity, so a full log touches no memory beyond it.
            let more = self
                .events
                .len()
                .max(16)
                .min(self.capacity - self.events.len());
            self.events.reserve_exact(more);
        }
        self.events.push_back(Event {
            pts: self.pts,
            count,
            kind,
        });
        &self.events[self.events.len() - 1]
    }

    /// The events after `pts`, oldest first; `None` when some of them are no longer kept (the
    /// client is too far behind). Empty when `pts` is current or ahead.
    pub(crate) fn since(&self, pts: i32) -> Option<impl Iterator<Item = &Event>> {
        if pts < self.pts {
            let first = self.events.front()?;
            if pts < first.pts - first.count {
                return None;
            }
        }
        let at = self.events.partition_point(|e| e.pts <= pts);
        Some(self.events.range(at..))
    }

    /// Number of events kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pts_advance_by_count_and_old_events_fall_out() {
        let mut log = EventLog::new(100, 3);
        assert_eq!(log.since(100).map(|e| e.count()), Some(0));
        assert!(log.since(99).is_none(), "nothing kept before the start");
        assert_eq!(log.record(EventKind::New(7)).pts, 101);
        assert_eq!(log.record(EventKind::Delete(vec![3, 4].into())).pts, 103);
        assert_eq!(log.record(EventKind::Edit(7)).pts, 104);
        fn after(log: &EventLog, p: i32) -> Option<Vec<i32>> {
            log.since(p).map(|it| it.map(|e| e.pts).collect())
        }
        assert_eq!(after(&log, 100), Some(vec![101, 103, 104]));
        assert_eq!(after(&log, 101), Some(vec![103, 104]));
        assert_eq!(after(&log, 102), Some(vec![103, 104]), "inside a deletion");
        assert_eq!(after(&log, 104), Some(vec![]));
        assert_eq!(after(&log, 200), Some(vec![]));
        log.record(EventKind::New(8));
        assert_eq!(log.len(), 3);
        assert_eq!(after(&log, 100), None, "event 101 fell out");
        assert_eq!(after(&log, 101), Some(vec![103, 104, 105]));
    }
}
