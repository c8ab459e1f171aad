//! The live connections of the simulated DC: who is connected with which auth key and session, who
//! asked for updates, and the server-initiated pushes sent to them.
//!
//! Telegram pushes updates only to sessions that said they want them (by calling `updates.getState`
//! or `updates.getDifference`) and only while they are connected; a closed connection is forgotten at
//! once, so a client that reconnects gets a new session and must ask again. The hub is also where the
//! server notices two live connections sharing one auth key with different sessions, which Telegram
//! answers with `AUTH_KEY_DUPLICATED` (see [`Hub::rivals`]). Scripted push faults (a dropped push,
//! `updatesTooLong`, `updateChannelTooLong`, an unknown update) are applied here, per delivery.
//!
//! Connections also carry Telegram's silences: when each last made a content request (pushes stop
//! after the idle-stop time), whether it became a black hole (it reads and answers nothing, and gets
//! no pushes, until the client closes it), and whether its session was reset (no pushes until it
//! asks for updates again; the channels it missed meanwhile are reported by its next
//! `updates.getDifference`, as Telegram's docs tell clients to call it after `new_session_created`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};

use super::silence::PushTally;

/// Identifies one TCP connection for the lifetime of the simulator.
pub(crate) type ConnId = u64;

/// What a connection's writer is asked to send.
#[derive(Debug)]
pub(crate) enum Out {
    /// A message body. `content` messages get an odd seq_no; `response` ones (answers to a client
    /// message) an msg_id ending in 01, server-initiated ones (pushes) 11, as MTProto specifies.
    Msg {
        /// The serialized message.
        body: Vec<u8>,
        /// Content-related (the client must acknowledge it).
        content: bool,
        /// An answer to a client message rather than a push.
        response: bool,
    },
    /// Close the connection now, without sending anything else.
    Close,
}

/// What goes wrong with one push instead of its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushFault {
    /// The push is lost: the client sees a pts gap on the next one and must fetch the difference.
    Drop,
    /// `updatesTooLong` is sent instead; the client learns the channel from `updates.getDifference`
    /// (an `updateChannelTooLong` there) and fetches its difference.
    UpdatesTooLong,
    /// An `updateChannelTooLong` for the channel is sent instead (with the pts before the event).
    ChannelTooLong,
    /// The push is sent with an extra update of a newer layer that the client cannot decode, so the
    /// whole push (and the real event in it) is lost to the client; the server counts it delivered.
    UnknownUpdate,
}

/// A push fault for the next matching deliveries.
#[derive(Clone, Debug)]
pub struct ScriptedPush {
    /// The fault.
    pub fault: PushFault,
    /// Only pushes of this channel (id); `None` = any.
    pub channel: Option<i64>,
    /// Matching deliveries to let through first.
    pub skip: u32,
    /// How many matching deliveries get the fault.
    pub times: u32,
}

impl ScriptedPush {
    /// `fault` on the next push of any channel.
    pub fn next(fault: PushFault) -> Self {
        ScriptedPush {
            fault,
            channel: None,
            skip: 0,
            times: 1,
        }
    }

    /// Lets `n` matching deliveries through first.
    pub fn after(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Applies to `n` matching deliveries.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Only for pushes of this channel.
    pub fn in_channel(mut self, channel_id: i64) -> Self {
        self.channel = Some(channel_id);
        self
    }
}

/// One event to deliver to every subscribed member of a channel.
pub(crate) struct Push<'a> {
    /// The channel.
    pub channel_id: i64,
    /// Channel pts before the event (what `updateChannelTooLong` carries).
    pub pts_before: i32,
    /// Whether account `n` is a member of the channel.
    pub is_member: &'a dyn Fn(usize) -> bool,
    /// Whether the event's post is hidden from account `n` (a page fault): it gets no push and
    /// learns the new pts from its next difference.
    pub hidden_from: &'a dyn Fn(usize) -> bool,
    /// The `updates` body.
    pub body: &'a dyn Fn() -> Vec<u8>,
    /// The `updates` body of an `updateChannelTooLong` for this channel.
    pub too_long: &'a dyn Fn() -> Vec<u8>,
    /// The `updates` body with the event and an update the client cannot decode.
    pub with_unknown: &'a dyn Fn() -> Vec<u8>,
    /// Draws, per delivery, whether the random unknown-update fault hits it.
    pub unknown_update: &'a dyn Fn() -> bool,
    /// The channel is never pushed (its members learn of events only by asking).
    pub unpushed: bool,
    /// Connections idle (no content request) for longer than this get no push.
    pub idle_stop: Option<Duration>,
}

struct Conn {
    dc: i32,
    key_id: i64,
    session_id: i64,
    tx: mpsc::UnboundedSender<Out>,
    /// The account that asked for updates on this connection, once it did.
    subscribed: Option<usize>,
    /// Channels whose pushes were replaced by `updatesTooLong`: (channel id, pts before).
    too_long: Vec<(i64, i32)>,
    /// When the server drops the connection unless another ping comes (`ping_delay_disconnect`).
    drop_at: tokio::sync::watch::Sender<Option<tokio::time::Instant>>,
    /// When the client last made a content request (registration counts as one).
    last_request: Instant,
    /// Set once the connection is a black hole (for good).
    black_hole: watch::Sender<bool>,
    /// The newest msg_id the client sent (what a reset's `new_session_created` names).
    last_msg_id: Arc<AtomicI64>,
    /// After a session reset, the account whose update subscription it ended, until the client
    /// asks for updates again; its pushes are dropped and their channels recorded in `missed`.
    reset_for: Option<usize>,
    /// Channels whose pushes a session reset dropped: (channel id, pts before the first one).
    missed: Vec<(i64, i32)>,
}

impl Conn {
    fn black_holed(&self) -> bool {
        *self.black_hole.borrow()
    }
}

/// Every live connection, and the push faults still to fire.
#[derive(Default)]
pub(crate) struct Hub {
    conns: Mutex<HashMap<ConnId, Conn>>,
    next_id: AtomicU64,
    closed: Notify,
    script: Mutex<Vec<ScriptedPush>>,
}

/// Keeps a connection registered; dropping it (the connection ended) forgets the connection.
pub(crate) struct Registration<'a> {
    hub: &'a Hub,
    /// The connection's id.
    pub id: ConnId,
    /// When the connection is to be dropped for want of pings (see [`Hub::ping_delay_disconnect`]).
    pub drop_at: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
    /// Becomes true when the connection turns into a black hole (see [`Hub::black_hole`]).
    pub black_hole: watch::Receiver<bool>,
    /// Where the reader keeps the newest msg_id the client sent.
    pub last_msg_id: Arc<AtomicI64>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(&self.hub.conns).remove(&self.id);
        self.hub.closed.notify_waiters();
    }
}

impl Hub {
    /// Registers a new connection on DC `dc` using key `key_id`, written to through `tx`.
    pub(crate) fn register(
        &self,
        dc: i32,
        key_id: i64,
        tx: mpsc::UnboundedSender<Out>,
    ) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (drop_at, watched) = tokio::sync::watch::channel(None);
        let (black_hole, black_hole_rx) = watch::channel(false);
        let last_msg_id = Arc::new(AtomicI64::new(0));
        lock(&self.conns).insert(
            id,
            Conn {
                dc,
                key_id,
                session_id: 0,
                tx,
                subscribed: None,
                too_long: Vec::new(),
                drop_at,
                last_request: Instant::now(),
                black_hole,
                last_msg_id: Arc::clone(&last_msg_id),
                reset_for: None,
                missed: Vec::new(),
            },
        );
        Registration {
            hub: self,
            id,
            drop_at: watched,
            black_hole: black_hole_rx,
            last_msg_id,
        }
    }

    /// The connection made a content request (any RPC but pings): pushes resume if idle-stopped.
    pub(crate) fn touch(&self, conn: ConnId) {
        if let Some(c) = lock(&self.conns).get_mut(&conn) {
            c.last_request = Instant::now();
        }
    }

    /// Live connections (not black holes) with their auth key ids and DCs, to pick an account's.
    pub(crate) fn keyed(&self) -> Vec<(ConnId, i64, i32)> {
        lock(&self.conns)
            .iter()
            .filter(|(_, c)| !c.black_holed())
            .map(|(&id, c)| (id, c.key_id, c.dc))
            .collect()
    }

    /// Turns the connection into a black hole for good: it stays open, reads and discards what the
    /// client sends and answers nothing (no results, pongs or pushes) and is never dropped by the
    /// server; true if it was not one already.
    pub(crate) fn black_hole(&self, conn: ConnId) -> bool {
        lock(&self.conns).get(&conn).is_some_and(|c| {
            c.black_hole
                .send_if_modified(|b| !std::mem::replace(b, true))
        })
    }

    /// Live black holes.
    pub(crate) fn black_holes(&self) -> usize {
        lock(&self.conns)
            .values()
            .filter(|c| c.black_holed())
            .count()
    }

    /// Forgets the connection's session, as Telegram does now and then: `created` (its
    /// `new_session_created`) is sent, and the update subscription ends until the client asks again;
    /// the pushes dropped meanwhile are remembered per channel for its next `getDifference`. False for
    /// black holes and closed connections.
    pub(crate) fn reset_session(&self, conn: ConnId, created: Vec<u8>) -> bool {
        let mut conns = lock(&self.conns);
        let Some(c) = conns.get_mut(&conn).filter(|c| !c.black_holed()) else {
            return false;
        };
        if let Some(account) = c.subscribed.take() {
            c.reset_for = Some(account);
        }
        let _ = c.tx.send(Out::Msg {
            body: created,
            content: false,
            response: false,
        });
        true
    }

    /// The newest msg_id the connection's client sent (0 before its first packet).
    pub(crate) fn last_msg_id(&self, conn: ConnId) -> i64 {
        lock(&self.conns)
            .get(&conn)
            .map_or(0, |c| c.last_msg_id.load(Ordering::Relaxed))
    }

    /// `updates.getState` after a session reset: the subscription is back and the channels missed
    /// meanwhile are forgotten (only `getDifference` reports them).
    pub(crate) fn forget_missed(&self, conn: ConnId) {
        if let Some(c) = lock(&self.conns).get_mut(&conn) {
            c.missed.clear();
        }
    }

    /// `ping_delay_disconnect`: the connection is dropped `delay` seconds from now unless another
    /// such ping comes first (as Telegram does; official clients ping so that a frozen client's
    /// connection dies); a delay of 0 or less cancels it.
    pub(crate) fn ping_delay_disconnect(&self, conn: ConnId, delay: i32) {
        if let Some(c) = lock(&self.conns).get(&conn) {
            let at = (delay > 0).then(|| {
                tokio::time::Instant::now() + std::time::Duration::from_secs(delay as u64)
            });
            c.drop_at.send_replace(at);
        }
    }

    /// Records the session id the connection's client uses (it changes only on a new session).
    pub(crate) fn set_session(&self, conn: ConnId, session_id: i64) {
        if let Some(c) = lock(&self.conns).get_mut(&conn) {
            c.session_id = session_id;
        }
    }

    /// Starts pushing updates to this connection, for `account` (ending a session reset's gap).
    pub(crate) fn subscribe(&self, conn: ConnId, account: usize) {
        if let Some(c) = lock(&self.conns).get_mut(&conn) {
            c.subscribed = Some(account);
            c.reset_for = None;
        }
    }

    /// Number of connections that receive pushes (tests wait for a client to subscribe); black holes
    /// are not counted.
    pub(crate) fn subscribers(&self) -> usize {
        lock(&self.conns)
            .values()
            .filter(|c| c.subscribed.is_some() && !c.black_holed())
            .count()
    }

    /// Number of live connections.
    pub(crate) fn connections(&self) -> usize {
        lock(&self.conns).len()
    }

    /// Whether another live connection on the same DC uses this connection's auth key with a
    /// different session id (two clients sharing one key).
    pub(crate) fn rivals(&self, conn: ConnId) -> bool {
        let conns = lock(&self.conns);
        let Some(me) = conns.get(&conn) else {
            return false;
        };
        // A black hole is a connection the server has already forgotten (half-open).
        conns.iter().any(|(&id, c)| {
            id != conn
                && !c.black_holed()
                && c.dc == me.dc
                && c.key_id == me.key_id
                && c.session_id != 0
                && c.session_id != me.session_id
        })
    }

    /// Waits up to `grace` for the rivals of `conn` to close (a client reconnecting may open its new
    /// connection before the server has read the old one's end); true if some are still live.
    pub(crate) async fn rivals_after(&self, conn: ConnId, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let closed = self.closed.notified();
            if !self.rivals(conn) {
                return false;
            }
            if tokio::time::timeout_at(deadline, closed).await.is_err() {
                return self.rivals(conn);
            }
        }
    }

    /// The channels whose pushes this connection missed through `updatesTooLong` or a session reset
    /// (channel id, pts to fetch from; one entry per channel), forgotten as they are returned
    /// (`updates.getDifference` reports them once).
    pub(crate) fn take_too_long(&self, conn: ConnId) -> Vec<(i64, i32)> {
        let mut conns = lock(&self.conns);
        let Some(c) = conns.get_mut(&conn) else {
            return Vec::new();
        };
        let mut out = std::mem::take(&mut c.too_long);
        for (channel, pts) in std::mem::take(&mut c.missed) {
            match out.iter_mut().find(|(id, _)| *id == channel) {
                Some(seen) => seen.1 = seen.1.min(pts),
                None => out.push((channel, pts)),
            }
        }
        out
    }

    /// Sends one server-initiated message (e.g. `updateShort{updateLoginToken}`) to this connection
    /// only, whether or not it asked for updates; false if it is gone or a black hole.
    pub(crate) fn send_to(&self, conn: ConnId, body: Vec<u8>) -> bool {
        lock(&self.conns)
            .get(&conn)
            .filter(|c| !c.black_holed())
            .is_some_and(|c| {
                c.tx.send(Out::Msg {
                    body,
                    content: true,
                    response: false,
                })
                .is_ok()
            })
    }

    /// Adds a scripted push fault.
    pub(crate) fn script(&self, s: ScriptedPush) {
        lock(&self.script).push(s);
    }

    /// Sends one event to every subscribed connection whose account is a member of the channel,
    /// unless a silence keeps it from one (an unpushed channel, a black hole, a reset session, an
    /// idle connection) or a push fault replaces it; returns what happened per connection.
    /// Called with the channel locked, so each connection gets a channel's pushes in pts order.
    pub(crate) fn push(&self, p: &Push<'_>) -> PushTally {
        let mut conns = lock(&self.conns);
        let mut tally = PushTally::default();
        let mut body: Option<Vec<u8>> = None;
        let now = Instant::now();
        for c in conns.values_mut() {
            let Some(account) = c.subscribed.or(c.reset_for) else {
                continue;
            };
            if !(p.is_member)(account) || (p.hidden_from)(account) {
                continue;
            }
            if p.unpushed {
                tally.unpushed += 1;
                continue;
            }
            if c.black_holed() {
                tally.black_holed += 1;
                continue;
            }
            if c.subscribed.is_none() {
                // Reset and not subscribed again: dropped, but its channel is remembered.
                if !c.missed.iter().any(|(id, _)| *id == p.channel_id) {
                    c.missed.push((p.channel_id, p.pts_before));
                }
                tally.session_reset += 1;
                continue;
            }
            if p.idle_stop
                .is_some_and(|stop| now.saturating_duration_since(c.last_request) > stop)
            {
                tally.idle_stopped += 1;
                continue;
            }
            let fault = self
                .fault_for(p.channel_id)
                .or_else(|| (p.unknown_update)().then_some(PushFault::UnknownUpdate));
            let out = match fault {
                None => {
                    tally.delivered += 1;
                    body.get_or_insert_with(|| (p.body)()).clone()
                }
                Some(PushFault::Drop) => continue,
                Some(PushFault::UpdatesTooLong) => {
                    c.too_long.push((p.channel_id, p.pts_before));
                    too_long_body()
                }
                Some(PushFault::ChannelTooLong) => (p.too_long)(),
                Some(PushFault::UnknownUpdate) => {
                    tally.delivered += 1;
                    tally.unknown_updates += 1;
                    (p.with_unknown)()
                }
            };
            let _ = c.tx.send(Out::Msg {
                body: out,
                content: true,
                response: false,
            });
        }
        tally
    }

    fn fault_for(&self, channel_id: i64) -> Option<PushFault> {
        let mut script = lock(&self.script);
        let hit = script.iter_mut().position(|s| {
            let matches = s.channel.is_none_or(|c| c == channel_id);
            if matches && s.skip > 0 {
                s.skip -= 1;
                return false;
            }
            matches
        })?;
        let s = &mut script[hit];
        let fault = s.fault;
        s.times = s.times.saturating_sub(1);
        if s.times == 0 {
            script.remove(hit);
        }
        Some(fault)
    }
}

/// `updatesTooLong`: too many events to push, fetch them with `updates.getDifference`.
fn too_long_body() -> Vec<u8> {
    use grammers_tl_types::Serializable;
    grammers_tl_types::enums::Updates::TooLong.to_bytes()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rivals_are_live_connections_on_the_same_key_and_dc_with_another_session() {
        let hub = Hub::default();
        let (tx, _rx) = mpsc::unbounded_channel();
        let a = hub.register(2, 7, tx.clone());
        hub.set_session(a.id, 100);
        let other_dc = hub.register(4, 7, tx.clone());
        hub.set_session(other_dc.id, 200);
        let other_key = hub.register(2, 8, tx.clone());
        hub.set_session(other_key.id, 300);
        assert!(!hub.rivals(a.id));
        let b = hub.register(2, 7, tx.clone());
        hub.set_session(b.id, 400);
        assert!(hub.rivals(b.id) && hub.rivals(a.id));
        // The old connection closes while the new one waits: not a rival any more.
        let (a_id, b_id) = (a.id, b.id);
        let closer = async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(a);
        };
        let (still, ()) = tokio::join!(hub.rivals_after(b_id, Duration::from_secs(2)), closer);
        assert!(!still);
        assert!(!hub.rivals(a_id));
        assert_eq!(hub.connections(), 3);
    }

    #[test]
    fn pushes_reach_subscribed_members_and_faults_fire_in_order() {
        let hub = Hub::default();
        let (tx1, mut rx1) = mpsc::unbounded_channel();
        let (tx2, mut rx2) = mpsc::unbounded_channel();
        let (tx3, mut rx3) = mpsc::unbounded_channel();
        let c1 = hub.register(2, 1, tx1);
        let c2 = hub.register(2, 2, tx2);
        let _c3 = hub.register(2, 3, tx3);
        hub.subscribe(c1.id, 0);
        hub.subscribe(c2.id, 1);
        assert_eq!(hub.subscribers(), 2);
        let member = |a: usize| a == 0;
        let push = Push {
            is_member: &member,
            ..push(9, 41)
        };
        hub.script(ScriptedPush::next(PushFault::Drop).after(1));
        hub.script(ScriptedPush::next(PushFault::UpdatesTooLong).in_channel(9));
        hub.push(&push); // first match of Drop is skipped; UpdatesTooLong fires
        hub.push(&push); // Drop fires
        hub.push(&push); // delivered
        let body = |o: Option<Out>| match o {
            Some(Out::Msg { body, .. }) => body,
            other => panic!("{other:?}"),
        };
        assert_eq!(body(rx1.try_recv().ok()), too_long_body());
        assert_eq!(body(rx1.try_recv().ok()), vec![1, 2, 3]);
        assert!(rx1.try_recv().is_err());
        assert!(rx2.try_recv().is_err(), "not a member");
        assert!(rx3.try_recv().is_err(), "never asked for updates");
        assert_eq!(hub.take_too_long(c1.id), vec![(9, 41)]);
        assert!(hub.take_too_long(c1.id).is_empty());
    }

    /// A push of channel `channel_id` to every account, with no silence or fault in force.
    fn push(channel_id: i64, pts_before: i32) -> Push<'static> {
        Push {
            channel_id,
            pts_before,
            is_member: &|_| true,
            hidden_from: &|_| false,
            body: &|| vec![1, 2, 3],
            too_long: &|| vec![9],
            with_unknown: &|| vec![6, 6, 6],
            unknown_update: &|| false,
            unpushed: false,
            idle_stop: None,
        }
    }

    fn bodies(rx: &mut mpsc::UnboundedReceiver<Out>) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|o| match o {
                Out::Msg { body, .. } => body,
                Out::Close => panic!("closed"),
            })
            .collect()
    }

    #[test]
    fn idle_connections_lose_pushes_until_their_next_request() {
        let hub = Hub::default();
        let (tx1, mut busy_rx) = mpsc::unbounded_channel();
        let (tx2, mut idle_rx) = mpsc::unbounded_channel();
        let busy = hub.register(2, 1, tx1);
        let idle = hub.register(2, 2, tx2);
        hub.subscribe(busy.id, 0);
        hub.subscribe(idle.id, 1);
        let stop = Duration::from_millis(40);
        let p = Push {
            idle_stop: Some(stop),
            ..push(9, 10)
        };
        assert_eq!(
            hub.push(&p).delivered,
            2,
            "registration counts as a request"
        );
        std::thread::sleep(stop * 2);
        hub.touch(busy.id);
        let t = hub.push(&p);
        assert_eq!((t.delivered, t.idle_stopped), (1, 1));
        hub.touch(idle.id); // its next request: pushes resume
        assert_eq!(hub.push(&p).delivered, 2);
        assert_eq!(bodies(&mut busy_rx).len(), 3);
        assert_eq!(bodies(&mut idle_rx).len(), 2);
        assert!(hub.take_too_long(idle.id).is_empty(), "lost, not reported");
        let off = hub.push(&push(9, 10));
        assert_eq!(off.delivered, 2, "no idle stop when off");
    }

    #[test]
    fn unpushed_channels_reach_nobody() {
        let hub = Hub::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let c = hub.register(2, 1, tx);
        hub.subscribe(c.id, 0);
        let t = hub.push(&Push {
            unpushed: true,
            ..push(9, 10)
        });
        assert_eq!((t.delivered, t.unpushed), (0, 1));
        assert!(bodies(&mut rx).is_empty());
        assert!(hub.take_too_long(c.id).is_empty(), "not reported either");
        assert_eq!(
            hub.push(&push(8, 3)).delivered,
            1,
            "other channels still pushed"
        );
    }

    #[test]
    fn a_reset_session_misses_pushes_until_it_asks_again_and_get_difference_reports_them() {
        let hub = Hub::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let c = hub.register(2, 1, tx);
        hub.subscribe(c.id, 0);
        assert!(hub.reset_session(c.id, vec![0xee]));
        assert_eq!(
            bodies(&mut rx),
            vec![vec![0xee]],
            "new_session_created is sent"
        );
        assert_eq!(hub.subscribers(), 0);
        for (channel, pts) in [(9, 10), (9, 11), (8, 3)] {
            let t = hub.push(&push(channel, pts));
            assert_eq!((t.delivered, t.session_reset), (0, 1));
        }
        assert!(bodies(&mut rx).is_empty());
        // getDifference: subscribes again, then reports each channel once, from its first drop.
        hub.subscribe(c.id, 0);
        assert_eq!(hub.take_too_long(c.id), vec![(9, 10), (8, 3)]);
        assert!(hub.take_too_long(c.id).is_empty());
        assert_eq!(hub.push(&push(9, 12)).delivered, 1);

        // getState subscribes again too, but forgets what was missed.
        assert!(hub.reset_session(c.id, vec![0xee]));
        hub.push(&push(7, 1));
        hub.subscribe(c.id, 0);
        hub.forget_missed(c.id);
        assert!(hub.take_too_long(c.id).is_empty());

        // A connection that never asked for updates has nothing to miss.
        let (tx2, _rx2) = mpsc::unbounded_channel();
        let quiet = hub.register(2, 2, tx2);
        assert!(hub.reset_session(quiet.id, vec![0xee]));
        assert_eq!(hub.push(&push(9, 20)).session_reset, 0);
    }

    #[test]
    fn black_holes_get_nothing_and_are_nobody_s_rival() {
        let hub = Hub::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let hole = hub.register(2, 7, tx.clone());
        hub.set_session(hole.id, 1);
        hub.subscribe(hole.id, 0);
        assert!(!*hole.black_hole.borrow());
        assert!(hub.black_hole(hole.id));
        assert!(!hub.black_hole(hole.id), "once");
        assert!(*hole.black_hole.borrow());
        assert_eq!((hub.black_holes(), hub.subscribers()), (1, 0));
        assert_eq!(hub.push(&push(9, 1)).black_holed, 1);
        assert!(!hub.reset_session(hole.id, vec![1]));
        assert!(bodies(&mut rx).is_empty());
        let next = hub.register(2, 7, tx);
        hub.set_session(next.id, 2);
        assert!(!hub.rivals(next.id), "the server forgot the black hole");
        assert_eq!(hub.keyed(), vec![(next.id, 7, 2)]);
        assert_eq!(hub.connections(), 2, "its TCP connection is still open");
    }

    #[test]
    fn an_unknown_update_push_counts_as_delivered_and_is_not_reported() {
        let hub = Hub::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let c = hub.register(2, 1, tx);
        hub.subscribe(c.id, 0);
        hub.script(ScriptedPush::next(PushFault::UnknownUpdate));
        let t = hub.push(&push(9, 1));
        assert_eq!((t.delivered, t.unknown_updates), (1, 1));
        let random = hub.push(&Push {
            unknown_update: &|| true,
            ..push(9, 2)
        });
        assert_eq!(random.unknown_updates, 1);
        hub.push(&push(9, 3));
        assert_eq!(
            bodies(&mut rx),
            vec![vec![6, 6, 6], vec![6, 6, 6], vec![1, 2, 3]]
        );
        assert!(hub.take_too_long(c.id).is_empty());
    }
}
