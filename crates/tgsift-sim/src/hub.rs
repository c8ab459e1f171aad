//! The live connections of the simulated DC: who is connected with which auth key and session, who
//! asked for updates, and the server-initiated pushes sent to them.
//!
//! Telegram pushes updates only to sessions that said they want them (by calling `updates.getState`
//! or `updates.getDifference`) and only while they are connected; a closed connection is forgotten at
//! once, so a client that reconnects gets a new session and must ask again. The hub is also where the
//! server notices two live connections sharing one auth key with different sessions, which Telegram
//! answers with `AUTH_KEY_DUPLICATED` (see [`Hub::rivals`]). Scripted push faults (a dropped push,
//! `updatesTooLong`, `updateChannelTooLong`) are applied here, per delivery.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

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
            },
        );
        Registration {
            hub: self,
            id,
            drop_at: watched,
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

    /// Starts pushing updates to this connection, for `account`.
    pub(crate) fn subscribe(&self, conn: ConnId, account: usize) {
        if let Some(c) = lock(&self.conns).get_mut(&conn) {
            c.subscribed = Some(account);
        }
    }

    /// Number of connections that receive pushes (tests wait for a client to subscribe).
    pub(crate) fn subscribers(&self) -> usize {
        lock(&self.conns)
            .values()
            .filter(|c| c.subscribed.is_some())
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
        conns.iter().any(|(&id, c)| {
            id != conn
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

    /// The channels whose pushes this connection missed through `updatesTooLong`, forgotten as they
    /// are returned (`updates.getDifference` reports them once).
    pub(crate) fn take_too_long(&self, conn: ConnId) -> Vec<(i64, i32)> {
        lock(&self.conns)
            .get_mut(&conn)
            .map(|c| std::mem::take(&mut c.too_long))
            .unwrap_or_default()
    }

    /// Adds a scripted push fault.
    pub(crate) fn script(&self, s: ScriptedPush) {
        lock(&self.script).push(s);
    }

    /// Sends one event to every subscribed connection whose account is a member of the channel.
    /// Called with the channel locked, so each connection gets a channel's pushes in pts order.
    pub(crate) fn push(&self, p: &Push<'_>) {
        let mut conns = lock(&self.conns);
        let mut body: Option<Vec<u8>> = None;
        for c in conns.values_mut() {
            let Some(account) = c.subscribed else {
                continue;
            };
            if !(p.is_member)(account) || (p.hidden_from)(account) {
                continue;
            }
            let out = match self.fault_for(p.channel_id) {
                None => body.get_or_insert_with(|| (p.body)()).clone(),
                Some(PushFault::Drop) => continue,
                Some(PushFault::UpdatesTooLong) => {
                    c.too_long.push((p.channel_id, p.pts_before));
                    too_long_body()
                }
                Some(PushFault::ChannelTooLong) => (p.too_long)(),
            };
            let _ = c.tx.send(Out::Msg {
                body: out,
                content: true,
                response: false,
            });
        }
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
            channel_id: 9,
            pts_before: 41,
            is_member: &member,
            hidden_from: &|_| false,
            body: &|| vec![1, 2, 3],
            too_long: &|| vec![9],
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
}
