//! The `MessageMedia` of a post, as Telegram fills it: photos with their ladder of sizes, documents
//! with their attributes, polls with results, web page previews, locations and contacts.
//!
//! Everything a [`SimMedia`] does not hold itself (size ladder, attributes, poll question, web page,
//! coordinates, contact) follows from its values and its access hash, so the same post is always
//! served the same way.

use grammers_tl_types as tl;

use crate::files::Stamp;
use crate::media::{SimMedia, SimMediaKind, audio_tags};
use crate::textgen::{SplitMix64, hash3};

const SALT_DETAIL: u64 = 0x6f62_6a73_0002;

/// The media of post `msg_id` (dated `date`) of channel `channel_id`, its file reference issued
/// with `stamp`.
pub(crate) fn message_media(
    channel_id: i64,
    msg_id: i32,
    date: i32,
    m: &SimMedia,
    stamp: &Stamp,
) -> tl::enums::MessageMedia {
    use tl::enums::MessageMedia as M;
    let moved;
    let m = match stamp.named_dc.filter(|_| m.file_id != 0) {
        Some(dc) => {
            moved = SimMedia {
                dc_id: dc,
                ..m.clone()
            };
            &moved
        }
        None => m,
    };
    let mut rng = SplitMix64::new(hash3(m.access_hash as u64, SALT_DETAIL, 0));
    let file_ref = || stamp.reference(channel_id, msg_id, m.file_id);
    match m.kind {
        SimMediaKind::Photo => M::Photo(tl::types::MessageMediaPhoto {
            spoiler: false,
            live_photo: false,
            photo: Some(photo(m, file_ref(), date)),
            ttl_seconds: None,
            video: None,
        }),
        SimMediaKind::Video
        | SimMediaKind::Document
        | SimMediaKind::Audio
        | SimMediaKind::Voice
        | SimMediaKind::Sticker => M::Document(tl::types::MessageMediaDocument {
            nopremium: false,
            spoiler: false,
            video: m.kind == SimMediaKind::Video,
            round: false,
            voice: m.kind == SimMediaKind::Voice,
            document: Some(document(m, file_ref(), date, &mut rng)),
            alt_documents: None,
            video_cover: None,
            video_timestamp: None,
            ttl_seconds: None,
        }),
        SimMediaKind::Poll => poll(m, &mut rng),
        SimMediaKind::WebPage => M::WebPage(tl::types::MessageMediaWebPage {
            force_large_media: false,
            force_small_media: false,
            manual: false,
            safe: false,
            webpage: web_page(m, file_ref, date, &mut rng),
        }),
        SimMediaKind::Geo => M::Geo(tl::types::MessageMediaGeo {
            geo: geo_point(m.access_hash, &mut rng),
        }),
        SimMediaKind::Contact => contact(&mut rng),
    }
}

/// The sizes Telegram keeps of a photo, smallest first: `m` (320 px on the long side), `x` (800),
/// `y` (1280) and `w` (2560) up to the photo's own; the largest is the photo itself.
pub(crate) fn photo_sizes(w: i32, h: i32, size: i64) -> Vec<(&'static str, i32, i32, i32)> {
    let long = i64::from(w.max(h).max(1));
    let full = size.clamp(0, i64::from(i32::MAX));
    [("m", 320), ("x", 800), ("y", 1280), ("w", 2560)]
        .into_iter()
        .filter(|&(_, side)| side <= long)
        .map(|(t, side)| {
            let scale = |d: i32| (i64::from(d) * side / long).max(1) as i32;
            // Small sizes compress worse: 1.5 times the bytes their area alone would take.
            let bytes = if side == long {
                full
            } else {
                (full * side * side * 3 / (long * long * 2)).max(1_000)
            };
            (t, scale(w), scale(h), bytes as i32)
        })
        .collect()
}

/// A `photo#…` of the media's file, its sizes as [`photo_sizes`] gives them.
fn photo(m: &SimMedia, file_reference: Vec<u8>, date: i32) -> tl::enums::Photo {
    let sizes = photo_sizes(
        m.width.unwrap_or(0),
        m.height.unwrap_or(0),
        m.size.unwrap_or(0),
    )
    .into_iter()
    .map(|(t, w, h, size)| {
        tl::enums::PhotoSize::Size(tl::types::PhotoSize {
            r#type: t.to_string(),
            w,
            h,
            size,
        })
    })
    .collect();
    tl::enums::Photo::Photo(tl::types::Photo {
        has_stickers: false,
        id: m.file_id,
        access_hash: m.access_hash,
        file_reference,
        date,
        sizes,
        video_sizes: None,
        dc_id: m.dc_id,
    })
}

/// A `document#…` with the attributes of its kind.
fn document(
    m: &SimMedia,
    file_reference: Vec<u8>,
    date: i32,
    rng: &mut SplitMix64,
) -> tl::enums::Document {
    use tl::enums::DocumentAttribute as A;
    let (w, h) = (m.width.unwrap_or(0), m.height.unwrap_or(0));
    let duration = m.duration.unwrap_or(0);
    let video = |streaming| {
        A::Video(tl::types::DocumentAttributeVideo {
            round_message: false,
            supports_streaming: streaming,
            nosound: false,
            duration: f64::from(duration),
            w,
            h,
            preload_prefix_size: None,
            video_start_ts: None,
            video_codec: None,
        })
    };
    let mut attributes = Vec::with_capacity(3);
    match m.kind {
        SimMediaKind::Video => attributes.push(video(true)),
        SimMediaKind::Audio | SimMediaKind::Voice => {
            let voice = m.kind == SimMediaKind::Voice;
            let (title, performer) = audio_tags(m.access_hash);
            attributes.push(A::Audio(tl::types::DocumentAttributeAudio {
                voice,
                duration,
                title: (!voice).then(|| title.to_string()),
                performer: (!voice).then(|| performer.to_string()),
                // 100 five-bit samples, as Telegram packs a voice note's waveform.
                waveform: voice.then(|| (0..63).map(|_| rng.below(256) as u8).collect()),
            }));
        }
        SimMediaKind::Sticker => {
            if m.duration.is_some() {
                attributes.push(video(false));
            } else {
                attributes.push(A::ImageSize(tl::types::DocumentAttributeImageSize { w, h }));
            }
            const ALTS: [&str; 6] = ["👍", "😂", "🔥", "❤", "😢", "🎉"];
            attributes.push(A::Sticker(tl::types::DocumentAttributeSticker {
                mask: false,
                alt: ALTS[rng.below(ALTS.len())].to_string(),
                stickerset: tl::enums::InputStickerSet::Id(tl::types::InputStickerSetId {
                    id: (rng.next_u64() >> 1) as i64,
                    access_hash: rng.next_u64() as i64,
                }),
                mask_coords: None,
            }));
        }
        _ => {}
    }
    if let Some(name) = &m.file_name {
        attributes.push(A::Filename(tl::types::DocumentAttributeFilename {
            file_name: name.clone(),
        }));
    }
    tl::enums::Document::Document(tl::types::Document {
        id: m.file_id,
        access_hash: m.access_hash,
        file_reference,
        date,
        mime_type: m.mime.clone().unwrap_or_default(),
        size: m.size.unwrap_or(0),
        thumbs: None,
        video_thumbs: None,
        dc_id: m.dc_id,
        attributes,
    })
}

fn text(s: &str) -> tl::enums::TextWithEntities {
    tl::enums::TextWithEntities::Entities(tl::types::TextWithEntities {
        text: s.to_string(),
        entities: vec![],
    })
}

/// A poll of 2–4 answers with its results (some closed), votes spread unevenly.
fn poll(m: &SimMedia, rng: &mut SplitMix64) -> tl::enums::MessageMedia {
    const POLLS: [(&str, &[&str]); 6] = [
        (
            "What should we cover next?",
            &["Economy", "Technology", "Sport", "Culture"],
        ),
        (
            "Как вам новость?",
            &["Отлично", "Так себе", "Плохо", "Без разницы"],
        ),
        ("Do you read us every day?", &["Yes", "No", "Sometimes"]),
        (
            "Где вы нас читаете?",
            &["Телефон", "Компьютер", "Планшет", "Везде"],
        ),
        (
            "Will rates go down this year?",
            &["Yes", "No", "Hard to say"],
        ),
        ("Нужен ли нам чат?", &["Да", "Нет"]),
    ];
    let (question, options) = POLLS[rng.below(POLLS.len())];
    let n = 2 + rng.below(options.len() - 1);
    let total = 10 + rng.below(5_000) as i32;
    let weights: Vec<i32> = (0..n).map(|_| 1 + rng.below(100) as i32).collect();
    let sum: i32 = weights.iter().sum();
    let answers = options[..n]
        .iter()
        .enumerate()
        .map(|(k, a)| {
            tl::enums::PollAnswer::Answer(tl::types::PollAnswer {
                text: text(a),
                option: vec![b'0' + k as u8],
                media: None,
                added_by: None,
                date: None,
            })
        })
        .collect();
    let results = weights
        .iter()
        .enumerate()
        .map(|(k, w)| {
            tl::enums::PollAnswerVoters::Voters(tl::types::PollAnswerVoters {
                chosen: false,
                correct: false,
                option: vec![b'0' + k as u8],
                // voters and recent_voters share one flag bit: always set both.
                voters: Some(total * w / sum),
                recent_voters: Some(vec![]),
            })
        })
        .collect();
    tl::enums::MessageMedia::Poll(Box::new(tl::types::MessageMediaPoll {
        poll: tl::enums::Poll::Poll(tl::types::Poll {
            id: (m.access_hash as u64 >> 1) as i64,
            closed: rng.chance(20),
            public_voters: false,
            multiple_choice: false,
            quiz: false,
            open_answers: false,
            revoting_disabled: false,
            shuffle_answers: false,
            hide_results_until_close: false,
            creator: false,
            subscribers_only: false,
            question: text(question),
            answers,
            close_period: None,
            close_date: None,
            countries_iso2: None,
            hash: rng.next_u64() as i64,
        }),
        results: tl::enums::PollResults::Results(Box::new(tl::types::PollResults {
            min: false,
            has_unread_votes: false,
            can_view_stats: false,
            results: Some(results),
            total_voters: Some(total),
            recent_voters: None,
            solution: None,
            solution_entities: None,
            solution_media: None,
        })),
        attached_media: None,
    }))
}

/// The article a web page preview shows: (url, site name, title, description).
fn web_article(access_hash: i64) -> (String, &'static str, &'static str, &'static str) {
    const SITES: [(&str, &str, &str); 6] = [
        ("Reuters", "www.reuters.com", "world"),
        ("ТАСС", "tass.ru", "ekonomika"),
        ("The Verge", "www.theverge.com", "tech"),
        ("РБК", "www.rbc.ru", "society"),
        ("GitHub", "github.com", "blog"),
        ("Хабр", "habr.com", "ru/articles"),
    ];
    const ARTICLES: [(&str, &str, &str); 6] = [
        (
            "markets-rally",
            "Markets rally as inflation cools",
            "Stocks rose for a third day as new figures showed prices growing more slowly.",
        ),
        (
            "new-rules",
            "Новые правила вступают в силу",
            "С понедельника меняется порядок оформления документов.",
        ),
        (
            "open-source-release",
            "A new release of a popular open-source tool",
            "The maintainers list the changes and what to look out for when upgrading.",
        ),
        (
            "weather-warning",
            "Синоптики предупредили о резком похолодании",
            "В выходные температура опустится на десять градусов.",
        ),
        (
            "match-report",
            "Late goal decides the derby",
            "A header in stoppage time settled a tight match.",
        ),
        (
            "research",
            "Учёные описали новый вид бактерий",
            "Находка поможет в разработке лекарств.",
        ),
    ];
    let h = hash3(access_hash as u64, SALT_DETAIL, 1);
    let (site, host, section) = SITES[(h % SITES.len() as u64) as usize];
    let (slug, title, description) = ARTICLES[((h >> 8) % ARTICLES.len() as u64) as usize];
    let url = format!("https://{host}/{section}/{slug}-{}", (h >> 32) % 1_000_000);
    (url, site, title, description)
}

/// A `webPage#…` of an article, with the media's photo if it has one.
fn web_page(
    m: &SimMedia,
    file_reference: impl FnOnce() -> Vec<u8>,
    date: i32,
    rng: &mut SplitMix64,
) -> tl::enums::WebPage {
    let (url, site, title, description) = web_article(m.access_hash);
    let display_url = url
        .trim_start_matches("https://")
        .trim_start_matches("www.")
        .to_string();
    let has_photo = m.file_id != 0;
    tl::enums::WebPage::Page(tl::types::WebPage {
        has_large_media: has_photo && rng.chance(50),
        video_cover_photo: false,
        id: (m.access_hash as u64 >> 1) as i64,
        url,
        display_url,
        hash: rng.next_u64() as i32,
        r#type: Some(if has_photo { "photo" } else { "article" }.to_string()),
        site_name: Some(site.to_string()),
        title: Some(title.to_string()),
        description: Some(description.to_string()),
        photo: has_photo.then(|| photo(m, file_reference(), date)),
        embed_url: None,
        embed_type: None,
        embed_width: None,
        embed_height: None,
        duration: None,
        author: None,
        document: None,
        cached_page: None,
        attributes: None,
    })
}

/// A point near one of a few cities (within about 5 km).
fn geo_point(access_hash: i64, rng: &mut SplitMix64) -> tl::enums::GeoPoint {
    // Micro-degrees: (latitude, longitude).
    const CITIES: [(i64, i64); 6] = [
        (55_755_800, 37_617_300),
        (59_938_600, 30_314_100),
        (51_507_400, -127_800),
        (40_712_800, -74_006_000),
        (52_520_000, 13_405_000),
        (43_238_900, 76_889_700),
    ];
    let (lat, long) = CITIES[rng.below(CITIES.len())];
    let jitter = |rng: &mut SplitMix64| rng.below(90_001) as i64 - 45_000;
    let lat = lat + jitter(rng);
    let long = long + jitter(rng);
    tl::enums::GeoPoint::Point(tl::types::GeoPoint {
        long: long as f64 / 1e6,
        lat: lat as f64 / 1e6,
        access_hash,
        accuracy_radius: None,
    })
}

/// A shared contact that is not a Telegram user (user_id 0), with a fictional number.
fn contact(rng: &mut SplitMix64) -> tl::enums::MessageMedia {
    const NAMES: [(&str, &str); 6] = [
        ("Anna", "Smith"),
        ("Иван", "Петров"),
        ("Press office", ""),
        ("Мария", "Соколова"),
        ("John", "Miller"),
        ("Редакция", ""),
    ];
    let (first, last) = NAMES[rng.below(NAMES.len())];
    tl::enums::MessageMedia::Contact(tl::types::MessageMediaContact {
        phone_number: format!("+1555{:07}", rng.below(10_000_000)),
        first_name: first.to_string(),
        last_name: last.to_string(),
        vcard: String::new(),
        user_id: 0,
    })
}

#[cfg(test)]
mod tests {
    use grammers_tl_types::{Deserializable, Serializable};

    use super::*;
    use crate::world::{ChannelSpec, Lang, SimChannel};

    /// Serialized and read back, as a client reads it.
    fn round_trip(m: &SimMedia) -> tl::enums::MessageMedia {
        let stamp = crate::files::Files::new().stamp(1_700_000_000);
        let media = message_media(1_234, 56, 1_700_000_000, m, &stamp);
        let bytes = media.to_bytes();
        let back = tl::enums::MessageMedia::from_bytes(&bytes).expect("deserializes");
        assert_eq!(back.to_bytes(), bytes);
        back
    }

    fn attrs_of(d: &tl::types::Document) -> (Option<String>, Option<(i32, i32)>, Option<i32>) {
        use tl::enums::DocumentAttribute as A;
        let mut out = (None, None, None);
        for a in &d.attributes {
            match a {
                A::Filename(f) => out.0 = Some(f.file_name.clone()),
                A::ImageSize(s) => out.1 = out.1.or(Some((s.w, s.h))),
                A::Video(v) => {
                    out.1 = out.1.or(Some((v.w, v.h)));
                    out.2 = Some(v.duration as i32);
                    assert_eq!(f64::from(v.duration as i32), v.duration);
                }
                A::Audio(a) => out.2 = Some(a.duration),
                _ => {}
            }
        }
        out
    }

    fn check_photo(p: &tl::enums::Photo, m: &SimMedia) {
        let tl::enums::Photo::Photo(p) = p else {
            panic!("photoEmpty for {m:?}")
        };
        assert_eq!(
            (p.id, p.access_hash, p.dc_id),
            (m.file_id, m.access_hash, m.dc_id)
        );
        assert_eq!(p.file_reference.len(), 29);
        let sizes: Vec<&tl::types::PhotoSize> = p
            .sizes
            .iter()
            .map(|s| match s {
                tl::enums::PhotoSize::Size(s) => s,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(sizes.len() >= 3);
        assert!(
            sizes
                .windows(2)
                .all(|w| w[0].size < w[1].size && w[0].w < w[1].w)
        );
        let last = sizes[sizes.len() - 1];
        assert_eq!(
            (Some(last.w), Some(last.h), Some(i64::from(last.size))),
            (m.width, m.height, m.size)
        );
        assert!(["y", "w"].contains(&last.r#type.as_str()));
    }

    #[test]
    fn every_kind_round_trips_with_its_values() {
        let ch = SimChannel::new(ChannelSpec {
            id: 4_242,
            access_hash: 1,
            username: None,
            title: "media".into(),
            lang: Lang::Mixed,
            posts: 3_000,
            seed: 17,
            start_date: 1_600_000_000,
            service_run: None,
            discussion: None,
            megagroup: false,
        });
        let mut seen = std::collections::HashSet::new();
        for id in ch.post_ids() {
            let Some(m) = ch.post(id).and_then(|p| p.media) else {
                continue;
            };
            seen.insert(m.kind);
            use tl::enums::MessageMedia as M;
            match (m.kind, round_trip(&m)) {
                (SimMediaKind::Photo, M::Photo(p)) => {
                    check_photo(p.photo.as_ref().expect("photo"), &m)
                }
                (
                    SimMediaKind::Video
                    | SimMediaKind::Document
                    | SimMediaKind::Audio
                    | SimMediaKind::Voice
                    | SimMediaKind::Sticker,
                    M::Document(d),
                ) => {
                    assert_eq!(d.video, m.kind == SimMediaKind::Video);
                    assert_eq!(d.voice, m.kind == SimMediaKind::Voice);
                    let Some(tl::enums::Document::Document(doc)) = &d.document else {
                        panic!("no document for {m:?}")
                    };
                    assert_eq!(
                        (doc.id, doc.access_hash, doc.dc_id),
                        (m.file_id, m.access_hash, m.dc_id)
                    );
                    assert_eq!(Some(doc.size), m.size);
                    assert_eq!(Some(&doc.mime_type), m.mime.as_ref());
                    let (name, dims, duration) = attrs_of(doc);
                    assert_eq!(name, m.file_name);
                    assert_eq!(dims.map(|d| d.0), m.width);
                    assert_eq!(dims.map(|d| d.1), m.height);
                    assert_eq!(duration, m.duration);
                    let audio = doc.attributes.iter().find_map(|a| match a {
                        tl::enums::DocumentAttribute::Audio(a) => Some(a),
                        _ => None,
                    });
                    match m.kind {
                        SimMediaKind::Audio => {
                            let a = audio.expect("audio attribute");
                            assert!(!a.voice && a.title.is_some() && a.performer.is_some());
                        }
                        SimMediaKind::Voice => assert!(audio.expect("audio attribute").voice),
                        SimMediaKind::Sticker => assert!(
                            doc.attributes
                                .iter()
                                .any(|a| matches!(a, tl::enums::DocumentAttribute::Sticker(_)))
                        ),
                        _ => assert!(audio.is_none()),
                    }
                }
                (SimMediaKind::Poll, M::Poll(p)) => {
                    let tl::enums::Poll::Poll(poll) = &p.poll;
                    assert!((2..=4).contains(&poll.answers.len()));
                    let tl::enums::PollResults::Results(r) = &p.results;
                    let voters = r.results.as_ref().expect("results");
                    assert_eq!(voters.len(), poll.answers.len());
                    let sum: i32 = voters
                        .iter()
                        .map(|v| match v {
                            tl::enums::PollAnswerVoters::Voters(v) => v.voters.unwrap_or(0),
                        })
                        .sum();
                    assert!(sum <= r.total_voters.unwrap_or(0));
                }
                (SimMediaKind::WebPage, M::WebPage(w)) => {
                    let tl::enums::WebPage::Page(page) = &w.webpage else {
                        panic!("not a webPage")
                    };
                    assert!(page.url.starts_with("https://"));
                    assert!(page.url.ends_with(&page.display_url));
                    assert!(page.site_name.is_some() && page.title.is_some());
                    assert_eq!(page.photo.is_some(), m.file_id != 0);
                    if let Some(p) = &page.photo {
                        check_photo(p, &m);
                    }
                }
                (SimMediaKind::Geo, M::Geo(g)) => {
                    let tl::enums::GeoPoint::Point(p) = &g.geo else {
                        panic!("geoPointEmpty")
                    };
                    assert!((-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.long));
                }
                (SimMediaKind::Contact, M::Contact(c)) => {
                    assert!(c.phone_number.starts_with("+1555") && !c.first_name.is_empty());
                }
                (kind, media) => panic!("{kind:?} served as {media:?}"),
            }
        }
        assert_eq!(seen.len(), 10, "{seen:?}");
    }

    #[test]
    fn photo_sizes_climb_to_the_photo() {
        assert_eq!(
            photo_sizes(1280, 960, 200_000),
            vec![
                ("m", 320, 240, 18_750),
                ("x", 800, 600, 117_187),
                ("y", 1280, 960, 200_000)
            ]
        );
        let big = photo_sizes(1440, 2560, 400_000);
        assert_eq!(big.len(), 4);
        assert_eq!(big[3], ("w", 1440, 2560, 400_000));
    }
}
