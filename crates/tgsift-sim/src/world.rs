//! Simulated channels whose messages are generated on demand from (channel seed, message id).
//!
//! A channel with a million messages costs a few hundred bytes: every property of a generated
//! message (whether it exists, whether it is a post or a service message, its date, media, album,
//! edit, views and text) is a pure function of the channel's [`ChannelSpec`] and the id. Only what
//! changes at run time is stored, compactly: published ids as runs of equal dates, deleted ids,
//! edits, and the texts tests chose themselves.
//!
//! # Layout
//!
//! The layout is chosen so that the number of existing messages up to any id is O(1) to compute:
//!
//! - every block of 100 initial ids holds exactly two generated deletions (never id 1 and never the
//!   initial top id);
//! - service messages are messages like posts — they take ids, appear in history and count in
//!   `count`, as on Telegram — so they do not change the rank arithmetic at all: which existing id is
//!   a service message is a separate, per-id decision. Id 1 is always `messageActionChannelCreate`;
//!   about 2 % of the other ids are pins, title and photo changes and video chats; a spec may add a
//!   scripted run of consecutive service ids ([`ServiceRun`]);
//! - albums never cover a deleted id or a service message;
//! - dates come from fixed-width time blocks, so they are non-decreasing in id.
//!
//! [`SimChannel::history_ids`] therefore answers any `messages.getHistory` query by rank arithmetic
//! and a walk over at most `limit` messages, without materialising the list. The rule it implements
//! is written plainly in [`super::paging::history_reference`] and tested against it.

use std::collections::HashMap;

pub use super::discussion::DiscussionSpec;
use super::media::{self, Slot};
pub use super::media::{SimMedia, SimMediaKind};
pub use super::paging::{HistoryQuery, MAX_HISTORY_LIMIT};
pub use super::textgen::Lang;
use super::textgen::{self, Topic, hash3};

/// One post as the simulator serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPost {
    /// Message id, 1-based, increasing with time.
    pub id: i32,
    /// Unix time of posting; non-decreasing in id.
    pub date: i32,
    /// Unix time of the last edit, if the post was edited.
    pub edit_date: Option<i32>,
    /// Text or caption; `""` for media-only posts.
    pub text: String,
    /// What the post carries besides its text, if anything.
    pub media: Option<SimMedia>,
    /// Album id shared by the posts of one album.
    pub grouped_id: Option<i64>,
    /// View counter (always > 0).
    pub views: i32,
    /// Forward counter (always > 0, at most `views`).
    pub forwards: i32,
}

impl SimPost {
    /// Whether the post carries media.
    pub fn has_media(&self) -> bool {
        self.media.is_some()
    }
}

/// What a service message records, as Telegram's `messageAction…` of a broadcast channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceAction {
    /// `messageActionChannelCreate`: always message 1.
    ChannelCreate {
        /// The title the channel was created with.
        title: String,
    },
    /// `messageActionPinMessage`, replying to the pinned message.
    PinMessage {
        /// The pinned message's id.
        pinned: i32,
    },
    /// `messageActionChatEditTitle`.
    EditTitle {
        /// The new title.
        title: String,
    },
    /// `messageActionChatEditPhoto`.
    EditPhoto {
        /// Id of the new photo.
        photo_id: i64,
    },
    /// `messageActionGroupCall`: a video chat started (no duration) or ended (with its duration).
    GroupCall {
        /// Id of the call.
        call_id: i64,
        /// Seconds the call lasted, once it ended.
        duration: Option<i32>,
    },
}

/// A service message (`messageService`) as the simulator serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimService {
    /// Message id.
    pub id: i32,
    /// Unix time; non-decreasing in id like every message's.
    pub date: i32,
    /// What happened.
    pub action: ServiceAction,
}

/// Any message of a channel: a post or a service message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimMessage {
    /// A post (`message` with `post: true`).
    Post(SimPost),
    /// A service message (`messageService`).
    Service(SimService),
}

impl SimMessage {
    /// The message id.
    pub fn id(&self) -> i32 {
        match self {
            SimMessage::Post(p) => p.id,
            SimMessage::Service(s) => s.id,
        }
    }

    /// The message date.
    pub fn date(&self) -> i32 {
        match self {
            SimMessage::Post(p) => p.date,
            SimMessage::Service(s) => s.date,
        }
    }
}

/// A scripted run of consecutive service ids `first .. first + len` (within the initial ids), such as
/// an admin re-pinning for a while: a page of history with no post at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceRun {
    /// First id of the run.
    pub first: i32,
    /// Number of ids (about 2 % of them are generated deletions, like anywhere).
    pub len: i32,
}

impl ServiceRun {
    fn contains(&self, id: i64) -> bool {
        id >= i64::from(self.first) && id < i64::from(self.first) + i64::from(self.len)
    }
}

/// What defines a channel; messages follow deterministically from it.
#[derive(Clone, Debug)]
pub struct ChannelSpec {
    /// Channel id, `1..=997852516352`.
    pub id: i64,
    /// Access hash the client must present.
    pub access_hash: i64,
    /// Public username; `None` for a private channel.
    pub username: Option<String>,
    /// Channel title.
    pub title: String,
    /// Language of the posts.
    pub lang: Lang,
    /// Initial top message id (ids `1..=posts` are generated, about 2 % of them deleted).
    pub posts: i32,
    /// Seed of all generated content.
    pub seed: u64,
    /// Unix time of message 1.
    pub start_date: i32,
    /// A run of consecutive service messages, besides the ~2 % spread over the history.
    pub service_run: Option<ServiceRun>,
    /// The linked discussion group whose threads hold the comments of posts, if any.
    pub discussion: Option<DiscussionSpec>,
    /// A supergroup (`megagroup`) rather than a broadcast channel: the same history, read the
    /// same way, but a chat its members write in; dialog lists mix the two.
    pub megagroup: bool,
}

/// Initial ids come in blocks of this size with exactly [`DELETIONS_PER_BLOCK`] deleted ids each.
const DEL_BLOCK: i64 = 100;
const DELETIONS_PER_BLOCK: i64 = 2;
/// Each half of a deletion block may hold one album.
const ALBUM_BLOCK: i64 = 50;
/// Dates are laid out in blocks of this many ids spanning a fixed time each.
const DATE_BLOCK: i64 = 32;
/// Share of initial ids (per mille) that are service messages, besides id 1 and a scripted run.
const SERVICE_PER_MILLE: u64 = 20;

const SALT_DEL: u64 = 0x776f_726c_0001;
const SALT_ALBUM: u64 = 0x776f_726c_0002;
const SALT_DATE: u64 = 0x776f_726c_0003;
const SALT_GAP: u64 = 0x776f_726c_0004;
const SALT_MEDIA: u64 = 0x776f_726c_0005;
const SALT_EDIT: u64 = 0x776f_726c_0006;
const SALT_VIEWS: u64 = 0x776f_726c_0007;
const SALT_AUDIENCE: u64 = 0x776f_726c_0008;
const SALT_GROUP: u64 = 0x776f_726c_0009;
const SALT_SERVICE: u64 = 0x776f_726c_000a;
const SALT_ACTION: u64 = 0x776f_726c_000b;
const SALT_REWRITE: u64 = 0x776f_726c_000c;

/// What a generated post holds besides its dates and counters: media, text, album id.
type Content = (
    Option<SimMedia>,
    Option<textgen::GeneratedText>,
    Option<i64>,
);

/// A run-time edit: when, and the new text (given, or generated anew from a version number).
#[derive(Clone, Debug)]
struct Edit {
    date: i32,
    text: EditText,
}

#[derive(Clone, Debug)]
enum EditText {
    Given(String),
    Generated(u32),
}

/// A channel's history: generated messages plus what changed at run time.
#[derive(Clone, Debug)]
pub struct SimChannel {
    spec: ChannelSpec,
    /// Initial top id (`spec.posts`, at least 0).
    base: i64,
    /// Average seconds between generated posts.
    gap: i64,
    /// Date of the initial newest post: the "now" that view counts are computed against.
    ref_date: i64,
    /// Typical view count of a fresh post.
    audience: i64,
    /// Number of ids published at run time (`base + 1 ..= base + published`).
    published: i64,
    /// Dates of published ids as runs `(first id, date)`, ascending: a run per second, not per post.
    date_runs: Vec<(i64, i32)>,
    /// Texts of published posts that were given rather than generated.
    given: HashMap<i32, String>,
    /// Run-time edits of posts.
    edits: HashMap<i32, Edit>,
    /// Ids deleted at run time (they existed when deleted), ascending.
    deleted: Vec<i32>,
    /// Number of existing messages.
    live: i64,
    /// Newest date ever assigned (publishing never goes below it).
    last_date: i32,
}

impl SimChannel {
    /// Sets up a channel; O(1) time and memory whatever `spec.posts` is.
    ///
    /// The average gap between posts is 10–60 minutes (from the seed), reduced if the newest
    /// post would otherwise be dated past `i32::MAX`.
    pub fn new(spec: ChannelSpec) -> Self {
        let base = i64::from(spec.posts.max(0));
        let mut gap = default_gap(spec.seed);
        if base > 0 {
            let room = (i64::from(i32::MAX) - i64::from(spec.start_date)).max(0);
            gap = gap.min(room / base);
        }
        Self::with_gap(spec, gap)
    }

    fn with_gap(spec: ChannelSpec, gap: i64) -> Self {
        let base = i64::from(spec.posts.max(0));
        let a = hash3(spec.seed, SALT_AUDIENCE, 0);
        let audience = (200i64 << (a % 8)) * (1000 + ((a >> 8) % 1000) as i64) / 1000;
        let mut ch = SimChannel {
            ref_date: i64::from(spec.start_date),
            spec,
            base,
            gap,
            audience,
            published: 0,
            date_runs: Vec::new(),
            given: HashMap::new(),
            edits: HashMap::new(),
            deleted: Vec::new(),
            live: 0,
            last_date: i32::MIN,
        };
        ch.live = base - ch.gen_deleted_upto(base);
        if base > 0 {
            ch.ref_date = ch.gen_date(base);
            ch.last_date = clamp_i32(ch.ref_date);
        }
        ch
    }

    /// The spec the channel was built from.
    pub fn spec(&self) -> &ChannelSpec {
        &self.spec
    }

    /// Highest id ever assigned (deleted or not).
    pub fn top_id(&self) -> i32 {
        clamp_i32(self.top())
    }

    /// Exact number of existing messages, service messages included (Telegram's `count`), O(1).
    pub fn count(&self) -> i32 {
        clamp_i32(self.live)
    }

    /// Date of the newest message ever assigned (`i32::MIN` for a channel that never had one).
    pub fn newest_date(&self) -> i32 {
        self.last_date
    }

    /// The message with this id; `None` if it is deleted or outside `1..=top_id`.
    pub fn message(&self, id: i32) -> Option<SimMessage> {
        let id64 = i64::from(id);
        if !self.exists(id64) {
            return None;
        }
        if id64 > self.base {
            return Some(SimMessage::Post(self.published_post(id64)));
        }
        if self.gen_service(id64) {
            return Some(SimMessage::Service(SimService {
                id,
                date: clamp_i32(self.gen_date(id64)),
                action: self.gen_action(id64),
            }));
        }
        let mut p = self.generated(id64);
        self.apply_edit(&mut p);
        Some(SimMessage::Post(p))
    }

    /// The post with this id; `None` if it is a service message, deleted, or outside `1..=top_id`.
    pub fn post(&self, id: i32) -> Option<SimPost> {
        match self.message(id)? {
            SimMessage::Post(p) => Some(p),
            SimMessage::Service(_) => None,
        }
    }

    /// Whether `id` exists and is a service message.
    pub fn is_service(&self, id: i32) -> bool {
        let id64 = i64::from(id);
        self.exists(id64) && id64 <= self.base && self.gen_service(id64)
    }

    /// Topic of an existing post whose text is still the generated one (not media-only,
    /// not published at run time, not edited at run time): what a tagger is expected to find.
    pub fn topic(&self, id: i32) -> Option<Topic> {
        let id64 = i64::from(id);
        if !self.exists(id64)
            || id64 > self.base
            || self.gen_service(id64)
            || self.edits.contains_key(&id)
        {
            return None;
        }
        self.content(id64).1.map(|t| t.topic)
    }

    /// All existing message ids (posts and service messages) in ascending order: what history
    /// lists (for tests; allocates `count()` ids).
    pub fn ids(&self) -> Vec<i32> {
        let mut v = Vec::with_capacity(usize::try_from(self.live).unwrap_or(0));
        v.extend(
            (1..=self.top())
                .filter(|&id| self.exists(id))
                .map(clamp_i32),
        );
        v
    }

    /// Existing post ids (no service messages) in ascending order: what a parser should store.
    pub fn post_ids(&self) -> Vec<i32> {
        (1..=self.top())
            .filter(|&id| self.exists(id) && !(id <= self.base && self.gen_service(id)))
            .map(clamp_i32)
            .collect()
    }

    /// `messages.getHistory` as Telegram serves a channel: newest first, any query values accepted.
    ///
    /// Over the newest-first list of every existing message, the window starts after the messages
    /// with `id >= offset_id` (if non-zero), else after those with `date >= offset_date` (if
    /// non-zero), moved by `add_offset`, and spans `min(limit, 100)` positions; positions outside the
    /// list are simply empty (the window never slides). `max_id` / `min_id` then filter the window.
    pub fn history(&self, q: &HistoryQuery) -> Vec<SimMessage> {
        self.history_ids(q)
            .into_iter()
            .filter_map(|id| self.message(id))
            .collect()
    }

    /// The ids [`history`](Self::history) returns, without building the messages (cheap checks).
    pub fn history_ids(&self, q: &HistoryQuery) -> Vec<i32> {
        let limit = i64::from(q.limit.clamp(0, MAX_HISTORY_LIMIT));
        let top = self.top();
        let len = self.rank(top);
        if limit == 0 || len == 0 {
            return Vec::new();
        }
        // Messages before the window's unshifted start: those with id >= offset_id, or with
        // date >= offset_date (dates are non-decreasing in id, so that is an id suffix too).
        let skipped = if q.offset_id != 0 {
            len - self.rank(i64::from(q.offset_id) - 1)
        } else if q.offset_date != 0 {
            len - self.rank(self.last_id_before(q.offset_date))
        } else {
            0
        };
        let start = skipped + i64::from(q.add_offset);
        let (from, to) = (start.max(0), (start + limit).min(len));
        if from >= to {
            return Vec::new();
        }
        let keep = |id: i64| {
            (q.max_id == 0 || id < i64::from(q.max_id))
                && (q.min_id == 0 || id > i64::from(q.min_id))
        };
        // Position p (0 = newest) holds the message of rank len - p.
        let mut id = self.select(len - from);
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut taken = 0;
        while taken < to - from && id >= 1 {
            if self.exists(id) {
                taken += 1;
                if keep(id) {
                    out.push(clamp_i32(id));
                }
            }
            id -= 1;
        }
        out
    }

    /// Publishes a post with this text as id `top_id + 1`, dated `max(now, newest date)`; returns its
    /// id (0 if the id space is exhausted, which takes 2^31 messages).
    pub fn append(&mut self, text: String, now: i32) -> i32 {
        let id = self.publish(now);
        if id != 0 {
            self.given.insert(id, text);
        }
        id
    }

    /// Publishes a post whose content is generated from (seed, id) like the initial ones: costs a
    /// few bytes at most, so a live channel can run for days. Returns its id (0 if exhausted).
    pub fn publish(&mut self, now: i32) -> i32 {
        let Some(id) = self.top_id().checked_add(1) else {
            return 0;
        };
        let date = now.max(self.last_date);
        if self.date_runs.last().is_none_or(|&(_, d)| d != date) {
            self.date_runs.push((i64::from(id), date));
        }
        self.last_date = date;
        self.published += 1;
        self.live += 1;
        id
    }

    /// Replaces a post's text and sets `edit_date = now`; false if it is not an existing post
    /// (service messages cannot be edited).
    pub fn edit(&mut self, id: i32, text: String, now: i32) -> bool {
        self.set_edit(id, now, EditText::Given(text))
    }

    /// Edits a post with a newly generated text (the live driver's edits: nothing stored but a
    /// version number); false if it is not an existing post.
    pub fn rewrite(&mut self, id: i32, now: i32) -> bool {
        let version = match self.edits.get(&id).map(|e| &e.text) {
            Some(EditText::Generated(v)) => v.wrapping_add(1),
            _ => 1,
        };
        self.set_edit(id, now, EditText::Generated(version))
    }

    fn set_edit(&mut self, id: i32, now: i32, text: EditText) -> bool {
        let id64 = i64::from(id);
        if !self.exists(id64) || (id64 <= self.base && self.gen_service(id64)) {
            return false;
        }
        self.edits.insert(id, Edit { date: now, text });
        true
    }

    /// Deletes a message (post or service message); false if it did not exist.
    pub fn delete(&mut self, id: i32) -> bool {
        let id64 = i64::from(id);
        if !self.exists(id64) {
            return false;
        }
        if let Err(at) = self.deleted.binary_search(&id) {
            self.deleted.insert(at, id);
        }
        self.edits.remove(&id);
        self.given.remove(&id);
        self.live -= 1;
        true
    }

    /// The initial top id (`spec.posts`, at least 0): ids above it were published at run time.
    pub(crate) fn initial_top(&self) -> i64 {
        self.base
    }

    /// Whether `id` is an existing post (not a service message), without building it.
    pub(crate) fn is_post(&self, id: i32) -> bool {
        let id64 = i64::from(id);
        self.exists(id64) && !(id64 <= self.base && self.gen_service(id64))
    }

    /// Whether initial id `id` was generated as a post (whatever happened to it at run time).
    pub(crate) fn generated_post(&self, id: i64) -> bool {
        id >= 1 && id <= self.base && !self.gen_deleted(id) && !self.gen_service(id)
    }

    /// Date of any assigned id, deleted or not (non-decreasing in id).
    pub(crate) fn assigned_date(&self, id: i64) -> i32 {
        clamp_i32(self.date_of(id.clamp(1, self.top().max(1))))
    }

    // --- structure -----------------------------------------------------------------------------

    fn top(&self) -> i64 {
        self.base + self.published
    }

    fn exists(&self, id: i64) -> bool {
        if id < 1 || id > self.top() || self.deleted.binary_search(&clamp_i32(id)).is_ok() {
            return false;
        }
        id > self.base || !self.gen_deleted(id)
    }

    /// Number of existing messages with id in `1..=x`.
    fn rank(&self, x: i64) -> i64 {
        let x = x.clamp(0, self.top());
        let g = x.min(self.base);
        let generated = g - self.gen_deleted_upto(g);
        let published = (x - self.base).max(0);
        let x32 = clamp_i32(x);
        let removed = self.deleted.partition_point(|&d| d <= x32) as i64;
        generated + published - removed
    }

    /// Smallest id `x` with `rank(x) >= target` (`target` in `1..=rank(top)`).
    fn select(&self, target: i64) -> i64 {
        let (mut lo, mut hi) = (1i64, self.top().max(1));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.rank(mid) >= target {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// Largest id in `0..=top` whose date is `< date` (0 if none); dates are non-decreasing.
    fn last_id_before(&self, date: i32) -> i64 {
        let date = i64::from(date);
        let (mut lo, mut hi) = (0i64, self.top());
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            if self.date_of(mid) < date {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// Date of any assigned id, deleted or not.
    fn date_of(&self, id: i64) -> i64 {
        if id <= self.base {
            return self.gen_date(id);
        }
        let at = self.date_runs.partition_point(|&(first, _)| first <= id);
        at.checked_sub(1)
            .and_then(|i| self.date_runs.get(i))
            .map_or(i64::from(self.last_date), |&(_, d)| i64::from(d))
    }

    /// The two deleted offsets (1..=99, distinct, ascending) of deletion block `blk`.
    fn del_offsets(&self, blk: i64) -> (i64, i64) {
        let h = hash3(self.spec.seed, SALT_DEL, blk as u64);
        let a = 1 + (h % 99) as i64;
        let mut b = 1 + ((h >> 32) % 98) as i64;
        if b >= a {
            b += 1;
        }
        (a.min(b), a.max(b))
    }

    /// Whether initial id `id` (1..=base) is a generated gap.
    fn gen_deleted(&self, id: i64) -> bool {
        if id >= self.base || id < 1 {
            return false;
        }
        let j = id - 1;
        let (a, b) = self.del_offsets(j / DEL_BLOCK);
        let off = j % DEL_BLOCK;
        off == a || off == b
    }

    /// Number of generated gaps with id `<= y` (never counts id 1 or the initial top id).
    fn gen_deleted_upto(&self, y: i64) -> i64 {
        let z = y.min(self.base - 1);
        if z < 1 {
            return 0;
        }
        let j = z - 1;
        let blk = j / DEL_BLOCK;
        let off = j % DEL_BLOCK;
        let (a, b) = self.del_offsets(blk);
        DELETIONS_PER_BLOCK * blk + i64::from(a <= off) + i64::from(b <= off)
    }

    /// Whether initial id `id` is a service message (whether or not it is deleted).
    fn gen_service(&self, id: i64) -> bool {
        if id < 1 || id > self.base {
            return false;
        }
        id == 1
            || self.spec.service_run.is_some_and(|r| r.contains(id))
            || hash3(self.spec.seed, SALT_SERVICE, id as u64) % 1000 < SERVICE_PER_MILLE
    }

    /// The action of service message `id`: pins most often, then video chats, then title and
    /// photo changes.
    fn gen_action(&self, id: i64) -> ServiceAction {
        let spec = &self.spec;
        if id == 1 {
            return ServiceAction::ChannelCreate {
                title: spec.title.clone(),
            };
        }
        let h = hash3(spec.seed, SALT_ACTION, id as u64);
        match h % 100 {
            0..45 => ServiceAction::PinMessage {
                pinned: clamp_i32(self.pin_target(id, h)),
            },
            45..75 => ServiceAction::GroupCall {
                call_id: ((h >> 8) & 0x7fff_ffff_ffff) as i64 | 1,
                duration: ((h >> 7) & 1 == 1).then(|| 300 + ((h >> 20) % 7200) as i32),
            },
            75..88 => ServiceAction::EditTitle {
                title: spec.title.clone(),
            },
            _ => ServiceAction::EditPhoto {
                photo_id: (hash3(spec.seed, SALT_ACTION, !(id as u64)) >> 1) as i64,
            },
        }
    }

    /// A post shortly before `id` (as generated, ignoring run-time deletions): what a pin pins.
    fn pin_target(&self, id: i64, h: u64) -> i64 {
        let start = id - 1 - ((h >> 16) % 8) as i64;
        let floor = (id - 64).max(1);
        (floor..=start.max(floor))
            .rev()
            .find(|&t| !self.gen_deleted(t) && !self.gen_service(t))
            .unwrap_or((id - 1).max(1))
    }

    /// The album (first id, length) in half-block `hb`, if any: 2–5 ids, no gaps, no service
    /// messages, within `base`.
    fn album_in(&self, hb: i64) -> Option<(i64, i64)> {
        let h = hash3(self.spec.seed, SALT_ALBUM, hb as u64);
        if h % 100 >= 45 {
            return None;
        }
        let len = 2 + ((h >> 8) % 4) as i64;
        let (a, b) = self.del_offsets(hb * ALBUM_BLOCK / DEL_BLOCK);
        let half = (hb % 2) * ALBUM_BLOCK;
        for attempt in 0..3 {
            let s = ((h >> (16 + 12 * attempt)) % (ALBUM_BLOCK - len + 1) as u64) as i64;
            let (from, to) = (half + s, half + s + len);
            if (from..to).contains(&a) || (from..to).contains(&b) {
                continue;
            }
            let first = hb * ALBUM_BLOCK + 1 + s;
            let len = len.min(self.base - first + 1);
            if (first..first + len).any(|id| self.gen_service(id)) {
                continue;
            }
            return (len >= 2).then_some((first, len));
        }
        None
    }

    /// The album containing initial id `id`, as (first id, length).
    fn album_of(&self, id: i64) -> Option<(i64, i64)> {
        if id > self.base {
            return None;
        }
        self.album_in((id - 1) / ALBUM_BLOCK)
            .filter(|&(first, len)| id >= first && id < first + len)
    }

    /// Date of initial id `id` before album alignment: fixed-span time blocks, random gaps inside.
    fn natural_date(&self, id: i64) -> i64 {
        let j = (id - 1).max(0);
        let blk = j / DATE_BLOCK;
        let pos = j % DATE_BLOCK;
        let span = self.gap * DATE_BLOCK;
        let (mut before, mut total) = (0i64, 0i64);
        for w in 0..DATE_BLOCK / 4 {
            let h = hash3(
                self.spec.seed,
                SALT_DATE,
                (blk * (DATE_BLOCK / 4) + w) as u64,
            );
            for k in 0..4 {
                if w * 4 + k == pos {
                    before = total;
                }
                total += gap_weight((h >> (16 * k)) & 0xFFFF);
            }
        }
        let inside = if total == 0 { 0 } else { span * before / total };
        i64::from(self.spec.start_date) + blk * span + inside
    }

    /// Date of initial id `id`: album members share the date of the album's first post.
    fn gen_date(&self, id: i64) -> i64 {
        let first = self.album_of(id).map_or(id, |(first, _)| first);
        self.natural_date(first)
    }

    /// Media, generated text and album id of post `id` (initial or published).
    fn content(&self, id: i64) -> Content {
        let (seed, lang, id32) = (self.spec.seed, self.spec.lang, clamp_i32(id));
        let carries = |slot| Some(media::generate(seed, self.spec.id, id, slot));
        if let Some((first, _)) = self.album_of(id) {
            let gid = (hash3(seed, SALT_GROUP, first as u64) >> 1).max(1) as i64;
            let caption = (id == first).then(|| textgen::caption_text(lang, seed, id32));
            return (carries(Slot::Album), caption, Some(gid));
        }
        match hash3(seed, SALT_MEDIA, id as u64) % 100 {
            0..8 => (carries(Slot::Bare), None, None),
            8..18 => (
                carries(Slot::Caption),
                Some(textgen::caption_text(lang, seed, id32)),
                None,
            ),
            _ => (None, Some(textgen::post_text(lang, seed, id32)), None),
        }
    }

    /// The generated post `id` (1..=base), ignoring run-time overrides.
    fn generated(&self, id: i64) -> SimPost {
        let seed = self.spec.seed;
        let date = self.gen_date(id);
        let (media, text, grouped_id) = self.content(id);
        let e = hash3(seed, SALT_EDIT, id as u64);
        let edit_date =
            (e % 100 < 5).then(|| clamp_i32(date + 60 + ((e >> 8) % (6 * 3600)) as i64));
        // Views grow with age towards the channel's audience; forwards are a small fraction.
        let age = (self.ref_date - date).max(0);
        let growth = 250 + 750 * age / (age + 2 * 86_400);
        let v = hash3(seed, SALT_VIEWS, id as u64);
        let jitter = 700 + (v % 601) as i64;
        let views = (self.audience * growth / 1000 * jitter / 1000).clamp(1, i64::from(i32::MAX));
        let forwards = (views * (2 + ((v >> 32) % 40) as i64) / 1000).clamp(1, views);
        SimPost {
            id: clamp_i32(id),
            date: clamp_i32(date),
            edit_date,
            text: text.map(|t| t.text).unwrap_or_default(),
            media,
            grouped_id,
            views: clamp_i32(views),
            forwards: clamp_i32(forwards),
        }
    }

    /// A post published at run time: a given text, or generated content without albums.
    fn published_post(&self, id: i64) -> SimPost {
        let id32 = clamp_i32(id);
        let views = (self.audience / 4).clamp(1, i64::from(i32::MAX));
        let forwards = (views / 100).clamp(1, views);
        let (media, text) = match self.given.get(&id32) {
            Some(t) => (None, t.clone()),
            None => {
                let (media, text, _) = self.content(id);
                (media, text.map(|t| t.text).unwrap_or_default())
            }
        };
        let mut p = SimPost {
            id: id32,
            date: clamp_i32(self.date_of(id)),
            edit_date: None,
            text,
            media,
            grouped_id: None,
            views: clamp_i32(views),
            forwards: clamp_i32(forwards),
        };
        self.apply_edit(&mut p);
        p
    }

    /// Applies a run-time edit, if any, to a post.
    fn apply_edit(&self, p: &mut SimPost) {
        let Some(edit) = self.edits.get(&p.id) else {
            return;
        };
        p.edit_date = Some(edit.date);
        p.text = match &edit.text {
            EditText::Given(t) => t.clone(),
            EditText::Generated(version) => {
                let seed = hash3(self.spec.seed, SALT_REWRITE, u64::from(*version));
                let max = if p.has_media() {
                    textgen::MAX_CAPTION_CHARS
                } else {
                    textgen::MAX_POST_CHARS
                };
                textgen::generate(self.spec.lang, seed, p.id, max).text
            }
        };
    }
}

/// A `start_date` with which a channel of `posts` ids and this `seed` has its initial newest
/// message dated `newest` (give "now" so the history ends today). A long history at the seed's
/// pace may need a start before 1970 (negative dates): 1,000,000 ids span 19–68 years.
pub fn start_date_for_newest(seed: u64, posts: i32, newest: i32) -> i32 {
    let base = i64::from(posts.max(0));
    let mut spec = ChannelSpec {
        id: 1,
        access_hash: 0,
        username: None,
        title: String::new(),
        lang: Lang::En,
        posts,
        seed,
        start_date: 0,
        service_run: None,
        discussion: None,
        megagroup: false,
    };
    if base == 0 {
        return newest;
    }
    let mut gap = default_gap(seed);
    for _ in 0..8 {
        spec.start_date = 0;
        let span = SimChannel::with_gap(spec.clone(), gap).ref_date;
        spec.start_date = clamp_i32(i64::from(newest) - span);
        let actual = SimChannel::new(spec.clone()).gap;
        if actual >= gap {
            break;
        }
        gap = actual;
    }
    spec.start_date
}

/// The seed's average gap between posts, 600..=3600 seconds.
fn default_gap(seed: u64) -> i64 {
    600 + (hash3(seed, SALT_GAP, 0) % 3001) as i64
}

/// Relative gap before a post, from 16 random bits: 1/8 bursts (same second), mostly short and
/// medium gaps, and a heavy tail of long pauses.
fn gap_weight(v: u64) -> i64 {
    let class = v & 15;
    let m = (v >> 4) as i64;
    match class {
        0..2 => 0,
        2..9 => 16 + m % 64,
        9..14 => 64 + m % 256,
        _ => 256 + m,
    }
}

fn clamp_i32(x: i64) -> i32 {
    x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: u64 = 0xA22E_19D9_0C30_E829;

    fn spec(posts: i32, seed: u64, lang: Lang) -> ChannelSpec {
        ChannelSpec {
            id: 1_000_000 + seed as i64,
            access_hash: 77,
            username: Some(format!("chan{seed}")),
            title: format!("Channel {seed}"),
            lang,
            posts,
            seed,
            start_date: 1_500_000_000,
            service_run: None,
            discussion: None,
            megagroup: false,
        }
    }

    fn q(
        offset_id: i32,
        offset_date: i32,
        add_offset: i32,
        limit: i32,
        max_id: i32,
        min_id: i32,
    ) -> HistoryQuery {
        HistoryQuery {
            offset_id,
            offset_date,
            add_offset,
            limit,
            max_id,
            min_id,
        }
    }

    fn ids_of(messages: &[SimMessage]) -> Vec<i32> {
        messages.iter().map(SimMessage::id).collect()
    }

    /// The reference rule over the channel's full listing (see `paging`).
    fn naive(ch: &SimChannel, q: &HistoryQuery) -> Vec<i32> {
        let listing: Vec<(i32, i32)> = ch
            .ids()
            .into_iter()
            .map(|id| (id, clamp_i32(ch.date_of(i64::from(id)))))
            .collect();
        super::super::paging::history_reference(&listing, q)
    }

    /// grammers' newest-to-oldest loop: next offset_id (and offset_date) = oldest of the batch.
    fn page_forward(ch: &SimChannel, limit: i32) -> Vec<i32> {
        let mut got = Vec::new();
        let mut query = q(0, 0, 0, limit, 0, 0);
        for _ in 0..1_000_000 {
            let batch = ch.history(&query);
            let Some(last) = batch.last() else { break };
            assert!(batch.len() <= limit.clamp(0, 100) as usize);
            query.offset_id = last.id();
            query.offset_date = last.date();
            got.extend(ids_of(&batch));
        }
        got
    }

    /// grammers' reverse loop (oldest to newest).
    fn page_reverse(ch: &SimChannel, limit: i32) -> Vec<i32> {
        let mut got = Vec::new();
        let mut query = q(1, 0, -limit + 1, limit, 0, 0);
        for _ in 0..1_000_000 {
            let mut batch = ch.history(&query);
            if batch.is_empty() {
                break;
            }
            batch.reverse();
            let newest = batch.last().map_or(0, SimMessage::id);
            let date = batch.last().map_or(0, SimMessage::date);
            got.extend(ids_of(&batch));
            query = q(newest, date, -limit, limit, 0, newest);
        }
        got
    }

    fn desc(v: &[i32]) -> Vec<i32> {
        v.iter().rev().copied().collect()
    }

    #[test]
    fn generated_structure_is_as_specified() {
        let ch = SimChannel::new(spec(20_000, 5, Lang::Mixed));
        let ids = ch.ids();
        assert_eq!(ch.count() as usize, ids.len());
        assert_eq!(ch.top_id(), 20_000);
        assert_eq!(ids.first(), Some(&1));
        assert_eq!(ids.last(), Some(&20_000));
        let deleted = 20_000 - ids.len();
        assert!((300..=500).contains(&deleted), "deleted {deleted}");

        let posts: Vec<SimPost> = ids.iter().filter_map(|&id| ch.post(id)).collect();
        assert_eq!(posts.len(), ch.post_ids().len());
        assert_eq!(ch.message(1).map(|m| m.date()), Some(1_500_000_000));
        // Service messages: id 1 creates the channel, 1–3 % of the others are pins, title and
        // photo changes and video chats, never inside an album.
        let service: Vec<SimService> = ids
            .iter()
            .filter_map(|&id| match ch.message(id) {
                Some(SimMessage::Service(s)) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(service.len() + posts.len(), ids.len());
        assert!(matches!(
            &service[0],
            SimService { id: 1, action: ServiceAction::ChannelCreate { title }, .. } if title == "Channel 5"
        ));
        let share = service.len() * 1000 / ids.len();
        assert!(
            (10..=30).contains(&share),
            "service messages {share} per mille"
        );
        let kind = |s: &SimService| std::mem::discriminant(&s.action);
        let kinds: std::collections::HashSet<_> = service.iter().map(kind).collect();
        assert_eq!(kinds.len(), 5, "every kind of action occurs");
        for s in &service {
            if let ServiceAction::PinMessage { pinned } = s.action {
                assert!(pinned < s.id && pinned >= 1);
            }
            assert!(ch.post(s.id).is_none() && ch.is_service(s.id));
        }
        let mut media_only = 0;
        let mut captioned = 0;
        let mut edited = 0;
        let mut in_album = 0;
        let mut same_second = 0;
        for w in posts.windows(2) {
            assert!(w[0].date <= w[1].date, "dates go back at {}", w[1].id);
            if w[0].date == w[1].date {
                same_second += 1;
            }
        }
        for p in &posts {
            assert!(p.views > 0 && p.forwards > 0 && p.forwards <= p.views);
            if let Some(e) = p.edit_date {
                assert!(e > p.date);
                edited += 1;
            }
            if p.grouped_id.is_some() {
                in_album += 1;
                assert!(p.has_media());
            } else if p.has_media() && p.text.is_empty() {
                media_only += 1;
            } else if p.has_media() {
                captioned += 1;
            }
            if !p.text.is_empty() {
                let n = p.text.chars().count();
                assert!((50..=2000).contains(&n));
            } else {
                assert!(p.has_media());
            }
        }
        let n = posts.len();
        let pct = |x: usize| x * 100 / n;
        assert!(
            (6..=10).contains(&pct(media_only)),
            "media-only {media_only}"
        );
        assert!((8..=12).contains(&pct(captioned)), "captioned {captioned}");
        assert!((3..=7).contains(&pct(edited)), "edited {edited}");
        assert!((2..=6).contains(&pct(in_album)), "albums {in_album}");
        assert!(same_second > n / 50, "same second {same_second}");

        // Albums: 2..=5 consecutive ids, one grouped id, only the first carries a caption.
        let mut i = 0;
        while i < posts.len() {
            let Some(g) = posts[i].grouped_id else {
                i += 1;
                continue;
            };
            let run: Vec<&SimPost> = posts[i..]
                .iter()
                .take_while(|p| p.grouped_id == Some(g))
                .collect();
            assert!((2..=5).contains(&run.len()), "album of {}", run.len());
            for (k, p) in run.iter().enumerate() {
                assert_eq!(p.id, run[0].id + k as i32, "album has a gap");
                assert_eq!(p.text.is_empty(), k > 0);
                assert_eq!(p.date, run[0].date);
            }
            i += run.len();
        }

        // Average gap between posts is 10–60 minutes.
        let span = i64::from(posts[n - 1].date - posts[0].date);
        let avg = span / (20_000 - 1);
        assert!((600..=3600).contains(&avg), "average gap {avg}");

        // Older posts have more views on average.
        let old: i64 = posts[..500].iter().map(|p| i64::from(p.views)).sum();
        let new: i64 = posts[n - 500..].iter().map(|p| i64::from(p.views)).sum();
        assert!(old > new, "old {old} new {new}");
    }

    #[test]
    fn generated_content_is_pinned() {
        // Content must be identical forever for a given spec: any change to the layout, the
        // hashing or the text generator shows up here. (Changed deliberately when service
        // messages were added to the layout.)
        let mut ch = SimChannel::new(spec(3000, 2024, Lang::Mixed));
        let mut h = 0xCBF2_9CE4_8422_2325u64;
        let mut feed = |x: u64| h = (h ^ x).wrapping_mul(0x0100_0000_01B3);
        for id in 1..=3000 {
            match ch.message(id) {
                None => feed(u64::from(id as u32)),
                Some(SimMessage::Service(s)) => {
                    feed(u64::from(s.date as u32));
                    format!("{:?}", s.action)
                        .bytes()
                        .for_each(|b| feed(u64::from(b)));
                }
                Some(SimMessage::Post(p)) => {
                    for x in [p.date, p.edit_date.unwrap_or(0), p.views, p.forwards] {
                        feed(u64::from(x as u32));
                    }
                    feed(p.grouped_id.unwrap_or(0) as u64);
                    feed(u64::from(p.has_media()));
                    p.text.bytes().for_each(|b| feed(u64::from(b)));
                }
            }
        }
        assert_eq!(h, PINNED, "got {h:#X}");
        ch.append("x".into(), 0);
        assert_eq!(ch.top_id(), 3001);
    }

    #[test]
    fn post_is_deterministic_and_seed_dependent() {
        let a = SimChannel::new(spec(3000, 9, Lang::Ru));
        let b = SimChannel::new(spec(3000, 9, Lang::Ru));
        let c = SimChannel::new(spec(3000, 10, Lang::Ru));
        assert_eq!(a.ids(), b.ids());
        assert_ne!(a.ids(), c.ids());
        for id in 1..=3000 {
            assert_eq!(a.message(id), b.message(id));
        }
        let differ = (1..=3000)
            .filter(|&id| a.message(id) != c.message(id))
            .count();
        assert!(differ > 2900);
        // The text is exactly the generator's.
        let p = a
            .ids()
            .into_iter()
            .filter_map(|id| a.post(id))
            .find(|p| !p.has_media());
        let p = p.expect("a text post");
        assert_eq!(p.text, textgen::post_text(Lang::Ru, 9, p.id).text);
        assert!(a.topic(p.id).is_some());
    }

    #[test]
    fn never_deletes_first_or_top_and_out_of_range_is_none() {
        for seed in 0..200 {
            for posts in [1, 2, 3, 99, 100, 101, 199, 200, 201] {
                let ch = SimChannel::new(spec(posts, seed, Lang::En));
                assert!(ch.is_service(1));
                assert!(ch.message(posts).is_some());
                assert_eq!(ch.count() as usize, ch.ids().len());
                assert_eq!(ch.message(0), None);
                assert_eq!(ch.message(posts + 1), None);
                assert_eq!(ch.message(-5), None);
            }
        }
        let ch = SimChannel::new(spec(0, 1, Lang::En));
        assert_eq!((ch.count(), ch.top_id()), (0, 0));
        assert!(ch.history(&q(0, 0, 0, 100, 0, 0)).is_empty());
    }

    #[test]
    fn paging_forward_and_reverse_yield_every_post_once() {
        let mut ch = SimChannel::new(spec(1234, 3, Lang::Mixed));
        for round in 0..2 {
            let ids = ch.ids();
            assert_eq!(ch.count() as usize, ids.len());
            for limit in [1, 2, 7, 100, 250] {
                assert_eq!(
                    page_forward(&ch, limit),
                    desc(&ids),
                    "forward {limit} round {round}"
                );
                // grammers asks for limit - 1 posts first, so reverse paging needs limit >= 2.
                let rl = limit.clamp(2, 100);
                assert_eq!(page_reverse(&ch, rl), ids, "reverse {rl} round {round}");
            }
            // Change the channel and page again.
            for k in 0..5 {
                ch.append(
                    format!("appended post number {k} with enough text to read"),
                    1,
                );
            }
            assert!(ch.delete(ch.top_id()));
            let victim = ch.ids()[600 + round];
            assert!(ch.delete(victim));
            assert!(!ch.delete(victim));
        }
    }

    #[test]
    fn history_matches_reference_semantics() {
        let mut ch = SimChannel::new(spec(500, 21, Lang::En));
        ch.append("fresh".repeat(12), 0);
        ch.append("newer".repeat(12), 0);
        ch.delete(250);
        ch.delete(502);
        let dates: Vec<i32> = ch
            .ids()
            .iter()
            .filter_map(|&id| ch.post(id))
            .map(|p| p.date)
            .collect();
        let probes = [
            0, 1, 2, 3, 50, 99, 100, 101, 249, 250, 251, 400, 499, 500, 501, 502, 503, 600, -1,
        ];
        let adds = [0, 1, -1, 5, -5, -20, 30, -100, 600];
        let limits = [0, 1, 10, 100, 101];
        for &off in &probes {
            for &add in &adds {
                for &limit in &limits {
                    for (max_id, min_id) in [(0, 0), (400, 0), (0, 100), (300, 250), (251, 249)] {
                        let query = q(off, 0, add, limit, max_id, min_id);
                        assert_eq!(ch.history_ids(&query), naive(&ch, &query), "{query:?}");
                    }
                }
            }
        }
        for &d in dates.iter().step_by(7).chain([&1, &i32::MAX]) {
            for d in [d.saturating_sub(1), d, d.saturating_add(1)] {
                for &add in &adds {
                    let query = q(0, d, add, 100, 0, 0);
                    assert_eq!(ch.history_ids(&query), naive(&ch, &query), "{query:?}");
                }
            }
        }
    }

    #[test]
    fn offset_date_starts_at_first_older_post() {
        let ch = SimChannel::new(spec(2000, 4, Lang::Ru));
        let m = ch
            .message(1000)
            .or_else(|| ch.message(1001))
            .expect("message");
        let got = ch.history(&q(0, m.date(), 0, 5, 0, 0));
        assert!(!got.is_empty());
        assert!(got.iter().all(|x| x.date() < m.date()));
        let newest_older = ch
            .ids()
            .into_iter()
            .rev()
            .find(|&id| ch.message(id).is_some_and(|x| x.date() < m.date()));
        assert_eq!(Some(got[0].id()), newest_older);
        // offset_id wins over offset_date.
        let got = ch.history(&q(10, m.date(), 0, 100, 0, 0));
        assert_eq!(
            ids_of(&got),
            desc(&ch.ids()[..ch.ids().iter().filter(|&&i| i < 10).count()])
        );
        // A date before the first message: nothing is older.
        assert!(ch.history(&q(0, 1_400_000_000, 0, 100, 0, 0)).is_empty());
    }

    #[test]
    fn max_id_and_min_id_filter_the_window_after_slicing() {
        let ch = SimChannel::new(spec(300, 6, Lang::En));
        let ids = ch.ids();
        let (a, b) = (ids[10], ids[40]);
        let got = ch.history_ids(&q(b, 0, 0, 100, b, a));
        let want: Vec<i32> = desc(&ids)
            .into_iter()
            .filter(|&id| id > a && id < b)
            .collect();
        assert_eq!(got, want);
        assert!(!got.contains(&a) && !got.contains(&b));
        // The window is the newest 100; a max_id below it leaves nothing (as Telegram does).
        assert!(ch.history(&q(0, 0, 0, 100, b, a)).is_empty());
        assert!(ch.history(&q(0, 0, 0, 100, a, a)).is_empty());
        // min_id inside the window cuts it short.
        let top = *ids.last().expect("top");
        assert_eq!(
            ch.history_ids(&q(0, 0, 0, 100, 0, top - 3)).len(),
            ids.iter().filter(|&&i| i > top - 3).count()
        );
    }

    #[test]
    fn add_offset_and_limit_clamp() {
        let ch = SimChannel::new(spec(1000, 8, Lang::En));
        let ids = desc(&ch.ids());
        assert_eq!(ch.history(&q(0, 0, 0, 1000, 0, 0)).len(), 100);
        assert_eq!(ch.history(&q(0, 0, 0, i32::MAX, 0, 0)).len(), 100);
        assert!(ch.history(&q(0, 0, 0, 0, 0, 0)).is_empty());
        assert!(ch.history(&q(0, 0, 0, -3, 0, 0)).is_empty());
        assert_eq!(ids_of(&ch.history(&q(0, 0, 10, 5, 0, 0))), ids[10..15]);
        // Negative add_offset from an offset_id goes towards newer posts, including it.
        let at = ids[50];
        assert_eq!(ids_of(&ch.history(&q(at, 0, -3, 10, 0, 0))), ids[48..58]);
        // A window starting above the newest message holds fewer; it never slides down.
        assert_eq!(ids_of(&ch.history(&q(0, 0, -3, 10, 0, 0))), ids[..7]);
        assert_eq!(ids_of(&ch.history(&q(ids[2], 0, -10, 10, 0, 0))), ids[..3]);
        assert!(ch.history(&q(0, 0, -10, 10, 0, 0)).is_empty());
        assert!(ch.history(&q(0, 0, 5000, 10, 0, 0)).is_empty());
    }

    #[test]
    fn edit_append_delete() {
        let mut ch = SimChannel::new(spec(400, 12, Lang::Ru));
        let before = ch.count();
        let newest = ch.newest_date();
        let id = ch.append("Новый пост".into(), newest - 100);
        assert_eq!(id, 401);
        assert_eq!(ch.top_id(), 401);
        assert_eq!(ch.count(), before + 1);
        let p = ch.post(id).expect("appended");
        assert_eq!(
            (p.date, p.text.as_str(), p.edit_date),
            (newest, "Новый пост", None)
        );
        assert!(p.views > 0 && p.forwards > 0);
        let id2 = ch.append("later".into(), newest + 500);
        assert_eq!(ch.post(id2).map(|p| p.date), Some(newest + 500));
        assert_eq!(ch.history(&q(0, 0, 0, 1, 0, 0))[0].id(), id2);

        let five = (5..400).find(|&i| ch.post(i).is_some()).expect("a post");
        assert!(ch.edit(five, "edited".into(), newest + 600));
        let p = ch.post(five).expect("post");
        assert_eq!(
            (p.text.as_str(), p.edit_date),
            ("edited", Some(newest + 600))
        );
        assert!(ch.topic(five).is_none());
        assert!(ch.edit(id, "edited appended".into(), newest + 700));
        assert_eq!(
            ch.post(id).map(|p| p.text),
            Some("edited appended".to_string())
        );
        assert!(!ch.edit(0, "x".into(), 0));
        assert!(!ch.edit(10_000, "x".into(), 0));
        assert!(
            !ch.edit(1, "x".into(), 0),
            "service messages cannot be edited"
        );

        let gap = (1..=400)
            .find(|&i| ch.message(i).is_none())
            .expect("a generated gap");
        assert!(!ch.edit(gap, "x".into(), 0));
        assert!(!ch.delete(gap));

        assert!(ch.delete(five));
        assert_eq!(ch.post(five), None);
        assert!(!ch.delete(five));
        assert!(!ch.edit(five, "again".into(), 0));
        assert!(ch.delete(id));
        assert_eq!(ch.post(id), None);
        assert_eq!(ch.count(), before);
        assert_eq!(ch.count() as usize, ch.ids().len());
        assert!(!ch.ids().contains(&five) && !ch.ids().contains(&id));
        // New ids never reuse deleted ones.
        assert_eq!(ch.append("x".repeat(60), 0), 403);
        // Service messages can be deleted too.
        assert!(ch.delete(1));
        assert_eq!(ch.message(1), None);
    }

    #[test]
    fn published_posts_are_generated_and_cost_no_text() {
        let mut ch = SimChannel::new(spec(100, 3, Lang::En));
        let t0 = ch.newest_date();
        let ids: Vec<i32> = (0..1000).map(|k| ch.publish(t0 + k / 100)).collect();
        assert_eq!(ids, (101..=1100).collect::<Vec<_>>());
        assert!(ch.given.is_empty());
        assert_eq!(ch.date_runs.len(), 10, "one date run per second");
        for &id in &ids {
            let p = ch.post(id).expect("published");
            assert_eq!(p.date, t0 + (id - 101) / 100);
            assert!(p.has_media() || p.text.chars().count() >= 50);
            assert_eq!(ch.post(id), Some(p), "stable");
        }
        // A live edit rewrites the text from a version number.
        let before = ch.post(500).expect("post");
        assert!(ch.rewrite(500, t0 + 20));
        let after = ch.post(500).expect("post");
        assert_ne!(after.text, before.text);
        assert_eq!(after.edit_date, Some(t0 + 20));
        assert!(ch.rewrite(500, t0 + 21));
        assert_ne!(ch.post(500).expect("post").text, after.text);
        // Deletions keep rank arithmetic exact.
        for id in (101..1100).step_by(7) {
            assert!(ch.delete(id));
        }
        let all = ch.ids();
        assert_eq!(all.len(), ch.count() as usize);
        let query = q(0, 0, 300, 100, 0, 0);
        assert_eq!(ch.history_ids(&query), naive(&ch, &query));
    }

    #[test]
    fn a_service_run_has_no_post() {
        let mut s = spec(2000, 8, Lang::Ru);
        s.service_run = Some(ServiceRun {
            first: 700,
            len: 260,
        });
        let ch = SimChannel::new(s);
        let run: Vec<i32> = ch
            .ids()
            .into_iter()
            .filter(|&id| (700..960).contains(&id))
            .collect();
        assert!(run.len() >= 250, "{} messages", run.len());
        assert!(
            run.iter()
                .all(|&id| ch.is_service(id) && ch.post(id).is_none())
        );
        assert!(ch.post_ids().iter().all(|&id| !(700..960).contains(&id)));
        // A page inside the run holds 100 messages and no post.
        let page = ch.history(&q(900, 0, 0, 100, 0, 0));
        assert_eq!(page.len(), 100);
        assert!(page.iter().all(|m| matches!(m, SimMessage::Service(_))));
    }

    #[test]
    fn extreme_queries_never_panic() {
        let mut ch = SimChannel::new(spec(1000, 13, Lang::Mixed));
        ch.append("a".repeat(80), 0);
        ch.delete(1001);
        let vals = [
            i32::MIN,
            i32::MIN + 1,
            -100,
            -1,
            0,
            1,
            2,
            500,
            1000,
            1001,
            1002,
            i32::MAX - 1,
            i32::MAX,
        ];
        for &a in &vals {
            for &b in &vals {
                for &c in &[i32::MIN, -1, 0, 1, i32::MAX] {
                    let queries = [
                        q(a, b, c, 100, 0, 0),
                        q(a, 0, c, i32::MAX, b, 0),
                        q(a, 0, c, 100, 0, b),
                        q(0, a, c, i32::MIN, 0, b),
                        q(a, b, c, c, b, a),
                        q(0, 0, a, 100, b, 0),
                    ];
                    for query in queries {
                        let got = ch.history_ids(&query);
                        assert!(got.len() <= 100);
                        assert_eq!(got, naive(&ch, &query), "{query:?}");
                    }
                    let messages = ch.history(&q(a, b, c, 2, 0, 0));
                    assert_eq!(ids_of(&messages), ch.history_ids(&q(a, b, c, 2, 0, 0)));
                }
            }
        }
        // A spec whose dates would overflow i32 still yields valid, monotonic dates.
        let mut s = spec(100_000, 1, Lang::En);
        s.start_date = i32::MAX - 10;
        let ch = SimChannel::new(s);
        assert!(ch.message(1).is_some() && ch.newest_date() >= i32::MAX - 10);
        let mut s = spec(i32::MAX, 1, Lang::En);
        s.start_date = 0;
        let mut ch = SimChannel::new(s);
        assert!(ch.count() > 2_000_000_000);
        assert_eq!(ch.history(&q(0, 0, 0, 3, 0, 0)).len(), 3);
        assert_eq!(ch.append("full".into(), 0), 0);
    }

    #[test]
    fn start_date_for_newest_ends_history_at_newest() {
        let now = 1_760_000_000;
        for seed in 0..20 {
            for posts in [1, 2, 31, 32, 33, 1000, 100_000, 1_000_000] {
                let mut s = spec(posts, seed, Lang::En);
                s.start_date = start_date_for_newest(seed, posts, now);
                let ch = SimChannel::new(s);
                assert_eq!(ch.newest_date(), now, "seed {seed} posts {posts}");
                assert_eq!(ch.message(posts).map(|m| m.date()), Some(now));
            }
        }
        assert_eq!(start_date_for_newest(1, 0, now), now);
    }

    #[test]
    fn million_post_channel_pages_its_ends() {
        let ch = SimChannel::new(spec(1_000_000, 99, Lang::Mixed));
        assert_eq!(ch.top_id(), 1_000_000);
        assert_eq!(ch.count(), 1_000_000 - 20_000);
        let newest = ch.history(&q(0, 0, 0, 100, 0, 0));
        assert_eq!(newest.len(), 100);
        assert_eq!(newest[0].id(), 1_000_000);
        assert!(newest.windows(2).all(|w| w[0].id() > w[1].id()));
        let oldest = ch.history(&q(1, 0, -99, 100, 0, 0));
        assert_eq!(oldest.len(), 99);
        assert_eq!(oldest.last().map(SimMessage::id), Some(1));
        // grammers' reverse page: the window ends at offset_id, which min_id then drops.
        let next = ch.history(&q(oldest[0].id(), 0, -100, 100, 0, oldest[0].id()));
        assert_eq!(next.len(), 99);
        assert!(next.last().map(SimMessage::id) > Some(oldest[0].id()));
        let mid = ch.history(&q(0, newest[0].date() - 86_400 * 365, 0, 100, 0, 0));
        assert_eq!(mid.len(), 100);
        // Deep pages via add_offset are answered by rank arithmetic, not by walking.
        let deep = ch.history_ids(&q(0, 0, 900_000, 100, 0, 0));
        let all = ch.ids();
        let want: Vec<i32> = all.iter().rev().skip(900_000).take(100).copied().collect();
        assert_eq!(deep, want);
        assert_eq!(all.len(), ch.count() as usize);
    }
}
