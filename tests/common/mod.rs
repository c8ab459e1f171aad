//! Shared scaffolding of the integration tests: a simulator and grammers clients wired to it.
#![allow(dead_code)]

pub mod reference;
pub mod setup;
pub mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use grammers_client::Client;
use grammers_client::sender::SenderPool;
use grammers_client::session::storages::MemorySession;
use grammers_mtsender::ConnectionParams;
use tgsift_sim::{Sim, SimConfig};

/// Any api_id: the simulator does not check it.
pub const API_ID: i32 = 12_345;
/// Any 32-hex api_hash.
pub const API_HASH: &str = "0123456789abcdef0123456789abcdef";

/// Every async test body runs under this limit: grammers has no request timeout of its own.
pub async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out")
}

/// A simulator with `channels` channels of `posts` posts and the default single account.
pub async fn sim(channels: usize, posts: i32) -> Sim {
    Sim::start(SimConfig::generated(42, channels, posts))
        .await
        .expect("start sim")
}

/// A grammers client on a fresh key for `account`, with grammers' default retry policy.
pub fn client(sim: &Sim, account: usize, authorized: bool) -> Client {
    client_with(sim, account, authorized, ConnectionParams::default())
}

/// Same, with custom connection parameters (e.g. retry policy).
pub fn client_with(
    sim: &Sim,
    account: usize,
    authorized: bool,
    params: ConnectionParams,
) -> Client {
    let session = Arc::new(MemorySession::from(sim.new_session(account, authorized)));
    let pool = SenderPool::with_configuration(session, API_ID, params);
    let client = Client::new(pool.handle);
    tokio::spawn(pool.runner.run());
    client
}

/// Calls that arrived inside an open FLOOD_WAIT window of the same (account, method) more than
/// `grace` after it opened. With several requests in flight, the ones already on the wire when the
/// window opened arrive inside it through no fault of the client (Telegram answers them with the same
/// FLOOD_WAIT); anything later was sent by a client that knew of the window.
pub fn sent_into_open_windows(sim: &Sim, grace: Duration) -> Vec<tgsift_sim::log::Request> {
    let windows = sim.log().flood_windows();
    sim.log()
        .requests()
        .into_iter()
        .filter(|r| {
            windows.iter().any(|w| {
                w.account == r.account
                    && w.method == r.method
                    && r.at > w.from + grace
                    && r.at < w.until
            })
        })
        .collect()
}

/// Polls `cond` every 100 ms until it holds or `limit` passes; whether it held.
pub async fn eventually<F: Future<Output = bool>>(
    limit: Duration,
    mut cond: impl FnMut() -> F,
) -> bool {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < limit {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond().await
}

/// The ids an SQL query over the test's database returns.
pub fn db_ids(db: &std::path::Path, sql: &str) -> std::collections::BTreeSet<i64> {
    tgsift_store::SqliteStore::open(db)
        .expect("store")
        .read("test query", |c| {
            let mut st = c.prepare(sql)?;
            st.query_map([], |r| r.get(0))?.collect()
        })
        .expect("query")
}

/// Every byte of `s` percent-encoded (enough for a query parameter).
pub fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}
