//! Discussion groups linked to channels, and the comments under posts, generated on demand from
//! (channel seed, post id) like the channel's own messages.
//!
//! A discussion group is a megagroup with its own id, access hash, message ids and pts. Every post
//! from [`DiscussionSpec::linked_from`] on has an automatic forward (its *copy*) in the group, and
//! the comments of the post are the group's messages that reply to the copy, directly or through
//! another comment: the post's *thread*.
//!
//! # Layout
//!
//! The group's ids are laid out in fixed-width blocks, one per channel id from `linked_from` to the
//! channel's initial top id, so that a post's copy id and the ids its comments may take are
//! arithmetic, and a thread is found by looking at its own `2 × max_comments` slots only (a channel
//! of 100,000 posts never materialises its comments):
//!
//! - block `k` (channel id `linked_from + k`) spans ids `k·W + 1 ..= (k+1)·W` with
//!   `W = 1 + 2·max_comments`; its first id is the copy of the post (a gap when that id is no post);
//! - the other `2·max_comments` slots alternate between the early comments of the block's own post
//!   (odd slots) and the late comments of the previous block's post (even slots), so threads of
//!   consecutive posts interleave in one id space;
//! - a slot's date lies strictly between the dates of the block's post and of the next channel id,
//!   so dates increase with ids over the whole group, and every comment is younger than its post;
//! - a thread draws how busy it is from (seed, post): about a third of posts get no comment at
//!   all, the others up to `max_comments`, most of them few; unused slots are gaps, as are a few
//!   comments deleted after they were written;
//! - the newest initial post and posts published at run time have no generated comments; comments
//!   written at run time (`Sim::add_comment`) and the copies of posts published at run
//!   time take the ids after the generated ones, in the order they happen.
//!
//! A thread's replies are listed by [`SimDiscussion::thread`]; `messages.getReplies` pages them by
//! Telegram's getHistory rule ([`replies_page`], tested against [`super::paging::history_reference`]).

use std::collections::HashMap;

use super::media::{self, SimMedia};
use super::paging::{HistoryQuery, MAX_HISTORY_LIMIT};
use super::textgen::{self, Lang, hash3};
use super::world::{ChannelSpec, SimChannel};

/// What defines a channel's discussion group; its comments follow deterministically from it and
/// the channel's seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscussionSpec {
    /// The group's channel id (a megagroup), `1..=997852516352`, unlike any channel's.
    pub group_id: i64,
    /// Access hash the client must present for the group.
    pub access_hash: i64,
    /// The group's title.
    pub title: String,
    /// Most generated comments per post (at most [`MAX_COMMENTS`]; fewer when the group's ids
    /// would not fit in 2^30).
    pub max_comments: u32,
    /// The first post with a comment section: posts with a smaller id were published before the
    /// group was linked (no `replies`, `getReplies` answers `MSG_ID_INVALID`).
    pub linked_from: i32,
}

/// Most generated comments a post may have.
pub const MAX_COMMENTS: u32 = 1_000;

const SALT_GROUP_ID: u64 = 0x6469_7363_0001;
const SALT_THREAD: u64 = 0x6469_7363_0002;
const SALT_SLOT: u64 = 0x6469_7363_0003;
const SALT_COMMENT: u64 = 0x6469_7363_0004;
const SALT_TEXT: u64 = 0x6469_7363_0005;
const SALT_PEOPLE: u64 = 0x6469_7363_0006;
const SALT_MEDIA: u64 = 0x6469_7363_0007;

/// Share of threads (per cent) without any comment.
const SILENT_THREADS: u64 = 35;
/// Share of generated comments (per cent) deleted since (gaps).
const DELETED: u64 = 4;
/// Generated users who comment, per channel.
pub(crate) const COMMENTERS: usize = 12;
/// Channels users comment as, per channel.
pub(crate) const PERSONAS: usize = 2;
/// Signatures of anonymous admins.
const SIGNATURES: &[&str] = &["Admin", "Moderator", "Редакция"];
/// First names of generated commenters.
const NAMES: &[&str] = &[
    "Anna", "Boris", "Chloe", "Dmitry", "Elena", "Felix", "Galina", "Hugo", "Irina", "James",
    "Ksenia", "Leo", "Maria", "Nikita", "Olga", "Pavel",
];
/// Titles of the channels users comment as.
const PERSONA_TITLES: &[&str] = &[
    "Morning Notes",
    "Заметки на полях",
    "The Long Read",
    "Цифры дня",
];

impl DiscussionSpec {
    /// The discussion group of `channel`: id, access hash and title derived from the channel (the
    /// title as Telegram names a group it creates for a channel), linked a tenth of the way into
    /// the channel's history.
    pub fn for_channel(channel: &ChannelSpec, max_comments: u32) -> DiscussionSpec {
        let h = hash3(channel.seed, SALT_GROUP_ID, channel.id as u64);
        DiscussionSpec {
            group_id: 500_000_000_000 + channel.id.rem_euclid(100_000_000_000),
            access_hash: (h >> 1) as i64 | 1,
            title: format!("{} Chat", channel.title),
            max_comments: max_comments.min(MAX_COMMENTS),
            linked_from: (channel.posts / 10).max(2),
        }
    }
}

/// Who wrote a comment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CommentSender {
    /// A user (`from_id` = `peerUser`), listed in `users`.
    User(i64),
    /// A user writing as a channel of theirs (`from_id` = `peerChannel`), listed in `chats`.
    Channel(i64),
    /// An anonymous admin of the group: `from_id` is the group itself, `post_author` this
    /// signature.
    Anonymous(String),
}

/// One comment as the simulator serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimComment {
    /// Message id in the group.
    pub id: i32,
    /// Unix time; increases with id over the whole group, after the post's.
    pub date: i32,
    /// Unix time of the last edit, if edited.
    pub edit_date: Option<i32>,
    /// Text (a photo's caption; may be empty then).
    pub text: String,
    /// The message it replies to: the copy of the post, or another comment of the thread.
    pub reply_to: i32,
    /// The thread's root: the copy of the post.
    pub top_id: i32,
    /// Who wrote it.
    pub sender: CommentSender,
    /// Whether it carries a photo.
    pub has_media: bool,
}

/// A generated user who comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Commenter {
    pub id: i64,
    pub access_hash: i64,
    pub name: String,
}

/// A message of the group: the copy of a post, or a comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GroupMessage {
    /// The automatic forward of channel post `post`.
    Copy {
        /// Group message id.
        id: i32,
        /// The channel post.
        post: i32,
    },
    /// A comment under channel post `post`.
    Comment {
        /// The channel post whose thread it is in.
        post: i32,
        /// The comment.
        comment: SimComment,
    },
}

/// What a post's `replies` says: the thread's size, newest reply, pts and recent repliers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Replies {
    /// Replies in the thread, nested ones included.
    pub count: i32,
    /// Id of the newest reply.
    pub max_id: Option<i32>,
    /// The group's pts when the thread last changed.
    pub pts: i32,
    /// Senders of the newest replies, newest first, at most three, each once.
    pub recent: Vec<CommentSender>,
}

/// Who wrote a generated comment, as indexes into the channel's generated people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    User(usize),
    Persona(usize),
    Admin(usize),
}

/// A generated comment's slot: everything but its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    id: i32,
    date: i32,
    /// Deleted since it was written (a gap).
    deleted: bool,
    reply_to: i32,
    who: Who,
    media: bool,
    edit_date: Option<i32>,
}

/// A comment written at run time.
#[derive(Clone, Debug)]
struct Written {
    post: i32,
    reply_to: i32,
    who: Who,
    /// Given text; `None`: generated from (seed, id) when read.
    text: Option<String>,
}

/// A message appended at run time: a copy of a published post or a written comment.
#[derive(Clone, Debug)]
enum Appended {
    Copy(i32),
    Comment(Box<Written>),
}

/// A run-time edit of a comment.
#[derive(Clone, Debug)]
struct Edit {
    date: i32,
    text: Option<String>,
    version: u32,
}

/// A channel's discussion group: generated threads plus what changed at run time. The channel's
/// history is passed in where its posts or dates are needed.
#[derive(Clone, Debug)]
pub struct SimDiscussion {
    spec: DiscussionSpec,
    seed: u64,
    lang: Lang,
    /// First linked post (the spec's, raised if the group's ids would not fit).
    linked_from: i64,
    /// The channel's initial top id.
    base: i64,
    /// Most generated comments per thread.
    m: i64,
    /// Block width, `1 + 2m`.
    width: i64,
    /// Highest generated id (the copy of the newest initial post), 0 without any.
    gen_top: i64,
    /// Newest generated date (edits are never later).
    ref_date: i32,
    /// Ids `gen_top + 1 ..` in order, with their dates.
    appended: Vec<(Appended, i32)>,
    /// Copies of posts published at run time: (post, copy id), ascending.
    copies: Vec<(i32, i32)>,
    /// Comments written at run time, per post, ascending.
    written: HashMap<i32, Vec<i32>>,
    /// Comments deleted at run time, ascending.
    deleted: Vec<i32>,
    /// Run-time edits of comments.
    edits: HashMap<i32, Edit>,
    /// The group's pts when a thread last changed at run time, per post.
    thread_pts: HashMap<i32, i32>,
    /// Newest date ever assigned.
    last_date: i32,
    commenters: Vec<Commenter>,
    personas: Vec<ChannelSpec>,
}

impl SimDiscussion {
    /// The discussion group of `channel` (whose spec must name one); O(1) whatever its size.
    pub fn new(channel: &SimChannel) -> Option<SimDiscussion> {
        let cspec = channel.spec();
        let spec = cspec.discussion.clone()?;
        let base = channel.initial_top();
        let mut linked_from = i64::from(spec.linked_from.max(1));
        // Keep the generated ids below 2^30, so run-time ones have room too.
        const ROOM: i64 = 1 << 30;
        linked_from = linked_from.max(base - ROOM + 2);
        let blocks = (base - linked_from + 1).max(0);
        let mut m = i64::from(spec.max_comments.min(MAX_COMMENTS));
        if blocks > 0 {
            m = m.min(((ROOM / blocks) - 1).max(0) / 2);
        }
        let width = 1 + 2 * m;
        let gen_top = if blocks > 0 {
            (blocks - 1) * width + 1
        } else {
            0
        };
        let ref_date = if base >= 1 {
            channel.assigned_date(base)
        } else {
            cspec.start_date
        };
        let seed = cspec.seed;
        let commenters = (0..COMMENTERS)
            .map(|i| {
                let h = hash3(seed, SALT_PEOPLE, i as u64);
                Commenter {
                    id: 5_000_000_000 + (h % 4_000_000_000) as i64 * 16 + i as i64,
                    access_hash: (h >> 1) as i64 ^ 0x5eed,
                    name: NAMES[(h >> 40) as usize % NAMES.len()].to_string(),
                }
            })
            .collect();
        let personas = (0..PERSONAS)
            .map(|i| {
                let h = hash3(seed, SALT_PEOPLE, 1_000 + i as u64);
                ChannelSpec {
                    id: 700_000_000_000 + (h % 10_000_000_000) as i64 * 8 + i as i64,
                    access_hash: (h >> 1) as i64 | 1,
                    username: None,
                    title: PERSONA_TITLES[(h >> 40) as usize % PERSONA_TITLES.len()].to_string(),
                    lang: cspec.lang,
                    posts: 0,
                    seed: h,
                    start_date: cspec.start_date,
                    service_run: None,
                    discussion: None,
                    megagroup: false,
                }
            })
            .collect();
        Some(SimDiscussion {
            seed,
            lang: cspec.lang,
            linked_from,
            base,
            m,
            width,
            gen_top,
            ref_date,
            appended: Vec::new(),
            copies: Vec::new(),
            written: HashMap::new(),
            deleted: Vec::new(),
            edits: HashMap::new(),
            thread_pts: HashMap::new(),
            last_date: ref_date,
            commenters,
            personas,
            spec,
        })
    }

    /// The spec the group was built from.
    pub fn spec(&self) -> &DiscussionSpec {
        &self.spec
    }

    /// The first post with a comment section.
    pub fn linked_from(&self) -> i32 {
        clamp_i32(self.linked_from)
    }

    /// Highest id ever assigned in the group.
    pub fn top_id(&self) -> i32 {
        clamp_i32(self.gen_top + self.appended.len() as i64)
    }

    /// The user with this id, if one of the commenters.
    pub(crate) fn commenter(&self, id: i64) -> Option<&Commenter> {
        self.commenters.iter().find(|c| c.id == id)
    }

    /// The channel users comment as with this id, if any.
    pub(crate) fn persona(&self, id: i64) -> Option<&ChannelSpec> {
        self.personas.iter().find(|p| p.id == id)
    }

    /// Id of the copy of post `post` in the group; `None` when the post has no comment section
    /// (before `linked_from`, a service message, deleted, or unknown).
    pub fn copy_id(&self, ch: &SimChannel, post: i32) -> Option<i32> {
        let p = i64::from(post);
        if p < self.linked_from || !ch.is_post(post) {
            return None;
        }
        if p <= self.base {
            return Some(clamp_i32((p - self.linked_from) * self.width + 1));
        }
        self.copies
            .binary_search_by_key(&post, |&(p, _)| p)
            .ok()
            .map(|at| self.copies[at].1)
    }

    /// The post whose copy has group id `id`, if it is one (and the post still exists).
    pub(crate) fn post_of_copy(&self, ch: &SimChannel, id: i32) -> Option<i32> {
        let id64 = i64::from(id);
        let post = if id64 >= 1 && id64 <= self.gen_top {
            if (id64 - 1) % self.width != 0 {
                return None;
            }
            clamp_i32(self.linked_from + (id64 - 1) / self.width)
        } else {
            match self.appended_at(id64)? {
                (Appended::Copy(post), _) => *post,
                _ => return None,
            }
        };
        (self.copy_id(ch, post) == Some(id)).then_some(post)
    }

    /// The existing replies of post `post`'s thread, ascending ids (nested replies included,
    /// the copy itself never); `None` when the post has no comment section.
    pub fn thread(&self, ch: &SimChannel, post: i32) -> Option<Vec<SimComment>> {
        let copy = self.copy_id(ch, post)?;
        let mut out: Vec<SimComment> = self
            .gen_slots(ch, post)
            .into_iter()
            .filter(|s| !s.deleted && !self.is_deleted(s.id))
            .map(|s| self.generated_comment(copy, &s))
            .collect();
        if let Some(ids) = self.written.get(&post) {
            out.extend(
                ids.iter()
                    .filter(|&&id| !self.is_deleted(id))
                    .filter_map(|&id| self.written_comment(ch, id)),
            );
        }
        Some(out)
    }

    /// `(id, date)` of every existing reply in post `post`'s thread, ascending, without building
    /// texts (what paging and counts need).
    pub(crate) fn thread_ids(&self, ch: &SimChannel, post: i32) -> Option<Vec<(i32, i32)>> {
        self.copy_id(ch, post)?;
        let mut out: Vec<(i32, i32)> = self
            .gen_slots(ch, post)
            .into_iter()
            .filter(|s| !s.deleted && !self.is_deleted(s.id))
            .map(|s| (s.id, s.date))
            .collect();
        if let Some(ids) = self.written.get(&post) {
            out.extend(
                ids.iter()
                    .filter(|&&id| !self.is_deleted(id))
                    .filter_map(|&id| Some((id, self.appended_at(i64::from(id))?.1))),
            );
        }
        Some(out)
    }

    /// What post `post`'s `replies` says now; `None` without a comment section.
    pub(crate) fn replies(&self, ch: &SimChannel, post: i32) -> Option<Replies> {
        let copy = self.copy_id(ch, post)?;
        let mut senders: Vec<(i32, Who)> = self
            .gen_slots(ch, post)
            .into_iter()
            .filter(|s| !s.deleted && !self.is_deleted(s.id))
            .map(|s| (s.id, s.who))
            .collect();
        if let Some(ids) = self.written.get(&post) {
            senders.extend(
                ids.iter()
                    .filter(|&&id| !self.is_deleted(id))
                    .filter_map(|&id| match self.appended_at(i64::from(id))? {
                        (Appended::Comment(w), _) => Some((id, w.who)),
                        _ => None,
                    }),
            );
        }
        let mut recent: Vec<CommentSender> = Vec::new();
        for &(_, who) in senders.iter().rev() {
            let s = self.sender(who);
            if !recent.contains(&s) {
                recent.push(s);
            }
            if recent.len() == 3 {
                break;
            }
        }
        let max_id = senders.last().map(|&(id, _)| id);
        let pts = self
            .thread_pts
            .get(&post)
            .copied()
            .unwrap_or(max_id.unwrap_or(copy));
        Some(Replies {
            count: senders.len() as i32,
            max_id,
            pts,
            recent,
        })
    }

    /// The group message with this id; `None` for a gap or a deleted one (a copy is gone with
    /// its post).
    pub(crate) fn message(&self, ch: &SimChannel, id: i32) -> Option<GroupMessage> {
        let id64 = i64::from(id);
        if id64 < 1 || id64 > i64::from(self.top_id()) || self.is_deleted(id) {
            return None;
        }
        if let Some(post) = self.post_of_copy(ch, id) {
            return Some(GroupMessage::Copy { id, post });
        }
        if id64 > self.gen_top {
            return match self.appended_at(id64)? {
                (Appended::Comment(w), _) => Some(GroupMessage::Comment {
                    post: w.post,
                    comment: self.written_comment(ch, id)?,
                }),
                _ => None,
            };
        }
        let offset = (id64 - 1) % self.width;
        let block = (id64 - 1) / self.width;
        // Odd slots: the block's own post; even: the previous block's.
        let post = self.linked_from + block - i64::from(offset % 2 == 0);
        let post = clamp_i32(post);
        let copy = self.copy_id(ch, post)?;
        let slot = self
            .gen_slots(ch, post)
            .into_iter()
            .find(|s| s.id == id)
            .filter(|s| !s.deleted)?;
        Some(GroupMessage::Comment {
            post,
            comment: self.generated_comment(copy, &slot),
        })
    }

    /// The photo of comment `id`, if it carries one.
    pub(crate) fn media(&self, id: i32) -> Option<SimMedia> {
        let id64 = i64::from(id);
        (id64 <= self.gen_top && hash3(self.seed, SALT_MEDIA, id64 as u64) % 100 < 6)
            .then(|| media::photo_of(self.seed, self.spec.group_id, id64))
    }

    /// The newest `n` existing ids of the group, newest first (what `channelDifferenceTooLong`
    /// carries); walks down from the top.
    pub(crate) fn newest(&self, ch: &SimChannel, n: usize) -> Vec<i32> {
        let mut out = Vec::new();
        let mut id = self.top_id();
        // Generated blocks are mostly gaps: look at a bounded number of ids.
        let mut budget = 64 * n + 4 * self.width as usize;
        while id >= 1 && out.len() < n && budget > 0 {
            if self.message(ch, id).is_some() {
                out.push(id);
            }
            id -= 1;
            budget -= 1;
        }
        out
    }

    // --- run-time changes ------------------------------------------------------------------------

    /// Appends the copy of a post just published in the channel; returns its id (`None` before
    /// `linked_from`).
    pub(crate) fn publish_copy(&mut self, post: i32, now: i32) -> Option<i32> {
        if i64::from(post) < self.linked_from {
            return None;
        }
        let id = self.append(Appended::Copy(post), now)?;
        self.copies.push((post, id));
        Some(id)
    }

    /// Writes a comment under `post` (replying to comment `reply_to` of its thread, or to the copy)
    /// as a generated user; returns its id. `None` when the post has no comment section or
    /// `reply_to` is not a comment of its thread.
    pub(crate) fn add_comment(
        &mut self,
        ch: &SimChannel,
        post: i32,
        reply_to: Option<i32>,
        text: Option<String>,
        now: i32,
    ) -> Option<i32> {
        let copy = self.copy_id(ch, post)?;
        let reply_to = match reply_to {
            None => copy,
            Some(r) => match self.message(ch, r)? {
                GroupMessage::Comment { post: p, .. } if p == post => r,
                _ => return None,
            },
        };
        let who_seed = hash3(self.seed, SALT_COMMENT, self.top_id() as u64 + 1);
        let who = Who::User((who_seed % COMMENTERS as u64) as usize);
        let id = self.append(
            Appended::Comment(Box::new(Written {
                post,
                reply_to,
                who,
                text,
            })),
            now,
        )?;
        self.written.entry(post).or_default().push(id);
        Some(id)
    }

    /// Deletes a comment; returns the post whose thread it was in (`None`: not an existing
    /// comment).
    pub(crate) fn delete_comment(&mut self, ch: &SimChannel, id: i32) -> Option<i32> {
        let GroupMessage::Comment { post, .. } = self.message(ch, id)? else {
            return None;
        };
        if let Err(at) = self.deleted.binary_search(&id) {
            self.deleted.insert(at, id);
        }
        self.edits.remove(&id);
        Some(post)
    }

    /// Edits a comment (given text, or a newly generated one); returns its post (`None`: not an
    /// existing comment).
    pub(crate) fn edit_comment(
        &mut self,
        ch: &SimChannel,
        id: i32,
        text: Option<String>,
        now: i32,
    ) -> Option<i32> {
        let GroupMessage::Comment { post, comment } = self.message(ch, id)? else {
            return None;
        };
        let version = self.edits.get(&id).map_or(1, |e| e.version.wrapping_add(1));
        let date = now.max(comment.date);
        self.edits.insert(
            id,
            Edit {
                date,
                text,
                version,
            },
        );
        Some(post)
    }

    /// Notes the group's pts after a change to post `post`'s thread (its `replies_pts`).
    pub(crate) fn touch_thread(&mut self, post: i32, pts: i32) {
        self.thread_pts.insert(post, pts);
    }

    // --- layout ------------------------------------------------------------------------------------

    fn append(&mut self, what: Appended, now: i32) -> Option<i32> {
        let id = i32::try_from(self.gen_top + self.appended.len() as i64 + 1).ok()?;
        let date = now.max(self.last_date);
        self.last_date = date;
        self.appended.push((what, date));
        Some(id)
    }

    fn appended_at(&self, id: i64) -> Option<&(Appended, i32)> {
        let at = usize::try_from(id - self.gen_top - 1).ok()?;
        self.appended.get(at)
    }

    fn is_deleted(&self, id: i32) -> bool {
        self.deleted.binary_search(&id).is_ok()
    }

    /// The generated slots of post `post`'s thread (deleted ones included), ascending: empty for
    /// posts without generated comments.
    fn gen_slots(&self, ch: &SimChannel, post: i32) -> Vec<Slot> {
        let p = i64::from(post);
        // The newest initial post has none: its comments would be dated after the history ends.
        if p < self.linked_from || p >= self.base || self.m == 0 || !ch.generated_post(p) {
            return Vec::new();
        }
        let h = hash3(self.seed, SALT_THREAD, p as u64);
        if h % 100 < SILENT_THREADS {
            return Vec::new();
        }
        // Most threads are short, a few fill up.
        let r = ((h >> 8) % 1000) as i64;
        let wanted = 1 + (self.m - 1) * r * r / 1_000_000;
        let per_mille = (wanted * 1000 / (2 * self.m)).max(1);
        let k = p - self.linked_from;
        let copy = clamp_i32(k * self.width + 1);
        // The date span of the thread's two blocks: a block's slots need a next channel id to end
        // them, and room between the dates.
        let span = |block: i64| {
            let first = self.linked_from + block;
            let (d0, d1) = (
                i64::from(ch.assigned_date(first)),
                i64::from(ch.assigned_date(first + 1)),
            );
            (first < self.base && d1 - d0 >= 2).then_some((d0, d1))
        };
        let spans = [span(k), span(k + 1)];
        let mut out: Vec<Slot> = Vec::new();
        // The comments not deleted so far (what a nested reply may answer).
        let mut alive: Vec<i32> = Vec::new();
        for i in 0..2 * self.m {
            if out.len() as i64 == self.m {
                break;
            }
            let (block, slot) = if i < self.m {
                (k, 2 * i + 1)
            } else {
                (k + 1, 2 * (i - self.m) + 2)
            };
            let Some((d0, d1)) = spans[(block - k) as usize] else {
                continue;
            };
            let id = block * self.width + 1 + slot;
            let c = hash3(self.seed, SALT_SLOT, id as u64);
            if (c % 1000) as i64 >= per_mille {
                continue;
            }
            let date = d0 + 1 + (d1 - d0 - 2) * (slot - 1) / (2 * self.m - 1).max(1);
            let id32 = clamp_i32(id);
            let d = hash3(self.seed, SALT_COMMENT, id as u64);
            let reply_to = if !alive.is_empty() && (d >> 8) % 100 < 30 {
                let back = 1 + ((d >> 16) % alive.len().min(6) as u64) as usize;
                alive[alive.len() - back]
            } else {
                copy
            };
            let who = match (d >> 24) % 100 {
                0..78 => Who::User(((d >> 32) % COMMENTERS as u64) as usize),
                78..90 => Who::Persona(((d >> 32) % PERSONAS as u64) as usize),
                _ => Who::Admin(((d >> 32) % SIGNATURES.len() as u64) as usize),
            };
            let edit_date = ((d >> 40) % 100 < 5).then(|| {
                let later = date + 30 + ((d >> 48) % 3_600) as i64;
                clamp_i32(later.min(i64::from(self.ref_date)).max(date))
            });
            let deleted = d % 100 < DELETED;
            if !deleted {
                alive.push(id32);
            }
            out.push(Slot {
                id: id32,
                date: clamp_i32(date),
                deleted,
                reply_to,
                who,
                media: hash3(self.seed, SALT_MEDIA, id as u64) % 100 < 6,
                edit_date,
            });
        }
        out
    }

    fn sender(&self, who: Who) -> CommentSender {
        match who {
            Who::User(i) => CommentSender::User(self.commenters[i % COMMENTERS].id),
            Who::Persona(i) => CommentSender::Channel(self.personas[i % PERSONAS].id),
            Who::Admin(i) => CommentSender::Anonymous(SIGNATURES[i % SIGNATURES.len()].into()),
        }
    }

    /// A generated text for comment `id` (version 0: as written; later ones: edits).
    fn text(&self, id: i32, version: u32, photo: bool) -> String {
        let h = hash3(self.seed, SALT_TEXT, u64::from(version));
        if photo && hash3(h, SALT_TEXT, id as u64) % 100 < 40 {
            return String::new();
        }
        let max = 60 + (hash3(h, SALT_TEXT, !(id as u64)) % 240) as usize;
        textgen::generate(self.lang, h, id, max).text
    }

    fn apply_edit(&self, c: &mut SimComment) {
        if let Some(e) = self.edits.get(&c.id) {
            c.edit_date = Some(e.date);
            c.text = match &e.text {
                Some(t) => t.clone(),
                None => self.text(c.id, e.version, c.has_media),
            };
        }
    }

    fn generated_comment(&self, copy: i32, s: &Slot) -> SimComment {
        let mut c = SimComment {
            id: s.id,
            date: s.date,
            edit_date: s.edit_date,
            text: self.text(s.id, 0, s.media),
            reply_to: s.reply_to,
            top_id: copy,
            sender: self.sender(s.who),
            has_media: s.media,
        };
        self.apply_edit(&mut c);
        c
    }

    fn written_comment(&self, ch: &SimChannel, id: i32) -> Option<SimComment> {
        let (Appended::Comment(w), date) = self.appended_at(i64::from(id))? else {
            return None;
        };
        let mut c = SimComment {
            id,
            date: *date,
            edit_date: None,
            text: w.text.clone().unwrap_or_else(|| self.text(id, 0, false)),
            reply_to: w.reply_to,
            top_id: self.copy_id(ch, w.post).unwrap_or(w.reply_to),
            sender: self.sender(w.who),
            has_media: false,
        };
        self.apply_edit(&mut c);
        Some(c)
    }
}

/// Telegram's getReplies window over a thread's replies (`(id, date)` ascending, dates
/// non-decreasing): the ids of the page, newest first. The rule is getHistory's
/// ([`super::paging::history_reference`]); this finds the window by binary search.
pub fn replies_page(thread: &[(i32, i32)], q: &HistoryQuery) -> Vec<i32> {
    let limit = i64::from(q.limit.clamp(0, MAX_HISTORY_LIMIT));
    let len = thread.len() as i64;
    let skipped = if q.offset_id != 0 {
        len - thread.partition_point(|&(id, _)| id < q.offset_id) as i64
    } else if q.offset_date != 0 {
        len - thread.partition_point(|&(_, date)| date < q.offset_date) as i64
    } else {
        0
    };
    let start = skipped + i64::from(q.add_offset);
    let (from, to) = (start.max(0), (start + limit).min(len));
    (from..to)
        .map(|pos| thread[(len - 1 - pos) as usize].0)
        .filter(|&id| q.max_id == 0 || id < q.max_id)
        .filter(|&id| q.min_id == 0 || id > q.min_id)
        .collect()
}

fn clamp_i32(x: i64) -> i32 {
    x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::paging::history_reference;

    fn channel(posts: i32, seed: u64, max_comments: u32) -> SimChannel {
        let mut spec = ChannelSpec {
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
        };
        spec.discussion = Some(DiscussionSpec::for_channel(&spec, max_comments));
        SimChannel::new(spec)
    }

    fn group(ch: &SimChannel) -> SimDiscussion {
        SimDiscussion::new(ch).expect("a discussion group")
    }

    #[test]
    fn threads_are_laid_out_as_specified() {
        let ch = channel(3000, 7, 30);
        let d = group(&ch);
        let linked_from = d.linked_from();
        assert_eq!(linked_from, 300);
        let mut seen_ids = HashSet::new();
        let mut all: Vec<(i32, i32)> = Vec::new();
        let (mut silent, mut threads, mut nested, mut media, mut edited) = (0, 0, 0, 0, 0);
        let mut kinds = HashSet::new();
        for post in ch.post_ids() {
            let Some(copy) = d.copy_id(&ch, post) else {
                assert!(post < linked_from, "post {post} has no copy");
                assert_eq!(d.thread(&ch, post), None);
                continue;
            };
            assert!(post >= linked_from);
            assert_eq!(d.post_of_copy(&ch, copy), Some(post));
            let p = ch.post(post).expect("post");
            assert!(seen_ids.insert(copy));
            all.push((copy, p.date));
            let thread = d.thread(&ch, post).expect("a thread");
            threads += 1;
            silent += usize::from(thread.is_empty());
            assert!(thread.len() <= 30);
            assert!(thread.windows(2).all(|w| w[0].id < w[1].id));
            let ids: Vec<(i32, i32)> = thread.iter().map(|c| (c.id, c.date)).collect();
            assert_eq!(d.thread_ids(&ch, post), Some(ids));
            let replies = d.replies(&ch, post).expect("replies");
            assert_eq!(replies.count as usize, thread.len());
            assert_eq!(replies.max_id, thread.last().map(|c| c.id));
            for c in &thread {
                assert!(c.date > p.date, "comment {} not after post {post}", c.id);
                assert!(c.edit_date.is_none_or(|e| e >= c.date));
                assert_eq!(c.top_id, copy);
                assert!(seen_ids.insert(c.id), "id {} used twice", c.id);
                all.push((c.id, c.date));
                if c.reply_to != copy {
                    nested += 1;
                    assert!(thread.iter().any(|o| o.id == c.reply_to && o.id < c.id));
                }
                media += usize::from(c.has_media);
                edited += usize::from(c.edit_date.is_some());
                kinds.insert(std::mem::discriminant(&c.sender));
                if c.has_media {
                    assert!(d.media(c.id).is_some());
                } else {
                    assert!(!c.text.is_empty());
                }
                let Some(GroupMessage::Comment { post: of, comment }) = d.message(&ch, c.id) else {
                    panic!("comment {} not found by id", c.id);
                };
                assert_eq!((of, &comment), (post, c));
            }
        }
        let comments = all.len() - threads;
        assert!(silent * 100 / threads >= 25, "{silent} of {threads} silent");
        assert!(comments > threads * 2, "{comments} comments");
        assert!(nested * 100 / comments >= 10, "{nested} nested");
        assert!(media > 0 && edited > 0, "media {media} edited {edited}");
        assert_eq!(kinds.len(), 3, "users, channels and anonymous admins");
        // One id space: dates never go back as ids grow, across threads.
        all.sort();
        assert!(all.windows(2).all(|w| w[0].1 <= w[1].1));
        // Generated deletions leave gaps that are neither copies nor comments.
        let top = d.top_id();
        let gaps = (1..=top)
            .filter(|&id| !seen_ids.contains(&id))
            .filter(|&id| d.message(&ch, id).is_some())
            .count();
        assert_eq!(gaps, 0, "message() finds only what threads list");
    }

    #[test]
    fn comments_are_deterministic_and_differ_by_seed() {
        let (a, b, c) = (
            channel(800, 3, 20),
            channel(800, 3, 20),
            channel(800, 4, 20),
        );
        let (da, db, dc) = (group(&a), group(&b), group(&c));
        let threads = |ch: &SimChannel, d: &SimDiscussion| -> Vec<Vec<SimComment>> {
            ch.post_ids()
                .into_iter()
                .filter_map(|p| d.thread(ch, p))
                .collect()
        };
        assert_eq!(threads(&a, &da), threads(&b, &db));
        assert_ne!(threads(&a, &da), threads(&c, &dc));
    }

    #[test]
    fn replies_paging_follows_the_history_rule() {
        let ch = channel(2000, 11, 60);
        let mut d = group(&ch);
        let post = ch
            .post_ids()
            .into_iter()
            .rfind(|&p| d.thread(&ch, p).is_some_and(|t| t.len() >= 20))
            .expect("a busy thread");
        let now = ch.newest_date() + 100;
        let first = d.thread_ids(&ch, post).expect("thread")[0].0;
        for k in 0..5 {
            let reply_to = (k % 2 == 1).then_some(first);
            assert!(d.add_comment(&ch, post, reply_to, None, now + k).is_some());
        }
        assert!(d.delete_comment(&ch, first).is_some());
        let thread = d.thread_ids(&ch, post).expect("thread");
        let ids: Vec<i32> = thread.iter().map(|t| t.0).collect();
        let mut probes: Vec<i32> = vec![0, -1, 1, i32::MAX, first];
        probes.extend(ids.iter().step_by(3));
        probes.extend(ids.iter().map(|i| i + 1));
        for &offset_id in &probes {
            for add_offset in [0, 1, -1, 5, -5, -10, -30, 40, -100] {
                for limit in [0, 1, 3, 10, 100, 101] {
                    for (max_id, min_id) in [(0, 0), (ids[10], 0), (0, ids[5]), (ids[15], ids[3])] {
                        let q = HistoryQuery {
                            offset_id,
                            offset_date: 0,
                            add_offset,
                            limit,
                            max_id,
                            min_id,
                        };
                        assert_eq!(replies_page(&thread, &q), history_reference(&thread, &q));
                    }
                }
            }
        }
        for &(_, date) in thread.iter().step_by(4) {
            for offset_date in [date - 1, date, date + 1] {
                for add_offset in [0, -3, 2] {
                    let q = HistoryQuery {
                        offset_date,
                        add_offset,
                        limit: 7,
                        ..Default::default()
                    };
                    assert_eq!(replies_page(&thread, &q), history_reference(&thread, &q));
                }
            }
        }
        // Paging by offset_id, newest first, yields the whole thread once.
        let mut got = Vec::new();
        let mut offset_id = 0;
        loop {
            let page = replies_page(
                &thread,
                &HistoryQuery {
                    offset_id,
                    limit: 7,
                    ..Default::default()
                },
            );
            let Some(&last) = page.last() else { break };
            got.extend(page);
            offset_id = last;
        }
        got.reverse();
        assert_eq!(got, ids);
    }

    #[test]
    fn run_time_comments_edits_and_deletions_move_the_thread() {
        let ch = channel(500, 5, 10);
        let mut d = group(&ch);
        let post = 400;
        assert!(ch.is_post(post));
        let before = d.replies(&ch, post).expect("a comment section");
        let now = ch.newest_date() + 1_000;
        let id = d
            .add_comment(&ch, post, None, Some("first!".into()), now)
            .expect("written");
        assert_eq!(id, d.top_id());
        let nested = d
            .add_comment(&ch, post, Some(id), None, now + 5)
            .expect("a nested reply");
        let thread = d.thread(&ch, post).expect("thread");
        let written = &thread[thread.len() - 2..];
        assert_eq!(
            (written[0].text.as_str(), written[0].reply_to),
            ("first!", d.copy_id(&ch, post).expect("copy"))
        );
        assert_eq!((written[1].id, written[1].reply_to), (nested, id));
        assert!(matches!(written[1].sender, CommentSender::User(_)));
        let after = d.replies(&ch, post).expect("replies");
        assert_eq!(after.count, before.count + 2);
        assert_eq!(after.max_id, Some(nested));
        // A reply to a comment of another thread, or under a post without comments, is refused.
        assert_eq!(d.add_comment(&ch, post - 1, Some(id), None, now), None);
        assert_eq!(d.add_comment(&ch, 10, None, None, now), None);
        // Edits and deletions.
        assert_eq!(
            d.edit_comment(&ch, id, Some("edited".into()), now + 9),
            Some(post)
        );
        let c = d.thread(&ch, post).expect("thread");
        let edited = c.iter().find(|c| c.id == id).expect("still there");
        assert_eq!(
            (edited.text.as_str(), edited.edit_date),
            ("edited", Some(now + 9))
        );
        assert_eq!(d.delete_comment(&ch, id), Some(post));
        assert_eq!(d.delete_comment(&ch, id), None);
        assert_eq!(d.edit_comment(&ch, id, None, now), None);
        assert_eq!(
            d.replies(&ch, post).expect("replies").count,
            before.count + 1
        );
        let copy = d.copy_id(&ch, post).expect("copy");
        assert_eq!(d.delete_comment(&ch, copy), None, "a copy is not a comment");
        // Copies of published posts take the next ids.
        let copy = d.publish_copy(501, now + 20).expect("a copy");
        assert_eq!(copy, nested + 1);
    }

    #[test]
    fn a_big_channel_never_materialises_its_comments() {
        let ch = channel(100_000, 9, 200);
        let d = group(&ch);
        let started = std::time::Instant::now();
        let mut total = 0;
        for post in (99_000..99_100).filter(|&p| ch.is_post(p)) {
            total += d.replies(&ch, post).map_or(0, |r| r.count);
            assert!(d.thread_ids(&ch, post).is_some());
        }
        assert!(total > 0);
        assert!(d.top_id() > 10_000_000);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // Nothing but run-time changes is stored.
        assert!(d.appended.is_empty() && d.written.is_empty());
        assert!(d.newest(&ch, 20).len() == 20 || d.newest(&ch, 20).contains(&d.top_id()));
    }
}
