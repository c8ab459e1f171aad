//! The peer cache's row codec: a grammers [`PeerInfo`] spelled out column by column in `peer_info`, so
//! every field round-trips exactly (grammers' own storage packs the subtype into bits and loses
//! `bot: Some(false)` and the community kind).

use grammers_session::types::{ChannelKind, PeerAuth, PeerId, PeerInfo, PeerKind};
use rusqlite::{Connection, OptionalExtension, params};

pub(super) const PEER_COLUMNS: &str = "peer_id, hash, bot, is_self, channel_kind";

/// One `peer_info` row: a [`PeerInfo`] spelled out in columns.
pub(super) struct PeerRow {
    pub(super) peer_id: i64,
    pub(super) hash: Option<i64>,
    pub(super) bot: Option<bool>,
    pub(super) is_self: Option<bool>,
    pub(super) channel_kind: Option<i64>,
}

impl PeerRow {
    /// The row for `info`; `None` if its id is outside Telegram's ranges (it could not be read back).
    pub(super) fn from_info(info: &PeerInfo) -> Option<PeerRow> {
        let peer_id = peer_id_of(info).ok()?.bot_api_dialog_id()?;
        Some(match *info {
            PeerInfo::User {
                auth, bot, is_self, ..
            } => PeerRow {
                peer_id,
                hash: auth.map(PeerAuth::hash),
                bot,
                is_self,
                channel_kind: None,
            },
            PeerInfo::Chat { .. } => PeerRow {
                peer_id,
                hash: None,
                bot: None,
                is_self: None,
                channel_kind: None,
            },
            PeerInfo::Channel { auth, kind, .. } => PeerRow {
                peer_id,
                hash: auth.map(PeerAuth::hash),
                bot: None,
                is_self: None,
                channel_kind: kind.map(channel_kind_code),
            },
        })
    }

    /// The [`PeerInfo`] this row stands for, or what is wrong with it.
    pub(super) fn into_info(self) -> Result<PeerInfo, String> {
        let peer = PeerId::from_bot_api_dialog_id(self.peer_id)
            .ok_or_else(|| format!("cached peer id {} is out of range", self.peer_id))?;
        let id = peer
            .bare_id()
            .ok_or_else(|| format!("cached peer id {} has no bare id", self.peer_id))?;
        let auth = self.hash.map(PeerAuth::from_hash);
        Ok(match peer.kind() {
            PeerKind::User => PeerInfo::User {
                id,
                auth,
                bot: self.bot,
                is_self: self.is_self,
            },
            PeerKind::Chat => PeerInfo::Chat { id },
            PeerKind::Channel => PeerInfo::Channel {
                id,
                auth,
                kind: self
                    .channel_kind
                    .map(|code| {
                        channel_kind_from_code(code)
                            .ok_or_else(|| format!("channel {id} has an unknown kind {code}"))
                    })
                    .transpose()?,
            },
        })
    }

    pub(super) fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<PeerRow> {
        Ok(PeerRow {
            peer_id: r.get(0)?,
            hash: r.get(1)?,
            bot: r.get(2)?,
            is_self: r.get(3)?,
            channel_kind: r.get(4)?,
        })
    }

    pub(super) fn select(conn: &Connection, peer_id: i64) -> rusqlite::Result<Option<PeerRow>> {
        conn.prepare_cached(&format!(
            "SELECT {PEER_COLUMNS} FROM peer_info WHERE peer_id = ?1"
        ))?
        .query_row([peer_id], PeerRow::read)
        .optional()
    }

    /// Upserts the row; a new self user takes the flag from any previous one (one login per session).
    pub(super) fn write(&self, conn: &Connection) -> rusqlite::Result<()> {
        if self.is_self == Some(true) {
            conn.prepare_cached(
                "UPDATE peer_info SET is_self = 0 WHERE is_self = 1 AND peer_id <> ?1",
            )?
            .execute([self.peer_id])?;
        }
        conn.prepare_cached(
            "INSERT INTO peer_info (peer_id, hash, bot, is_self, channel_kind)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (peer_id) DO UPDATE SET
                 hash = excluded.hash, bot = excluded.bot, is_self = excluded.is_self,
                 channel_kind = excluded.channel_kind",
        )?
        .execute(params![
            self.peer_id,
            self.hash,
            self.bot,
            self.is_self,
            self.channel_kind
        ])?;
        Ok(())
    }
}

/// The [`PeerId`] of `info`, checked (grammers' `PeerInfo::id` asserts the range only in debug builds).
/// What caching `peer` changes, given how `stored` finds the peer already cached: the merged peer
/// (grammers' `PeerInfo::extend_info`, as grammers merges) and its row, or `None` when nothing
/// changes or the peer cannot be stored (an id out of range, logged). Both session storages cache
/// peers through this, so they merge alike.
pub(super) fn merge_peer<E>(
    peer: PeerInfo,
    stored: impl FnOnce(i64) -> Result<Option<PeerInfo>, E>,
) -> Result<Option<(PeerInfo, PeerRow)>, E> {
    let Some(new) = PeerRow::from_info(&peer) else {
        tracing::warn!(peer = %peer_label(&peer), "not caching a peer with an out-of-range id");
        return Ok(None);
    };
    let old = stored(new.peer_id)?;
    let merged = match old.clone() {
        Some(mut old) => {
            old.extend_info(&peer);
            old
        }
        None => peer,
    };
    if old.as_ref() == Some(&merged) {
        return Ok(None);
    }
    Ok(PeerRow::from_info(&merged).map(|row| (merged, row)))
}

pub(super) fn peer_id_of(info: &PeerInfo) -> Result<PeerId, String> {
    let checked = match *info {
        PeerInfo::User { id, .. } => PeerId::user(id),
        PeerInfo::Chat { id } => PeerId::chat(id),
        PeerInfo::Channel { id, .. } => PeerId::channel(id),
    };
    checked.ok_or_else(|| "a cached peer has an out-of-range id".to_string())
}

/// "user 123" etc., for logs: unlike `PeerInfo`'s `Debug`, it leaves the access hash out.
pub(super) fn peer_label(info: &PeerInfo) -> String {
    match *info {
        PeerInfo::User { id, .. } => format!("user {id}"),
        PeerInfo::Chat { id } => format!("chat {id}"),
        PeerInfo::Channel { id, .. } => format!("channel {id}"),
    }
}

pub(super) fn channel_kind_code(kind: ChannelKind) -> i64 {
    match kind {
        ChannelKind::Broadcast => 1,
        ChannelKind::Megagroup => 2,
        ChannelKind::Gigagroup => 3,
        ChannelKind::Community => 4,
    }
}

pub(super) fn channel_kind_from_code(code: i64) -> Option<ChannelKind> {
    match code {
        1 => Some(ChannelKind::Broadcast),
        2 => Some(ChannelKind::Megagroup),
        3 => Some(ChannelKind::Gigagroup),
        4 => Some(ChannelKind::Community),
        _ => None,
    }
}
