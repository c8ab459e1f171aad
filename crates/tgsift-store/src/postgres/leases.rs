//! Workers and account leases: which `tgsift run` process acts for which account.
//!
//! Telegram's limits are per account and two connections on one auth key get it revoked, so an account
//! (with all its channels) is served by one worker at a time. The protocol:
//!
//! - a worker registers ([`PgStore::register_worker`]) and heartbeats; a worker not heard from for the
//!   stale time is dead and counts for nobody's fair share;
//! - it claims free or expired leases with `SELECT … FOR UPDATE SKIP LOCKED` (two workers claiming at
//!   once never wait for or take the same row), up to its fair share — the active accounts divided by
//!   the live workers, rounded up — and each claim bumps the lease's **epoch**;
//! - it renews its leases by heartbeat before they expire; a lease that expired is not renewed (another
//!   worker may be taking it over) but claimed again, with a new epoch;
//! - every write of a leased account's data runs [`fence`] in its own transaction: the row must still
//!   name this worker and epoch and be unexpired by the database's clock, and it stays share-locked until
//!   the write commits, so a takeover waits for the write or the write sees the takeover — never both;
//! - on its own side a worker stops using an account at [`AccountLease::deadline`]: the time it *sent* the
//!   claim or renewal plus nine tenths of the lease time. The database's expiry is later than that, so
//!   the auth key is never used by the old worker after a new one could have claimed it.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{PgError, PgStore};

/// The part of the lease time a worker trusts its own clock for (the rest covers clock rate drift).
const LOCAL_SHARE: f64 = 0.9;

/// An account this worker holds, and the fencing token its writes present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLease {
    /// The account's id.
    pub account_id: i64,
    /// The account's name, for messages.
    pub account: String,
    /// The worker holding it.
    pub worker_id: i64,
    /// The fencing token: bumped by every claim, so a previous holder's writes are refused.
    pub epoch: i64,
    /// When this worker must stop acting for the account unless the lease was renewed (its own clock).
    pub deadline: Instant,
    /// When the previous holder's lease ran out, if this claim took it over from a worker that did not
    /// hand it back (paused, crashed, cut off): until then, and for as long as Telegram keeps an
    /// unpinged connection open after it, that worker's connection may still be live.
    pub previous_until: Option<Instant>,
    /// With `previous_until`: the previous holder's [`PgStore::worker_key`], so a worker on the same
    /// machine can tell whether that process has exited (and its connections closed with it).
    pub previous_key: Option<String>,
}

/// A worker's key in SQL, over a `workers` row named `w`: its id and the microsecond it registered,
/// unique across databases and schemas in practice.
const WORKER_KEY: &str =
    "'w' || w.id || '-' || (extract(epoch FROM w.started_at) * 1000000)::bigint";

impl AccountLease {
    /// Whether the worker may still act for the account at `now`.
    pub fn is_live(&self, now: Instant) -> bool {
        now < self.deadline
    }
}

/// What a renewal found: leases renewed (with new deadlines) and leases this worker no longer holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Renewal {
    /// Still held, with their deadlines moved on.
    pub kept: Vec<AccountLease>,
    /// Expired or taken over: the worker must stop serving these accounts.
    pub lost: Vec<AccountLease>,
}

/// Where a worker stands against its fair share of the accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    /// Active (not disabled) accounts.
    pub accounts: i64,
    /// Live workers, this one included.
    pub workers: i64,
    /// Unexpired leases this worker holds.
    pub held: i64,
    /// `ceil(accounts / workers)`: how many this worker should hold.
    pub share: i64,
    /// How soon the earliest unexpired lease of another worker expires (with the worker's
    /// heartbeat, renewed together): when a dead worker's accounts become claimable, so a worker
    /// looks again then instead of up to a round later.
    pub next_expiry: Option<Duration>,
}

impl Balance {
    /// How many more leases to claim.
    pub fn to_claim(&self) -> usize {
        usize::try_from(self.share - self.held).unwrap_or(0)
    }

    /// How many leases to hand back (after stopping their accounts) so others get their share.
    pub fn surplus(&self) -> usize {
        usize::try_from(self.held - self.share).unwrap_or(0)
    }
}

/// One account's lease as `tgsift workers` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccountLeaseRow {
    /// The account's name.
    pub account: String,
    /// The worker holding it, if any holds it unexpired.
    pub owner: Option<i64>,
    /// The current epoch.
    pub epoch: i64,
    /// Seconds until it expires (negative: expired).
    pub expires_in: Option<f64>,
}

/// One worker as `tgsift workers` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PgWorkerRow {
    /// Worker id.
    pub id: i64,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// tgsift version.
    pub version: String,
    /// Seconds since its last heartbeat.
    pub heartbeat_age: f64,
    /// Whether it stopped cleanly.
    pub stopped: bool,
    /// Whether it is live (not stopped, heard from within the stale time).
    pub alive: bool,
    /// The accounts it holds unexpired leases on.
    pub accounts: Vec<String>,
    /// The error it stopped with, if it recorded one.
    pub exit_error: Option<String>,
}

impl PgStore {
    /// Registers this process as a worker; returns its id. Workers stopped (or silent) for a week are
    /// forgotten.
    pub async fn register_worker(&self, host: &str, pid: u32) -> Result<i64, PgError> {
        let what = "register the worker";
        let client = self.client(what).await?;
        client
            .execute(
                "DELETE FROM workers WHERE coalesce(stopped_at, heartbeat_at) < now() - interval '7 days'",
                &[],
            )
            .await
            .map_err(PgError::sql(what))?;
        let row = client
            .query_one(
                "INSERT INTO workers (host, pid, version) VALUES ($1, $2, $3) RETURNING id",
                &[&host, &i64::from(pid), &env!("CARGO_PKG_VERSION")],
            )
            .await
            .map_err(PgError::sql(what))?;
        Ok(row.get(0))
    }

    /// A key naming worker `worker_id` for as long as it runs (its id and when it registered): what
    /// marks it alive on its machine, and what a lease taken over from it names.
    pub async fn worker_key(&self, worker_id: i64) -> Result<String, PgError> {
        let what = "read the worker's key";
        let client = self.client(what).await?;
        let row = client
            .query_one(
                &format!("SELECT {WORKER_KEY} FROM workers AS w WHERE w.id = $1"),
                &[&worker_id],
            )
            .await
            .map_err(PgError::sql(what))?;
        Ok(row.get(0))
    }

    /// Records a clean stop and hands back every lease the worker holds, so others claim its accounts
    /// at once instead of after the lease time.
    pub async fn stop_worker(&self, worker_id: i64) -> Result<(), PgError> {
        let what = "stop the worker";
        let mut client = self.client(what).await?;
        let tx = client.transaction().await.map_err(PgError::sql(what))?;
        tx.execute(
            "UPDATE account_leases SET owner = NULL, expires_at = NULL WHERE owner = $1",
            &[&worker_id],
        )
        .await
        .map_err(PgError::sql(what))?;
        tx.execute(
            "UPDATE workers SET stopped_at = now(), heartbeat_at = now() WHERE id = $1",
            &[&worker_id],
        )
        .await
        .map_err(PgError::sql(what))?;
        tx.commit().await.map_err(PgError::sql(what))
    }

    /// How many accounts this worker should hold now (`stale`: silence after which a worker is dead).
    pub async fn balance(&self, worker_id: i64, stale: Duration) -> Result<Balance, PgError> {
        let what = "count accounts and workers";
        let client = self.client(what).await?;
        let row = client
            .query_one(
                "SELECT
                     (SELECT count(*) FROM accounts WHERE disabled_reason IS NULL),
                     (SELECT count(*) FROM workers
                      WHERE stopped_at IS NULL
                        AND (heartbeat_at > now() - make_interval(secs => $2) OR id = $1)),
                     (SELECT count(*) FROM account_leases WHERE owner = $1 AND expires_at > now()),
                     (SELECT extract(epoch FROM min(expires_at) - now())::float8 FROM account_leases
                      WHERE owner <> $1 AND expires_at > now())",
                &[&worker_id, &stale.as_secs_f64()],
            )
            .await
            .map_err(PgError::sql(what))?;
        let (accounts, workers, held): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let next_expiry = row
            .get::<_, Option<f64>>(3)
            .filter(|s| s.is_finite())
            .map(|s| Duration::from_secs_f64(s.max(0.0)));
        let workers = workers.max(1);
        Ok(Balance {
            accounts,
            workers,
            held,
            share: (accounts + workers - 1) / workers,
            next_expiry,
        })
    }

    /// Claims up to `want` free or expired leases of active accounts, lowest account id first, each
    /// with a new epoch, valid for `ttl`. Rows another worker is claiming right now are skipped, never
    /// waited for.
    pub async fn claim_leases(
        &self,
        worker_id: i64,
        want: usize,
        ttl: Duration,
    ) -> Result<Vec<AccountLease>, PgError> {
        if want == 0 {
            return Ok(Vec::new());
        }
        let what = "claim account leases";
        let sent = Instant::now();
        let client = self.client(what).await?;
        let want = i64::try_from(want).unwrap_or(i64::MAX);
        let rows = client
            .query(
                &format!(
                    "WITH free AS (
                     SELECT f.account_id, f.owner AS old_owner, f.expires_at AS old_expires,
                         (SELECT {WORKER_KEY} FROM workers AS w WHERE w.id = f.owner) AS old_key
                     FROM account_leases AS f
                     JOIN accounts AS fa ON fa.id = f.account_id
                     WHERE fa.disabled_reason IS NULL
                       AND (f.owner IS NULL OR f.expires_at <= now())
                     ORDER BY f.account_id
                     LIMIT $3
                     FOR UPDATE OF f SKIP LOCKED)
                 UPDATE account_leases AS l
                 SET owner = $1, epoch = l.epoch + 1, acquired_at = now(),
                     expires_at = now() + make_interval(secs => $2)
                 FROM accounts AS a, free
                 WHERE a.id = l.account_id AND l.account_id = free.account_id
                 RETURNING l.account_id, a.name, l.epoch,
                     CASE WHEN free.old_owner IS NOT NULL AND free.old_owner <> $1
                          THEN extract(epoch FROM now() - free.old_expires)::float8 END,
                     CASE WHEN free.old_owner IS NOT NULL AND free.old_owner <> $1
                          THEN free.old_key END"
                ),
                &[&worker_id, &ttl.as_secs_f64(), &want],
            )
            .await
            .map_err(PgError::sql(what))?;
        let deadline = local_deadline(sent, ttl);
        let mut leases: Vec<AccountLease> = rows
            .into_iter()
            .map(|row| AccountLease {
                account_id: row.get(0),
                account: row.get(1),
                worker_id,
                epoch: row.get(2),
                deadline,
                // Seconds since the previous lease expired, on the database's clock.
                previous_until: row.get::<_, Option<f64>>(3).map(|ago| {
                    sent.checked_sub(Duration::from_secs_f64(ago.max(0.0)))
                        .unwrap_or(sent)
                }),
                previous_key: row.get(4),
            })
            .collect();
        leases.sort_by_key(|l| l.account_id);
        for lease in &leases {
            tracing::info!(account = %lease.account, worker = worker_id, epoch = lease.epoch, "account lease claimed");
        }
        Ok(leases)
    }

    /// Heartbeat: renews the worker's row and every lease in `leases` that it still holds unexpired, for
    /// another `ttl`. Leases that expired or were taken over come back in [`Renewal::lost`].
    pub async fn renew_leases(
        &self,
        worker_id: i64,
        leases: &[AccountLease],
        ttl: Duration,
    ) -> Result<Renewal, PgError> {
        let what = "renew account leases";
        let sent = Instant::now();
        let mut client = self.client(what).await?;
        let tx = client.transaction().await.map_err(PgError::sql(what))?;
        tx.execute(
            "UPDATE workers SET heartbeat_at = now() WHERE id = $1",
            &[&worker_id],
        )
        .await
        .map_err(PgError::sql(what))?;
        let ids: Vec<i64> = leases.iter().map(|l| l.account_id).collect();
        let epochs: Vec<i64> = leases.iter().map(|l| l.epoch).collect();
        let rows = tx
            .query(
                "UPDATE account_leases AS l SET expires_at = now() + make_interval(secs => $2)
                 FROM unnest($3::bigint[], $4::bigint[]) AS held (account_id, epoch)
                 WHERE l.account_id = held.account_id AND l.epoch = held.epoch
                   AND l.owner = $1 AND l.expires_at > now()
                 RETURNING l.account_id",
                &[&worker_id, &ttl.as_secs_f64(), &ids, &epochs],
            )
            .await
            .map_err(PgError::sql(what))?;
        tx.commit().await.map_err(PgError::sql(what))?;
        let renewed: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let deadline = local_deadline(sent, ttl);
        let mut renewal = Renewal::default();
        for lease in leases {
            if renewed.contains(&lease.account_id) {
                renewal.kept.push(AccountLease {
                    deadline,
                    ..lease.clone()
                });
            } else {
                tracing::warn!(account = %lease.account, worker = worker_id, epoch = lease.epoch, "account lease lost");
                renewal.lost.push(lease.clone());
            }
        }
        Ok(renewal)
    }

    /// Hands a lease back (the worker has stopped serving the account); another worker may claim it at
    /// once. A lease the worker no longer holds is left alone.
    pub async fn release_lease(&self, lease: &AccountLease) -> Result<bool, PgError> {
        let what = "release an account lease";
        let client = self.client(what).await?;
        let changed = client
            .execute(
                "UPDATE account_leases SET owner = NULL, expires_at = NULL
                 WHERE account_id = $1 AND owner = $2 AND epoch = $3",
                &[&lease.account_id, &lease.worker_id, &lease.epoch],
            )
            .await
            .map_err(PgError::sql(what))?;
        Ok(changed == 1)
    }

    /// Every account's lease, by account name.
    pub async fn leases(&self) -> Result<Vec<AccountLeaseRow>, PgError> {
        let what = "list account leases";
        let client = self.client(what).await?;
        let rows = client
            .query(
                "SELECT a.name, l.owner, l.epoch,
                        extract(epoch FROM l.expires_at - now())::float8
                 FROM accounts AS a JOIN account_leases AS l ON l.account_id = a.id
                 ORDER BY a.name",
                &[],
            )
            .await
            .map_err(PgError::sql(what))?;
        Ok(rows
            .into_iter()
            .map(|row| AccountLeaseRow {
                account: row.get(0),
                owner: row.get(1),
                epoch: row.get(2),
                expires_in: row.get(3),
            })
            .collect())
    }

    /// Every known worker with the accounts it holds, newest first (`stale` as in [`PgStore::balance`]).
    pub async fn workers(&self, stale: Duration) -> Result<Vec<PgWorkerRow>, PgError> {
        let what = "list workers";
        let client = self.client(what).await?;
        let rows = client
            .query(
                "SELECT w.id, w.host, w.pid, w.version,
                        extract(epoch FROM now() - w.heartbeat_at)::float8,
                        w.stopped_at IS NOT NULL,
                        w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1),
                        coalesce(array_agg(a.name ORDER BY a.name)
                                 FILTER (WHERE a.name IS NOT NULL), '{}'),
                        w.exit_error
                 FROM workers AS w
                 LEFT JOIN account_leases AS l ON l.owner = w.id AND l.expires_at > now()
                 LEFT JOIN accounts AS a ON a.id = l.account_id
                 GROUP BY w.id
                 ORDER BY w.id DESC",
                &[&stale.as_secs_f64()],
            )
            .await
            .map_err(PgError::sql(what))?;
        Ok(rows
            .into_iter()
            .map(|row| PgWorkerRow {
                id: row.get(0),
                host: row.get(1),
                pid: row.get(2),
                version: row.get(3),
                heartbeat_age: row.get(4),
                stopped: row.get(5),
                alive: row.get(6),
                accounts: row.get(7),
                exit_error: row.get(8),
            })
            .collect())
    }
}

/// Checks, inside the transaction of a write, that `lease` still holds: same owner and epoch, unexpired
/// by the database's clock at this moment. The lease row stays share-locked until the transaction
/// ends, so a takeover cannot commit between this check and the write.
pub async fn fence(
    tx: &tokio_postgres::Transaction<'_>,
    lease: &AccountLease,
) -> Result<(), PgError> {
    // A lease row locked by a stalled transaction (a paused worker's renewal) must not stall this
    // write for longer than that transaction can live; it fails and is tried again.
    tx.batch_execute("SET LOCAL lock_timeout = '2s'")
        .await
        .map_err(PgError::sql("check the account lease"))?;
    let held = tx
        .query_opt(
            "SELECT 1 FROM account_leases
             WHERE account_id = $1 AND owner = $2 AND epoch = $3 AND expires_at > clock_timestamp()
             FOR SHARE",
            &[&lease.account_id, &lease.worker_id, &lease.epoch],
        )
        .await
        .map_err(PgError::sql("check the account lease"))?;
    match held {
        Some(_) => Ok(()),
        None => Err(PgError::LeaseLost {
            account: lease.account.clone(),
            worker_id: lease.worker_id,
            epoch: lease.epoch,
        }),
    }
}

/// The local deadline of a lease claimed or renewed by a request sent at `sent`.
fn local_deadline(sent: Instant, ttl: Duration) -> Instant {
    sent + ttl.mul_f64(LOCAL_SHARE)
}

#[cfg(test)]
mod tests;
