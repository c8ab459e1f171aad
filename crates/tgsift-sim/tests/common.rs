//! What the simulator's tests share: a timeout around every test body, grammers clients logged in
//! to the simulator, and its channels as grammers names them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use grammers_client::Client;
use grammers_client::sender::SenderPool;
use grammers_client::session::storages::MemorySession;
use grammers_mtsender::{ConnectionParams, NoRetries};
use grammers_session::updates::UpdatesLike;
use grammers_tl_types as tl;
use tgsift_sim::Sim;
use tokio::sync::mpsc;

/// grammers has no request timeout: every test body runs under one.
pub async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out")
}

/// A grammers client logged in as account 0 on a fresh key, with grammers' defaults.
pub fn client(sim: &Sim) -> Client {
    let session = Arc::new(MemorySession::from(sim.new_session(0, true)));
    let pool = SenderPool::new(session, 12_345);
    let client = Client::new(pool.handle);
    tokio::spawn(pool.runner.run());
    client
}

/// A grammers client logged in as `account` on its home DC, errors surfacing at once (no retries),
/// with its raw updates.
pub fn strict_client(sim: &Sim, account: usize) -> (Client, mpsc::Receiver<UpdatesLike>) {
    let session = Arc::new(MemorySession::from(sim.new_session(account, true)));
    let params = ConnectionParams {
        retry_policy: Box::new(NoRetries),
        ..Default::default()
    };
    let pool = SenderPool::with_configuration(session, 12_345, params);
    let client = Client::new(pool.handle);
    tokio::spawn(pool.runner.run());
    (client, pool.updates)
}

/// The channel `username` as an `InputChannel`.
pub fn input_channel(sim: &Sim, username: &str) -> tl::enums::InputChannel {
    let (channel_id, access_hash) = sim
        .with_channel(username, |c| (c.spec().id, c.spec().access_hash))
        .expect("channel");
    tl::enums::InputChannel::Channel(tl::types::InputChannel {
        channel_id,
        access_hash,
    })
}
