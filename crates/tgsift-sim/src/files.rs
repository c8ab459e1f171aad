//! Telegram's file downloads: `upload.getFile` with Telegram's rules for offsets and limits, files
//! that live on their own DC (`FILE_MIGRATE_X` elsewhere), file references that expire and cannot
//! be forged, the throttle on accounts without Premium (`FLOOD_PREMIUM_WAIT_X`), and the counts of
//! what downloads did ([`FileCounts`]).
//!
//! No file is stored. A file's bytes are made where they are asked for: the 8 bytes at index `k`
//! (bytes `8k..8k+8`) are SplitMix64's `k+1`-th word from a seed of (file id, access hash, photo
//! size), so a chunk at any offset of a 300 MB video costs only its own length, and a file always
//! has the same bytes.
//!
//! # File references
//!
//! There is no table of files either: a reference names where its file was seen. Its 29 bytes are a
//! version byte (2), the second it was issued (server clock, big-endian, as Telegram's references
//! carry theirs), the channel and message it was served with, and 12 bytes of SHA-256 over a secret
//! drawn when the simulator starts, those ids, the file id and the issue time. A client cannot make
//! one up, move one to another file or make one younger; one SHA-256 block per media keeps history
//! pages cheap. A reference older than the TTL ([`DEFAULT_FILE_REFERENCE_TTL`]) answers
//! `FILE_REFERENCE_EXPIRED`; fetching the message again gives a fresh one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use grammers_tl_types as tl;
use sha2::{Digest, Sha256};

use super::discussion::GroupMessage;
use super::media::{SimMedia, SimMediaKind};
use super::objects::photo_sizes;
use super::shared::Shared;
use super::state::{Side, lock, read};
use super::textgen::mix64;

/// How long a file reference served with a message works. Telegram documents no lifetime, only that
/// references expire and must then be fetched again with their message; client developers report
/// references of channel posts failing after hours. Two hours: a client that downloads what it has
/// just read never notices, one that queues downloads for long or resumes one later must re-fetch.
pub const DEFAULT_FILE_REFERENCE_TTL: Duration = Duration::from_secs(2 * 3_600);

/// A chunk may not cross a 1 MB boundary of the file, and `limit` is at most 1 MB.
const MB: i64 = 1_048_576;
/// The length of a file reference.
const REF_LEN: usize = 29;
/// The first byte of a file reference.
const REF_VERSION: u8 = 2;
/// SplitMix64's increment: the word of byte index `k` is `mix64(seed + (k + 1) * GOLDEN)`.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Telegram's throttle on downloads of accounts without Premium: `bytes` per `window` per account;
/// a chunk asked for once the window's bytes are used up answers `420 FLOOD_PREMIUM_WAIT_X`, X the
/// seconds until the window ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownloadLimit {
    /// Bytes an account may download per window (the chunk that crosses it is still served).
    pub bytes: u64,
    /// The window, from the account's first chunk in it.
    pub window: Duration,
}

/// What downloads did so far (every DC, every account).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileCounts {
    /// `upload.getFile` calls answered with bytes (an empty `upload.file` past the end included).
    pub chunks: u64,
    /// Bytes served.
    pub bytes: u64,
    /// `303 FILE_MIGRATE_X` answers (the file lives on another DC).
    pub file_migrates: u64,
    /// `400 FILE_REFERENCE_EXPIRED` answers.
    pub references_expired: u64,
    /// `400 FILE_REFERENCE_INVALID` / `FILE_REFERENCE_EMPTY` answers.
    pub references_invalid: u64,
    /// `420 FLOOD_PREMIUM_WAIT_X` answers.
    pub premium_waits: u64,
    /// Authorizations imported on a DC (`auth.importAuthorization` answered).
    pub auth_imports: u64,
    /// `upload.getFile` calls answered with any error (the above and every other).
    pub errors: u64,
}

impl std::fmt::Display for FileCounts {
    /// One line of `name=count` pairs, for `sim serve`'s exit summary.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chunks={} bytes={} file_migrates={} references_expired={} references_invalid={} \
             premium_waits={} auth_imports={} errors={}",
            self.chunks,
            self.bytes,
            self.file_migrates,
            self.references_expired,
            self.references_invalid,
            self.premium_waits,
            self.auth_imports,
            self.errors,
        )
    }
}

/// The photo size types of a post's photo, smallest first, with their bytes; empty for other media.
fn photo_ladder(m: &SimMedia) -> Vec<(&'static str, u64)> {
    if !is_photo(m) {
        return Vec::new();
    }
    photo_sizes(
        m.width.unwrap_or(0),
        m.height.unwrap_or(0),
        m.size.unwrap_or(0),
    )
    .into_iter()
    .map(|(t, _, _, bytes)| (t, u64::try_from(bytes).unwrap_or(0)))
    .collect()
}

/// A photo (`inputPhotoFileLocation`): a post's photo or the photo of a web page preview.
fn is_photo(m: &SimMedia) -> bool {
    m.file_id != 0 && matches!(m.kind, SimMediaKind::Photo | SimMediaKind::WebPage)
}

/// A document (`inputDocumentFileLocation`).
fn is_document(m: &SimMedia) -> bool {
    m.file_id != 0
        && matches!(
            m.kind,
            SimMediaKind::Video
                | SimMediaKind::Document
                | SimMediaKind::Audio
                | SimMediaKind::Voice
                | SimMediaKind::Sticker
        )
}

/// The size of the file a download of `m` at `thumb` gets: a photo size type of its ladder for
/// photos, `""` for documents; `None` when there is no such file.
fn file_size(m: &SimMedia, thumb: &str) -> Option<u64> {
    if is_document(m) {
        return thumb
            .is_empty()
            .then(|| u64::try_from(m.size.unwrap_or(0)).unwrap_or(0));
    }
    photo_ladder(m)
        .into_iter()
        .find(|&(t, _)| t == thumb)
        .map(|(_, bytes)| bytes)
}

/// The type of a post's whole file as its media downloads it: the largest photo size of a photo,
/// `""` for a document; `None` for media without a file.
pub(crate) fn whole_file(m: &SimMedia) -> Option<&'static str> {
    if is_document(m) {
        return Some("");
    }
    photo_ladder(m).last().map(|&(t, _)| t)
}

/// The seed of the bytes of file `m` at photo size `thumb`.
fn seed_of(m: &SimMedia, thumb: &str) -> u64 {
    let t = thumb
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(257).wrapping_add(u64::from(b)));
    mix64(mix64(m.file_id as u64 ^ t.wrapping_mul(GOLDEN)) ^ m.access_hash as u64)
}

/// `len` bytes of the file of seed `seed` from `offset`, made position by position.
fn bytes_at(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let word =
        |k: u64| mix64(seed.wrapping_add(k.wrapping_add(1).wrapping_mul(GOLDEN))).to_le_bytes();
    let mut out = Vec::with_capacity(len);
    let end = offset.saturating_add(len as u64);
    let mut at = offset;
    while at < end {
        let w = word(at / 8);
        let from = (at % 8) as usize;
        let take = (8 - from).min(usize::try_from(end - at).unwrap_or(8));
        out.extend_from_slice(&w[from..from + take]);
        at += take as u64;
    }
    out
}

/// The whole file of `m` at photo size `thumb` (a type of its ladder for photos, `""` for
/// documents); `None` when it has no such file.
pub fn file_bytes(m: &SimMedia, thumb: &str) -> Option<Vec<u8>> {
    let size = file_size(m, thumb)?;
    Some(bytes_at(seed_of(m, thumb), 0, usize::try_from(size).ok()?))
}

/// SHA-256 of the whole file of `m` (its largest photo size for a photo), made 1 MB at a time so a
/// 300 MB video is never held; `None` for media without a file.
pub fn file_sha256(m: &SimMedia) -> Option<[u8; 32]> {
    let thumb = whole_file(m)?;
    let size = file_size(m, thumb)?;
    let seed = seed_of(m, thumb);
    let mut h = Sha256::new();
    let mut at = 0;
    while at < size {
        let n = (size - at).min(MB as u64);
        h.update(bytes_at(seed, at, n as usize));
        at += n;
    }
    Some(h.finalize().into())
}

/// The file references served at one second of the server clock.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    secret: [u8; 16],
    issued: u32,
    /// The DC messages name for files, when it is not where they are ([`Files::set_moved_to`]).
    pub(crate) named_dc: Option<i32>,
}

impl Stamp {
    /// The reference of file `file_id` served with message `msg_id` of channel `channel_id`.
    pub(crate) fn reference(&self, channel_id: i64, msg_id: i32, file_id: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(REF_LEN);
        out.push(REF_VERSION);
        out.extend_from_slice(&self.issued.to_be_bytes());
        out.extend_from_slice(&channel_id.to_le_bytes());
        out.extend_from_slice(&msg_id.to_le_bytes());
        out.extend_from_slice(&mac(&self.secret, channel_id, msg_id, file_id, self.issued));
        out
    }
}

/// The 12 bytes that make a reference genuine.
fn mac(secret: &[u8; 16], channel_id: i64, msg_id: i32, file_id: i64, issued: u32) -> [u8; 12] {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(channel_id.to_le_bytes());
    h.update(msg_id.to_le_bytes());
    h.update(file_id.to_le_bytes());
    h.update(issued.to_le_bytes());
    let d = h.finalize();
    let mut out = [0; 12];
    out.copy_from_slice(&d[..12]);
    out
}

/// What a reference says, before it is checked: (issued, channel id, message id, MAC).
fn parse_reference(r: &[u8]) -> Option<(u32, i64, i32, [u8; 12])> {
    if r.len() != REF_LEN || r[0] != REF_VERSION {
        return None;
    }
    let issued = u32::from_be_bytes(r[1..5].try_into().ok()?);
    let channel = i64::from_le_bytes(r[5..13].try_into().ok()?);
    let msg = i32::from_le_bytes(r[13..17].try_into().ok()?);
    Some((issued, channel, msg, r[17..29].try_into().ok()?))
}

/// One account's bytes in its current download window.
struct Window {
    start: Instant,
    used: u64,
}

/// The download rules in force and their counts.
pub(crate) struct Files {
    secret: [u8; 16],
    ttl: Mutex<Option<Duration>>,
    /// The DC messages name for files instead of theirs (files Telegram moved since).
    named_dc: Mutex<Option<i32>>,
    limit: Mutex<Option<DownloadLimit>>,
    windows: Mutex<HashMap<usize, Window>>,
    /// What downloads did.
    pub(crate) tally: Tally,
}

impl Files {
    /// References signed with a fresh secret, living [`DEFAULT_FILE_REFERENCE_TTL`]; no throttle.
    pub(crate) fn new() -> Self {
        Self::with_secret(rand::random())
    }

    fn with_secret(secret: [u8; 16]) -> Self {
        Files {
            secret,
            ttl: Mutex::new(Some(DEFAULT_FILE_REFERENCE_TTL)),
            named_dc: Mutex::new(None),
            limit: Mutex::new(None),
            windows: Mutex::new(HashMap::new()),
            tally: Tally::default(),
        }
    }

    /// The references served at `now` (server clock, unix seconds).
    pub(crate) fn stamp(&self, now: i64) -> Stamp {
        Stamp {
            secret: self.secret,
            issued: u32::try_from(now.max(0)).unwrap_or(u32::MAX),
            named_dc: *lock(&self.named_dc),
        }
    }

    /// Makes messages name DC `dc` for their files while the files stay where they are (`None`:
    /// the right DC).
    pub(crate) fn set_named_dc(&self, dc: Option<i32>) {
        *lock(&self.named_dc) = dc;
    }

    /// Sets how long references work (`None`: for ever).
    pub(crate) fn set_ttl(&self, ttl: Option<Duration>) {
        *lock(&self.ttl) = ttl;
    }

    /// Sets the throttle on accounts without Premium (`None`: off); windows start again.
    pub(crate) fn set_limit(&self, limit: Option<DownloadLimit>) {
        *lock(&self.limit) = limit;
        lock(&self.windows).clear();
    }

    /// Whether a reference issued at `issued` is too old at `now` (whole seconds of the server
    /// clock: older than the TTL).
    fn expired(&self, issued: u32, now: i64) -> bool {
        lock(&self.ttl)
            .is_some_and(|ttl| now.saturating_sub(i64::from(issued)) > ttl.as_secs() as i64)
    }

    /// Charges `bytes` to `account`'s window; `Err(X)` (seconds until the window ends, at least 1)
    /// when its bytes are used up.
    fn take(&self, account: usize, premium: bool, bytes: u64, now: Instant) -> Result<(), u32> {
        let Some(limit) = *lock(&self.limit) else {
            return Ok(());
        };
        if premium {
            return Ok(());
        }
        let mut windows = lock(&self.windows);
        let w = windows.entry(account).or_insert(Window {
            start: now,
            used: 0,
        });
        if now.saturating_duration_since(w.start) >= limit.window {
            *w = Window {
                start: now,
                used: 0,
            };
        }
        if w.used >= limit.bytes {
            let left = (w.start + limit.window).saturating_duration_since(now);
            return Err(
                u32::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0))
                    .unwrap_or(u32::MAX)
                    .max(1),
            );
        }
        w.used += bytes;
        Ok(())
    }
}

/// Running counts of downloads (atomics: chunks are served from every connection at once).
#[derive(Default)]
pub(crate) struct Tally {
    chunks: AtomicU64,
    bytes: AtomicU64,
    file_migrates: AtomicU64,
    references_expired: AtomicU64,
    references_invalid: AtomicU64,
    premium_waits: AtomicU64,
    auth_imports: AtomicU64,
    errors: AtomicU64,
}

impl Tally {
    /// Counts one `upload.getFile` answered with `n` bytes.
    pub(crate) fn served(&self, n: usize) {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts one `upload.getFile` answered with the error `message`.
    pub(crate) fn refused(&self, message: &str) {
        let add = |c: &AtomicU64| c.fetch_add(1, Ordering::Relaxed);
        add(&self.errors);
        if message.starts_with("FILE_MIGRATE_") {
            add(&self.file_migrates);
        } else if message == "FILE_REFERENCE_EXPIRED" {
            add(&self.references_expired);
        } else if message.starts_with("FILE_REFERENCE_") {
            add(&self.references_invalid);
        } else if message.starts_with("FLOOD_PREMIUM_WAIT_") {
            add(&self.premium_waits);
        }
    }

    /// Counts an authorization imported on a DC.
    pub(crate) fn auth_imported(&self) {
        self.auth_imports.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> FileCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FileCounts {
            chunks: get(&self.chunks),
            bytes: get(&self.bytes),
            file_migrates: get(&self.file_migrates),
            references_expired: get(&self.references_expired),
            references_invalid: get(&self.references_invalid),
            premium_waits: get(&self.premium_waits),
            auth_imports: get(&self.auth_imports),
            errors: get(&self.errors),
        }
    }
}

/// An error answer: code and message.
pub(crate) type Refused = (i32, String);

fn refuse(code: i32, message: impl Into<String>) -> Refused {
    (code, message.into())
}

/// Telegram's rules for `offset` and `limit`: without `precise`, both divisible by 4 KB and 1 MB
/// divisible by `limit`; with it, both divisible by 1 KB and `limit` at most 1 MB; either way the
/// chunk within one 1 MB block of the file.
fn check_range(offset: i64, limit: i32, precise: bool) -> Result<(), Refused> {
    let limit = i64::from(limit);
    let unit = if precise { 1_024 } else { 4_096 };
    if offset < 0 || offset % unit != 0 {
        return Err(refuse(400, "OFFSET_INVALID"));
    }
    if limit <= 0 || limit % unit != 0 || limit > MB || (!precise && MB % limit != 0) {
        return Err(refuse(400, "LIMIT_INVALID"));
    }
    if offset / MB != (offset + limit - 1) / MB {
        return Err(refuse(400, "LIMIT_INVALID"));
    }
    Ok(())
}

/// `upload.getFile` for a photo or document of a post, from DC `dc`, by account `account`. In order:
/// the location's kind (`LOCATION_INVALID`), offset and limit (`OFFSET_INVALID`, `LIMIT_INVALID`),
/// an id no file has (`FILE_ID_INVALID`: the simulator's are odd and positive), the reference
/// (`FILE_REFERENCE_EMPTY`; `FILE_REFERENCE_INVALID` when it is not one the simulator made or names
/// another file — the simulator finds a file only through the message its reference names;
/// `FILE_REFERENCE_EXPIRED` when that message is gone), `CHANNEL_PRIVATE` for a banned account, the
/// DC (`303 FILE_MIGRATE_X`), the access hash (`FILE_ID_INVALID`), the reference's signature
/// (`FILE_REFERENCE_INVALID`) and age (`FILE_REFERENCE_EXPIRED`), the photo size
/// (`LOCATION_INVALID`), the throttle (`420 FLOOD_PREMIUM_WAIT_X`). An offset at or past the end
/// gives no bytes; the last chunk is short.
pub(crate) fn get_file(
    shared: &Shared,
    dc: i32,
    account: usize,
    req: &tl::functions::upload::GetFile,
) -> Result<tl::enums::upload::File, Refused> {
    use tl::enums::InputFileLocation as L;
    let (photo, id, access_hash, reference, thumb) = match &req.location {
        L::InputPhotoFileLocation(l) => {
            (true, l.id, l.access_hash, &l.file_reference, &l.thumb_size)
        }
        L::InputDocumentFileLocation(l) => {
            (false, l.id, l.access_hash, &l.file_reference, &l.thumb_size)
        }
        _ => return Err(refuse(400, "LOCATION_INVALID")),
    };
    check_range(req.offset, req.limit, req.precise)?;
    if id <= 0 || id % 2 == 0 {
        return Err(refuse(400, "FILE_ID_INVALID"));
    }
    if reference.is_empty() {
        return Err(refuse(400, "FILE_REFERENCE_EMPTY"));
    }
    let invalid = || refuse(400, "FILE_REFERENCE_INVALID");
    let (issued, channel_id, msg_id, tag) = parse_reference(reference).ok_or_else(invalid)?;
    let (ch, side) = shared.world.chat_by_id(channel_id).ok_or_else(invalid)?;
    let (media, date) = {
        let ch = read(&ch);
        if ch.banned.contains(&account) {
            return Err(refuse(400, "CHANNEL_PRIVATE"));
        }
        // A post's file, or a comment's photo in the channel's discussion group.
        let (found, top) = match (side, &ch.discussion) {
            (Side::Group, Some(g)) => {
                let comment = match g.thread.message(&ch.history, msg_id) {
                    Some(GroupMessage::Comment { comment, .. }) if comment.has_media => {
                        Some((g.thread.media(msg_id), comment.date))
                    }
                    _ => None,
                };
                (comment, g.thread.top_id())
            }
            _ => (
                ch.history.post(msg_id).map(|p| (p.media, p.date)),
                ch.history.top_id(),
            ),
        };
        match found {
            Some((media, date)) => (media.ok_or_else(invalid)?, date),
            // Deleted since: fetching the message again tells the client so.
            None if msg_id > 0 && msg_id <= top => {
                return Err(refuse(400, "FILE_REFERENCE_EXPIRED"));
            }
            None => return Err(invalid()),
        }
    };
    let kind_fits = if photo {
        is_photo(&media)
    } else {
        is_document(&media)
    };
    if !kind_fits || media.file_id != id {
        return Err(invalid());
    }
    if media.dc_id != dc {
        return Err(refuse(303, format!("FILE_MIGRATE_{}", media.dc_id)));
    }
    if media.access_hash != access_hash {
        return Err(refuse(400, "FILE_ID_INVALID"));
    }
    if mac(&shared.files.secret, channel_id, msg_id, id, issued) != tag {
        return Err(invalid());
    }
    let now = shared.clock.unix();
    if shared.files.expired(issued, now) {
        return Err(refuse(400, "FILE_REFERENCE_EXPIRED"));
    }
    let size = file_size(&media, thumb).ok_or_else(|| refuse(400, "LOCATION_INVALID"))?;
    let offset = req.offset as u64;
    let len = size.saturating_sub(offset).min(req.limit as u64);
    let premium = shared.world.accounts[account].premium;
    if let Err(wait) = shared.files.take(account, premium, len, Instant::now()) {
        return Err(refuse(420, format!("FLOOD_PREMIUM_WAIT_{wait}")));
    }
    let bytes = bytes_at(seed_of(&media, thumb), offset, len as usize);
    Ok(tl::enums::upload::File::File(tl::types::upload::File {
        r#type: storage_type(&media, offset == 0 && len == size),
        mtime: date,
        bytes,
    }))
}

/// The `storage.FileType` of a chunk: `fileJpeg` for photos; for documents `filePartial` (a part of
/// a bigger file, what client libraries' stand-ins for Telegram answer for document chunks), or the
/// type of its MIME when the chunk is the whole file. Clients do not read it.
fn storage_type(m: &SimMedia, whole: bool) -> tl::enums::storage::FileType {
    use tl::enums::storage::FileType as T;
    if is_photo(m) {
        return T::FileJpeg;
    }
    if !whole {
        return T::FilePartial;
    }
    match m.mime.as_deref().unwrap_or("") {
        "image/jpeg" => T::FileJpeg,
        "image/png" => T::FilePng,
        "image/gif" => T::FileGif,
        "image/webp" => T::FileWebp,
        "application/pdf" => T::FilePdf,
        "audio/mpeg" => T::FileMp3,
        "video/quicktime" => T::FileMov,
        "video/mp4" => T::FileMp4,
        _ => T::FileUnknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(size: i64) -> SimMedia {
        SimMedia {
            kind: SimMediaKind::Document,
            file_id: 1_234_567,
            access_hash: -99,
            dc_id: crate::MEDIA_DC,
            mime: Some("application/pdf".into()),
            size: Some(size),
            file_name: Some("report.pdf".into()),
            width: None,
            height: None,
            duration: None,
        }
    }

    fn photo() -> SimMedia {
        SimMedia {
            kind: SimMediaKind::Photo,
            mime: Some("image/jpeg".into()),
            size: Some(200_000),
            file_name: None,
            width: Some(1280),
            height: Some(960),
            ..doc(0)
        }
    }

    #[test]
    fn bytes_are_the_same_at_any_offset_and_differ_between_files() {
        let m = doc(3 * MB + 12_345);
        let whole = file_bytes(&m, "").expect("a file");
        assert_eq!(whole.len() as i64, 3 * MB + 12_345);
        let seed = seed_of(&m, "");
        for (offset, len) in [
            (0, 1),
            (3, 13),
            (4_096, 524_288),
            (MB as u64 - 5, 11),
            (3 * MB as u64, 12_345),
        ] {
            assert_eq!(
                bytes_at(seed, offset, len),
                whole[offset as usize..offset as usize + len],
                "{offset}+{len}"
            );
        }
        assert_eq!(file_bytes(&m, ""), Some(whole.clone()), "deterministic");
        let other = SimMedia {
            file_id: m.file_id + 2,
            ..m.clone()
        };
        assert_ne!(file_bytes(&other, "").expect("a file")[..64], whole[..64]);
        assert_eq!(file_bytes(&m, "m"), None, "documents have no photo sizes");
        let sha: [u8; 32] = Sha256::digest(&whole).into();
        assert_eq!(file_sha256(&m), Some(sha), "hashed 1 MB at a time");
    }

    #[test]
    fn photos_download_every_size_of_their_ladder() {
        let p = photo();
        assert_eq!(whole_file(&p), Some("y"));
        let sizes: Vec<(&str, usize)> = ["m", "x", "y"]
            .iter()
            .map(|t| (*t, file_bytes(&p, t).expect("a size").len()))
            .collect();
        assert_eq!(sizes, vec![("m", 18_750), ("x", 117_187), ("y", 200_000)]);
        assert_ne!(
            file_bytes(&p, "m").expect("m")[..32],
            file_bytes(&p, "x").expect("x")[..32]
        );
        assert_eq!(file_bytes(&p, "w"), None, "larger than the photo");
        assert_eq!(file_bytes(&p, ""), None);
        let poll = SimMedia {
            kind: SimMediaKind::Poll,
            file_id: 0,
            ..photo()
        };
        assert_eq!((whole_file(&poll), file_sha256(&poll)), (None, None));
    }

    #[test]
    fn offsets_and_limits_follow_telegrams_rules() {
        let ok = |o, l, p| check_range(o, l, p).is_ok();
        let err = |o, l, p| check_range(o, l, p).err().map(|e| e.1);
        assert!(ok(0, 524_288, false) && ok(524_288, 524_288, false) && ok(0, 1_048_576, false));
        assert!(ok(4_096 * 3, 4_096, false) && ok(MB * 5, 131_072, false));
        assert_eq!(err(1_024, 4_096, false).as_deref(), Some("OFFSET_INVALID"));
        assert_eq!(err(-4_096, 4_096, false).as_deref(), Some("OFFSET_INVALID"));
        assert_eq!(
            err(0, 12_288, false).as_deref(),
            Some("LIMIT_INVALID"),
            "1 MB % limit"
        );
        assert_eq!(err(0, 0, false).as_deref(), Some("LIMIT_INVALID"));
        assert_eq!(
            err(0, 2 * 1_048_576, false).as_deref(),
            Some("LIMIT_INVALID")
        );
        assert_eq!(
            err(786_432, 524_288, false).as_deref(),
            Some("LIMIT_INVALID"),
            "crosses a 1 MB boundary"
        );
        // precise: 1 KB steps, any limit up to 1 MB, still within one 1 MB block.
        assert!(ok(1_024, 3_072, true) && ok(0, 1_048_576, true));
        assert_eq!(err(512, 1_024, true).as_deref(), Some("OFFSET_INVALID"));
        assert_eq!(err(0, 1_500, true).as_deref(), Some("LIMIT_INVALID"));
        assert_eq!(err(0, 1_049_600, true).as_deref(), Some("LIMIT_INVALID"));
        assert_eq!(
            err(MB - 1_024, 2_048, true).as_deref(),
            Some("LIMIT_INVALID")
        );
    }

    #[test]
    fn references_carry_their_issue_time_and_cannot_be_forged() {
        let files = Files::with_secret([7; 16]);
        let r = files.stamp(1_700_000_000).reference(55, 12, 1_234_567);
        assert_eq!(r.len(), REF_LEN);
        let (issued, channel, msg, tag) = parse_reference(&r).expect("parses");
        assert_eq!((issued, channel, msg), (1_700_000_000, 55, 12));
        assert_eq!(tag, mac(&[7; 16], 55, 12, 1_234_567, issued));
        assert_ne!(
            tag,
            mac(&[7; 16], 55, 12, 1_234_569, issued),
            "another file"
        );
        assert_ne!(
            tag,
            mac(&[7; 16], 55, 12, 1_234_567, issued + 60),
            "made younger"
        );
        assert_ne!(
            tag,
            mac(&[8; 16], 55, 12, 1_234_567, issued),
            "another simulator"
        );
        assert_eq!(
            r,
            files.stamp(1_700_000_000).reference(55, 12, 1_234_567),
            "same second"
        );
        assert!(parse_reference(&r[..28]).is_none());
        let ttl = DEFAULT_FILE_REFERENCE_TTL.as_secs() as i64;
        assert!(!files.expired(issued, i64::from(issued) + ttl));
        assert!(files.expired(issued, i64::from(issued) + ttl + 1));
        files.set_ttl(Some(Duration::from_secs(1)));
        assert!(!files.expired(issued, i64::from(issued) + 1));
        assert!(files.expired(issued, i64::from(issued) + 2));
        assert!(
            !files.expired(issued, i64::from(issued) - 30),
            "issued ahead of the clock"
        );
        files.set_ttl(None);
        assert!(!files.expired(issued, i64::MAX));
    }

    #[test]
    fn the_premium_throttle_refuses_until_the_window_ends() {
        let files = Files::with_secret([0; 16]);
        let t0 = Instant::now();
        assert!(
            files.take(0, false, u64::MAX / 2, t0).is_ok(),
            "off by default"
        );
        files.set_limit(Some(DownloadLimit {
            bytes: 1_000_000,
            window: Duration::from_secs(10),
        }));
        assert!(files.take(0, false, 524_288, t0).is_ok());
        assert!(
            files.take(0, false, 524_288, t0).is_ok(),
            "the chunk that crosses it"
        );
        assert_eq!(files.take(0, false, 4_096, t0), Err(10));
        assert_eq!(
            files.take(0, false, 4_096, t0 + Duration::from_millis(8_500)),
            Err(2)
        );
        assert_eq!(
            files.take(0, false, 4_096, t0 + Duration::from_millis(9_999)),
            Err(1)
        );
        assert!(files.take(1, false, 524_288, t0).is_ok(), "per account");
        assert!(files.take(2, true, u64::MAX / 2, t0).is_ok());
        assert!(
            files.take(2, true, 1, t0).is_ok(),
            "Premium is never throttled"
        );
        assert!(
            files
                .take(0, false, 4_096, t0 + Duration::from_secs(10))
                .is_ok(),
            "a new window"
        );
    }

    #[test]
    fn the_tally_sorts_errors_by_name() {
        let t = Tally::default();
        t.served(524_288);
        t.served(0);
        for e in [
            "FILE_MIGRATE_4",
            "FILE_REFERENCE_EXPIRED",
            "FILE_REFERENCE_INVALID",
            "FLOOD_PREMIUM_WAIT_3",
            "LIMIT_INVALID",
        ] {
            t.refused(e);
        }
        t.auth_imported();
        let c = t.snapshot();
        assert_eq!(
            c,
            FileCounts {
                chunks: 2,
                bytes: 524_288,
                file_migrates: 1,
                references_expired: 1,
                references_invalid: 1,
                premium_waits: 1,
                auth_imports: 1,
                errors: 5,
            }
        );
        assert!(c.to_string().contains("premium_waits=1"), "{c}");
    }

    #[test]
    fn chunks_of_documents_are_partial_unless_whole() {
        use tl::enums::storage::FileType as T;
        let video = SimMedia {
            kind: SimMediaKind::Video,
            mime: Some("video/mp4".into()),
            ..doc(5 * MB)
        };
        assert!(matches!(storage_type(&video, false), T::FilePartial));
        assert!(matches!(storage_type(&video, true), T::FileMp4));
        assert!(matches!(storage_type(&photo(), false), T::FileJpeg));
        let zip = SimMedia {
            mime: Some("application/zip".into()),
            ..doc(10)
        };
        assert!(matches!(storage_type(&zip, true), T::FileUnknown));
    }
}
