//! What a post carries besides its text, generated from (channel seed, channel id, message id):
//! photos, videos, documents, music, voice notes, stickers, polls, web page previews, locations and
//! contacts, in Telegram's shares and with Telegram's sizes.
//!
//! The world decides which posts carry media and where each sits ([`Slot`]: album member, post
//! without text, captioned post); this module decides what the media is. Album members are only
//! photos and videos; polls, locations, contacts and stickers come without text; a web page
//! preview belongs to a post with text. Over all media posts the shares come out near: photo 55 %,
//! video 15 %, document 10 %, audio 5 %, poll 4 %, voice 3 %, web page 3 %, sticker 2 %, geo 2 %,
//! contact 1 %. Like the texts, everything is integer arithmetic on SplitMix64, stable forever.

use super::textgen::{SplitMix64, hash3};

/// The kinds of media a post can carry, as Telegram's message media constructors distinguish them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimMediaKind {
    /// `messageMediaPhoto`.
    Photo,
    /// `messageMediaDocument` with `documentAttributeVideo`.
    Video,
    /// `messageMediaDocument`: a file with a name (pdf, zip, docx).
    Document,
    /// `messageMediaDocument` with `documentAttributeAudio`: music with title and performer.
    Audio,
    /// `messageMediaDocument` with `documentAttributeAudio` and the voice flag.
    Voice,
    /// `messageMediaDocument` with `documentAttributeSticker` (webp, or webm video sticker).
    Sticker,
    /// `messageMediaPoll`.
    Poll,
    /// `messageMediaWebPage`: the preview of a link in the post's text.
    WebPage,
    /// `messageMediaGeo`.
    Geo,
    /// `messageMediaContact`.
    Contact,
}

/// What a post carries besides its text, as the simulator serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimMedia {
    /// What kind of media it is.
    pub kind: SimMediaKind,
    /// photo.id / document.id; 0 for kinds without a file (poll, web page without photo, geo, contact).
    pub file_id: i64,
    /// The file's access hash; for kinds without a file, the seed of what the object holds
    /// (poll question, web page, coordinates, contact).
    pub access_hash: i64,
    /// The DC that holds the file (MEDIA_DC for files, 0 without a file).
    pub dc_id: i32,
    /// MIME type of the file (`image/jpeg` for photos).
    pub mime: Option<String>,
    /// Bytes of the file (for a photo: its largest size).
    pub size: Option<i64>,
    /// The file's name, for files that carry one.
    pub file_name: Option<String>,
    /// Width in pixels (photos, videos, stickers).
    pub width: Option<i32>,
    /// Height in pixels (photos, videos, stickers).
    pub height: Option<i32>,
    /// Seconds (video, audio, voice).
    pub duration: Option<i32>,
}

/// The DC files live on, as on Telegram where they have their own DC (FILE_MIGRATE comes later).
pub const MEDIA_DC: i32 = 4;

/// Where a post's media sits, which limits what it can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A member of an album (grouped_id): photo or video.
    Album,
    /// A post without text: anything but a web page preview.
    Bare,
    /// A post with a caption: a file or the preview of its link.
    Caption,
}

use SimMediaKind as K;

/// Kind shares (per mille) of album members.
const ALBUM: &[(SimMediaKind, u64)] = &[(K::Photo, 750), (K::Video, 250)];
/// Kind shares (per mille) of posts without text.
const BARE: &[(SimMediaKind, u64)] = &[
    (K::Photo, 425),
    (K::Video, 110),
    (K::Document, 97),
    (K::Audio, 49),
    (K::Voice, 80),
    (K::Sticker, 53),
    (K::Poll, 106),
    (K::Geo, 53),
    (K::Contact, 27),
];
/// Kind shares (per mille) of captioned posts.
const CAPTION: &[(SimMediaKind, u64)] = &[
    (K::Photo, 584),
    (K::Video, 151),
    (K::Document, 134),
    (K::Audio, 67),
    (K::WebPage, 64),
];

const SALT_KIND: u64 = 0x6d65_6469_0001;
const SALT_FILE: u64 = 0x6d65_6469_0002;
const SALT_SHAPE: u64 = 0x6d65_6469_0003;

/// The media of post `id` of channel `channel_id` (content seed `seed`) sitting in `slot`.
pub(crate) fn generate(seed: u64, channel_id: i64, id: i64, slot: Slot) -> SimMedia {
    let table = match slot {
        Slot::Album => ALBUM,
        Slot::Bare => BARE,
        Slot::Caption => CAPTION,
    };
    let kind = pick(table, hash3(seed, SALT_KIND, id as u64) % 1000);
    let file_seed = seed ^ (channel_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let file_id = ((hash3(file_seed, SALT_FILE, id as u64) >> 1) | 1) as i64;
    let access_hash = hash3(file_seed, SALT_FILE, !(id as u64)) as i64;
    let mut rng = SplitMix64::new(hash3(file_seed, SALT_SHAPE, id as u64));
    let file = |mime: &str| SimMedia {
        kind,
        file_id,
        access_hash,
        dc_id: MEDIA_DC,
        mime: Some(mime.to_string()),
        size: None,
        file_name: None,
        width: None,
        height: None,
        duration: None,
    };
    match kind {
        K::Photo => photo(&mut rng, file("image/jpeg")),
        K::WebPage if rng.chance(60) => photo(&mut rng, file("image/jpeg")),
        K::Video => video(&mut rng, file("video/mp4")),
        K::Document => document(&mut rng, file("")),
        K::Audio => audio(&mut rng, file("audio/mpeg")),
        K::Voice => voice(&mut rng, file("audio/ogg")),
        K::Sticker => sticker(&mut rng, file("image/webp")),
        K::WebPage | K::Poll | K::Geo | K::Contact => SimMedia {
            kind,
            file_id: 0,
            access_hash,
            dc_id: 0,
            mime: None,
            size: None,
            file_name: None,
            width: None,
            height: None,
            duration: None,
        },
    }
}

/// A photo sent in chat `chat_id` as message `id` (a comment's), drawn like a post's photo.
pub(crate) fn photo_of(seed: u64, chat_id: i64, id: i64) -> SimMedia {
    let file_seed = seed ^ (chat_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = SplitMix64::new(hash3(file_seed, SALT_SHAPE, id as u64));
    let m = SimMedia {
        kind: K::Photo,
        file_id: ((hash3(file_seed, SALT_FILE, id as u64) >> 1) | 1) as i64,
        access_hash: hash3(file_seed, SALT_FILE, !(id as u64)) as i64,
        dc_id: MEDIA_DC,
        mime: Some("image/jpeg".to_string()),
        size: None,
        file_name: None,
        width: None,
        height: None,
        duration: None,
    };
    photo(&mut rng, m)
}

/// The kind whose band of the per-mille `table` holds `r` (0..1000).
fn pick(table: &[(SimMediaKind, u64)], r: u64) -> SimMediaKind {
    let mut upto = 0;
    for &(kind, share) in table {
        upto += share;
        if r < upto {
            return kind;
        }
    }
    table.last().map_or(K::Photo, |&(kind, _)| kind)
}

/// A number in `lo..=hi`.
fn between(rng: &mut SplitMix64, lo: i64, hi: i64) -> i64 {
    lo + rng.below(usize::try_from(hi - lo + 1).unwrap_or(1)) as i64
}

/// A photo: 1280 px on its long side (or 2560), common aspect ratios, 60–400 KB at full size.
fn photo(rng: &mut SplitMix64, mut m: SimMedia) -> SimMedia {
    const SHAPES: [(i32, i32); 6] = [(4, 3), (16, 9), (3, 2), (1, 1), (3, 4), (9, 16)];
    let (a, b) = SHAPES[rng.below(SHAPES.len())];
    let big = rng.chance(30);
    let side = if big { 2560 } else { 1280 };
    let (w, h) = if a >= b {
        (side, side * b / a)
    } else {
        (side * a / b, side)
    };
    m.width = Some(w);
    m.height = Some(h);
    m.size = Some(if big {
        between(rng, 160_000, 400_000)
    } else {
        between(rng, 60_000, 260_000)
    });
    m
}

/// A video: 720p, 1080p or vertical, 5 s to 15 min, 1–300 MB at 0.6–3 Mbit/s.
fn video(rng: &mut SplitMix64, mut m: SimMedia) -> SimMedia {
    const DIMS: [(i32, i32); 3] = [(1280, 720), (1920, 1080), (720, 1280)];
    let (w, h) = DIMS[rng.below(DIMS.len())];
    let duration = match rng.below(100) {
        0..40 => between(rng, 5, 60),
        40..75 => between(rng, 61, 240),
        _ => between(rng, 241, 900),
    };
    let kbps = between(rng, 600, 3_000);
    let size = (duration * kbps * 125).clamp(
        1_000_000 + between(rng, 0, 500_000),
        300_000_000 - between(rng, 0, 20_000_000),
    );
    m.width = Some(w);
    m.height = Some(h);
    m.duration = Some(duration as i32);
    m.size = Some(size);
    m.file_name = rng
        .chance(45)
        .then(|| format!("IMG_{}.MP4", between(rng, 1000, 9999)));
    m
}

/// A document: a pdf, zip or docx with a name, 20 KB to 50 MB (spread evenly over the octaves).
fn document(rng: &mut SplitMix64, mut m: SimMedia) -> SimMedia {
    const STEMS: [&str; 14] = [
        "report",
        "annual_report",
        "presentation",
        "dataset",
        "schedule",
        "price_list",
        "user_guide",
        "slides",
        "contract_template",
        "отчёт",
        "презентация",
        "расписание",
        "прайс-лист",
        "инструкция",
    ];
    const SUFFIXES: [&str; 5] = ["", "_2024", "_2025", "_v2", "_final"];
    let (ext, mime) = match rng.below(4) {
        0 | 1 => ("pdf", "application/pdf"),
        2 => ("zip", "application/zip"),
        _ => (
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    };
    let stem = STEMS[rng.below(STEMS.len())];
    let suffix = SUFFIXES[rng.below(SUFFIXES.len())];
    let low = 20_000i64 << rng.below(12);
    m.mime = Some(mime.to_string());
    m.size = Some(between(rng, low, 2 * low).min(50_000_000));
    m.file_name = Some(format!("{stem}{suffix}.{ext}"));
    m
}

/// Music: an mp3 of 2–10 minutes, 3–15 MB, named `Performer - Title.mp3`.
fn audio(rng: &mut SplitMix64, mut m: SimMedia) -> SimMedia {
    let duration = between(rng, 120, 600);
    let kbps = [128, 192, 256, 320][rng.below(4)];
    let (title, performer) = audio_tags(m.access_hash);
    m.duration = Some(duration as i32);
    m.size = Some((duration * kbps * 125 + between(rng, 0, 65_535)).clamp(3_000_000, 15_000_000));
    m.file_name = Some(format!("{performer} - {title}.mp3"));
    m
}

/// A voice note: ogg/opus, 3 s to 2 min, 1.8–4 KB a second.
fn voice(rng: &mut SplitMix64, mut m: SimMedia) -> SimMedia {
    let duration = between(rng, 3, 120);
    m.duration = Some(duration as i32);
    m.size = Some(duration * between(rng, 1_800, 4_000));
    m
}

/// A sticker: a 512×512 webp (8–60 KB), or a 1–3 s webm video sticker (20–250 KB).
fn sticker(rng: &mut SplitMix64, mut m: SimMedia) -> SimMedia {
    m.width = Some(512);
    m.height = Some(512);
    if rng.chance(30) {
        m.mime = Some("video/webm".to_string());
        m.duration = Some(between(rng, 1, 3) as i32);
        m.size = Some(between(rng, 20_000, 250_000));
        m.file_name = Some("sticker.webm".to_string());
    } else {
        m.size = Some(between(rng, 8_000, 60_000));
        m.file_name = Some("sticker.webp".to_string());
    }
    m
}

/// The (title, performer) of a piece of music, chosen by its access hash.
pub(crate) fn audio_tags(access_hash: i64) -> (&'static str, &'static str) {
    const TITLES: [&str; 10] = [
        "Midnight Train",
        "Northern Lights",
        "Слишком поздно",
        "Open Roads",
        "Летний дождь",
        "Glass Houses",
        "Paper Planes",
        "Городские огни",
        "Slow Motion",
        "Echoes",
    ];
    const PERFORMERS: [&str; 8] = [
        "The Wanderers",
        "Nova Bloom",
        "Кино и Немцы",
        "Echo Valley",
        "Северный ветер",
        "Blue Harbor",
        "Mira Lane",
        "Ночной трамвай",
    ];
    let h = hash3(access_hash as u64, SALT_SHAPE, 1);
    (
        TITLES[(h % TITLES.len() as u64) as usize],
        PERFORMERS[((h >> 32) % PERFORMERS.len() as u64) as usize],
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::world::{ChannelSpec, Lang, SimChannel, SimPost};

    fn channel(posts: i32, seed: u64) -> SimChannel {
        SimChannel::new(ChannelSpec {
            id: 1_000_000 + seed as i64,
            access_hash: 77,
            username: Some(format!("chan{seed}")),
            title: format!("Channel {seed}"),
            lang: Lang::Mixed,
            posts,
            seed,
            start_date: 1_500_000_000,
            service_run: None,
            discussion: None,
            megagroup: false,
        })
    }

    fn posts(ch: &SimChannel) -> Vec<SimPost> {
        ch.post_ids()
            .into_iter()
            .filter_map(|id| ch.post(id))
            .collect()
    }

    #[test]
    fn tables_add_up_to_a_thousand() {
        for table in [ALBUM, BARE, CAPTION] {
            assert_eq!(table.iter().map(|&(_, s)| s).sum::<u64>(), 1000);
        }
    }

    #[test]
    fn kind_shares_are_telegrams() {
        let want = [
            (K::Photo, 55),
            (K::Video, 15),
            (K::Document, 10),
            (K::Audio, 5),
            (K::Voice, 3),
            (K::Sticker, 2),
            (K::Poll, 4),
            (K::WebPage, 3),
            (K::Geo, 2),
            (K::Contact, 1),
        ];
        for seed in [1, 7, 2024] {
            let all = posts(&channel(20_000, seed));
            let media: Vec<&SimMedia> = all.iter().filter_map(|p| p.media.as_ref()).collect();
            assert!(media.len() > 3_000, "{} media posts", media.len());
            let mut n: HashMap<SimMediaKind, usize> = HashMap::new();
            for m in &media {
                *n.entry(m.kind).or_default() += 1;
            }
            let mut shares = Vec::new();
            for (kind, pct) in want {
                let got = n.get(&kind).copied().unwrap_or(0) as f64 * 100.0 / media.len() as f64;
                shares.push(format!("{kind:?} {got:.1}"));
                assert!(
                    (got - f64::from(pct)).abs() <= 3.0,
                    "seed {seed}: {kind:?} {got:.1} % of media, want {pct} % ± 3"
                );
            }
            println!(
                "seed {seed}, {} media posts: {}",
                media.len(),
                shares.join(", ")
            );
        }
    }

    #[test]
    fn albums_hold_photos_and_videos_and_captions_no_bare_kinds() {
        let all = posts(&channel(20_000, 5));
        let (mut albums, mut captioned, mut pages) = (0, 0, 0);
        for p in &all {
            let Some(m) = &p.media else { continue };
            if p.grouped_id.is_some() {
                albums += 1;
                assert!(matches!(m.kind, K::Photo | K::Video), "{} {m:?}", p.id);
            }
            if !p.text.is_empty() {
                captioned += 1;
                assert!(
                    !matches!(m.kind, K::Poll | K::Geo | K::Contact | K::Sticker),
                    "caption with {m:?}"
                );
            }
            if m.kind == K::WebPage {
                pages += 1;
                assert!(!p.text.is_empty(), "web page preview without text");
            }
        }
        assert!(albums > 300 && captioned > 1_000 && pages > 30);
    }

    #[test]
    fn same_seed_and_id_give_the_same_media() {
        let (a, b) = (channel(3_000, 9), channel(3_000, 9));
        let c = channel(3_000, 10);
        let mut differ = 0;
        for id in 1..=3_000 {
            let media = |ch: &SimChannel| ch.post(id).and_then(|p| p.media);
            assert_eq!(media(&a), media(&b));
            differ += usize::from(media(&a) != media(&c));
        }
        assert!(differ > 500, "{differ} differ");
        // Published posts get media the same way, without albums.
        let mut ch = channel(100, 3);
        let t0 = ch.newest_date();
        let ids: Vec<i32> = (0..2_000).map(|_| ch.publish(t0)).collect();
        let published: Vec<SimPost> = ids.iter().filter_map(|&id| ch.post(id)).collect();
        assert!(published.iter().all(|p| p.grouped_id.is_none()));
        let media = published.iter().filter(|p| p.has_media()).count();
        assert!((300..=500).contains(&media), "{media} of 2000 with media");
        assert_eq!(
            published
                .iter()
                .map(|p| p.media.clone())
                .collect::<Vec<_>>(),
            ids.iter()
                .filter_map(|&id| ch.post(id).map(|p| p.media))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn media_is_pinned() {
        // What posts carry must stay the same forever for a given spec, as their texts do.
        let ch = channel(3_000, 2024);
        let mut h = 0xCBF2_9CE4_8422_2325u64;
        for p in posts(&ch) {
            for b in format!("{}:{:?}", p.id, p.media).bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
            }
        }
        assert_eq!(h, PINNED, "got {h:#X}");
    }

    const PINNED: u64 = 0x9127_CD65_6311_A342;

    #[test]
    fn every_kind_in_a_2000_post_channel_with_sane_values() {
        for seed in [1, 2, 3] {
            let all = posts(&channel(2_000, seed));
            let mut seen = std::collections::HashSet::new();
            for p in &all {
                let Some(m) = &p.media else { continue };
                seen.insert(m.kind);
                let has_file = m.file_id != 0;
                assert_eq!(m.dc_id, if has_file { MEDIA_DC } else { 0 });
                assert_eq!(m.mime.is_some(), has_file, "{m:?}");
                assert_eq!(m.size.is_some(), has_file, "{m:?}");
                let size = m.size.unwrap_or(0);
                match m.kind {
                    K::Photo => {
                        assert!((60_000..=400_000).contains(&size));
                        let long = m.width.max(m.height);
                        assert!(long == Some(1280) || long == Some(2560), "{m:?}");
                    }
                    K::Video => {
                        assert!((1_000_000..=300_000_000).contains(&size), "{m:?}");
                        assert!(m.duration.is_some_and(|d| (5..=900).contains(&d)));
                        assert!(matches!(
                            (m.width, m.height),
                            (Some(1280), Some(720))
                                | (Some(1920), Some(1080))
                                | (Some(720), Some(1280))
                        ));
                    }
                    K::Document => {
                        assert!((20_000..=50_000_000).contains(&size));
                        let name = m.file_name.as_deref().unwrap_or("");
                        assert!([".pdf", ".zip", ".docx"].iter().any(|e| name.ends_with(e)));
                    }
                    K::Audio => {
                        assert!((3_000_000..=15_000_000).contains(&size));
                        assert!(m.duration.is_some_and(|d| (120..=600).contains(&d)));
                        assert_eq!(m.mime.as_deref(), Some("audio/mpeg"));
                    }
                    K::Voice => {
                        assert!(m.duration.is_some_and(|d| (3..=120).contains(&d)));
                        assert!(size < 500_000 && m.file_name.is_none());
                    }
                    K::Sticker => assert_eq!((m.width, m.height), (Some(512), Some(512))),
                    K::WebPage => assert!(m.file_id == 0 || m.width.is_some()),
                    K::Poll | K::Geo | K::Contact => assert_eq!(m.file_id, 0),
                }
            }
            assert_eq!(seen.len(), 10, "seed {seed}: kinds {seen:?}");
        }
    }
}
