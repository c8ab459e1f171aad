//! [`ImportStore`](crate::ImportStore) on SQLite: the rules are the trait's (`crate::model::imports`), the SQL is here.

use rusqlite::{OptionalExtension, params};

use crate::model::imports::*;
use crate::{SqliteStore, StoreError};

impl ImportStore for SqliteStore {
    fn dialog_import(&self, account_id: i64) -> Result<Option<DialogImport>, StoreError> {
        self.read("read a dialogs import", |c| {
            c.query_row(
                "SELECT account_id, options, offset_date, offset_id, offset_peer_kind, offset_peer_id,
                        offset_peer_hash, pages, dialogs, followed, started_at, updated_at, finished_at
                 FROM dialog_imports WHERE account_id = ?1",
                [account_id],
                |r| {
                    let kind: Option<String> = r.get(4)?;
                    Ok(DialogImport {
                        account_id: r.get(0)?,
                        options: r.get(1)?,
                        offset_date: r.get(2)?,
                        offset_id: r.get(3)?,
                        offset_peer: match kind {
                            Some(kind) => Some(OffsetPeer {
                                kind,
                                id: r.get::<_, Option<i64>>(5)?.unwrap_or_default(),
                                access_hash: r.get::<_, Option<i64>>(6)?.unwrap_or_default(),
                            }),
                            None => None,
                        },
                        pages: r.get(7)?,
                        dialogs: r.get(8)?,
                        followed: r.get(9)?,
                        started_at: r.get(10)?,
                        updated_at: r.get(11)?,
                        finished_at: r.get(12)?,
                    })
                },
            )
            .optional()
        })
    }

    fn save_dialog_import(&mut self, i: &DialogImport) -> Result<(), StoreError> {
        let peer = i.offset_peer.as_ref();
        self.write("record a dialogs import", |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO dialog_imports (account_id, options, offset_date, offset_id,
                        offset_peer_kind, offset_peer_id, offset_peer_hash, pages, dialogs, followed,
                        started_at, updated_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    i.account_id,
                    i.options,
                    i.offset_date,
                    i.offset_id,
                    peer.map(|p| p.kind.as_str()),
                    peer.map(|p| p.id),
                    peer.map(|p| p.access_hash),
                    i.pages,
                    i.dialogs,
                    i.followed,
                    i.started_at,
                    i.updated_at,
                    i.finished_at
                ],
            )
            .map(|_| ())
        })
    }
}
