//! The media download queue (`media_files`): scans of stored files, one row per Telegram file however
//! many posts carry it, due files per account through the newest carrying post, failures with
//! attempts and their retry time, done files counted once per content, `media retry`.

use super::{Inspect, on_postgres, on_sqlite};
use crate::prelude::*;
use crate::testing::EPOCH;
use crate::{DownloadStats, FileState, FileStatus, Media, MediaKind, PostIn};

/// What the download tests use of a backend.
trait DownloadTest: AccountStore + ChannelStore + DownloadStore + Inspect {}
impl<T: AccountStore + ChannelStore + DownloadStore + Inspect + ?Sized> DownloadTest for T {}

const PHOTO: i64 = 5_000_000_000_123;
const PDF: i64 = 9;
const VIDEO: i64 = 10;

fn file(kind: MediaKind, id: i64, size: i64, mime: &str) -> Media {
    Media {
        mime: Some(mime.into()),
        size: Some(size),
        file_id: Some(id),
        access_hash: Some(-id),
        dc_id: Some(4),
        ..Media::of(kind)
    }
}

fn at(id: i32) -> PostIn {
    PostIn::new(id, EPOCH + i64::from(id) * 60, format!("post {id}"))
}

fn downloads_are_queued_once_per_file_retried_and_counted<S: DownloadTest + ?Sized>(s: &mut S) {
    let ch = crate::testing::follow_news(s);
    let account = s.accounts().expect("accounts")[0].id;
    let photo = file(MediaKind::Photo, PHOTO, 183_422, "image/jpeg");
    let posts = vec![
        at(1).media(Some(photo.clone())),
        at(2).media(Some(Media {
            file_name: Some("отчёт.pdf".into()),
            ..file(MediaKind::Document, PDF, 31_457, "application/pdf")
        })),
        at(3).media(Some(file(MediaKind::Video, VIDEO, 4_000_000, "video/mp4"))),
        at(4).media(Some(Media {
            title: Some("Which rate?".into()),
            ..Media::of(MediaKind::Poll)
        })),
        // The same photo forwarded again: the same file.
        at(5).media(Some(photo)),
        at(6),
    ];
    s.store_batch(ch, "@news", &posts, Some((1, 6)))
        .expect("batch");
    let post = |s: &S, n: i32| s.post_id(ch, n);

    // The scan: every stored file by post id, polls and posts without media left out.
    let scanned = s.media_after(0, 100).expect("scan");
    let seen: Vec<(i64, MediaKind, i64, Option<i64>)> = scanned
        .iter()
        .map(|r| (r.post_id, r.kind, r.file_id, r.size))
        .collect();
    assert_eq!(
        seen,
        vec![
            (post(s, 1), MediaKind::Photo, PHOTO, Some(183_422)),
            (post(s, 2), MediaKind::Document, PDF, Some(31_457)),
            (post(s, 3), MediaKind::Video, VIDEO, Some(4_000_000)),
            (post(s, 5), MediaKind::Photo, PHOTO, Some(183_422)),
        ]
    );
    assert!(scanned.iter().all(|r| r.channel_id == ch));
    let after_two: Vec<i64> = s
        .media_after(post(s, 2), 1)
        .expect("scan")
        .iter()
        .map(|r| r.post_id)
        .collect();
    assert_eq!(
        after_two,
        [post(s, 3)],
        "after a post id, at most the limit"
    );

    // Queued once per file.
    let now = EPOCH + 100_000;
    let queued = s
        .queue_downloads(
            &[
                (PHOTO, Some(183_422)),
                (PDF, Some(31_457)),
                (PHOTO, Some(183_422)),
            ],
            now,
        )
        .expect("queue");
    assert_eq!(queued, 2);
    assert_eq!(s.queue_downloads(&[(PDF, None)], now).expect("again"), 0);
    let due = s.downloads_due(account, now, 10).expect("due");
    /// (file id, message id, kind, MIME type, file name, attempts) of a due file.
    type Due<'a> = (i64, i32, MediaKind, Option<&'a str>, Option<&'a str>, u32);
    let got: Vec<Due<'_>> = due
        .iter()
        .map(|d| {
            (
                d.file_id,
                d.message_id,
                d.kind,
                d.mime.as_deref(),
                d.file_name.as_deref(),
                d.attempts,
            )
        })
        .collect();
    // Waiting equally long, by file id; the photo comes through its newest post (5).
    assert_eq!(
        got,
        vec![
            (
                PDF,
                2,
                MediaKind::Document,
                Some("application/pdf"),
                Some("отчёт.pdf"),
                0
            ),
            (PHOTO, 5, MediaKind::Photo, Some("image/jpeg"), None, 0),
        ]
    );
    assert!(due.iter().all(|d| d.channel_id == ch));
    assert!(
        s.downloads_due(account + 1, now, 10)
            .expect("due")
            .is_empty(),
        "another account's files are not its"
    );
    assert_eq!(s.downloads_due(account, now, 1).expect("due").len(), 1);

    // A failure waits until its retry time, counting an attempt; a final one fails the file.
    s.download_failed(PDF, "FILE_REFERENCE_INVALID", Some(now + 60))
        .expect("fail");
    let ids = |s: &S, at: i64| -> Vec<i64> {
        let mut v: Vec<i64> = s
            .downloads_due(account, at, 10)
            .expect("due")
            .iter()
            .map(|d| d.file_id)
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(ids(s, now), [PHOTO]);
    assert_eq!(ids(s, now + 60), [PDF, PHOTO]);
    assert_eq!(
        s.file_of_post(post(s, 2)).expect("state"),
        Some(FileState {
            status: FileStatus::Pending,
            attempts: 1,
            sha256: None,
            path: None,
            error: Some("FILE_REFERENCE_INVALID".into()),
        })
    );
    s.download_failed(PDF, "still wrong", None).expect("fail");
    assert_eq!(ids(s, now + 1_000), [PHOTO]);

    // Done: the path and hash, for every post that carries the file.
    let sha = "ab".repeat(32);
    s.download_done(PHOTO, 183_422, &sha, &format!("ab/{sha}.jpg"), now)
        .expect("done");
    for n in [1, 5] {
        let state = s.file_of_post(post(s, n)).expect("state").expect("queued");
        assert_eq!(
            (state.status, state.sha256.as_deref(), state.path.as_deref()),
            (
                FileStatus::Done,
                Some(sha.as_str()),
                Some(format!("ab/{sha}.jpg").as_str())
            )
        );
    }
    assert_eq!(s.file_of_post(post(s, 4)).expect("poll"), None);
    assert_eq!(s.file_of_post(post(s, 3)).expect("not queued"), None);
    assert!(ids(s, now + 1_000).is_empty());
    // Another file with the same bytes takes no more room.
    s.queue_downloads(&[(VIDEO, Some(4_000_000))], now)
        .expect("queue");
    s.download_done(VIDEO, 183_422, &sha, &format!("ab/{sha}.jpg"), now)
        .expect("done");
    assert_eq!(
        s.download_stats().expect("stats"),
        DownloadStats {
            pending: 0,
            done: 2,
            failed: 1,
            bytes: 183_422
        }
    );

    // `media retry`: the failed file is pending again with its attempts cleared; put off, it waits.
    assert_eq!(s.retry_downloads().expect("retry"), 1);
    let pdf = s.file_of_post(post(s, 2)).expect("state").expect("queued");
    assert_eq!((pdf.status, pdf.attempts), (FileStatus::Pending, 0));
    assert_eq!(ids(s, now), [PDF]);
    s.download_later(PDF, now + 30, "upload.getFile flood wait of 30 s")
        .expect("later");
    assert!(ids(s, now).is_empty());
    assert_eq!(ids(s, now + 30), [PDF]);
    let pdf = s.file_of_post(post(s, 2)).expect("state").expect("queued");
    assert_eq!(
        (pdf.attempts, pdf.error.as_deref()),
        (0, Some("upload.getFile flood wait of 30 s")),
        "putting off is not an attempt"
    );

    // A paused channel's files wait.
    s.set_channel_active(ch, false).expect("pause");
    assert!(ids(s, now + 30).is_empty());
    s.set_channel_active(ch, true).expect("resume");
    assert_eq!(ids(s, now + 30), [PDF]);
}

both! {
    downloads_queued_retried_counted => downloads_are_queued_once_per_file_retried_and_counted,
}
