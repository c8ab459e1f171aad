//! [`ImportStore`] on PostgreSQL: each account's dialogs import, as in the SQLite store.

use super::PgBackend;
use crate::StoreError;
use crate::model::imports::{DialogImport, ImportStore, OffsetPeer};

impl ImportStore for PgBackend {
    fn dialog_import(&self, account_id: i64) -> Result<Option<DialogImport>, StoreError> {
        self.tx("read a dialogs import", async |tx| {
            let row = tx
                .query_opt(
                    "SELECT account_id, options, offset_date, offset_id, offset_peer_kind,
                            offset_peer_id, offset_peer_hash, pages, dialogs, followed, started_at,
                            updated_at, finished_at
                     FROM dialog_imports WHERE account_id = $1",
                    &[&account_id],
                )
                .await?;
            let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
            let count = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
            Ok(row.map(|r| DialogImport {
                account_id: r.get(0),
                options: r.get(1),
                offset_date: int(r.get(2)),
                offset_id: int(r.get(3)),
                offset_peer: r.get::<_, Option<String>>(4).map(|kind| OffsetPeer {
                    kind,
                    id: r.get::<_, Option<i64>>(5).unwrap_or_default(),
                    access_hash: r.get::<_, Option<i64>>(6).unwrap_or_default(),
                }),
                pages: count(r.get(7)),
                dialogs: count(r.get(8)),
                followed: count(r.get(9)),
                started_at: r.get(10),
                updated_at: r.get(11),
                finished_at: r.get(12),
            }))
        })
    }

    fn save_dialog_import(&mut self, i: &DialogImport) -> Result<(), StoreError> {
        let peer = i.offset_peer.as_ref();
        let (kind, id, hash) = (
            peer.map(|p| p.kind.clone()),
            peer.map(|p| p.id),
            peer.map(|p| p.access_hash),
        );
        let (date, offset_id) = (i64::from(i.offset_date), i64::from(i.offset_id));
        let (pages, dialogs, followed) = (
            i64::from(i.pages),
            i64::from(i.dialogs),
            i64::from(i.followed),
        );
        self.tx("record a dialogs import", async |tx| {
            tx.execute(
                "INSERT INTO dialog_imports (account_id, options, offset_date, offset_id,
                        offset_peer_kind, offset_peer_id, offset_peer_hash, pages, dialogs, followed,
                        started_at, updated_at, finished_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (account_id) DO UPDATE SET options = excluded.options,
                     offset_date = excluded.offset_date, offset_id = excluded.offset_id,
                     offset_peer_kind = excluded.offset_peer_kind,
                     offset_peer_id = excluded.offset_peer_id,
                     offset_peer_hash = excluded.offset_peer_hash, pages = excluded.pages,
                     dialogs = excluded.dialogs, followed = excluded.followed,
                     started_at = excluded.started_at, updated_at = excluded.updated_at,
                     finished_at = excluded.finished_at",
                &[
                    &i.account_id,
                    &i.options,
                    &date,
                    &offset_id,
                    &kind,
                    &id,
                    &hash,
                    &pages,
                    &dialogs,
                    &followed,
                    &i.started_at,
                    &i.updated_at,
                    &i.finished_at,
                ],
            )
            .await?;
            Ok(())
        })
    }
}
