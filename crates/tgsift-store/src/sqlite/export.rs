//! [`ExportStore`](crate::ExportStore) on SQLite: the rules are the trait's (`crate::model::export`), the SQL is here.

use rusqlite::params;

use super::media::media_from;
use crate::model::export::*;
use crate::model::tagging::TaggingStore;
use crate::{SqliteStore, StoreError};

/// The export query. `NOT INDEXED` keeps it a scan in row-id order: no index on another column can
/// tempt the planner into sorting the result, which would hold it all in memory. The row id range of
/// `--after-id` is still a seek.
const EXPORT: &str = "SELECT p.id, c.username, c.tg_id, p.message_id, p.date, p.edit_date, p.text, p.views,
        p.forwards, p.grouped_id, p.has_media,
        -- scores with four decimals: a score is a ranking, not a measurement
        (SELECT json_group_array(json_object('tag', t.tag, 'score', round(t.score, 4)) ORDER BY t.score DESC, t.tag)
           FROM post_tags t WHERE t.post_id = p.id),
        p.tagging_status, p.deleted_at,
        m.kind, m.mime, m.size, m.file_name, m.width, m.height, m.duration, m.file_id, m.access_hash,
        m.dc_id, m.title
 FROM posts p NOT INDEXED JOIN channels c ON c.id = p.channel_id
      LEFT JOIN post_media m ON m.post_id = p.id
 WHERE p.id > ?1
   AND (?2 IS NULL OR p.channel_id IN (SELECT value FROM json_each(?2)))
   AND (?3 IS NULL OR p.date >= ?3)
   AND (?4 IS NULL OR p.date < ?4)
   AND (?5 IS NULL OR EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag = ?5))
   AND (?6 IS NULL OR p.tagging_status = ?6)
   AND (?7 OR p.deleted_at IS NULL)
   AND (?8 IS NULL OR (?8 = 'any' AND p.has_media) OR m.kind = ?8)
 ORDER BY p.id";

impl ExportStore for SqliteStore {
    fn export_posts(
        &self,
        f: &ExportFilter,
        each: &mut dyn FnMut(&ExportRow<'_>) -> std::io::Result<()>,
    ) -> Result<u64, ExportError> {
        let read = |source| StoreError::Read {
            what: "read posts for export".into(),
            source,
        };
        let ids = f
            .channel_ids
            .as_ref()
            .map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
        let tag = self.tag_filter(f.tag.as_deref())?;
        let mut st = self.conn.prepare_cached(EXPORT).map_err(read)?;
        let mut rows = st
            .query(params![
                f.after_id.unwrap_or(i64::MIN),
                ids,
                f.since,
                f.until,
                tag,
                f.status,
                f.include_deleted,
                f.media.map(|m| m.as_str())
            ])
            .map_err(read)?;
        let mut n = 0u64;
        while let Some(r) = rows.next().map_err(read)? {
            let row = (|| -> rusqlite::Result<ExportRow<'_>> {
                Ok(ExportRow {
                    post_id: r.get(0)?,
                    channel_username: r.get_ref(1)?.as_str_or_null()?,
                    channel_id: r.get(2)?,
                    message_id: r.get(3)?,
                    date: r.get(4)?,
                    edit_date: r.get(5)?,
                    text: r.get_ref(6)?.as_str()?,
                    views: r.get(7)?,
                    forwards: r.get(8)?,
                    album_id: r.get(9)?,
                    has_media: r.get(10)?,
                    tags_json: r.get_ref(11)?.as_str()?,
                    tagging_status: r.get(12)?,
                    deleted_at: r.get(13)?,
                    media: media_from(r, 14)?,
                })
            })()
            .map_err(read)?;
            each(&row)?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    //! SQLite only: the query plan of an export. The export itself is tested on both backends in
    //! `conformance::export`.
    use super::*;

    #[test]
    fn export_is_one_scan_in_row_id_order_without_a_sort() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(&dir.path().join("t.db")).expect("open");
        let plan: Vec<String> = s
            .read("plan", |c| {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {EXPORT}"))?;
                st.query_map(
                    params![0, "[1]", 0, 1, "x", "success", false, "photo"],
                    |r| r.get::<_, String>(3),
                )?
                .collect()
            })
            .expect("plan");
        assert!(
            plan.iter()
                .any(|l| l.starts_with("SEARCH p USING INTEGER PRIMARY KEY (rowid>?)")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|l| l.contains("TEMP B-TREE FOR ORDER BY")),
            "{plan:?}"
        );
    }
}
