use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use super::super::{PgError, PgStore, fence, latest_version};
use super::AccountLease;
use crate::testing::postgres::fresh_store;

const LONG: Duration = Duration::from_secs(60);
const STALE: Duration = Duration::from_secs(30);

/// Runs a test body with a deadline (tokio-postgres has no statement timeout of its own).
async fn within<T>(body: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("the PostgreSQL test took longer than 60 s")
}

/// A migrated store in the test's own schema, or `None` when PostgreSQL tests are skipped.
async fn store(test: &str) -> Option<PgStore> {
    fresh_store(test)
        .await
        .map(|s| s.expect("open the test store"))
}

async fn accounts(store: &PgStore, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            store
                .add_account(&format!("acct{i}"), None)
                .await
                .expect("add"),
        );
    }
    ids
}

fn ids(leases: &[AccountLease]) -> BTreeSet<i64> {
    leases.iter().map(|l| l.account_id).collect()
}

#[tokio::test]
async fn migrations_are_applied_once_even_by_workers_starting_together() {
    within(async {
        let Some(first) = store("migrations_once").await else {
            return;
        };
        assert_eq!(
            first.schema_version().await.expect("version"),
            latest_version()
        );
        assert!(latest_version() >= 1);
        // Three more workers open the same (already migrated) schema at once.
        let config = crate::testing::postgres::fresh_config("migrations_once_together")
            .await
            .expect("configured");
        let (a, b, c) = tokio::join!(
            PgStore::open_config(config.clone()),
            PgStore::open_config(config.clone()),
            PgStore::open_config(config.clone()),
        );
        for store in [a, b, c] {
            let store = store.expect("concurrent open");
            assert_eq!(
                store.schema_version().await.expect("version"),
                latest_version()
            );
        }
        let again = PgStore::open_config(config).await.expect("reopen");
        let client = again.client("count").await.expect("client");
        let applied: i64 = client
            .query_one("SELECT count(*) FROM refinery_schema_history", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(applied, latest_version());
    })
    .await
}

#[tokio::test]
async fn a_database_from_a_newer_tgsift_is_refused_unchanged() {
    within(async {
        let Some(store) = store("newer_schema").await else { return };
        let client = store.client("fake a newer version").await.expect("client");
        client
            .execute(
                "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
                 SELECT 99, 'from_the_future', applied_on, checksum
                 FROM refinery_schema_history WHERE version = 1",
                &[],
            )
            .await
            .expect("insert");
        let config = crate::testing::postgres::schema_config("newer_schema").expect("configured");
        let err = PgStore::open_config(config).await.expect_err("too new");
        assert!(
            matches!(err, PgError::TooNew { found: 99, supported, .. } if supported == latest_version()),
            "{err:?}"
        );
        assert!(err.is_usage());
        assert!(err.to_string().contains("upgrade tgsift"), "{err}");
    })
    .await
}

#[tokio::test]
async fn three_workers_claiming_at_once_split_six_accounts_two_each() {
    within(async {
        let Some(store) = store("fair_split").await else {
            return;
        };
        let all: BTreeSet<i64> = accounts(&store, 6).await.into_iter().collect();
        let mut workers = Vec::new();
        for pid in 1..=3 {
            workers.push(store.register_worker("host", pid).await.expect("register"));
        }
        for &w in &workers {
            let balance = store.balance(w, STALE).await.expect("balance");
            assert_eq!((balance.accounts, balance.workers, balance.held), (6, 3, 0));
            assert_eq!(balance.to_claim(), 2);
        }
        let (a, b, c) = tokio::join!(
            store.claim_leases(workers[0], 2, LONG),
            store.claim_leases(workers[1], 2, LONG),
            store.claim_leases(workers[2], 2, LONG),
        );
        let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
        assert_eq!((a.len(), b.len(), c.len()), (2, 2, 2));
        let union: BTreeSet<i64> = ids(&a).union(&ids(&b)).copied().collect();
        let union: BTreeSet<i64> = union.union(&ids(&c)).copied().collect();
        assert_eq!(union, all, "every account leased exactly once");
        assert!(a.iter().chain(&b).chain(&c).all(|l| l.epoch == 1));
        // Nothing is left to claim, and each worker now holds its share.
        assert!(
            store
                .claim_leases(workers[0], 6, LONG)
                .await
                .expect("claim")
                .is_empty()
        );
        let balance = store.balance(workers[0], STALE).await.expect("balance");
        assert_eq!(
            (balance.held, balance.to_claim(), balance.surplus()),
            (2, 0, 0)
        );
        let listed = store.workers(STALE).await.expect("workers");
        assert_eq!(listed.len(), 3);
        assert!(listed.iter().all(|w| w.alive && w.accounts.len() == 2));
    })
    .await
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_with_a_new_epoch_and_fences_out_the_old_holder() {
    within(async {
        let Some(store) = store("takeover").await else {
            return;
        };
        accounts(&store, 1).await;
        let old = store.register_worker("a", 1).await.expect("register");
        let new = store.register_worker("b", 2).await.expect("register");
        let ttl = Duration::from_millis(1200);
        let mine = store.claim_leases(old, 1, ttl).await.expect("claim");
        assert_eq!(mine.len(), 1);
        let lease = mine[0].clone();
        assert!(lease.is_live(Instant::now()));
        assert!(
            lease.deadline <= Instant::now() + ttl,
            "the local deadline is inside the lease time"
        );
        // While it is held, nobody else gets it.
        assert!(
            store
                .claim_leases(new, 1, ttl)
                .await
                .expect("claim")
                .is_empty()
        );
        // A renewal in time keeps it.
        let renewal = store.renew_leases(old, &mine, ttl).await.expect("renew");
        assert_eq!((renewal.kept.len(), renewal.lost.len()), (1, 0));
        tokio::time::sleep(ttl + Duration::from_millis(300)).await;
        assert!(!renewal.kept[0].is_live(Instant::now()));
        // Expired: the other worker takes it over, with a new epoch.
        let taken = store.claim_leases(new, 1, LONG).await.expect("takeover");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].account_id, lease.account_id);
        assert_eq!(taken[0].epoch, lease.epoch + 1);
        // The old holder can neither renew nor write.
        let renewal = store
            .renew_leases(old, &renewal.kept, ttl)
            .await
            .expect("renew");
        assert_eq!((renewal.kept.len(), renewal.lost.len()), (0, 1));
        let mut client = store.client("write").await.expect("client");
        let tx = client.transaction().await.expect("tx");
        let err = fence(&tx, &lease).await.expect_err("fenced out");
        assert!(
            matches!(err, PgError::LeaseLost { epoch, .. } if epoch == lease.epoch),
            "{err:?}"
        );
        tx.rollback().await.expect("rollback");
        let tx = client.transaction().await.expect("tx");
        fence(&tx, &taken[0]).await.expect("the new holder writes");
        tx.commit().await.expect("commit");
        // Releasing the stale lease does nothing; the new holder keeps it.
        assert!(!store.release_lease(&lease).await.expect("release"));
        let rows = store.leases().await.expect("leases");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].owner, rows[0].epoch), (Some(new), 2));
    })
    .await
}

#[tokio::test]
async fn a_write_in_progress_holds_off_a_takeover_until_it_commits() {
    within(async {
        let Some(store) = store("fence_lock").await else {
            return;
        };
        accounts(&store, 1).await;
        let old = store.register_worker("a", 1).await.expect("register");
        let new = store.register_worker("b", 2).await.expect("register");
        let ttl = Duration::from_millis(800);
        let lease = store
            .claim_leases(old, 1, ttl)
            .await
            .expect("claim")
            .remove(0);
        let mut client = store.client("write").await.expect("client");
        let tx = client.transaction().await.expect("tx");
        fence(&tx, &lease).await.expect("held");
        tokio::time::sleep(ttl + Duration::from_millis(200)).await;
        // Expired by the clock, but the write that checked it has not committed: the row is skipped.
        assert!(
            store
                .claim_leases(new, 1, LONG)
                .await
                .expect("claim")
                .is_empty()
        );
        tx.commit().await.expect("commit");
        let taken = store.claim_leases(new, 1, LONG).await.expect("claim");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].epoch, lease.epoch + 1);
    })
    .await
}

#[tokio::test]
async fn released_and_stopped_workers_leases_are_claimable_at_once() {
    within(async {
        let Some(store) = store("release").await else {
            return;
        };
        accounts(&store, 3).await;
        let first = store.register_worker("a", 1).await.expect("register");
        let held = store.claim_leases(first, 3, LONG).await.expect("claim");
        assert_eq!(held.len(), 3);
        let second = store.register_worker("b", 2).await.expect("register");
        let balance = store.balance(first, STALE).await.expect("balance");
        assert_eq!((balance.share, balance.surplus()), (2, 1));
        assert!(store.release_lease(&held[2]).await.expect("release"));
        let got = store.claim_leases(second, 2, LONG).await.expect("claim");
        assert_eq!(ids(&got), BTreeSet::from([held[2].account_id]));
        assert_eq!(got[0].epoch, 2);
        store.stop_worker(first).await.expect("stop");
        let got = store.claim_leases(second, 3, LONG).await.expect("claim");
        assert_eq!(ids(&got), ids(&held[..2]));
        let listed = store.workers(STALE).await.expect("workers");
        let stopped = listed.iter().find(|w| w.id == first).expect("first listed");
        assert!(stopped.stopped && !stopped.alive && stopped.accounts.is_empty());
        // A stopped worker no longer counts toward the share.
        let balance = store.balance(second, STALE).await.expect("balance");
        assert_eq!((balance.workers, balance.share, balance.held), (1, 3, 3));
    })
    .await
}

#[tokio::test]
async fn disabled_accounts_are_not_leased() {
    within(async {
        let Some(store) = store("disabled").await else {
            return;
        };
        let ids_ = accounts(&store, 2).await;
        let client = store.client("disable").await.expect("client");
        client
            .execute(
                "UPDATE accounts SET disabled_reason = 'logged out' WHERE id = $1",
                &[&ids_[0]],
            )
            .await
            .expect("disable");
        let worker = store.register_worker("a", 1).await.expect("register");
        let balance = store.balance(worker, STALE).await.expect("balance");
        assert_eq!(balance.accounts, 1);
        let got = store.claim_leases(worker, 2, LONG).await.expect("claim");
        assert_eq!(ids(&got), BTreeSet::from([ids_[1]]));
    })
    .await
}
