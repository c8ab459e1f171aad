//! The client layer's promises against the simulated DC: floods, reconnects, typed errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{sim, within};
use grammers_client::session::storages::MemorySession;
use grammers_tl_types as tl;
use tgsift::telegram::client::{Account, Policy, Stats};
use tgsift::telegram::error::TgError;
use tgsift::telegram::pacer::PacerConfig;
use tgsift_sim::{Fault, FloodConfig, Limit, Scripted, Sim};
use tgsift_store::prelude::*;
use tokio_util::sync::CancellationToken;

fn policy() -> Policy {
    Policy {
        flood_threshold: Duration::from_secs(2),
        flood_max_retries: 3,
        connection_retries: Some(4),
        retry_delay: Duration::from_millis(100),
        retry_max_delay: Duration::from_millis(400),
        request_timeout: Duration::from_secs(5),
        ping_deadline: Duration::from_secs(20),
        breaker_threshold: 100,
        breaker_cooldown: Duration::from_secs(1),
        pacer: PacerConfig::default(),
        max_in_flight: 8,
        identity: default_identity(),
        proxy: None,
    }
}

/// The client identity the built-in configuration gives.
fn default_identity() -> tgsift_store::ClientIdentity {
    tgsift::config::Loaded::load(&tgsift::config::LoadOptions::default())
        .expect("defaults")
        .config
        .telegram
        .identity()
}

fn account(sim: &Sim, policy: Policy) -> Account {
    let session = Arc::new(MemorySession::from(sim.new_session(0, true)));
    Account::new(
        "alice",
        session,
        crate::common::API_ID,
        policy,
        CancellationToken::new(),
    )
}

fn history(sim: &Sim) -> tl::functions::messages::GetHistory {
    let username = sim.channel_usernames()[0].clone();
    let (id, hash) = sim
        .with_channel(&username, |c| (c.spec().id, c.spec().access_hash))
        .expect("channel");
    tl::functions::messages::GetHistory {
        peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
            channel_id: id,
            access_hash: hash,
        }),
        offset_id: 0,
        offset_date: 0,
        add_offset: 0,
        limit: 10,
        max_id: 0,
        min_id: 0,
        hash: 0,
    }
}

fn message_count(r: &tl::enums::messages::Messages) -> usize {
    match r {
        tl::enums::messages::Messages::ChannelMessages(m) => m.messages.len(),
        _ => 0,
    }
}

#[tokio::test]
async fn floods_below_threshold_are_slept_through_exactly() {
    within(30, async {
        let sim = sim(1, 100).await;
        let acc = account(&sim, policy());
        let req = history(&sim);
        sim.script(Scripted::on("messages.getHistory", Fault::FloodWait(1)).times(2));
        let t0 = Instant::now();
        let page = acc
            .invoke(&req)
            .await
            .expect("slept through two FLOOD_WAIT_1");
        let slept = t0.elapsed();
        assert_eq!(message_count(&page), 10);
        assert_eq!(Stats::get(&acc.stats().flood_sleeps), 2);
        assert!(
            slept >= Duration::from_secs(2),
            "waited the floods out: {slept:?}"
        );
        assert!(
            slept <= Duration::from_millis(2_100 + 400),
            "no oversleeping: {slept:?}"
        );
        let slept_ms = Stats::get(&acc.stats().flood_sleep_ms);
        assert!(
            slept_ms <= 2_100,
            "total sleep ≤ 1.05 × imposed waits, got {slept_ms} ms"
        );
        assert!(
            sim.log().requests_inside_flood_windows().is_empty(),
            "no request inside a flood window"
        );
        assert_eq!(sim.log().count("messages.getHistory"), 3);
    })
    .await;
}

#[tokio::test]
async fn floods_above_threshold_surface_typed_without_retry_and_the_window_is_respected() {
    within(30, async {
        let sim = sim(1, 100).await;
        let acc = account(&sim, policy());
        let req = history(&sim);
        sim.script(Scripted::on("messages.getHistory", Fault::FloodWait(30)));
        let t0 = Instant::now();
        let err = acc.invoke(&req).await.expect_err("above threshold");
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "no sleeping above the threshold"
        );
        match &err {
            TgError::FloodWait {
                method, seconds, ..
            } => {
                assert_eq!(*method, "messages.getHistory");
                assert_eq!(*seconds, 30);
            }
            other => panic!("expected FloodWait, got {other:?}"),
        }
        // The window is remembered: the next call fails fast without reaching the server.
        let err = acc.invoke(&req).await.expect_err("window still open");
        assert!(
            matches!(
                err,
                TgError::FloodWait {
                    seconds: 29..=30,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            sim.log().count("messages.getHistory"),
            1,
            "nothing sent into the open window"
        );
        assert!(sim.log().requests_inside_flood_windows().is_empty());
        // Other methods are not blocked by it.
        acc.invoke(&tl::functions::updates::GetState {})
            .await
            .expect("other method flows");
    })
    .await;
}

#[tokio::test]
async fn disconnects_and_internal_errors_are_retried() {
    within(30, async {
        let sim = sim(1, 100).await;
        let acc = account(&sim, policy());
        let req = history(&sim);
        acc.invoke(&req).await.expect("warm up");
        sim.script(Scripted::on("messages.getHistory", Fault::Disconnect).times(2));
        sim.script(Scripted::on("messages.getHistory", Fault::internal()));
        sim.script(Scripted::on(
            "messages.getHistory",
            Fault::rpc(500, "RPC_CALL_FAIL"),
        ));
        let page = acc
            .invoke(&req)
            .await
            .expect("survives two drops and two 500s");
        assert_eq!(message_count(&page), 10);
        assert_eq!(Stats::get(&acc.stats().retries), 4);
    })
    .await;
}

#[tokio::test]
async fn exhausted_retries_are_typed() {
    within(30, async {
        let sim = sim(1, 100).await;
        let mut p = policy();
        p.connection_retries = Some(2);
        let acc = account(&sim, p);
        let req = history(&sim);
        sim.script(Scripted::on("messages.getHistory", Fault::internal()).times(10));
        let err = acc.invoke(&req).await.expect_err("retries used up");
        match err {
            TgError::Exhausted {
                attempts, method, ..
            } => {
                assert_eq!(attempts, 3, "one try and two retries");
                assert_eq!(method, "messages.getHistory");
            }
            other => panic!("expected Exhausted, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn an_outage_of_five_seconds_is_survived_and_forever_keeps_trying() {
    within(40, async {
        let sim = sim(1, 100).await;
        let mut p = policy();
        p.connection_retries = None; // -1: forever
        p.retry_max_delay = Duration::from_millis(500);
        let acc = account(&sim, p);
        let req = history(&sim);
        acc.invoke(&req).await.expect("up");
        sim.outage(Duration::from_secs(5));
        let t0 = Instant::now();
        let page = acc.invoke(&req).await.expect("back after the outage");
        assert_eq!(message_count(&page), 10);
        assert!(
            t0.elapsed() >= Duration::from_secs(4),
            "it really was down: {:?}",
            t0.elapsed()
        );
        assert!(Stats::get(&acc.stats().retries) >= 3);
    })
    .await;
}

#[tokio::test]
async fn a_request_without_answer_times_out_and_is_retried() {
    within(30, async {
        let sim = sim(1, 100).await;
        let mut p = policy();
        p.request_timeout = Duration::from_millis(500);
        let acc = account(&sim, p);
        let req = history(&sim);
        acc.invoke(&req).await.expect("warm up");
        sim.script(Scripted::on(
            "messages.getHistory",
            Fault::Slow(Duration::from_secs(3)),
        ));
        let page = acc.invoke(&req).await.expect("timeout then retry");
        assert_eq!(message_count(&page), 10);
        assert_eq!(Stats::get(&acc.stats().retries), 1);
    })
    .await;
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    within(30, async {
        let sim = sim(1, 100).await;
        let acc = account(&sim, policy());
        let mut req = history(&sim);
        if let tl::enums::InputPeer::Channel(c) = &mut req.peer {
            c.access_hash ^= 1;
        }
        let err = acc.invoke(&req).await.expect_err("bad hash");
        assert!(
            matches!(&err, TgError::Channel { reason, .. } if reason == "CHANNEL_INVALID"),
            "{err:?}"
        );
        assert_eq!(sim.log().count("messages.getHistory"), 1);
        let req = tl::functions::contacts::ResolveUsername {
            username: "nobody_here".into(),
            referer: None,
        };
        let err = acc.invoke(&req).await.expect_err("unknown username");
        assert!(
            matches!(&err, TgError::Username { reason, .. } if reason == "USERNAME_NOT_OCCUPIED"),
            "{err:?}"
        );
        sim.script(Scripted::on(
            "users.getUsers",
            Fault::rpc(401, "SESSION_REVOKED"),
        ));
        let err = acc
            .invoke(&tl::functions::users::GetUsers {
                id: vec![tl::enums::InputUser::UserSelf],
            })
            .await
            .expect_err("revoked");
        assert!(
            err.to_string().contains("tgsift account add alice"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn paced_calls_never_enter_a_flood_window_on_realistic_limits() {
    within(60, async {
        let sim = sim(1, 100).await;
        sim.set_flood(FloodConfig::off().with("messages.getHistory", Limit::new(5.0, 10.0, 1.0)));
        let acc = account(&sim, policy()).with_pacer(PacerConfig {
            initial_rate: 40.0,
            ..Default::default()
        });
        let req = history(&sim);
        for _ in 0..60 {
            acc.invoke(&req).await.expect("paced call");
        }
        let floods = Stats::get(&acc.stats().floods);
        assert!(floods >= 1, "starting too fast must meet the limit");
        assert!(
            acc.pacer().rate("messages.getHistory") < 40.0,
            "the pacer learned to slow down"
        );
        assert!(
            sim.log().requests_inside_flood_windows().is_empty(),
            "no request inside any flood window"
        );
    })
    .await;
}

#[tokio::test]
async fn a_persisted_flood_window_is_respected_after_a_restart() {
    within(30, async {
        let sim = sim(1, 100).await;
        let req = history(&sim);
        let first = account(&sim, policy());
        sim.script(Scripted::on("messages.getHistory", Fault::FloodWait(600)));
        assert!(matches!(
            first.invoke(&req).await,
            Err(TgError::FloodWait { seconds: 600, .. })
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = tgsift_store::SqliteStore::open(&dir.path().join("t.db")).expect("store");
        let row = store
            .add_account("alice", None, None, std::path::Path::new("alice.session"))
            .expect("account");
        store
            .save_client_state(row.id, &first.export_state())
            .expect("save");
        drop(first);

        // A new process: fresh client, state loaded from the database.
        let second = account(&sim, policy());
        second.import_state(&store.load_client_state(row.id).expect("load"));
        let err = second
            .invoke(&req)
            .await
            .expect_err("still inside the window");
        assert!(
            matches!(
                err,
                TgError::FloodWait {
                    seconds: 590..=600,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            sim.log().count("messages.getHistory"),
            1,
            "the restart did not hit the same wall"
        );
        assert!(
            second.pacer().rate("messages.getHistory") < 10.0,
            "the halved rate was restored too"
        );
    })
    .await;
}

#[tokio::test]
async fn the_circuit_breaker_opens_after_repeated_failures_then_lets_a_probe_through() {
    within(30, async {
        let sim = sim(1, 100).await;
        let mut p = policy();
        p.connection_retries = Some(0);
        p.breaker_threshold = 2;
        p.breaker_cooldown = Duration::from_secs(2);
        let acc = account(&sim, p);
        let req = history(&sim);
        acc.invoke(&req).await.expect("up");
        sim.outage(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..2 {
            assert!(matches!(
                acc.invoke(&req).await,
                Err(TgError::Exhausted { .. })
            ));
        }
        let err = acc.invoke(&req).await.expect_err("breaker open");
        assert!(
            matches!(err, TgError::CircuitOpen { failures: 2, .. }),
            "{err:?}"
        );
        let (failures, open_until) = acc.export_state().breaker;
        assert_eq!(failures, 2);
        assert!(
            open_until.is_some(),
            "the open breaker is persisted for `account list`"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        acc.invoke(&req)
            .await
            .expect("the probe after the cool-down succeeds and closes it");
        assert_eq!(acc.export_state().breaker, (0, None));
    })
    .await;
}

#[tokio::test]
async fn several_requests_are_in_flight_at_once_up_to_the_window() {
    crate::common::within(30, async {
        for (window, arrived_together) in [(4usize, 4usize), (2, 2)] {
            let sim = crate::common::sim(1, 500).await;
            let req = history(&sim);
            // Every getHistory is answered only after half a second, as if Telegram were far away.
            sim.script(
                Scripted::on(
                    "messages.getHistory",
                    Fault::Slow(Duration::from_millis(500)),
                )
                .times(4),
            );
            let p = Policy {
                max_in_flight: window,
                pacer: PacerConfig {
                    initial_rate: 1000.0,
                    ..PacerConfig::default()
                },
                ..policy()
            };
            let a = Arc::new(account(&sim, p));
            // Connect first so the four calls race only against each other.
            a.invoke(&tl::functions::updates::GetState {})
                .await
                .expect("state");
            let calls: Vec<_> = (0..4)
                .map(|_| {
                    let (a, req) = (Arc::clone(&a), req.clone());
                    tokio::spawn(async move { a.invoke(&req).await })
                })
                .collect();
            for c in calls {
                c.await.expect("join").expect("history");
            }
            let arrivals: Vec<_> = sim
                .log()
                .requests()
                .into_iter()
                .filter(|r| r.method == "messages.getHistory")
                .map(|r| r.at)
                .collect();
            assert_eq!(arrivals.len(), 4);
            let first = arrivals[0];
            let together = arrivals
                .iter()
                .filter(|t| t.duration_since(first) < Duration::from_millis(250))
                .count();
            assert_eq!(
                together, arrived_together,
                "window {window}: requests sent before the first answer came"
            );
        }
    })
    .await;
}
