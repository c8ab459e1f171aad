//! `post_media` on SQLite: written beside each post by the batch write, read with the posts.

use rusqlite::{Row, Transaction, params};

use crate::model::media::{Media, MediaKind};

/// The columns [`media_from`] reads, in order, for a query that joins `post_media m`.
pub(super) const MEDIA_COLUMNS: &str = "m.kind, m.mime, m.size, m.file_name, m.width, m.height, m.duration, m.file_id, m.access_hash, m.dc_id, m.title";

/// Records `media` as post `post_id`'s, or removes its row when it has none (an edit took it away).
pub(super) fn write_media(
    tx: &Transaction<'_>,
    post_id: i64,
    media: Option<&Media>,
) -> rusqlite::Result<()> {
    let Some(m) = media else {
        tx.prepare_cached("DELETE FROM post_media WHERE post_id = ?1")?
            .execute([post_id])?;
        return Ok(());
    };
    tx.prepare_cached(
        "INSERT INTO post_media (post_id, kind, mime, size, file_name, width, height, duration,
                                 file_id, access_hash, dc_id, title)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (post_id) DO UPDATE SET kind = excluded.kind, mime = excluded.mime,
             size = excluded.size, file_name = excluded.file_name, width = excluded.width,
             height = excluded.height, duration = excluded.duration, file_id = excluded.file_id,
             access_hash = excluded.access_hash, dc_id = excluded.dc_id, title = excluded.title",
    )?
    .execute(params![
        post_id,
        m.kind.as_str(),
        m.mime,
        m.size,
        m.file_name,
        m.width,
        m.height,
        m.duration,
        m.file_id,
        m.access_hash,
        m.dc_id,
        m.title
    ])?;
    Ok(())
}

/// The media of a row whose columns `at..` are [`MEDIA_COLUMNS`] (`post_media`'s from `kind` to `title`,
/// in table order; `None` when the join found none).
pub(super) fn media_from(r: &Row<'_>, at: usize) -> rusqlite::Result<Option<Media>> {
    let Some(kind) = r.get::<_, Option<String>>(at)? else {
        return Ok(None);
    };
    Ok(Some(Media {
        kind: MediaKind::parse(&kind).unwrap_or(MediaKind::Other),
        mime: r.get(at + 1)?,
        size: r.get(at + 2)?,
        file_name: r.get(at + 3)?,
        width: r.get(at + 4)?,
        height: r.get(at + 5)?,
        duration: r.get(at + 6)?,
        file_id: r.get(at + 7)?,
        access_hash: r.get(at + 8)?,
        dc_id: r.get(at + 9)?,
        title: r.get(at + 10)?,
    }))
}
