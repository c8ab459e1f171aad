//! `messages.getDialogs` as Telegram answers it: an account's chats — the channels and supergroups it
//! is a member of, private chats with users, basic groups, its Saved Messages — ordered by their top
//! message's date (newest first), pinned dialogs first on the first page unless `exclude_pinned`,
//! paged by `(offset_date, offset_id, offset_peer)`: a page holds the dialogs that come after the
//! dialog the offset names, so a client pages on from the last dialog of the previous page.
//!
//! The answer is `messages.dialogs` when the whole list fits in one page and `messages.dialogsSlice`
//! (with the total count) otherwise; every page carries its dialogs' top messages and the chats and
//! users they name. `folder_id` unset lists every folder, 0 the main list, 1 the archive. Channels
//! the account left are not listed; a channel it was banned from is, as `channelForbidden`. With
//! [`DialogsConfig::short_pages`] pages end short now and then while more dialogs remain, so a
//! client that takes a short page for the end misses dialogs.

use grammers_tl_types as tl;

use super::Reply;
use crate::chat::channel_message;
use crate::objects;
use crate::shared::Shared;
use crate::state::read;
use crate::textgen::hash3;
use crate::world::SimPost;

/// The non-channel dialogs every account has, and how its dialog list is laid out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialogsConfig {
    /// Private chats with generated users.
    pub users: usize,
    /// Basic groups (legacy `chat`s).
    pub basic_groups: usize,
    /// The first this many channels (creation order) an account is a member of are pinned, in that
    /// order (Telegram allows 5 in the main list).
    pub pinned: usize,
    /// Every `n`-th channel (creation order) is archived (folder 1); 0: none.
    pub archive_every: usize,
    /// Full pages end short now and then while more dialogs remain (decided by the offset).
    pub short_pages: bool,
}

const SALT_DATE: u64 = 0x6469_616c_0001;
const SALT_HASH: u64 = 0x6469_616c_0002;
const SALT_SHORT: u64 = 0x6469_616c_0003;

/// Id of the `n`-th generated user an account chats with.
pub(crate) fn contact_id(n: usize) -> i64 {
    900_000 + n as i64
}

/// Id of the `n`-th generated basic group.
pub(crate) fn basic_group_id(n: usize) -> i64 {
    40_000 + n as i64
}

/// Who a dialog is with, as its peer ranks in the order (users, basic groups, channels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PeerKey {
    User(i64),
    Chat(i64),
    Channel(i64),
}

/// One dialog as listed: its place in the order and what to serve for it.
struct Entry {
    /// (top message date, top message id, peer): the order, descending.
    key: (i32, i32, PeerKey),
    pinned: Option<usize>,
    folder: i32,
    what: What,
}

enum What {
    Channel(
        std::sync::Arc<std::sync::RwLock<crate::state::ChannelEntry>>,
        bool,
    ),
    User {
        n: usize,
    },
    Me,
    Group {
        n: usize,
    },
}

/// `messages.getDialogs` for account `user`.
pub(crate) fn get_dialogs(
    shared: &Shared,
    user: Option<usize>,
    req: &tl::functions::messages::GetDialogs,
) -> Reply {
    let Some(u) = user else {
        return Reply::err(401, "AUTH_KEY_UNREGISTERED");
    };
    if !matches!(req.folder_id, None | Some(0) | Some(1)) {
        return Reply::err(400, "FOLDER_ID_INVALID");
    }
    if req.limit < 0 {
        return Reply::err(400, "LIMIT_INVALID");
    }
    let limit = req.limit.clamp(1, 100) as usize;
    let me = &shared.world.accounts[u];
    let cfg = &shared.dialogs;
    let seed = shared.seed;
    let stamp = shared.stamp();
    let mut entries = Vec::new();
    let mut dates = (i32::MAX, i32::MIN);
    let mut pins = 0;
    for (i, ch) in shared.world.channels().into_iter().enumerate() {
        let e = read(&ch);
        if !e.members.contains(u) {
            continue;
        }
        let newest = crate::world::HistoryQuery {
            limit: 1,
            ..Default::default()
        };
        let Some(top) = e.history.history(&newest).into_iter().next() else {
            continue;
        };
        let (id, date) = (top.id(), top.date());
        dates = (dates.0.min(date), dates.1.max(date));
        let archived = cfg.archive_every > 0 && i % cfg.archive_every == cfg.archive_every - 1;
        let pinned = (!archived && pins < cfg.pinned).then(|| {
            pins += 1;
            pins - 1
        });
        let banned = e.banned.contains(&u);
        let channel_id = e.history.spec().id;
        drop(e);
        entries.push(Entry {
            key: (date, id, PeerKey::Channel(channel_id)),
            pinned,
            folder: i32::from(archived),
            what: What::Channel(ch, banned),
        });
    }
    if dates.0 > dates.1 {
        dates = (1_600_000_000, 1_600_000_000);
    }
    // Other chats' top messages fall among the channels' (and a day past them).
    let span = i64::from(dates.1) - i64::from(dates.0) + 86_400;
    let other_date = |salt: u64, n: usize| {
        let h = hash3(seed ^ SALT_DATE ^ salt, u as u64, n as u64);
        (i64::from(dates.0) + (h % span as u64) as i64).min(i64::from(i32::MAX)) as i32
    };
    for n in 0..cfg.users {
        entries.push(Entry {
            key: (
                other_date(1, n),
                10 + 3 * n as i32,
                PeerKey::User(contact_id(n)),
            ),
            pinned: None,
            folder: 0,
            what: What::User { n },
        });
    }
    for n in 0..cfg.basic_groups {
        entries.push(Entry {
            key: (
                other_date(2, n),
                11 + 3 * n as i32,
                PeerKey::Chat(basic_group_id(n)),
            ),
            pinned: None,
            folder: 0,
            what: What::Group { n },
        });
    }
    if let Some(last) = shared.world.saved_after(u, crate::state::COMMON_PTS).last() {
        entries.push(Entry {
            key: (last.date, last.id, PeerKey::User(me.user_id)),
            pinned: None,
            folder: 0,
            what: What::Me,
        });
    }
    entries.retain(|e| req.folder_id.is_none_or(|f| f == e.folder));
    let count = entries.len();
    let offset = match offset_key(req, me.user_id) {
        Ok(o) => o,
        Err(reply) => return reply,
    };
    let (mut pinned, mut rest): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.pinned.is_some());
    pinned.sort_by_key(|e| e.pinned);
    rest.sort_by_key(|e| std::cmp::Reverse(e.key));
    let mut list: Vec<Entry> = Vec::new();
    match offset {
        None => {
            if !req.exclude_pinned {
                list.extend(pinned);
            }
            list.extend(rest);
        }
        // Pinned dialogs come on the first page only.
        Some(at) => list.extend(rest.into_iter().filter(|e| e.key < at)),
    }
    let more = list.len() > limit;
    let mut take = limit.min(list.len());
    if cfg.short_pages && more && limit > 1 {
        let h = hash3(
            seed ^ SALT_SHORT,
            req.offset_id as u64,
            req.offset_date as u64,
        );
        take = limit - 1 - (h % (limit as u64 / 2).max(1)) as usize;
        take = take.max(1);
    }
    list.truncate(take);
    let whole = offset.is_none() && !more;
    let mut dialogs = Vec::with_capacity(list.len());
    let mut messages = Vec::with_capacity(list.len());
    let mut chats = Vec::new();
    let mut users = Vec::new();
    for e in &list {
        let (date, top, peer) = e.key;
        let (tl_peer, pts) = match peer {
            PeerKey::User(user_id) => {
                (tl::enums::Peer::User(tl::types::PeerUser { user_id }), None)
            }
            PeerKey::Chat(chat_id) => {
                (tl::enums::Peer::Chat(tl::types::PeerChat { chat_id }), None)
            }
            PeerKey::Channel(channel_id) => (
                tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id }),
                None::<i32>,
            ),
        };
        let mut pts = pts;
        match &e.what {
            What::Channel(ch, banned) => {
                let entry = read(ch);
                pts = Some(entry.pts());
                if let Some(m) = entry.history.message(top) {
                    messages.push(channel_message(&entry, &m, &stamp));
                }
                let spec = entry.history.spec();
                chats.push(if *banned {
                    tl::enums::Chat::ChannelForbidden(tl::types::ChannelForbidden {
                        broadcast: !spec.megagroup,
                        megagroup: spec.megagroup,
                        monoforum: false,
                        id: spec.id,
                        access_hash: spec.access_hash,
                        title: spec.title.clone(),
                        until_date: None,
                    })
                } else {
                    objects::channel(spec, false)
                });
            }
            What::User { n } => {
                let user_id = contact_id(*n);
                messages.push(private_message(
                    tl_peer.clone(),
                    Some(user_id),
                    top,
                    date,
                    format!("Hello from contact {n}"),
                ));
                users.push(objects::user_object(
                    user_id,
                    (hash3(seed ^ SALT_HASH, 0, *n as u64) >> 1) as i64,
                    &format!("Contact {n}"),
                    None,
                    false,
                ));
            }
            What::Group { n } => {
                let chat_id = basic_group_id(*n);
                messages.push(private_message(
                    tl_peer.clone(),
                    Some(contact_id(*n % cfg.users.max(1))),
                    top,
                    date,
                    format!("Message in group {n}"),
                ));
                chats.push(basic_group(chat_id, &format!("Basic group {n}"), date));
            }
            What::Me => {
                if let Some(last) = shared.world.saved_after(u, crate::state::COMMON_PTS).last() {
                    messages.push(objects::saved_message(me.user_id, last));
                }
                users.push(objects::user(me, true));
            }
        }
        let mut d = objects::dialog(0, top, 0);
        let tl::enums::Dialog::Dialog(ref mut dd) = d else {
            unreachable!("objects::dialog makes a dialog")
        };
        dd.peer = tl_peer;
        dd.pts = pts;
        dd.pinned = e.pinned.is_some() && offset.is_none();
        dd.folder_id = (e.folder != 0).then_some(e.folder);
        dialogs.push(d);
    }
    if whole {
        Reply::ok(tl::enums::messages::Dialogs::Dialogs(
            tl::types::messages::Dialogs {
                dialogs,
                messages,
                chats,
                users,
            },
        ))
    } else {
        Reply::ok(tl::enums::messages::Dialogs::Slice(
            tl::types::messages::DialogsSlice {
                count: count as i32,
                dialogs,
                messages,
                chats,
                users,
            },
        ))
    }
}

/// Where a page starts: `None` for the first page (no offset at all), else the dialog key the
/// page's dialogs come after (an `offset_date` of 0 does not bound the date).
fn offset_key(
    req: &tl::functions::messages::GetDialogs,
    me: i64,
) -> Result<Option<(i32, i32, PeerKey)>, Reply> {
    let peer = match &req.offset_peer {
        tl::enums::InputPeer::Empty => None,
        tl::enums::InputPeer::PeerSelf => Some(PeerKey::User(me)),
        tl::enums::InputPeer::User(p) => Some(PeerKey::User(p.user_id)),
        tl::enums::InputPeer::Chat(p) => Some(PeerKey::Chat(p.chat_id)),
        tl::enums::InputPeer::Channel(p) => Some(PeerKey::Channel(p.channel_id)),
        _ => return Err(Reply::err(400, "PEER_ID_INVALID")),
    };
    if req.offset_date == 0 && req.offset_id == 0 && peer.is_none() {
        return Ok(None);
    }
    let date = if req.offset_date == 0 {
        i32::MAX
    } else {
        req.offset_date
    };
    Ok(Some((
        date,
        req.offset_id,
        peer.unwrap_or(PeerKey::Channel(i64::MAX)),
    )))
}

/// A message in a private chat or basic group, from `from` (incoming).
fn private_message(
    peer: tl::enums::Peer,
    from: Option<i64>,
    id: i32,
    date: i32,
    text: String,
) -> tl::enums::Message {
    let p = SimPost {
        id,
        date,
        edit_date: None,
        text,
        media: None,
        grouped_id: None,
        views: 0,
        forwards: 0,
    };
    match objects::message_with(0, &p, None) {
        tl::enums::Message::Message(mut m) => {
            m.post = false;
            m.views = None;
            m.forwards = None;
            m.from_id = from.map(|user_id| tl::enums::Peer::User(tl::types::PeerUser { user_id }));
            m.peer_id = peer;
            tl::enums::Message::Message(m)
        }
        other => other,
    }
}

/// A basic group the account is in.
fn basic_group(id: i64, title: &str, date: i32) -> tl::enums::Chat {
    tl::enums::Chat::Chat(tl::types::Chat {
        creator: false,
        left: false,
        deactivated: false,
        call_active: false,
        call_not_empty: false,
        noforwards: false,
        id,
        title: title.to_string(),
        photo: tl::enums::ChatPhoto::Empty,
        participants_count: 5,
        date,
        version: 1,
        migrated_to: None,
        admin_rights: None,
        default_banned_rights: None,
    })
}
