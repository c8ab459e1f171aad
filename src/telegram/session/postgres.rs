//! Sessions in the PostgreSQL store: grammers' [`Session`] on the `sessions`, `session_dcs`,
//! `session_peers` and `session_channel_states` tables, so any worker can serve any account.
//!
//! It keeps what the file sessions keep, the same way (peers column by column, the self user unique),
//! with two differences that come from the database being shared:
//!
//! - auth keys are sealed with the workers' [`SessionKey`] (bound to the account and DC), and the key's
//!   id is stored with the session, so a worker with another key is told so;
//! - a session opened under a [`AccountLease`] checks the lease in the transaction of every write (and of the
//!   load), so a worker that lost the account cannot change its session any more.
//!
//! The home DC, DC options and peers are held in memory (grammers asks for them on every request);
//! writes are serialised and write what memory holds at that moment, so the database ends with the
//! latest value even when grammers issues two writes at once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use grammers_session::types::{
    ChannelState, DcOption, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::{BoxFuture, Session, SessionData};
use tgsift_store::postgres::{AccountLease, PgError, PgStore, fence};
use tokio_postgres::Transaction;

use super::peers::{PeerRow, merge_peer};
use super::sealed::{SessionKey, hex};
use super::{SelfUser, SessionError, dc_option_from_row, dcs_with_auth_key};

/// What grammers reads on every request, and the peer cache.
struct Cache {
    home_dc: i32,
    dc_options: HashMap<i32, DcOption>,
    peers: HashMap<i64, PeerInfo>,
    self_user: Option<i64>,
}

struct Inner {
    store: PgStore,
    account_id: i64,
    account: String,
    lease: Option<AccountLease>,
    key: SessionKey,
    cache: RwLock<Cache>,
    /// Serialises writes (see the module doc).
    writes: tokio::sync::Mutex<()>,
}

impl Inner {
    fn cache(&self) -> RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache_mut(&self) -> RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, source: PgError) -> SessionError {
        SessionError::Database {
            account: self.account.clone(),
            source,
        }
    }

    fn sql(&self, what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> SessionError + '_ {
        move |source| self.error(PgError::Sql { what, source })
    }

    /// Runs `change` in a transaction and, right before it commits, checks the lease (if the session
    /// has one): the lease row is locked only for that last moment.
    async fn commit(&self, what: &'static str, change: Change) -> Result<(), SessionError> {
        let _turn = self.writes.lock().await;
        let mut client = self.store.client(what).await.map_err(|e| self.error(e))?;
        let tx = client.transaction().await.map_err(self.sql(what))?;
        self.apply(&tx, change).await.map_err(self.sql(what))?;
        if let Some(lease) = &self.lease {
            fence(&tx, lease).await.map_err(|e| self.error(e))?;
        }
        tx.commit().await.map_err(self.sql(what))
    }

    async fn apply(
        &self,
        tx: &Transaction<'_>,
        change: Change,
    ) -> Result<(), tokio_postgres::Error> {
        let id = self.account_id;
        match change {
            Change::HomeDc => {
                let home_dc = self.cache().home_dc;
                tx.execute(
                    "UPDATE sessions SET home_dc = $2 WHERE account_id = $1",
                    &[&id, &home_dc],
                )
                .await?;
            }
            Change::Dc(dc_id) => {
                let option = self.cache().dc_options.get(&dc_id).cloned();
                if let Some(option) = option {
                    write_dc(tx, &self.key, id, &option).await?;
                }
            }
            Change::Peers(peers) => {
                let rows = self.merge_peers(peers);
                for row in rows {
                    write_peer(tx, id, &row).await?;
                }
            }
            Change::Update(update) => write_update_state(tx, id, update).await?,
            #[cfg(test)]
            Change::ClearAuthorization => {
                tx.execute(
                    "UPDATE session_dcs SET auth_key = NULL WHERE account_id = $1",
                    &[&id],
                )
                .await?;
                tx.execute("DELETE FROM session_peers WHERE account_id = $1", &[&id])
                    .await?;
                tx.execute(
                    "DELETE FROM session_channel_states WHERE account_id = $1",
                    &[&id],
                )
                .await?;
                tx.execute(
                    "UPDATE sessions SET pts = 0, qts = 0, date = 0, seq = 0 WHERE account_id = $1",
                    &[&id],
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Merges `peers` into the cache (`PeerInfo::extend_info`, as grammers does); returns the rows that
    /// changed, with a previous self user demoted when another one arrives.
    fn merge_peers(&self, peers: Vec<PeerInfo>) -> Vec<PeerRow> {
        let mut cache = self.cache_mut();
        let mut changed: Vec<PeerRow> = Vec::new();
        for peer in peers {
            let found = merge_peer(peer, |id| {
                Ok::<_, std::convert::Infallible>(cache.peers.get(&id).cloned())
            });
            let Ok(Some((merged, row))) = found else {
                continue;
            };
            if row.is_self == Some(true) {
                // One self user per session: the previous one is demoted (write_peer does the same).
                if let Some(previous) = cache.self_user.filter(|p| *p != row.peer_id)
                    && let Some(PeerInfo::User { is_self, .. }) = cache.peers.get_mut(&previous)
                {
                    *is_self = Some(false);
                }
                cache.self_user = Some(row.peer_id);
            } else if cache.self_user == Some(row.peer_id) {
                cache.self_user = None;
            }
            cache.peers.insert(row.peer_id, merged);
            changed.retain(|r| r.peer_id != row.peer_id);
            changed.push(row);
        }
        changed
    }
}

/// A write the session makes; values come from the cache when the write runs.
enum Change {
    HomeDc,
    Dc(i32),
    Peers(Vec<PeerInfo>),
    Update(UpdateState),
    #[cfg(test)]
    ClearAuthorization,
}

/// grammers' [`Session`] for one account in the PostgreSQL store.
#[derive(Clone)]
pub struct PgSession {
    inner: Arc<Inner>,
}

impl fmt::Debug for PgSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = self.inner.cache();
        f.debug_struct("PgSession")
            .field("account", &self.inner.account)
            .field("home_dc", &cache.home_dc)
            .field("dcs_with_auth_key", &dcs_with_auth_key(&cache.dc_options))
            .field("epoch", &self.inner.lease.as_ref().map(|l| l.epoch))
            .finish_non_exhaustive()
    }
}

impl PgSession {
    /// Stores `data` as the new session of account `account_id` (`account import`, or a first login
    /// with `SessionData::default()`). Refuses if the account already has one.
    pub(crate) async fn import_data(
        store: &PgStore,
        account_id: i64,
        key: SessionKey,
        lease: Option<AccountLease>,
        data: &SessionData,
    ) -> Result<Self, SessionError> {
        let what = "import the session";
        let account = account_name(store, account_id).await?;
        let inner = Inner {
            store: store.clone(),
            account_id,
            account,
            lease,
            key,
            cache: RwLock::new(Cache {
                home_dc: data.home_dc,
                dc_options: data.dc_options.clone(),
                peers: HashMap::new(),
                self_user: None,
            }),
            writes: tokio::sync::Mutex::new(()),
        };
        let mut client = store.client(what).await.map_err(|e| inner.error(e))?;
        let tx = client.transaction().await.map_err(inner.sql(what))?;
        if let Some(lease) = &inner.lease {
            fence(&tx, lease).await.map_err(|e| inner.error(e))?;
        }
        let key_id = inner.key.id().to_vec();
        let inserted = tx
            .execute(
                "INSERT INTO sessions (account_id, home_dc, key_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&account_id, &data.home_dc, &key_id],
            )
            .await
            .map_err(inner.sql(what))?;
        if inserted == 0 {
            return Err(SessionError::SessionExists {
                account: inner.account,
            });
        }
        for option in data.dc_options.values() {
            write_dc(&tx, &inner.key, account_id, option)
                .await
                .map_err(inner.sql(what))?;
        }
        let rows = inner.merge_peers(data.peer_infos.values().cloned().collect());
        for row in rows {
            write_peer(&tx, account_id, &row)
                .await
                .map_err(inner.sql(what))?;
        }
        write_update_state(
            &tx,
            account_id,
            UpdateState::All(data.updates_state.clone()),
        )
        .await
        .map_err(inner.sql(what))?;
        tx.commit().await.map_err(inner.sql(what))?;
        drop(client);
        Ok(PgSession {
            inner: Arc::new(inner),
        })
    }

    /// Loads the session of account `account_id`, opening its auth keys with `key`; under `lease`,
    /// only while the lease holds (and every later write checks it again).
    pub async fn open(
        store: &PgStore,
        account_id: i64,
        key: SessionKey,
        lease: Option<AccountLease>,
    ) -> Result<Self, SessionError> {
        let what = "load the session";
        let account = account_name(store, account_id).await?;
        let fail = |source| SessionError::Database {
            account: account.clone(),
            source,
        };
        let sql = |source| SessionError::Database {
            account: account.clone(),
            source: PgError::Sql { what, source },
        };
        let damaged = |what: String| SessionError::DamagedRow {
            account: account.clone(),
            what,
        };
        let mut client = store.client(what).await.map_err(fail)?;
        let tx = client.transaction().await.map_err(sql)?;
        if let Some(lease) = &lease {
            fence(&tx, lease).await.map_err(fail)?;
        }
        let Some(head) = tx
            .query_opt(
                "SELECT home_dc, key_id FROM sessions WHERE account_id = $1",
                &[&account_id],
            )
            .await
            .map_err(sql)?
        else {
            return Err(SessionError::NoSession { account });
        };
        let stored_key: Vec<u8> = head.get(1);
        if stored_key != key.id() {
            return Err(SessionError::WrongKey {
                account,
                stored: hex(&stored_key),
                given: hex(&key.id()),
            });
        }
        let defaults = SessionData::default();
        let home_dc: i32 = head.get::<_, Option<i32>>(0).unwrap_or(defaults.home_dc);
        let mut dc_options = defaults.dc_options;
        for row in tx
            .query(
                "SELECT dc_id, ipv4, ipv6, auth_key FROM session_dcs WHERE account_id = $1",
                &[&account_id],
            )
            .await
            .map_err(sql)?
        {
            let id: i32 = row.get(0);
            let ipv4: String = row.get(1);
            let ipv6: String = row.get(2);
            let sealed: Option<Vec<u8>> = row.get(3);
            let plain = sealed
                .map(|sealed| {
                    key.open(&auth_key_context(account_id, id), &sealed)
                        .map_err(|e| damaged(format!("the auth key of DC {id}: {e}")))
                })
                .transpose()?;
            let option =
                dc_option_from_row(id, &ipv4, &ipv6, plain.as_deref()).map_err(&damaged)?;
            dc_options.insert(id, option);
        }
        let mut peers = HashMap::new();
        let mut self_user = None;
        for row in tx
            .query(
                "SELECT peer_id, hash, bot, is_self, channel_kind FROM session_peers
                 WHERE account_id = $1",
                &[&account_id],
            )
            .await
            .map_err(sql)?
        {
            let peer = PeerRow {
                peer_id: row.get(0),
                hash: row.get(1),
                bot: row.get(2),
                is_self: row.get(3),
                channel_kind: row.get::<_, Option<i16>>(4).map(i64::from),
            };
            let peer_id = peer.peer_id;
            if peer.is_self == Some(true) {
                self_user = Some(peer_id);
            }
            peers.insert(peer_id, peer.into_info().map_err(&damaged)?);
        }
        tx.commit().await.map_err(sql)?;
        drop(client);
        Ok(PgSession {
            inner: Arc::new(Inner {
                store: store.clone(),
                account_id,
                account,
                lease,
                key,
                cache: RwLock::new(Cache {
                    home_dc,
                    dc_options,
                    peers,
                    self_user,
                }),
                writes: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Everything the session holds (to copy it elsewhere, or to inspect it in tests).
    #[cfg(test)]
    pub(crate) async fn export_data(&self) -> Result<SessionData, SessionError> {
        let updates_state = self.updates_state().await?;
        let cache = self.inner.cache();
        let mut peer_infos = HashMap::new();
        for info in cache.peers.values() {
            let id = super::peers::peer_id_of(info).map_err(|what| SessionError::DamagedRow {
                account: self.inner.account.clone(),
                what,
            })?;
            peer_infos.insert(id, info.clone());
        }
        Ok(SessionData {
            home_dc: cache.home_dc,
            dc_options: cache.dc_options.clone(),
            peer_infos,
            updates_state,
        })
    }

    /// The account's name.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// The lease the session's writes are checked against, if any.
    pub fn lease(&self) -> Option<&AccountLease> {
        self.inner.lease.as_ref()
    }

    /// The permanent auth key of the home DC, if one was made or imported.
    pub fn auth_key(&self) -> Option<[u8; 256]> {
        let cache = self.inner.cache();
        cache
            .dc_options
            .get(&cache.home_dc)
            .and_then(|option| option.auth_key)
    }

    /// The user this session is logged in as; `None` means no login was completed.
    pub fn self_user(&self) -> Option<SelfUser> {
        let cache = self.inner.cache();
        match cache.self_user.and_then(|id| cache.peers.get(&id)) {
            Some(PeerInfo::User { id, bot, .. }) => Some(SelfUser {
                id: *id,
                bot: bot.unwrap_or(false),
            }),
            _ => None,
        }
    }

    /// Forgets the login after a log-out: every auth key, the cached peers and the updates state.
    #[cfg(test)]
    pub(crate) async fn clear_authorization(&self) -> Result<(), SessionError> {
        {
            let mut cache = self.inner.cache_mut();
            for option in cache.dc_options.values_mut() {
                option.auth_key = None;
            }
            cache.peers.clear();
            cache.self_user = None;
        }
        self.inner
            .commit("forget the authorization", Change::ClearAuthorization)
            .await
    }

    fn write(&self, what: &'static str, change: Change) -> BoxFuture<'_, Result<(), SessionError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.commit(what, change).await })
    }
}

impl Session for PgSession {
    type Error = SessionError;

    fn home_dc_id(&self) -> Result<i32, SessionError> {
        Ok(self.inner.cache().home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), SessionError>> {
        self.inner.cache_mut().home_dc = dc_id;
        self.write("save the home DC", Change::HomeDc)
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, SessionError> {
        Ok(self.inner.cache().dc_options.get(&dc_id).cloned())
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), SessionError>> {
        let id = dc_option.id;
        self.inner
            .cache_mut()
            .dc_options
            .insert(id, dc_option.clone());
        self.write("save a DC option", Change::Dc(id))
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, SessionError>> {
        let cache = self.inner.cache();
        let found = match peer.bot_api_dialog_id() {
            Some(id) => cache.peers.get(&id).cloned(),
            None => cache.self_user.and_then(|id| cache.peers.get(&id).cloned()),
        };
        Box::pin(async move { Ok(found) })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), SessionError>> {
        self.cache_peers(vec![peer])
    }

    fn cache_peers(&self, peers: Vec<PeerInfo>) -> BoxFuture<'_, Result<(), SessionError>> {
        self.write("cache peers", Change::Peers(peers))
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, SessionError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let what = "read the updates state";
            let client = inner.store.client(what).await.map_err(|e| inner.error(e))?;
            let head = client
                .query_opt(
                    "SELECT pts, qts, date, seq FROM sessions WHERE account_id = $1",
                    &[&inner.account_id],
                )
                .await
                .map_err(inner.sql(what))?;
            let mut state = UpdatesState::default();
            if let Some(row) = head {
                let narrow = |i: usize| -> i32 { row.get::<_, i64>(i) as i32 };
                state.pts = narrow(0);
                state.qts = narrow(1);
                state.date = narrow(2);
                state.seq = narrow(3);
            }
            state.channels = client
                .query(
                    "SELECT channel_id, pts FROM session_channel_states WHERE account_id = $1
                     ORDER BY channel_id",
                    &[&inner.account_id],
                )
                .await
                .map_err(inner.sql(what))?
                .into_iter()
                .map(|row| ChannelState {
                    id: row.get(0),
                    pts: row.get::<_, i64>(1) as i32,
                })
                .collect();
            Ok(state)
        })
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<(), SessionError>> {
        self.write("save the updates state", Change::Update(update))
    }
}

async fn account_name(store: &PgStore, account_id: i64) -> Result<String, SessionError> {
    let what = "find the session's account";
    let database = |source| SessionError::Database {
        account: format!("#{account_id}"),
        source,
    };
    let client = store.client(what).await.map_err(database)?;
    let row = client
        .query_opt("SELECT name FROM accounts WHERE id = $1", &[&account_id])
        .await
        .map_err(|source| database(PgError::Sql { what, source }))?;
    match row {
        Some(row) => Ok(row.get(0)),
        None => Err(database(PgError::UnknownAccount {
            name: format!("#{account_id}"),
        })),
    }
}

/// What an auth key is sealed to: the account and the DC, so a sealed key moved to another row does
/// not open.
fn auth_key_context(account_id: i64, dc_id: i32) -> Vec<u8> {
    format!("tgsift auth key\0account {account_id}\0dc {dc_id}").into_bytes()
}

async fn write_dc(
    tx: &Transaction<'_>,
    key: &SessionKey,
    account_id: i64,
    option: &DcOption,
) -> Result<(), tokio_postgres::Error> {
    let sealed = option
        .auth_key
        .as_ref()
        .map(|k| key.seal(&auth_key_context(account_id, option.id), k));
    tx.execute(
        "INSERT INTO session_dcs (account_id, dc_id, ipv4, ipv6, auth_key) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_id, dc_id) DO UPDATE SET
             ipv4 = excluded.ipv4, ipv6 = excluded.ipv6, auth_key = excluded.auth_key",
        &[
            &account_id,
            &option.id,
            &option.ipv4.to_string(),
            &option.ipv6.to_string(),
            &sealed,
        ],
    )
    .await?;
    Ok(())
}

/// Upserts one peer row; a new self user takes the flag from any previous one.
async fn write_peer(
    tx: &Transaction<'_>,
    account_id: i64,
    row: &PeerRow,
) -> Result<(), tokio_postgres::Error> {
    if row.is_self == Some(true) {
        tx.execute(
            "UPDATE session_peers SET is_self = false
             WHERE account_id = $1 AND is_self AND peer_id <> $2",
            &[&account_id, &row.peer_id],
        )
        .await?;
    }
    let kind = row.channel_kind.and_then(|k| i16::try_from(k).ok());
    tx.execute(
        "INSERT INTO session_peers (account_id, peer_id, hash, bot, is_self, channel_kind)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (account_id, peer_id) DO UPDATE SET
             hash = excluded.hash, bot = excluded.bot, is_self = excluded.is_self,
             channel_kind = excluded.channel_kind",
        &[
            &account_id,
            &row.peer_id,
            &row.hash,
            &row.bot,
            &row.is_self,
            &kind,
        ],
    )
    .await?;
    Ok(())
}

async fn write_update_state(
    tx: &Transaction<'_>,
    account_id: i64,
    update: UpdateState,
) -> Result<(), tokio_postgres::Error> {
    const UPSERT_CHANNEL: &str =
        "INSERT INTO session_channel_states (account_id, channel_id, pts) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, channel_id) DO UPDATE SET pts = excluded.pts";
    let wide = i64::from;
    match update {
        UpdateState::All(state) => {
            tx.execute(
                "UPDATE sessions SET pts = $2, qts = $3, date = $4, seq = $5 WHERE account_id = $1",
                &[
                    &account_id,
                    &wide(state.pts),
                    &wide(state.qts),
                    &wide(state.date),
                    &wide(state.seq),
                ],
            )
            .await?;
            tx.execute(
                "DELETE FROM session_channel_states WHERE account_id = $1",
                &[&account_id],
            )
            .await?;
            for channel in state.channels {
                tx.execute(
                    UPSERT_CHANNEL,
                    &[&account_id, &channel.id, &wide(channel.pts)],
                )
                .await?;
            }
        }
        UpdateState::Primary { pts, date, seq } => {
            tx.execute(
                "UPDATE sessions SET pts = $2, date = $3, seq = $4 WHERE account_id = $1",
                &[&account_id, &wide(pts), &wide(date), &wide(seq)],
            )
            .await?;
        }
        UpdateState::Secondary { qts } => {
            tx.execute(
                "UPDATE sessions SET qts = $2 WHERE account_id = $1",
                &[&account_id, &wide(qts)],
            )
            .await?;
        }
        UpdateState::Channel { id, pts } => {
            tx.execute(UPSERT_CHANNEL, &[&account_id, &id, &wide(pts)])
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
