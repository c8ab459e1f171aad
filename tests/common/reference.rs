//! The reference reader of the page-fault tests: unmodified grammers, used as a careful client would.

use std::collections::BTreeSet;

use grammers_client::Client;
use grammers_client::session::types::{PeerAuth, PeerId, PeerRef};
use grammers_tl_types as tl;
use tgsift_sim::Sim;

/// What a careful reader got from one channel.
#[derive(Debug, Default)]
pub struct Read {
    /// Ids of real messages (placeholders resolved by asking for them again), deduplicated.
    pub ids: BTreeSet<i32>,
    /// Messages yielded in total, repeats included.
    pub yielded: usize,
    /// `iter_messages` runs that found something (grammers stops after a page that starts at
    /// id <= 100, even when that page was cut short; one more run always confirms the end).
    pub passes: usize,
    /// Distinct ids first met as `messageEmpty` placeholders.
    pub placeholders: usize,
}

/// Reads every message with grammers' own `iter_messages` (newest to oldest), as a careful client:
/// when an iteration ends, it goes on below the oldest id it met until a page is empty, then asks
/// for the placeholders it met again (`get_messages_by_id`, a few times) until they resolve.
pub async fn careful_read(c: &Client, peer: PeerRef) -> Read {
    let mut read = Read::default();
    let mut blanks = BTreeSet::new();
    let mut offset = 0;
    loop {
        let mut it = c.iter_messages(peer);
        if offset != 0 {
            it = it.offset_id(offset);
        }
        let mut any = false;
        while let Some(m) = it.next().await.expect("next") {
            any = true;
            read.yielded += 1;
            offset = if offset == 0 {
                m.id()
            } else {
                offset.min(m.id())
            };
            if matches!(m.raw, tl::enums::Message::Empty(_)) {
                blanks.insert(m.id());
            } else {
                read.ids.insert(m.id());
            }
        }
        if !any {
            break;
        }
        read.passes += 1;
    }
    blanks.retain(|id| !read.ids.contains(id));
    read.placeholders = blanks.len();
    for _ in 0..10 {
        if blanks.is_empty() {
            break;
        }
        let ask: Vec<i32> = blanks.iter().copied().collect();
        for chunk in ask.chunks(100) {
            let got = c.get_messages_by_id(peer, chunk).await.expect("by id");
            for m in got.into_iter().flatten() {
                if !matches!(m.raw, tl::enums::Message::Empty(_)) {
                    blanks.remove(&m.id());
                    read.ids.insert(m.id());
                }
            }
        }
    }
    assert!(blanks.is_empty(), "placeholders never resolved: {blanks:?}");
    read
}

pub fn peer_of(sim: &Sim, name: &str) -> PeerRef {
    let (id, hash) = sim
        .with_channel(name, |c| (c.spec().id, c.spec().access_hash))
        .expect("channel");
    PeerRef {
        id: PeerId::channel(id).expect("valid id"),
        auth: PeerAuth::from_hash(hash),
    }
}

/// The ids of the channel's service messages (which are no posts), ascending.
pub fn service_ids(sim: &Sim, name: &str) -> Vec<i32> {
    sim.with_channel(name, |ch| {
        ch.ids()
            .into_iter()
            .filter(|&id| ch.is_service(id))
            .collect()
    })
    .expect("channel")
}
