//! Dialogs imports: where an account's paging of `messages.getDialogs` stands, so that a FLOOD_WAIT or
//! a restart goes on from the page it stopped at instead of the first one.
//!
//! The offset of the next page is written after the channels of a page are followed; a crash between
//! the two only makes the next attempt read that page again (following a channel twice is a no-op).
//! The row stays after the import finished (`finished_at`), saying what it did; starting an import
//! then begins again at the first page.

use crate::StoreError;

/// The peer a dialogs page starts after (`offset_peer`), as `messages.getDialogs` needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetPeer {
    /// `user`, `chat` or `channel`.
    pub kind: String,
    /// Its id.
    pub id: i64,
    /// Its access hash (0 for a basic group, which has none).
    pub access_hash: i64,
}

/// An account's dialogs import as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogImport {
    /// The account's row id.
    pub account_id: i64,
    /// The options it runs with (a JSON object): an import asked with others starts over.
    pub options: String,
    /// `offset_date` of the next page (0: the first page).
    pub offset_date: i32,
    /// `offset_id` of the next page.
    pub offset_id: i32,
    /// `offset_peer` of the next page (`None`: the first page).
    pub offset_peer: Option<OffsetPeer>,
    /// Pages read so far.
    pub pages: u32,
    /// Dialogs listed so far (every kind).
    pub dialogs: u32,
    /// Channels newly followed so far.
    pub followed: u32,
    /// When it started (unix seconds).
    pub started_at: i64,
    /// When a page was last recorded.
    pub updated_at: i64,
    /// When the last page was read; `None` while it goes on.
    pub finished_at: Option<i64>,
}

impl DialogImport {
    /// A new import of `account_id` with `options`, at the first page.
    pub fn start(account_id: i64, options: String, now: i64) -> DialogImport {
        DialogImport {
            account_id,
            options,
            offset_date: 0,
            offset_id: 0,
            offset_peer: None,
            pages: 0,
            dialogs: 0,
            followed: 0,
            started_at: now,
            updated_at: now,
            finished_at: None,
        }
    }
}

/// Dialogs imports, one per account.
pub trait ImportStore {
    /// The account's import (finished or not), if it ever had one.
    fn dialog_import(&self, account_id: i64) -> Result<Option<DialogImport>, StoreError>;

    /// Records the account's import as it stands now (replacing what was stored).
    fn save_dialog_import(&mut self, import: &DialogImport) -> Result<(), StoreError>;
}
