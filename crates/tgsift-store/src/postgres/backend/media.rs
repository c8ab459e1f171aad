//! `post_media` on PostgreSQL: written beside the posts of a batch in one statement, read with them.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::Fail;
use crate::model::media::{Media, MediaKind};

/// Records each post's media (`(post row id, media)`), or removes its row where it has none.
pub(super) async fn write_media(
    tx: &Transaction<'_>,
    posts: &[(i64, Option<&Media>)],
) -> Result<(), Fail> {
    let gone: Vec<i64> = posts
        .iter()
        .filter(|(_, m)| m.is_none())
        .map(|(id, _)| *id)
        .collect();
    if !gone.is_empty() {
        tx.execute("DELETE FROM post_media WHERE post_id = ANY($1)", &[&gone])
            .await?;
    }
    let kept: Vec<(i64, &Media)> = posts
        .iter()
        .filter_map(|(id, m)| m.map(|m| (*id, m)))
        .collect();
    if kept.is_empty() {
        return Ok(());
    }
    let col = |f: &dyn Fn(&Media) -> Option<i64>| -> Vec<Option<i64>> {
        kept.iter().map(|(_, m)| f(m)).collect()
    };
    let text = |f: &dyn Fn(&Media) -> Option<&str>| -> Vec<Option<String>> {
        kept.iter().map(|(_, m)| f(m).map(str::to_owned)).collect()
    };
    let ids: Vec<i64> = kept.iter().map(|(id, _)| *id).collect();
    let kinds: Vec<&str> = kept.iter().map(|(_, m)| m.kind.as_str()).collect();
    let upsert = tx
        .prepare_cached(
            "INSERT INTO post_media (post_id, kind, mime, size, file_name, width, height, duration,
                                     file_id, access_hash, dc_id, title)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                                  $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
                                  $11::bigint[], $12::text[])
             ON CONFLICT (post_id) DO UPDATE SET kind = excluded.kind, mime = excluded.mime,
                 size = excluded.size, file_name = excluded.file_name, width = excluded.width,
                 height = excluded.height, duration = excluded.duration, file_id = excluded.file_id,
                 access_hash = excluded.access_hash, dc_id = excluded.dc_id, title = excluded.title",
        )
        .await?;
    let int = |f: &dyn Fn(&Media) -> Option<i32>| -> Vec<Option<i64>> {
        kept.iter().map(|(_, m)| f(m).map(i64::from)).collect()
    };
    tx.execute(
        &upsert,
        &[
            &ids,
            &kinds,
            &text(&|m| m.mime.as_deref()),
            &col(&|m| m.size),
            &text(&|m| m.file_name.as_deref()),
            &int(&|m| m.width),
            &int(&|m| m.height),
            &int(&|m| m.duration),
            &col(&|m| m.file_id),
            &col(&|m| m.access_hash),
            &int(&|m| m.dc_id),
            &text(&|m| m.title.as_deref()),
        ],
    )
    .await?;
    Ok(())
}

/// The media of a row whose columns `at..` are `post_media`'s from `kind` to `title`, in table order
/// (`None` when the join found none).
pub(super) fn media_from(r: &Row, at: usize) -> Option<Media> {
    let kind: Option<String> = r.get(at);
    Some(Media {
        kind: MediaKind::parse(&kind?).unwrap_or(MediaKind::Other),
        mime: r.get(at + 1),
        size: r.get(at + 2),
        file_name: r.get(at + 3),
        width: int(r, at + 4),
        height: int(r, at + 5),
        duration: int(r, at + 6),
        file_id: r.get(at + 7),
        access_hash: r.get(at + 8),
        dc_id: int(r, at + 9),
        title: r.get(at + 10),
    })
}

/// A `BIGINT` column that holds an `i32` (every integer of the PostgreSQL schema is a `BIGINT`).
fn int(r: &Row, at: usize) -> Option<i32> {
    r.get::<_, Option<i64>>(at)
        .and_then(|n| i32::try_from(n).ok())
}
