//! A post's media (`post_media`): stored with the post, read back by `post`, `list_posts` and the
//! export, filtered by kind, replaced or removed by an edit, filled in by a refresh, gone with the
//! channel.

use super::{Inspect, on_postgres, on_sqlite};
use crate::prelude::*;
use crate::testing::EPOCH;
use crate::{ExportFilter, Media, MediaFilter, MediaKind, PostFilter, PostIn};

/// What the media tests use of a backend.
trait MediaTest: AccountStore + ChannelStore + ExportStore + TaggingStore + Inspect {}
impl<T: AccountStore + ChannelStore + ExportStore + TaggingStore + Inspect + ?Sized> MediaTest
    for T
{
}

fn photo() -> Media {
    Media {
        mime: Some("image/jpeg".into()),
        size: Some(183_422),
        width: Some(1280),
        height: Some(853),
        file_id: Some(5_000_000_000_123),
        access_hash: Some(-77),
        dc_id: Some(4),
        ..Media::of(MediaKind::Photo)
    }
}

fn document() -> Media {
    Media {
        mime: Some("application/pdf".into()),
        size: Some(31_457_280),
        file_name: Some("отчёт 2024.pdf".into()),
        file_id: Some(9),
        access_hash: Some(i64::MAX),
        dc_id: Some(4),
        ..Media::of(MediaKind::Document)
    }
}

fn video() -> Media {
    Media {
        mime: Some("video/mp4".into()),
        size: Some(4_000_000_000),
        width: Some(1920),
        height: Some(1080),
        duration: Some(901),
        file_id: Some(10),
        access_hash: Some(1),
        dc_id: Some(4),
        ..Media::of(MediaKind::Video)
    }
}

fn poll() -> Media {
    Media {
        title: Some("Which rate?".into()),
        ..Media::of(MediaKind::Poll)
    }
}

fn at(id: i32) -> PostIn {
    PostIn::new(id, EPOCH + i64::from(id) * 60, format!("post {id}"))
}

fn listed<S: MediaTest + ?Sized>(s: &S, media: Option<MediaFilter>) -> Vec<(i32, Option<Media>)> {
    let mut rows: Vec<(i32, Option<Media>)> = s
        .list_posts(&PostFilter {
            media,
            limit: 100,
            ..Default::default()
        })
        .expect("list")
        .into_iter()
        .map(|p| (p.message_id, p.media))
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

fn exported<S: MediaTest + ?Sized>(s: &S, media: Option<MediaFilter>) -> Vec<(i32, Option<Media>)> {
    let mut got = Vec::new();
    s.export_posts(
        &ExportFilter {
            media,
            ..Default::default()
        },
        &mut |r| {
            assert_eq!(r.has_media, r.media.is_some(), "post {}", r.message_id);
            got.push((r.message_id, r.media.clone()));
            Ok(())
        },
    )
    .expect("export");
    got
}

fn media_is_stored_read_filtered_and_replaced<S: MediaTest + ?Sized>(s: &mut S) {
    let ch = crate::testing::follow_news(s);
    let posts = vec![
        at(1).media(Some(photo())),
        at(2),
        at(3).media(Some(document())),
        at(4).media(Some(video())).album(Some(88)),
        at(5).media(Some(poll())),
    ];
    s.store_batch(ch, "@news", &posts, Some((1, 5)))
        .expect("batch");
    let want = vec![
        (1, Some(photo())),
        (2, None),
        (3, Some(document())),
        (4, Some(video())),
        (5, Some(poll())),
    ];
    assert_eq!(listed(s, None), want);
    assert_eq!(exported(s, None), want);
    let one = s.post(s.post_id(ch, 3)).expect("post").expect("post 3");
    assert_eq!(one.media, Some(document()));

    // Filters: one kind, or any media.
    let ids = |rows: Vec<(i32, Option<Media>)>| rows.into_iter().map(|r| r.0).collect::<Vec<_>>();
    assert_eq!(
        ids(listed(s, Some(MediaFilter::Kind(MediaKind::Photo)))),
        [1]
    );
    assert_eq!(
        ids(listed(s, Some(MediaFilter::Kind(MediaKind::Poll)))),
        [5]
    );
    assert!(ids(listed(s, Some(MediaFilter::Kind(MediaKind::Voice)))).is_empty());
    assert_eq!(ids(listed(s, Some(MediaFilter::Any))), [1, 3, 4, 5]);
    assert_eq!(
        ids(exported(s, Some(MediaFilter::Kind(MediaKind::Document)))),
        [3]
    );
    assert_eq!(ids(exported(s, Some(MediaFilter::Any))), [1, 3, 4, 5]);

    // An edit replaces the media, or takes it away; a refresh fills in a post stored without it (as
    // posts stored before tgsift kept media details are).
    let edited = |p: PostIn| {
        PostIn {
            text: format!("{} (edited)", p.text),
            ..p
        }
        .edited(Some(EPOCH + 10_000))
    };
    s.store_batch(
        ch,
        "@news",
        &[
            edited(at(1).media(Some(document()))),
            edited(at(3)),
            at(2).media(Some(photo())),
        ],
        None,
    )
    .expect("edits");
    assert_eq!(
        listed(s, None),
        vec![
            (1, Some(document())),
            (2, Some(photo())),
            (3, None),
            (4, Some(video())),
            (5, Some(poll())),
        ]
    );

    // The rows go with their channel.
    s.remove_channel(ch).expect("remove");
    assert!(listed(s, None).is_empty());
    assert!(exported(s, Some(MediaFilter::Any)).is_empty());
}

both! {
    media_stored_read_filtered_replaced => media_is_stored_read_filtered_and_replaced,
}
