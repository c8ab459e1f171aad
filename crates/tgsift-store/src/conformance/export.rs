//! [`ExportStore`] on both backends: the filters, the rows and their tags as JSON, in post-id order;
//! and an export longer than one page of the PostgreSQL reads.

use std::path::Path;

use super::tagging::TaggingInspect;
use super::{Inspect, on_postgres, on_sqlite, post};
use crate::prelude::*;
use crate::testing::EPOCH;
use crate::{ExportError, ExportFilter, ExportRow, NewChannel, PostIn, TaggingStatus};

/// What the export tests use of a backend.
trait Export: AccountStore + ChannelStore + ExportStore + Inspect + TaggingInspect {}
impl<T: AccountStore + ChannelStore + ExportStore + Inspect + TaggingInspect + ?Sized> Export
    for T
{
}

/// An exported row, owned.
#[derive(Debug, PartialEq)]
struct Row {
    post_id: i64,
    channel_username: Option<String>,
    channel_id: i64,
    message_id: i32,
    date: i64,
    edit_date: Option<i64>,
    text: String,
    views: Option<i64>,
    forwards: Option<i64>,
    album_id: Option<i64>,
    has_media: bool,
    tags_json: String,
    tagging_status: TaggingStatus,
    deleted_at: Option<i64>,
}

impl Row {
    fn of(r: &ExportRow<'_>) -> Row {
        Row {
            post_id: r.post_id,
            channel_username: r.channel_username.map(str::to_owned),
            channel_id: r.channel_id,
            message_id: r.message_id,
            date: r.date,
            edit_date: r.edit_date,
            text: r.text.to_owned(),
            views: r.views,
            forwards: r.forwards,
            album_id: r.album_id,
            has_media: r.has_media,
            tags_json: r.tags_json.to_owned(),
            tagging_status: r.tagging_status,
            deleted_at: r.deleted_at,
        }
    }
}

fn export<S: Export + ?Sized>(s: &S, f: &ExportFilter) -> Vec<Row> {
    let mut got = Vec::new();
    let n = s
        .export_posts(f, &mut |r| {
            got.push(Row::of(r));
            Ok(())
        })
        .expect("export");
    assert_eq!(n as usize, got.len());
    got
}

/// Account `a` following `@news` (Telegram id 5) and an unnamed channel (6); their row ids.
fn two_channels<S: Export + ?Sized>(s: &mut S) -> [i64; 2] {
    let a = s
        .add_account("a", None, None, Path::new("a.session"))
        .expect("account");
    [(5, Some("news")), (6, None)].map(|(tg, name)| {
        let c = NewChannel {
            tg_id: tg,
            access_hash: 1,
            username: name.map(str::to_owned),
            title: "t".into(),
            backfill: "all".into(),
        };
        s.add_channel(a.id, &c).expect("add").expect("new").id
    })
}

fn filters_tags_and_deleted_posts<S: Export + ?Sized>(s: &mut S) {
    let chans = two_channels(s);
    let post = |id: i32, text: &str| {
        PostIn::new(id, EPOCH + i64::from(id) * 100, text)
            .edited((id == 3).then_some(1_700_000_400))
            .counts(Some(id * 10), (id == 1).then_some(3))
            .album((id == 2).then_some(77))
            .media((id == 2).then(|| crate::Media::of(crate::MediaKind::Photo)))
    };
    s.store_batch(
        chans[0],
        "@news",
        &[post(1, "a"), post(2, "b"), post(3, "")],
        Some((1, 3)),
    )
    .expect("batch");
    s.store_batch(chans[1], "6", &[post(1, "c")], Some((1, 1)))
        .expect("batch");
    let [p1, p2, p3] = [1, 2, 3].map(|m| s.post_id(chans[0], m));
    let p4 = s.post_id(chans[1], 1);
    s.add_tag(p1, "нефть", 0.5);
    s.add_tag(p1, "ставка", 0.9);
    s.set_deleted_at(p2, 1_700_000_999);
    let all = export(s, &ExportFilter::default());
    assert_eq!(
        all.iter().map(|r| r.post_id).collect::<Vec<_>>(),
        vec![p1, p3, p4]
    );
    assert_eq!(
        all[0],
        Row {
            post_id: p1,
            channel_username: Some("news".into()),
            channel_id: 5,
            message_id: 1,
            date: 1_700_000_100,
            edit_date: None,
            text: "a".into(),
            views: Some(10),
            forwards: Some(3),
            album_id: None,
            has_media: false,
            tags_json: r#"[{"tag":"ставка","score":0.9},{"tag":"нефть","score":0.5}]"#.into(),
            tagging_status: TaggingStatus::Pending,
            deleted_at: None,
        }
    );
    assert_eq!(
        (
            all[1].tags_json.as_str(),
            all[1].tagging_status.as_str(),
            all[1].edit_date,
            all[1].text.as_str()
        ),
        ("[]", "skipped", Some(1_700_000_400), "")
    );
    assert_eq!(
        (all[2].channel_username.as_deref(), all[2].channel_id),
        (None, 6)
    );
    let with_deleted = export(
        s,
        &ExportFilter {
            include_deleted: true,
            ..Default::default()
        },
    );
    assert_eq!(
        with_deleted.iter().map(|r| r.post_id).collect::<Vec<_>>(),
        vec![p1, p2, p3, p4]
    );
    assert_eq!(
        (
            with_deleted[1].deleted_at,
            with_deleted[1].album_id,
            with_deleted[1].has_media,
            with_deleted[1].views
        ),
        (Some(1_700_000_999), Some(77), true, Some(20))
    );
    let ids = |s: &S, f: ExportFilter| export(s, &f).iter().map(|r| r.post_id).collect::<Vec<_>>();
    assert_eq!(
        ids(
            s,
            ExportFilter {
                after_id: Some(p1),
                ..Default::default()
            }
        ),
        vec![p3, p4]
    );
    assert_eq!(
        ids(
            s,
            ExportFilter {
                channel_ids: Some(vec![chans[1]]),
                ..Default::default()
            }
        ),
        vec![p4]
    );
    assert!(
        ids(
            s,
            ExportFilter {
                channel_ids: Some(Vec::new()),
                ..Default::default()
            }
        )
        .is_empty()
    );
    assert_eq!(
        ids(
            s,
            ExportFilter {
                tag: Some("нефть".into()),
                ..Default::default()
            }
        ),
        vec![p1]
    );
    assert_eq!(
        ids(
            s,
            ExportFilter {
                status: Some(TaggingStatus::Skipped),
                ..Default::default()
            }
        ),
        vec![p3]
    );
    assert_eq!(
        ids(
            s,
            ExportFilter {
                since: Some(1_700_000_100),
                until: Some(1_700_000_300),
                include_deleted: true,
                ..Default::default()
            }
        ),
        vec![p1, p2, p4]
    );
    let stop = s.export_posts(&ExportFilter::default(), &mut |_| {
        Err(std::io::Error::other("disk full"))
    });
    assert!(matches!(stop, Err(ExportError::Write(e)) if e.to_string() == "disk full"));
}

fn a_long_export_keeps_post_id_order_across_pages<S: Export + ?Sized>(s: &mut S) {
    let chans = two_channels(s);
    // Two channels' posts interleaved in id order, more than two pages of PostgreSQL reads.
    for (from, to) in [(1, 1200), (1201, 2500)] {
        for ch in chans {
            let posts: Vec<_> = (from..=to).map(|m| post(m, &format!("post {m}"))).collect();
            s.store_batch(ch, "x", &posts, Some((from, to)))
                .expect("batch");
        }
    }
    let deep = s.post_id(chans[1], 2100);
    s.add_tag(deep, "deep", 1.0);
    s.add_tag(deep, "tiny", 0.000_01);
    s.add_tag(deep, "sum", 0.1 + 0.2);
    let all = export(s, &ExportFilter::default());
    assert_eq!(all.len(), 5000);
    assert!(all.windows(2).all(|w| w[0].post_id < w[1].post_id));
    let of_one = export(
        s,
        &ExportFilter {
            channel_ids: Some(vec![chans[1]]),
            ..Default::default()
        },
    );
    assert_eq!(
        of_one.iter().map(|r| r.message_id).collect::<Vec<_>>(),
        (1..=2500).collect::<Vec<_>>()
    );
    let tagged = export(
        s,
        &ExportFilter {
            tag: Some("tiny".into()),
            ..Default::default()
        },
    );
    assert_eq!(
        tagged
            .iter()
            .map(|r| (r.post_id, r.tags_json.as_str()))
            .collect::<Vec<_>>(),
        vec![(
            deep,
            r#"[{"tag":"deep","score":1.0},{"tag":"sum","score":0.3},{"tag":"tiny","score":0.0}]"#
        )]
    );
    let middle = all[2_345].post_id;
    let rest = export(
        s,
        &ExportFilter {
            after_id: Some(middle),
            ..Default::default()
        },
    );
    assert_eq!(rest.len(), 5000 - 2_346);
    assert_eq!(rest[0].post_id, all[2_346].post_id);
    let mut seen = 0;
    let stop = s.export_posts(&ExportFilter::default(), &mut |_| {
        seen += 1;
        if seen == 1_500 {
            Err(std::io::Error::other("pipe closed"))
        } else {
            Ok(())
        }
    });
    assert!(matches!(stop, Err(ExportError::Write(e)) if e.to_string() == "pipe closed"));
    assert_eq!(seen, 1_500, "the export stops at the first error");
}

fn the_tag_filter_matches_a_tag_in_any_case<S: Export + ?Sized>(s: &mut S) {
    let chans = two_channels(s);
    let posts: Vec<PostIn> = (1..=3)
        .map(|id| PostIn::new(id, EPOCH + i64::from(id) * 100, "x"))
        .collect();
    s.store_batch(chans[0], "@news", &posts, Some((1, 3)))
        .expect("batch");
    let [p1, p2, p3] = [1, 2, 3].map(|m| s.post_id(chans[0], m));
    s.name_old_tags(&[(p1, "Nvidia", 0.5), (p2, "nvidia", 0.5), (p3, "ёлка", 0.5)]);
    let ids = |s: &S, tag: &str| {
        export(
            s,
            &ExportFilter {
                tag: Some(tag.into()),
                ..Default::default()
            },
        )
        .iter()
        .map(|r| r.post_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(ids(s, "NVIDIA"), [p1, p2]);
    assert_eq!(ids(s, "Елка"), [p3]);
    assert!(ids(s, "nvidia corp").is_empty());
}

both! {
    export_tag_any_case => the_tag_filter_matches_a_tag_in_any_case,
    export_filters => filters_tags_and_deleted_posts,
    export_long => a_long_export_keeps_post_id_order_across_pages,
}
