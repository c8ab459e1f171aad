//! What a post carries besides its text: the kind of media and the file's metadata as Telegram
//! describes it (`post_media`, one row per post that has media; an album is one post per item).

use serde::{Deserialize, Serialize};

/// The kinds of media a post can carry, as Telegram's message media constructors tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// `messageMediaPhoto`.
    Photo,
    /// A document with a video attribute (not round, not a sticker).
    Video,
    /// A document with a round-video attribute (a "video message").
    VideoNote,
    /// A GIF animation (document with `documentAttributeAnimated`).
    Animation,
    /// A document with an audio attribute (music).
    Audio,
    /// A document with a voice audio attribute.
    Voice,
    /// A document with a sticker attribute.
    Sticker,
    /// Any other document (files: pdf, zip…).
    Document,
    /// `messageMediaPoll`.
    Poll,
    /// `messageMediaWebPage`: a link preview.
    WebPage,
    /// `messageMediaGeo`, `messageMediaGeoLive`, `messageMediaVenue`.
    Geo,
    /// `messageMediaContact`.
    Contact,
    /// Whatever else Telegram sends (dice, games, invoices, stories, giveaways…).
    Other,
}

impl MediaKind {
    /// Every kind, in the order `--media` lists them.
    pub const ALL: [MediaKind; 13] = [
        MediaKind::Photo,
        MediaKind::Video,
        MediaKind::VideoNote,
        MediaKind::Animation,
        MediaKind::Audio,
        MediaKind::Voice,
        MediaKind::Sticker,
        MediaKind::Document,
        MediaKind::Poll,
        MediaKind::WebPage,
        MediaKind::Geo,
        MediaKind::Contact,
        MediaKind::Other,
    ];

    /// The name stored in `post_media.kind` and shown everywhere (`photo`, `web_page`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Video => "video",
            MediaKind::VideoNote => "video_note",
            MediaKind::Animation => "animation",
            MediaKind::Audio => "audio",
            MediaKind::Voice => "voice",
            MediaKind::Sticker => "sticker",
            MediaKind::Document => "document",
            MediaKind::Poll => "poll",
            MediaKind::WebPage => "web_page",
            MediaKind::Geo => "geo",
            MediaKind::Contact => "contact",
            MediaKind::Other => "other",
        }
    }

    /// The kind named `s` (as [`MediaKind::as_str`] writes it).
    pub fn parse(s: &str) -> Option<MediaKind> {
        MediaKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether Telegram keeps a file for this kind (a photo or a document) that can be downloaded.
    pub fn has_file(self) -> bool {
        !matches!(
            self,
            MediaKind::Poll
                | MediaKind::WebPage
                | MediaKind::Geo
                | MediaKind::Contact
                | MediaKind::Other
        )
    }
}

impl std::fmt::Display for MediaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which posts `--media` keeps: any post with media, or those with media of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaFilter {
    /// Posts with media of any kind (`--media any`).
    Any,
    /// Posts whose media is of this kind.
    Kind(MediaKind),
}

impl MediaFilter {
    /// `any` or a kind's name, as the filter is written.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaFilter::Any => "any",
            MediaFilter::Kind(k) => k.as_str(),
        }
    }

    /// The filter written `s` (`any` or a kind), or an error naming the choices.
    pub fn parse(s: &str) -> Result<MediaFilter, String> {
        if s == "any" {
            return Ok(MediaFilter::Any);
        }
        MediaKind::parse(s).map(MediaFilter::Kind).ok_or_else(|| {
            let kinds: Vec<&str> = MediaKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown media kind `{s}`: use any, {}", kinds.join(", "))
        })
    }
}

/// A post's media as Telegram described it when the post was fetched: what `posts show`, the API and
/// exports show, and what a download would ask for (file id, access hash, DC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// What it is.
    pub kind: MediaKind,
    /// MIME type (`image/jpeg` for photos).
    pub mime: Option<String>,
    /// Bytes of the file (a photo: its largest size).
    pub size: Option<i64>,
    /// The file's name, where the sender gave one.
    pub file_name: Option<String>,
    /// Pixels (photo, video, sticker).
    pub width: Option<i32>,
    /// Pixels (photo, video, sticker).
    pub height: Option<i32>,
    /// Seconds (video, audio, voice).
    pub duration: Option<i32>,
    /// Telegram's photo or document id (`None` for kinds without a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<i64>,
    /// The file's access hash (needed with the id to download it).
    #[serde(skip)]
    pub access_hash: Option<i64>,
    /// The DC that holds the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dc_id: Option<i32>,
    /// A link preview's URL, a poll's question, a contact's or place's name: the one line of text that
    /// says what the media is when there is no file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Media {
    /// Media of this kind with nothing else known yet (the builders of ingest fill the rest).
    pub fn of(kind: MediaKind) -> Media {
        Media {
            kind,
            mime: None,
            size: None,
            file_name: None,
            width: None,
            height: None,
            duration: None,
            file_id: None,
            access_hash: None,
            dc_id: None,
            title: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MediaKind;

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for k in MediaKind::ALL {
            assert_eq!(MediaKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(MediaKind::parse("Photo"), None);
    }
}
