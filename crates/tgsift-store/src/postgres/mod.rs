//! The PostgreSQL store: one database that several `tgsift run` workers, on several machines, share.
//!
//! [`PgStore`] is a pool of connections (deadpool-postgres over tokio-postgres) to the database named by
//! `storage.database = "postgres://…"`. Opening it applies the embedded migrations (refinery, under an
//! advisory lock so workers starting together do not race) and refuses a database a newer tgsift wrote.
//!
//! What lives here rather than in the SQLite store is what only a shared database needs: the workers'
//! registry and the account leases with their fencing epochs (`leases.rs`), and the tables that hold
//! the accounts' Telegram sessions (see `telegram::session::postgres`). Every time that decides who may
//! act — heartbeats, lease expiry — is the database server's clock, so workers whose clocks disagree
//! still agree on who holds what.
//!
//! Files: this one connects and migrates; `leases.rs` is the workers and their account leases.

pub mod backend;
pub mod copy;
mod leases;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

pub use leases::{AccountLease, AccountLeaseRow, Balance, PgWorkerRow, Renewal, fence};

mod embedded {
    refinery::embed_migrations!("src/postgres/migrations");
}

/// Connections a worker keeps open: ingest, tagging and the control plane write in parallel.
const POOL_SIZE: usize = 8;
/// Accounts served per connection added beyond [`POOL_SIZE`] ([`PgStore::fit_pool`]).
const ACCOUNTS_PER_CONNECTION: usize = 8;
/// The most connections one worker's pool grows to (PostgreSQL's default `max_connections` is 100,
/// shared by every worker).
const POOL_MAX: usize = 24;
/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server lets a transaction sit idle before it ends the session: a worker paused (or
/// cut off) in the middle of a write must not keep the rows it locked — the lease row its write
/// fenced with among them — so another worker can take the account over.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(5);
/// The advisory lock key that serialises migrations between workers ("tgsift" in ASCII).
const MIGRATION_LOCK: i64 = 0x7467_7369_6674;

/// What can go wrong with the PostgreSQL store; each message names the database (never its password).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// `storage.database` is not a PostgreSQL connection string tokio-postgres understands.
    #[error(
        "storage.database is not a valid PostgreSQL URL ({reason}); write it as \
         postgres://USER@HOST:PORT/DATABASE"
    )]
    Url {
        /// What the parser said.
        reason: String,
    },
    /// The server cannot be reached or refused the login.
    #[error(
        "cannot connect to PostgreSQL database {target}: {reason}; check storage.database and that \
         the server is running and accepts this user"
    )]
    Connect {
        /// Where (user, host, port, database).
        target: String,
        /// What the driver said.
        reason: String,
        /// The server answered that the database or the user does not exist or the password is
        /// wrong: the URL is wrong (a usage error), not the server down.
        usage: bool,
    },
    /// The database was migrated by a newer tgsift.
    #[error(
        "PostgreSQL database {target} has schema version {found}, newer than the {supported} this \
         tgsift understands: upgrade tgsift (nothing was changed)"
    )]
    TooNew {
        /// Where.
        target: String,
        /// The newest version applied there.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Applying a migration failed (it was rolled back).
    #[error("migrating PostgreSQL database {target} failed: {reason}")]
    Migration {
        /// Where.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// A statement failed.
    #[error("PostgreSQL: could not {what}: {source}")]
    Sql {
        /// What tgsift was doing.
        what: &'static str,
        /// The driver's error.
        source: tokio_postgres::Error,
    },
    /// No connection could be taken from the pool.
    #[error("PostgreSQL: could not {what}: no connection to {target}: {reason}")]
    Pool {
        /// What tgsift was doing.
        what: &'static str,
        /// Where.
        target: String,
        /// What the pool said.
        reason: String,
    },
    /// This worker no longer holds the account's lease: another worker took it over (or it expired),
    /// so the write was refused and the worker must stop acting for the account.
    #[error(
        "worker {worker_id} lost the lease of account {account} (epoch {epoch}); it stops serving the \
         account and leaves it to the worker that holds it now"
    )]
    LeaseLost {
        /// The account's name.
        account: String,
        /// The worker that lost it.
        worker_id: i64,
        /// The epoch it held.
        epoch: i64,
    },
    /// This worker holds no lease on the account a write was for.
    #[error(
        "this worker holds no lease on account #{account_id}, so it may not write the account's data"
    )]
    NotLeased {
        /// The account's id.
        account_id: i64,
    },
    /// A store call did not finish in time (a hung connection or a lock held too long).
    #[error("PostgreSQL did not answer within {} s", .after.as_secs())]
    TimedOut {
        /// The limit.
        after: Duration,
    },
    /// No account has this name.
    #[error("no account named {name} in the PostgreSQL store; add it first (`tgsift account add`)")]
    UnknownAccount {
        /// The name asked for.
        name: String,
    },
}

impl PgError {
    /// Whether the error is the operator's to fix (exit code 2) rather than a runtime failure.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PgError::Url { .. }
                | PgError::TooNew { .. }
                | PgError::UnknownAccount { .. }
                | PgError::Connect { usage: true, .. }
        )
    }

    fn sql(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> PgError {
        move |source| PgError::Sql { what, source }
    }
}

/// A failed connection as [`PgError::Connect`]: the server's own answer when it gave one (the
/// database does not exist, the login was refused), which is then a usage error.
fn connect_error(target: &str, e: &tokio_postgres::Error) -> PgError {
    use tokio_postgres::error::SqlState;
    let answer = e.as_db_error();
    let usage = answer.is_some_and(|d| {
        [
            SqlState::INVALID_CATALOG_NAME,
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            SqlState::INVALID_PASSWORD,
        ]
        .contains(d.code())
    });
    PgError::Connect {
        target: target.to_string(),
        reason: answer.map_or_else(|| e.to_string(), |d| d.message().to_string()),
        usage,
    }
}

/// A pool of connections to tgsift's PostgreSQL database, migrated to this build's schema.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    target: String,
    /// For connections outside the pool (LISTEN).
    config: std::sync::Arc<tokio_postgres::Config>,
    /// The schema versions before and after this open's migrations.
    migrated: crate::Migrated,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://…`), migrates the schema and returns the pool.
    pub async fn open(url: &str) -> Result<Self, PgError> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| PgError::Url {
            reason: e.to_string(),
        })?;
        Self::open_config(config).await
    }

    /// As [`PgStore::open`], from a parsed configuration (tests point `search_path` at a schema of
    /// their own this way).
    pub async fn open_config(mut config: tokio_postgres::Config) -> Result<Self, PgError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("tgsift");
        }
        // synchronous_commit=off: a commit returns before its WAL record is flushed. A crash of the
        // server can then lose the last few hundred milliseconds of commits — never half of one, and
        // a batch commits with its checkpoint, so what is lost is fetched again (upserts) — while
        // every page no longer waits for a disk flush (SQLite's synchronous=NORMAL makes the same
        // trade).
        let idle = format!(
            "-c idle_in_transaction_session_timeout={} -c synchronous_commit=off",
            IDLE_IN_TRANSACTION.as_millis()
        );
        let options = match config.get_options() {
            Some(given) => format!("{given} {idle}"),
            None => idle,
        };
        config.options(options);
        let target = describe(&config);
        let migrated = migrate(&config, &target).await?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| PgError::Connect {
                target: target.clone(),
                reason: e.to_string(),
                usage: false,
            })?;
        Ok(PgStore {
            pool,
            target,
            config: std::sync::Arc::new(config),
            migrated,
        })
    }

    /// The same database through a pool of its own of `size` connections: work that must never wait
    /// behind the data's writes for a connection (a worker's lease renewals) gets one.
    pub fn dedicated(&self, size: usize) -> Result<PgStore, PgError> {
        let manager = Manager::from_config(
            (*self.config).clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .build()
            .map_err(|e| PgError::Connect {
                target: self.target.clone(),
                reason: e.to_string(),
                usage: false,
            })?;
        Ok(PgStore {
            pool,
            target: self.target.clone(),
            config: std::sync::Arc::clone(&self.config),
            migrated: self.migrated,
        })
    }

    /// Sizes the pool to a worker serving `accounts` accounts: [`POOL_SIZE`] connections, one more
    /// per [`ACCOUNTS_PER_CONNECTION`] accounts, at most [`POOL_MAX`]; connections beyond a smaller
    /// size are closed as they come back.
    pub fn fit_pool(&self, accounts: usize) {
        let size = (POOL_SIZE + accounts.div_ceil(ACCOUNTS_PER_CONNECTION)).min(POOL_MAX);
        if self.pool.status().max_size != size {
            self.pool.resize(size);
        }
    }

    /// The schema versions found and left by this open (`tgsift migrate` reports them).
    pub fn migrated(&self) -> crate::Migrated {
        self.migrated
    }

    /// `user@host:port/database`, for messages (the password is never part of it).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A connection from the pool, for `what` (named in the error if none can be had); the store's
    /// own methods and tests that look at the tables use it.
    pub async fn client(&self, what: &'static str) -> Result<deadpool_postgres::Object, PgError> {
        self.pool.get().await.map_err(|e| PgError::Pool {
            what,
            target: self.target.clone(),
            reason: e.to_string(),
        })
    }

    /// A connection of its own that LISTENs on `channels` (constants of tgsift, not user input):
    /// each notification's channel name comes out of [`Listener::next`]. Notifications carry the
    /// schema they were raised in; only this store's schema's are passed on (installations in other
    /// schemas of the same database do not wake each other).
    pub async fn listen(&self, channels: &[&str]) -> Result<Listener, PgError> {
        use futures_util::StreamExt as _;
        let (client, mut connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| connect_error(&self.target, &e))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (schema_tx, schema_rx) = tokio::sync::oneshot::channel::<String>();
        let driver = tokio::spawn(async move {
            let mut own: Option<String> = None;
            let mut schema_rx = Some(schema_rx);
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        if own.is_none()
                            && let Some(rx) = schema_rx.take()
                        {
                            own = rx.await.ok();
                        }
                        if own.as_deref() != Some(n.payload()) {
                            continue;
                        }
                        if tx.send(n.channel().to_string()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "the LISTEN connection ended");
                        return;
                    }
                }
            }
        });
        let schema: String = client
            .query_one("SELECT current_schema()::text", &[])
            .await
            .map_err(PgError::sql("listen for notifications"))?
            .get(0);
        let _ = schema_tx.send(schema);
        for channel in channels {
            client
                .batch_execute(&format!("LISTEN {channel}"))
                .await
                .map_err(PgError::sql("listen for notifications"))?;
        }
        Ok(Listener {
            _client: client,
            notifications: rx,
            driver,
        })
    }

    /// The id of the account called `name`.
    pub async fn account_id(&self, name: &str) -> Result<i64, PgError> {
        let client = self.client("find an account").await?;
        client
            .query_opt("SELECT id FROM accounts WHERE name = $1", &[&name])
            .await
            .map_err(PgError::sql("find an account"))?
            .map(|row| row.get(0))
            .ok_or_else(|| PgError::UnknownAccount { name: name.into() })
    }

    /// Adds an account (and its free lease row); returns its id, or the existing one's id if the name
    /// is taken.
    pub async fn add_account(&self, name: &str, phone: Option<&str>) -> Result<i64, PgError> {
        let what = "add an account";
        let mut client = self.client(what).await?;
        let tx = client.transaction().await.map_err(PgError::sql(what))?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO accounts (name, phone) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET phone = coalesce(excluded.phone, accounts.phone)
                 RETURNING id",
                &[&name, &phone],
            )
            .await
            .map_err(PgError::sql(what))?
            .get(0);
        tx.execute(
            "INSERT INTO account_leases (account_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&id],
        )
        .await
        .map_err(PgError::sql(what))?;
        tx.commit().await.map_err(PgError::sql(what))?;
        Ok(id)
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, PgError> {
        let what = "read the schema version";
        let client = self.client(what).await?;
        let row = client
            .query_one(
                "SELECT coalesce(max(version), 0)::bigint FROM refinery_schema_history",
                &[],
            )
            .await
            .map_err(PgError::sql(what))?;
        Ok(row.get(0))
    }
}

/// The schema version this build of tgsift writes to PostgreSQL.
pub fn latest_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// Applies the embedded migrations on a connection of its own, holding a session advisory lock so that
/// workers starting at once migrate one after another; closing the connection releases the lock even
/// if a migration fails half-way.
async fn migrate(
    config: &tokio_postgres::Config,
    target: &str,
) -> Result<crate::Migrated, PgError> {
    let (mut client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| connect_error(target, &e))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "the migration connection ended");
        }
    });
    let result = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(PgError::sql("wait for the migration lock"))?;
        let report = embedded::migrations::runner()
            .set_abort_missing(true)
            .set_abort_divergent(true)
            .run_async(&mut client)
            .await
            .map_err(|e| migration_error(target, e))?;
        for applied in report.applied_migrations() {
            tracing::info!(
                database = target,
                version = applied.version(),
                name = applied.name(),
                "PostgreSQL schema migrated"
            );
        }
        // V8's data step (see the migration), until it has run once.
        if backend::tagging::name_tags_once(&mut client)
            .await
            .map_err(PgError::sql("name the stored tags (migration V8)"))?
        {
            tracing::info!(database = target, "stored tags named: one name per tag");
        }
        let to = usize::try_from(latest_version()).unwrap_or(0);
        let first = report
            .applied_migrations()
            .iter()
            .map(|m| m.version())
            .min();
        let from = first.map_or(to, |v| usize::try_from(v).unwrap_or(1).saturating_sub(1));
        Ok(crate::Migrated { from, to })
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}

fn migration_error(target: &str, e: refinery::Error) -> PgError {
    match e.kind() {
        refinery::error::Kind::MissingVersion(applied) => PgError::TooNew {
            target: target.into(),
            found: i64::from(applied.version()),
            supported: latest_version(),
        },
        _ => PgError::Migration {
            target: target.into(),
            reason: e.to_string(),
        },
    }
}

/// `user@host:port/database` from a configuration.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("(default user)");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{db}")
}

/// A LISTENing connection (see [`PgStore::listen`]); dropping it closes the connection.
pub struct Listener {
    _client: tokio_postgres::Client,
    notifications: tokio::sync::mpsc::UnboundedReceiver<String>,
    driver: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// The channel of the next notification; `None` once the connection has ended.
    pub async fn next(&mut self) -> Option<String> {
        self.notifications.recv().await
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
