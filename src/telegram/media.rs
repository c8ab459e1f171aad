//! A message's media as tgsift keeps it: Telegram's `MessageMedia` read into the store's [`Media`]
//! (kind, MIME type, size, file name, pixels, duration, and the file's id, access hash and DC).

use grammers_tl_types as tl;
use tgsift_store::{Media, MediaKind};

/// What a message carries, or `None` when it carries nothing (`messageMediaEmpty` or no media).
pub(crate) fn media_of(media: Option<&tl::enums::MessageMedia>) -> Option<Media> {
    use tl::enums::MessageMedia as M;
    Some(match media? {
        M::Empty => return None,
        M::Photo(p) => match &p.photo {
            Some(tl::enums::Photo::Photo(photo)) => photo_media(photo),
            _ => Media::of(MediaKind::Photo),
        },
        M::Document(d) => match &d.document {
            Some(tl::enums::Document::Document(doc)) => document_media(doc, d.round, d.voice),
            _ => Media::of(MediaKind::Document),
        },
        M::WebPage(w) => match &w.webpage {
            // A preview's photo is a file like any other: described as a photo's would be.
            tl::enums::WebPage::Page(p) => Media {
                kind: MediaKind::WebPage,
                title: Some(p.url.clone()),
                ..match &p.photo {
                    Some(tl::enums::Photo::Photo(photo)) => photo_media(photo),
                    _ => Media::of(MediaKind::WebPage),
                }
            },
            tl::enums::WebPage::Pending(p) => Media {
                title: p.url.clone(),
                ..Media::of(MediaKind::WebPage)
            },
            tl::enums::WebPage::Empty(p) => Media {
                title: p.url.clone(),
                ..Media::of(MediaKind::WebPage)
            },
            tl::enums::WebPage::NotModified(_) => Media::of(MediaKind::WebPage),
        },
        M::Poll(p) => Media {
            title: match &p.poll {
                tl::enums::Poll::Poll(poll) => match &poll.question {
                    tl::enums::TextWithEntities::Entities(t) => Some(t.text.clone()),
                },
            },
            ..Media::of(MediaKind::Poll)
        },
        M::Geo(_) | M::GeoLive(_) => Media::of(MediaKind::Geo),
        M::Venue(v) => Media {
            title: Some(v.title.clone()),
            ..Media::of(MediaKind::Geo)
        },
        M::Contact(c) => Media {
            title: Some(
                format!("{} {}", c.first_name, c.last_name)
                    .trim()
                    .to_owned(),
            ),
            ..Media::of(MediaKind::Contact)
        },
        _ => Media::of(MediaKind::Other),
    })
}

/// A photo's largest size: `(type, width, height, bytes)`, the one a download takes.
pub(crate) fn largest_size(p: &tl::types::Photo) -> Option<(&str, i32, i32, i64)> {
    p.sizes
        .iter()
        .filter_map(|s| match s {
            tl::enums::PhotoSize::Size(s) => Some((s.r#type.as_str(), s.w, s.h, i64::from(s.size))),
            tl::enums::PhotoSize::Progressive(s) => Some((
                s.r#type.as_str(),
                s.w,
                s.h,
                i64::from(*s.sizes.iter().max()?),
            )),
            _ => None,
        })
        .max_by_key(|(_, w, h, size)| (i64::from(*w) * i64::from(*h), *size))
}

/// A photo: its largest size (the one a download would take).
fn photo_media(p: &tl::types::Photo) -> Media {
    let largest = largest_size(p);
    Media {
        mime: Some("image/jpeg".into()),
        size: largest.map(|l| l.3),
        width: largest.map(|l| l.1),
        height: largest.map(|l| l.2),
        file_id: Some(p.id),
        access_hash: Some(p.access_hash),
        dc_id: Some(p.dc_id),
        ..Media::of(MediaKind::Photo)
    }
}

/// A document, its kind told by its attributes (and by the media's `round`/`voice` flags).
fn document_media(d: &tl::types::Document, round: bool, voice: bool) -> Media {
    use tl::enums::DocumentAttribute as A;
    let mut kind = MediaKind::Document;
    let mut m = Media {
        mime: Some(d.mime_type.clone()).filter(|m| !m.is_empty()),
        size: Some(d.size),
        file_id: Some(d.id),
        access_hash: Some(d.access_hash),
        dc_id: Some(d.dc_id),
        ..Media::of(MediaKind::Document)
    };
    let animated = d.attributes.iter().any(|a| matches!(a, A::Animated));
    for a in &d.attributes {
        match a {
            A::Filename(f) => m.file_name = Some(f.file_name.clone()),
            A::ImageSize(s) => {
                m.width = m.width.or(Some(s.w));
                m.height = m.height.or(Some(s.h));
            }
            A::Sticker(_) => kind = MediaKind::Sticker,
            A::Video(v) => {
                m.width = Some(v.w);
                m.height = Some(v.h);
                m.duration = Some(v.duration.round() as i32);
                if kind != MediaKind::Sticker {
                    kind = if v.round_message || round {
                        MediaKind::VideoNote
                    } else if animated {
                        MediaKind::Animation
                    } else {
                        MediaKind::Video
                    };
                }
            }
            A::Audio(au) => {
                m.duration = Some(au.duration);
                m.title = au.title.clone();
                if kind == MediaKind::Document {
                    kind = if au.voice || voice {
                        MediaKind::Voice
                    } else {
                        MediaKind::Audio
                    };
                }
            }
            _ => {}
        }
    }
    if kind == MediaKind::Document && animated {
        kind = MediaKind::Animation;
    }
    Media { kind, ..m }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(mime: &str, attributes: Vec<tl::enums::DocumentAttribute>) -> tl::types::Document {
        tl::types::Document {
            id: 7,
            access_hash: -3,
            file_reference: vec![1, 2],
            date: 1_700_000_000,
            mime_type: mime.into(),
            size: 5_000_000_000,
            thumbs: None,
            video_thumbs: None,
            dc_id: 4,
            attributes,
        }
    }

    fn media_doc(d: tl::types::Document) -> tl::enums::MessageMedia {
        tl::types::MessageMediaDocument {
            nopremium: false,
            spoiler: false,
            video: false,
            round: false,
            voice: false,
            document: Some(d.into()),
            alt_documents: None,
            video_cover: None,
            video_timestamp: None,
            ttl_seconds: None,
        }
        .into()
    }

    fn video(round: bool) -> tl::enums::DocumentAttribute {
        tl::types::DocumentAttributeVideo {
            round_message: round,
            supports_streaming: true,
            nosound: false,
            duration: 12.6,
            w: 1920,
            h: 1080,
            preload_prefix_size: None,
            video_start_ts: None,
            video_codec: None,
        }
        .into()
    }

    fn audio(voice: bool) -> tl::enums::DocumentAttribute {
        tl::types::DocumentAttributeAudio {
            voice,
            duration: 185,
            title: Some("Song".into()),
            performer: None,
            waveform: None,
        }
        .into()
    }

    fn name(n: &str) -> tl::enums::DocumentAttribute {
        tl::types::DocumentAttributeFilename {
            file_name: n.into(),
        }
        .into()
    }

    #[test]
    fn documents_are_told_apart_by_their_attributes() {
        let kind =
            |mime: &str, attrs| media_of(Some(&media_doc(document(mime, attrs)))).map(|m| m.kind);
        assert_eq!(
            kind("video/mp4", vec![video(false), name("a.mp4")]),
            Some(MediaKind::Video)
        );
        assert_eq!(
            kind("video/mp4", vec![video(true)]),
            Some(MediaKind::VideoNote)
        );
        assert_eq!(
            kind(
                "video/mp4",
                vec![video(false), tl::enums::DocumentAttribute::Animated]
            ),
            Some(MediaKind::Animation)
        );
        assert_eq!(
            kind("audio/mpeg", vec![audio(false)]),
            Some(MediaKind::Audio)
        );
        assert_eq!(kind("audio/ogg", vec![audio(true)]), Some(MediaKind::Voice));
        assert_eq!(
            kind("application/pdf", vec![name("a.pdf")]),
            Some(MediaKind::Document)
        );
        let sticker = tl::types::DocumentAttributeSticker {
            mask: false,
            alt: "🙂".into(),
            stickerset: tl::enums::InputStickerSet::Empty,
            mask_coords: None,
        };
        assert_eq!(
            kind("video/webm", vec![sticker.into(), video(false)]),
            Some(MediaKind::Sticker)
        );

        let m = media_of(Some(&media_doc(document(
            "video/mp4",
            vec![video(false), name("a.mp4")],
        ))))
        .expect("media");
        assert_eq!(
            (
                m.mime.as_deref(),
                m.size,
                m.file_name.as_deref(),
                m.width,
                m.height,
                m.duration
            ),
            (
                Some("video/mp4"),
                Some(5_000_000_000),
                Some("a.mp4"),
                Some(1920),
                Some(1080),
                Some(13)
            )
        );
        assert_eq!(
            (m.file_id, m.access_hash, m.dc_id),
            (Some(7), Some(-3), Some(4))
        );
    }

    #[test]
    fn a_photo_is_described_by_its_largest_size() {
        let size = |t: &str, w, h, size| -> tl::enums::PhotoSize {
            tl::types::PhotoSize {
                r#type: t.into(),
                w,
                h,
                size,
            }
            .into()
        };
        let photo = tl::types::Photo {
            has_stickers: false,
            id: 11,
            access_hash: 12,
            file_reference: vec![],
            date: 0,
            sizes: vec![
                size("m", 320, 213, 20_000),
                tl::types::PhotoStrippedSize {
                    r#type: "i".into(),
                    bytes: vec![1],
                }
                .into(),
                size("y", 1280, 853, 183_422),
                size("x", 800, 533, 90_000),
            ],
            video_sizes: None,
            dc_id: 2,
        };
        let media: tl::enums::MessageMedia = tl::types::MessageMediaPhoto {
            spoiler: false,
            live_photo: false,
            photo: Some(photo.into()),
            ttl_seconds: None,
            video: None,
        }
        .into();
        let m = media_of(Some(&media)).expect("media");
        assert_eq!(
            (
                m.kind,
                m.mime.as_deref(),
                m.size,
                m.width,
                m.height,
                m.file_id,
                m.dc_id
            ),
            (
                MediaKind::Photo,
                Some("image/jpeg"),
                Some(183_422),
                Some(1280),
                Some(853),
                Some(11),
                Some(2)
            )
        );
        assert_eq!(media_of(Some(&tl::enums::MessageMedia::Empty)), None);
        assert_eq!(media_of(None), None);
    }
}
