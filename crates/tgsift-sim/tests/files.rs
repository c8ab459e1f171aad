//! `upload.getFile` against the real, unmodified grammers 0.11 MTProto layer, call by call: files
//! live on DC 4 (`FILE_MIGRATE_4` elsewhere, `AUTH_KEY_UNREGISTERED` there until the authorization
//! is imported), Telegram's chunk rules, references that expire and cannot be forged, and the
//! throttle on accounts without Premium.

use crate::common::{input_channel, strict_client, within};
use std::time::Duration;

use grammers_client::Client;
use grammers_mtsender::InvocationError;
use grammers_tl_types as tl;
use tgsift_sim::{DownloadLimit, MEDIA_DC, Sim, SimConfig, SimMedia, SimMediaKind};

const CHANNEL: &str = "sim_news";

/// One channel of 400 posts (photos and documents of a few MB among them); account 1 has Premium.
async fn sim() -> Sim {
    let mut cfg = SimConfig::generated(42, 1, 400);
    cfg.accounts.push(tgsift_sim::AccountSpec::generated(1));
    cfg.accounts[1].premium = true;
    Sim::start(cfg).await.expect("start sim")
}

/// The post whose media is the first `want` accepts, smallest file first.
fn pick(sim: &Sim, want: impl Fn(&SimMedia) -> bool) -> (i32, SimMedia) {
    sim.with_channel(CHANNEL, |c| {
        c.post_ids()
            .into_iter()
            .filter_map(|id| Some((id, c.post(id)?.media?)))
            .filter(|(_, m)| want(m))
            .min_by_key(|(_, m)| m.size)
    })
    .flatten()
    .expect("such a post")
}

/// A photo post.
fn photo_post(sim: &Sim) -> (i32, SimMedia) {
    pick(sim, |m| m.kind == SimMediaKind::Photo)
}

/// A document of over 1 MB (several chunks, one 1 MB boundary at least).
fn big_document(sim: &Sim) -> (i32, SimMedia) {
    pick(sim, |m| {
        m.file_id != 0 && m.kind != SimMediaKind::Photo && m.size.unwrap_or(0) > 1_100_000
    })
}

/// The location of post `id`'s file as `channels.getMessages` serves it now (its largest photo
/// size for a photo).
async fn location(c: &Client, sim: &Sim, id: i32) -> tl::enums::InputFileLocation {
    let got = c
        .invoke(&tl::functions::channels::GetMessages {
            channel: input_channel(sim, CHANNEL),
            id: vec![tl::enums::InputMessage::Id(tl::types::InputMessageId {
                id,
            })],
        })
        .await
        .expect("getMessages");
    let tl::enums::messages::Messages::ChannelMessages(m) = got else {
        panic!("{got:?}")
    };
    let Some(tl::enums::Message::Message(msg)) = m.messages.into_iter().next() else {
        panic!("no message {id}")
    };
    match msg.media {
        Some(tl::enums::MessageMedia::Photo(p)) => {
            let Some(tl::enums::Photo::Photo(p)) = p.photo else {
                panic!("no photo")
            };
            let Some(tl::enums::PhotoSize::Size(largest)) = p.sizes.last() else {
                panic!("no sizes")
            };
            tl::enums::InputFileLocation::InputPhotoFileLocation(
                tl::types::InputPhotoFileLocation {
                    id: p.id,
                    access_hash: p.access_hash,
                    file_reference: p.file_reference,
                    thumb_size: largest.r#type.clone(),
                },
            )
        }
        Some(tl::enums::MessageMedia::Document(d)) => {
            let Some(tl::enums::Document::Document(d)) = d.document else {
                panic!("no document")
            };
            tl::enums::InputFileLocation::InputDocumentFileLocation(
                tl::types::InputDocumentFileLocation {
                    id: d.id,
                    access_hash: d.access_hash,
                    file_reference: d.file_reference,
                    thumb_size: String::new(),
                },
            )
        }
        other => panic!("{other:?}"),
    }
}

fn get_file(
    location: &tl::enums::InputFileLocation,
    offset: i64,
    limit: i32,
) -> tl::functions::upload::GetFile {
    tl::functions::upload::GetFile {
        precise: false,
        cdn_supported: false,
        location: location.clone(),
        offset,
        limit,
    }
}

/// The bytes of one chunk from DC `dc`.
async fn chunk(
    c: &Client,
    dc: i32,
    location: &tl::enums::InputFileLocation,
    offset: i64,
    limit: i32,
) -> Result<Vec<u8>, InvocationError> {
    let tl::enums::upload::File::File(f) = c
        .invoke_in_dc(dc, &get_file(location, offset, limit))
        .await?
    else {
        panic!("a CDN redirect")
    };
    Ok(f.bytes)
}

/// The RPC error's (code, name, value).
fn rpc(r: Result<Vec<u8>, InvocationError>) -> (i32, String, Option<u32>) {
    match r {
        Err(InvocationError::Rpc(e)) => (e.code, e.name, e.value),
        other => panic!("expected an RPC error, got {:?}", other.map(|b| b.len())),
    }
}

/// Copies account `account`'s login from its home DC to the media DC, as clients do.
async fn import_on_media_dc(c: &Client) {
    let tl::enums::auth::ExportedAuthorization::Authorization(e) = c
        .invoke(&tl::functions::auth::ExportAuthorization { dc_id: MEDIA_DC })
        .await
        .expect("export");
    c.invoke_in_dc(
        MEDIA_DC,
        &tl::functions::auth::ImportAuthorization {
            id: e.id,
            bytes: e.bytes,
        },
    )
    .await
    .expect("import");
}

#[tokio::test]
async fn files_live_on_their_dc_which_wants_the_authorization_imported() {
    within(60, async {
        let sim = sim().await;
        let c = strict_client(&sim, 0).0;
        let (id, _) = photo_post(&sim);
        let loc = location(&c, &sim, id).await;
        assert_eq!(
            rpc(chunk(&c, tgsift_sim::HOME_DC, &loc, 0, 524_288).await),
            (303, "FILE_MIGRATE".into(), Some(MEDIA_DC as u32))
        );
        assert_eq!(
            rpc(chunk(&c, MEDIA_DC, &loc, 0, 524_288).await),
            (401, "AUTH_KEY_UNREGISTERED".into(), None),
            "the login made on DC 2 does not hold on DC 4"
        );
        // An export to the DC the call is made on is refused; exported bytes import on their DC only.
        let err = c
            .invoke(&tl::functions::auth::ExportAuthorization {
                dc_id: tgsift_sim::HOME_DC,
            })
            .await
            .expect_err("export to the DC it is made on");
        assert!(err.is("DC_ID_INVALID"), "{err:?}");
        let tl::enums::auth::ExportedAuthorization::Authorization(e) = c
            .invoke(&tl::functions::auth::ExportAuthorization { dc_id: MEDIA_DC })
            .await
            .expect("export");
        let err = c
            .invoke_in_dc(
                3,
                &tl::functions::auth::ImportAuthorization {
                    id: e.id,
                    bytes: e.bytes.clone(),
                },
            )
            .await
            .expect_err("imported on another DC");
        assert!(err.is("AUTH_BYTES_INVALID"), "{err:?}");
        import_on_media_dc(&c).await;
        let bytes = chunk(&c, MEDIA_DC, &loc, 0, 524_288)
            .await
            .expect("the photo");
        assert_eq!(Some(bytes), sim.media_file(CHANNEL, id));
        let counts = sim.file_counts();
        assert_eq!(
            (
                counts.chunks,
                counts.file_migrates,
                counts.auth_imports,
                counts.errors
            ),
            (1, 1, 1, 2),
            "{counts:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn chunks_follow_telegrams_rules_and_the_last_one_is_short() {
    within(120, async {
        let sim = sim().await;
        let c = strict_client(&sim, 0).0;
        import_on_media_dc(&c).await;
        let (id, media) = big_document(&sim);
        let size = media.size.expect("a size");
        let loc = location(&c, &sim, id).await;
        let mut file = Vec::new();
        let mut offset = 0;
        loop {
            let part = chunk(&c, MEDIA_DC, &loc, offset, 262_144)
                .await
                .expect("a chunk");
            let n = part.len();
            file.extend(part);
            offset += 262_144;
            if n < 262_144 {
                break;
            }
        }
        assert_eq!(file.len() as i64, size);
        assert_eq!(
            Some(file.clone()),
            sim.media_file(CHANNEL, id),
            "the same bytes"
        );
        // The same bytes whatever the chunk size.
        let again = chunk(&c, MEDIA_DC, &loc, 1_048_576, 1_048_576)
            .await
            .expect("1 MB");
        assert_eq!(again[..], file[1_048_576..(2_097_152).min(file.len())]);
        // Past the end: no bytes.
        let end = (size + 4_095) / 4_096 * 4_096;
        assert!(
            chunk(&c, MEDIA_DC, &loc, end, 4_096)
                .await
                .expect("past the end")
                .is_empty()
        );
        for (offset, limit, error) in [
            (0, 12_288, "LIMIT_INVALID"),
            (0, 2_097_152, "LIMIT_INVALID"),
            (786_432, 524_288, "LIMIT_INVALID"),
            (1_024, 4_096, "OFFSET_INVALID"),
        ] {
            assert_eq!(
                rpc(chunk(&c, MEDIA_DC, &loc, offset, limit).await),
                (400, error.into(), None),
                "offset {offset}, limit {limit}"
            );
        }
        let precise = tl::functions::upload::GetFile {
            precise: true,
            ..get_file(&loc, 1_024, 3_072)
        };
        let tl::enums::upload::File::File(f) =
            c.invoke_in_dc(MEDIA_DC, &precise).await.expect("precise")
        else {
            panic!("a CDN redirect")
        };
        assert_eq!(f.bytes[..], file[1_024..4_096]);
        assert!(matches!(
            f.r#type,
            tl::enums::storage::FileType::FilePartial
        ));
    })
    .await;
}

/// The location with its reference (or id, or access hash) changed.
fn altered(
    loc: &tl::enums::InputFileLocation,
    f: impl FnOnce(&mut i64, &mut i64, &mut Vec<u8>),
) -> tl::enums::InputFileLocation {
    let mut loc = loc.clone();
    match &mut loc {
        tl::enums::InputFileLocation::InputPhotoFileLocation(l) => {
            f(&mut l.id, &mut l.access_hash, &mut l.file_reference)
        }
        tl::enums::InputFileLocation::InputDocumentFileLocation(l) => {
            f(&mut l.id, &mut l.access_hash, &mut l.file_reference)
        }
        _ => unreachable!(),
    }
    loc
}

#[tokio::test]
async fn references_expire_and_cannot_be_forged_or_moved() {
    within(60, async {
        let sim = sim().await;
        let c = strict_client(&sim, 0).0;
        import_on_media_dc(&c).await;
        let (photo, _) = photo_post(&sim);
        let (doc, _) = big_document(&sim);
        let loc = location(&c, &sim, photo).await;
        let doc_loc = location(&c, &sim, doc).await;
        let refused = |r| rpc(r).1;
        let tampered = altered(&loc, |_, _, r| r[20] ^= 1);
        assert_eq!(
            refused(chunk(&c, MEDIA_DC, &tampered, 0, 4_096).await),
            "FILE_REFERENCE_INVALID"
        );
        let younger = altered(&loc, |_, _, r| r[4] = r[4].wrapping_add(1));
        assert_eq!(
            refused(chunk(&c, MEDIA_DC, &younger, 0, 4_096).await),
            "FILE_REFERENCE_INVALID"
        );
        let moved = altered(&doc_loc, |_, _, r| {
            *r = match &loc {
                tl::enums::InputFileLocation::InputPhotoFileLocation(l) => l.file_reference.clone(),
                _ => unreachable!(),
            }
        });
        assert_eq!(
            refused(chunk(&c, MEDIA_DC, &moved, 0, 4_096).await),
            "FILE_REFERENCE_INVALID"
        );
        let empty = altered(&loc, |_, _, r| r.clear());
        assert_eq!(
            refused(chunk(&c, MEDIA_DC, &empty, 0, 4_096).await),
            "FILE_REFERENCE_EMPTY"
        );
        let hash = altered(&loc, |_, h, _| *h ^= 1);
        assert_eq!(
            refused(chunk(&c, MEDIA_DC, &hash, 0, 4_096).await),
            "FILE_ID_INVALID"
        );
        let unknown = altered(&loc, |id, _, _| *id = 2);
        assert_eq!(
            refused(chunk(&c, MEDIA_DC, &unknown, 0, 4_096).await),
            "FILE_ID_INVALID"
        );

        sim.set_file_reference_ttl(Some(Duration::from_secs(1)));
        assert!(chunk(&c, MEDIA_DC, &loc, 0, 4_096).await.is_ok(), "fresh");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            rpc(chunk(&c, MEDIA_DC, &loc, 0, 4_096).await),
            (400, "FILE_REFERENCE_EXPIRED".into(), None)
        );
        let fresh = location(&c, &sim, photo).await;
        assert!(
            chunk(&c, MEDIA_DC, &fresh, 0, 4_096).await.is_ok(),
            "fetched again"
        );
        let counts = sim.file_counts();
        assert_eq!(
            (counts.references_expired, counts.references_invalid),
            (1, 4),
            "{counts:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn accounts_without_premium_are_throttled_and_premium_ones_are_not() {
    within(60, async {
        let sim = sim().await;
        sim.set_download_limit(Some(DownloadLimit {
            bytes: 1_048_576,
            window: Duration::from_secs(2),
        }));
        let (id, _) = big_document(&sim);
        let plain = strict_client(&sim, 0).0;
        let premium = strict_client(&sim, 1).0;
        for c in [&plain, &premium] {
            import_on_media_dc(c).await;
        }
        let loc = location(&plain, &sim, id).await;
        for offset in [0, 524_288] {
            chunk(&plain, MEDIA_DC, &loc, offset, 524_288)
                .await
                .expect("within the limit");
        }
        let (code, name, value) = rpc(chunk(&plain, MEDIA_DC, &loc, 1_048_576, 524_288).await);
        assert_eq!((code, name.as_str()), (420, "FLOOD_PREMIUM_WAIT"));
        assert!(matches!(value, Some(1 | 2)), "{value:?}");
        let premium_loc = location(&premium, &sim, id).await;
        for offset in [0, 524_288, 1_048_576] {
            chunk(&premium, MEDIA_DC, &premium_loc, offset, 524_288)
                .await
                .expect("Premium is never throttled");
        }
        tokio::time::sleep(Duration::from_secs(u64::from(value.unwrap_or(2)))).await;
        chunk(&plain, MEDIA_DC, &loc, 1_048_576, 524_288)
            .await
            .expect("the next window");
        assert_eq!(sim.file_counts().premium_waits, 1);
    })
    .await;
}
