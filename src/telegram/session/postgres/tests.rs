use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use grammers_session::types::{
    ChannelKind, ChannelState, DcOption, PeerAuth, PeerId, PeerInfo, UpdateState,
};
use grammers_session::{Session, SessionData};
use tgsift_store::postgres::{PgError, PgStore};
use tgsift_store::testing::postgres::fresh_store;

use super::super::sealed::SessionKey;
use super::super::{SelfUser, SessionError};
use super::PgSession;

const LONG: Duration = Duration::from_secs(60);

async fn within<T>(body: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("the PostgreSQL session test took longer than 60 s")
}

async fn store(test: &str) -> Option<PgStore> {
    fresh_store(test)
        .await
        .map(|s| s.expect("open the test store"))
}

fn session_key(seed: u8) -> SessionKey {
    SessionKey::from_bytes(&[seed; 32])
}

fn auth_key(seed: u8) -> [u8; 256] {
    std::array::from_fn(|i| seed.wrapping_add(i as u8))
}

fn user(id: i64, hash: Option<i64>, bot: Option<bool>, is_self: Option<bool>) -> PeerInfo {
    PeerInfo::User {
        id,
        auth: hash.map(PeerAuth::from_hash),
        bot,
        is_self,
    }
}

fn channel(id: i64, hash: Option<i64>, kind: Option<ChannelKind>) -> PeerInfo {
    PeerInfo::Channel {
        id,
        auth: hash.map(PeerAuth::from_hash),
        kind,
    }
}

/// A session like the simulator's: every DC on loopback with its own key, peers of every kind and an
/// updates state with channels.
fn sample() -> SessionData {
    let mut data = SessionData {
        home_dc: 4,
        ..SessionData::default()
    };
    for id in 1..=5 {
        let port = 20_000 + id as u16;
        data.dc_options.insert(
            id,
            DcOption {
                id,
                ipv4: SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
                ipv6: SocketAddrV6::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port, 0, 0),
                auth_key: (id != 5).then(|| auth_key(id as u8)),
            },
        );
    }
    for peer in [
        user(7, Some(70), Some(false), Some(true)),
        user(8, Some(-80), Some(true), None),
        user(9, None, None, Some(false)),
        channel(1_000_000_001, Some(1), Some(ChannelKind::Broadcast)),
        channel(1_000_000_002, Some(2), Some(ChannelKind::Megagroup)),
        channel(1_000_000_003, None, None),
        PeerInfo::Chat { id: 55 },
    ] {
        data.peer_infos.insert(peer.id(), peer);
    }
    data.updates_state.pts = 11;
    data.updates_state.qts = 12;
    data.updates_state.date = 1_700_000_000;
    data.updates_state.seq = 14;
    data.updates_state.channels = vec![
        ChannelState {
            id: 1_000_000_001,
            pts: 100,
        },
        ChannelState {
            id: 1_000_000_002,
            pts: 200,
        },
    ];
    data
}

fn assert_same(found: &SessionData, expected: &SessionData) {
    assert_eq!(found.home_dc, expected.home_dc);
    let mut dcs: Vec<_> = found.dc_options.values().cloned().collect();
    let mut want: Vec<_> = expected.dc_options.values().cloned().collect();
    dcs.sort_by_key(|o| o.id);
    want.sort_by_key(|o| o.id);
    assert_eq!(dcs, want);
    assert_eq!(found.peer_infos, expected.peer_infos);
    assert_eq!(found.updates_state, expected.updates_state);
}

#[tokio::test]
async fn an_imported_session_reads_back_exactly_with_the_same_key() {
    within(async {
        let Some(store) = store("pg_session_roundtrip").await else {
            return;
        };
        let id = store.add_account("alice", None).await.expect("account");
        let data = sample();
        let session = PgSession::import_data(&store, id, session_key(1), None, &data)
            .await
            .expect("import");
        assert_eq!(session.auth_key(), Some(auth_key(4)));
        assert_eq!(session.self_user(), Some(SelfUser { id: 7, bot: false }));
        assert_same(&session.export_data().await.expect("export"), &data);

        let reopened = PgSession::open(&store, id, session_key(1), None)
            .await
            .expect("open");
        assert_same(&reopened.export_data().await.expect("export"), &data);
        assert_eq!(reopened.home_dc_id().expect("home"), 4);
        assert_eq!(
            reopened.peer(PeerId::self_user()).await.expect("self"),
            Some(user(7, Some(70), Some(false), Some(true)))
        );
        assert_eq!(
            reopened
                .peer(PeerId::channel(1_000_000_002).expect("in range"))
                .await
                .expect("peer"),
            Some(channel(
                1_000_000_002,
                Some(2),
                Some(ChannelKind::Megagroup)
            ))
        );
        assert_eq!(
            reopened
                .peer(PeerId::user(12345).expect("in range"))
                .await
                .expect("absent"),
            None
        );
    })
    .await
}

#[tokio::test]
async fn auth_keys_are_sealed_in_the_database_and_open_only_with_the_sealing_key() {
    within(async {
        let Some(store) = store("pg_session_sealed").await else { return };
        let alice = store.add_account("alice", None).await.expect("account");
        let bob = store.add_account("bob", None).await.expect("account");
        PgSession::import_data(&store, alice, session_key(1), None, &sample())
            .await
            .expect("import");
        let client = store.client("inspect").await.expect("client");
        let rows = client
            .query(
                "SELECT dc_id, auth_key FROM session_dcs WHERE account_id = $1 ORDER BY dc_id",
                &[&alice],
            )
            .await
            .expect("rows");
        assert_eq!(rows.len(), 5);
        for row in &rows {
            let dc: i32 = row.get(0);
            let stored: Option<Vec<u8>> = row.get(1);
            match stored {
                None => assert_eq!(dc, 5, "only DC 5 has no key"),
                Some(sealed) => {
                    assert_eq!(sealed.len(), 1 + 12 + 256 + 16, "DC {dc}");
                    let plain = auth_key(dc as u8);
                    assert!(
                        !sealed.windows(16).any(|w| plain.windows(16).any(|p| p == w)),
                        "DC {dc}: no run of the auth key is stored in clear"
                    );
                }
            }
        }

        let err = PgSession::open(&store, alice, session_key(2), None)
            .await
            .expect_err("another key");
        match &err {
            SessionError::WrongKey { account, stored, given } => {
                assert_eq!(account, "alice");
                assert_eq!(stored, &super::super::sealed::hex(&session_key(1).id()));
                assert_eq!(given, &super::super::sealed::hex(&session_key(2).id()));
            }
            other => panic!("expected WrongKey, got {other:?}"),
        }
        assert!(err.is_usage());

        // A sealed key copied into another account's row does not open there.
        PgSession::import_data(&store, bob, session_key(1), None, &SessionData::default())
            .await
            .expect("import bob");
        client
            .execute(
                "UPDATE session_dcs SET auth_key =
                     (SELECT auth_key FROM session_dcs WHERE account_id = $1 AND dc_id = 2)
                 WHERE account_id = $2 AND dc_id = 2",
                &[&alice, &bob],
            )
            .await
            .expect("copy");
        let err = PgSession::open(&store, bob, session_key(1), None)
            .await
            .expect_err("moved key");
        assert!(
            matches!(&err, SessionError::DamagedRow { account, what } if account == "bob" && what.contains("DC 2")),
            "{err:?}"
        );
    })
    .await
}

#[tokio::test]
async fn missing_and_existing_sessions_are_named() {
    within(async {
        let Some(store) = store("pg_session_missing").await else {
            return;
        };
        let id = store.add_account("carol", None).await.expect("account");
        let err = PgSession::open(&store, id, session_key(1), None)
            .await
            .expect_err("none yet");
        assert!(
            matches!(&err, SessionError::NoSession { account } if account == "carol"),
            "{err:?}"
        );
        assert!(err.to_string().contains("log in"), "{err}");
        PgSession::import_data(&store, id, session_key(1), None, &SessionData::default())
            .await
            .expect("first");
        let err = PgSession::import_data(&store, id, session_key(1), None, &sample())
            .await
            .expect_err("second");
        assert!(
            matches!(&err, SessionError::SessionExists { account } if account == "carol"),
            "{err:?}"
        );
        // The refused import changed nothing.
        let kept = PgSession::open(&store, id, session_key(1), None)
            .await
            .expect("open");
        assert_eq!(kept.auth_key(), None);
        assert_eq!(kept.self_user(), None);
    })
    .await
}

#[tokio::test]
async fn session_writes_persist_and_the_latest_self_user_wins() {
    within(async {
        let Some(store) = store("pg_session_writes").await else {
            return;
        };
        let id = store.add_account("dave", None).await.expect("account");
        let session = PgSession::import_data(&store, id, session_key(3), None, &sample())
            .await
            .expect("import");
        session.set_home_dc_id(2).await.expect("home");
        let moved = DcOption {
            id: 2,
            ipv4: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 443),
            ipv6: SocketAddrV6::new(Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped(), 443, 0, 0),
            auth_key: Some(auth_key(99)),
        };
        session.set_dc_option(&moved).await.expect("dc");
        // Another user logs in on this session: the old self user is demoted.
        session
            .cache_peers(vec![
                user(70, Some(700), Some(false), Some(true)),
                channel(1_000_000_003, Some(3), Some(ChannelKind::Gigagroup)),
            ])
            .await
            .expect("peers");
        session
            .set_update_state(UpdateState::Primary {
                pts: 21,
                date: 1_700_000_100,
                seq: 22,
            })
            .await
            .expect("primary");
        session
            .set_update_state(UpdateState::Secondary { qts: 23 })
            .await
            .expect("secondary");
        session
            .set_update_state(UpdateState::Channel {
                id: 1_000_000_003,
                pts: 300,
            })
            .await
            .expect("channel");

        let reopened = PgSession::open(&store, id, session_key(3), None)
            .await
            .expect("open");
        assert_eq!(reopened.home_dc_id().expect("home"), 2);
        assert_eq!(reopened.dc_option(2).expect("dc"), Some(moved));
        assert_eq!(reopened.auth_key(), Some(auth_key(99)));
        assert_eq!(reopened.self_user(), Some(SelfUser { id: 70, bot: false }));
        assert_eq!(
            reopened
                .peer(PeerId::user(7).expect("in range"))
                .await
                .expect("old self"),
            Some(user(7, Some(70), Some(false), Some(false)))
        );
        assert_eq!(
            reopened
                .peer(PeerId::channel(1_000_000_003).expect("in range"))
                .await
                .expect("channel"),
            Some(channel(
                1_000_000_003,
                Some(3),
                Some(ChannelKind::Gigagroup)
            ))
        );
        let state = reopened.updates_state().await.expect("state");
        assert_eq!(
            (state.pts, state.qts, state.date, state.seq),
            (21, 23, 1_700_000_100, 22)
        );
        assert_eq!(
            state.channels,
            vec![
                ChannelState {
                    id: 1_000_000_001,
                    pts: 100
                },
                ChannelState {
                    id: 1_000_000_002,
                    pts: 200
                },
                ChannelState {
                    id: 1_000_000_003,
                    pts: 300
                },
            ]
        );
        let client = store.client("count").await.expect("client");
        let selves: i64 = client
            .query_one(
                "SELECT count(*) FROM session_peers WHERE account_id = $1 AND is_self",
                &[&id],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(selves, 1);

        reopened.clear_authorization().await.expect("log out");
        let cleared = PgSession::open(&store, id, session_key(3), None)
            .await
            .expect("open");
        assert_eq!(cleared.auth_key(), None);
        assert_eq!(cleared.self_user(), None);
        assert_eq!(
            cleared.home_dc_id().expect("home"),
            2,
            "the DC addresses stay"
        );
        assert_eq!(
            cleared.updates_state().await.expect("state"),
            Default::default()
        );
    })
    .await
}

#[tokio::test]
async fn a_worker_that_lost_the_lease_can_neither_open_nor_change_the_session() {
    within(async {
        let Some(store) = store("pg_session_fenced").await else { return };
        let id = store.add_account("erin", None).await.expect("account");
        let old = store.register_worker("a", 1).await.expect("worker");
        let new = store.register_worker("b", 2).await.expect("worker");
        let ttl = Duration::from_millis(1000);
        let lease = store.claim_leases(old, 1, ttl).await.expect("claim").remove(0);
        let session =
            PgSession::import_data(&store, id, session_key(4), Some(lease.clone()), &sample())
                .await
                .expect("import under the lease");
        session.set_home_dc_id(3).await.expect("write while held");
        let before = store.balance(new, ttl).await.expect("balance");
        let left = before.next_expiry.expect("the old worker's lease expires soon");
        assert!(left <= ttl, "expires within the lease time: {left:?}");
        tokio::time::sleep(ttl + Duration::from_millis(300)).await;
        assert_eq!(
            store.balance(new, ttl).await.expect("balance").next_expiry,
            None,
            "no other worker's lease is left to expire"
        );
        let taken = store.claim_leases(new, 1, LONG).await.expect("takeover").remove(0);
        assert!(taken.previous_until.is_some());
        assert_eq!(
            taken.previous_key.as_deref(),
            Some(store.worker_key(old).await.expect("key").as_str()),
            "a takeover names the worker it took the account from"
        );
        assert!(
            store
                .worker_key(new)
                .await
                .expect("key")
                .starts_with(&format!("w{new}-")),
            "keys are unique per worker"
        );

        let err = session.set_home_dc_id(1).await.expect_err("fenced");
        assert!(
            matches!(&err, SessionError::Database { source: PgError::LeaseLost { epoch, .. }, .. } if *epoch == lease.epoch),
            "{err:?}"
        );
        let err = PgSession::open(&store, id, session_key(4), Some(lease))
            .await
            .expect_err("stale lease");
        assert!(
            matches!(&err, SessionError::Database { source: PgError::LeaseLost { .. }, .. }),
            "{err:?}"
        );
        let current = PgSession::open(&store, id, session_key(4), Some(taken))
            .await
            .expect("the new holder opens it");
        assert_eq!(current.home_dc_id().expect("home"), 3, "the fenced write changed nothing");
        current.set_home_dc_id(5).await.expect("the new holder writes");
    })
    .await
}
