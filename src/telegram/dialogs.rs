//! An account's dialog list (`messages.getDialogs`), one page at a time, under the client layer's
//! policy: the chats it is in, with the access hashes that come with them — what a dialogs import
//! follows channels by, without resolving a single username.
//!
//! Paging follows Telegram's rule (and Telethon's `iter_dialogs`): the next page starts after the last
//! dialog of this one — its top message's date and id and its peer. A page shorter than asked for is
//! not the end (Telegram cuts pages short); the end is an empty page, a `messages.dialogs` answer (the
//! whole list), a page that does not move the offset, or as many dialogs seen as the count says.

use grammers_tl_types as tl;
use tgsift_store::OffsetPeer;

use super::client::Account;
use super::error::TgError;

/// Dialogs asked for per page (Telegram's maximum).
pub(crate) const PAGE: i32 = 100;

/// Where a page of dialogs starts: after the dialog these name (all empty: the first page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DialogsOffset {
    /// The top message date of the last dialog of the previous page.
    pub date: i32,
    /// Its top message id.
    pub id: i32,
    /// Its peer.
    pub peer: Option<OffsetPeer>,
}

/// What a dialog is with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DialogKind {
    /// A broadcast channel.
    Channel,
    /// A supergroup.
    Megagroup,
    /// A channel or supergroup the account may not read (banned: `channelForbidden`).
    Forbidden,
    /// A basic group.
    BasicGroup,
    /// A private chat (a user or a bot; Saved Messages too).
    User,
}

/// One dialog as a page listed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dialog {
    /// What it is with.
    pub kind: DialogKind,
    /// The peer's id.
    pub id: i64,
    /// The access hash for this account (channels and users; 0 when the answer had none).
    pub access_hash: i64,
    /// Username, if public.
    pub username: Option<String>,
    /// Title (a user's name for private chats).
    pub title: String,
    /// The answer marked the channel `left` (the account is not a member).
    pub left: bool,
}

impl Dialog {
    /// `@username`, else the id.
    pub(crate) fn label(&self) -> String {
        self.username
            .as_ref()
            .map(|u| format!("@{u}"))
            .unwrap_or_else(|| self.id.to_string())
    }
}

/// One page of an account's dialogs.
#[derive(Clone, Debug, Default)]
pub(crate) struct DialogsPage {
    /// Its dialogs, in the server's order.
    pub dialogs: Vec<Dialog>,
    /// Where the next page starts; `None` when this was the last page.
    pub next: Option<DialogsOffset>,
    /// Dialogs in the list, per the server (`messages.dialogsSlice`); `None` when the answer was the
    /// whole list.
    pub count: Option<i32>,
}

fn input_peer(p: &OffsetPeer) -> tl::enums::InputPeer {
    match p.kind.as_str() {
        "user" => tl::enums::InputPeer::User(tl::types::InputPeerUser {
            user_id: p.id,
            access_hash: p.access_hash,
        }),
        "chat" => tl::enums::InputPeer::Chat(tl::types::InputPeerChat { chat_id: p.id }),
        _ => tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
            channel_id: p.id,
            access_hash: p.access_hash,
        }),
    }
}

fn peer_key(p: &tl::enums::Peer) -> (&'static str, i64) {
    match p {
        tl::enums::Peer::User(u) => ("user", u.user_id),
        tl::enums::Peer::Chat(c) => ("chat", c.chat_id),
        tl::enums::Peer::Channel(c) => ("channel", c.channel_id),
    }
}

impl Account {
    /// One page of the account's dialogs (every folder), starting at `offset`; `seen` is how many
    /// dialogs the pages before it listed (with the server's count, it tells the last page).
    pub(crate) async fn dialogs_page(
        &self,
        offset: &DialogsOffset,
        seen: u32,
    ) -> Result<DialogsPage, TgError> {
        let first = offset.peer.is_none() && offset.date == 0 && offset.id == 0;
        let req = tl::functions::messages::GetDialogs {
            // Pinned dialogs come first on the first page; later pages leave them out (Telethon does
            // the same).
            exclude_pinned: !first,
            folder_id: None,
            offset_date: offset.date,
            offset_id: offset.id,
            offset_peer: offset
                .peer
                .as_ref()
                .map_or(tl::enums::InputPeer::Empty, input_peer),
            limit: PAGE,
            hash: 0,
        };
        let (list, messages, chats, users, count) = match self.invoke(&req).await? {
            tl::enums::messages::Dialogs::Dialogs(d) => {
                (d.dialogs, d.messages, d.chats, d.users, None)
            }
            tl::enums::messages::Dialogs::Slice(d) => {
                (d.dialogs, d.messages, d.chats, d.users, Some(d.count))
            }
            tl::enums::messages::Dialogs::NotModified(_) => {
                return Ok(DialogsPage::default());
            }
        };
        let mut dialogs = Vec::with_capacity(list.len());
        let mut last: Option<(OffsetPeer, i32)> = None;
        let mut last_message: Option<(i32, i32)> = None;
        for d in &list {
            let (peer, top) = match d {
                tl::enums::Dialog::Dialog(d) => (&d.peer, d.top_message),
                tl::enums::Dialog::Folder(_) | tl::enums::Dialog::Community(_) => continue,
            };
            let (kind, id) = peer_key(peer);
            let found = match kind {
                "channel" => chats.iter().find_map(|c| match c {
                    tl::enums::Chat::Channel(ch) if ch.id == id => Some(Dialog {
                        kind: if ch.broadcast {
                            DialogKind::Channel
                        } else {
                            DialogKind::Megagroup
                        },
                        id,
                        access_hash: ch.access_hash.unwrap_or_default(),
                        username: ch.username.clone(),
                        title: ch.title.clone(),
                        left: ch.left,
                    }),
                    tl::enums::Chat::ChannelForbidden(ch) if ch.id == id => Some(Dialog {
                        kind: DialogKind::Forbidden,
                        id,
                        access_hash: ch.access_hash,
                        username: None,
                        title: ch.title.clone(),
                        left: false,
                    }),
                    _ => None,
                }),
                "chat" => chats.iter().find_map(|c| match c {
                    tl::enums::Chat::Chat(g) if g.id == id => Some(Dialog {
                        kind: DialogKind::BasicGroup,
                        id,
                        access_hash: 0,
                        username: None,
                        title: g.title.clone(),
                        left: g.left,
                    }),
                    tl::enums::Chat::Forbidden(g) if g.id == id => Some(Dialog {
                        kind: DialogKind::BasicGroup,
                        id,
                        access_hash: 0,
                        username: None,
                        title: g.title.clone(),
                        left: true,
                    }),
                    _ => None,
                }),
                _ => users.iter().find_map(|u| match u {
                    tl::enums::User::User(u) if u.id == id => Some(Dialog {
                        kind: DialogKind::User,
                        id,
                        access_hash: u.access_hash.unwrap_or_default(),
                        username: u.username.clone(),
                        title: u.first_name.clone().unwrap_or_default(),
                        left: false,
                    }),
                    _ => None,
                }),
            };
            // A dialog whose peer the answer did not carry cannot be named: it is skipped, and
            // cannot be paged from either.
            let Some(dialog) = found else { continue };
            let date = messages.iter().find_map(|m| {
                let (mid, mpeer, mdate) = match m {
                    tl::enums::Message::Message(m) => (m.id, &m.peer_id, m.date),
                    tl::enums::Message::Service(m) => (m.id, &m.peer_id, m.date),
                    tl::enums::Message::Empty(_) => return None,
                };
                (mid == top && peer_key(mpeer) == (kind, id)).then_some(mdate)
            });
            if let Some(date) = date {
                last_message = Some((date, top));
            }
            last = Some((
                OffsetPeer {
                    kind: kind.to_string(),
                    id,
                    access_hash: dialog.access_hash,
                },
                top,
            ));
            dialogs.push(dialog);
        }
        let next = match (last, last_message) {
            (Some((peer, top)), Some((date, id))) => Some(DialogsOffset {
                date,
                id: if id == 0 { top } else { id },
                peer: Some(peer),
            }),
            _ => None,
        };
        let total = seen as usize + dialogs.len();
        let next = next.filter(|n| {
            count.is_some()
                && !list.is_empty()
                && n != offset
                && count.is_none_or(|c| total < c.max(0) as usize)
        });
        Ok(DialogsPage {
            dialogs,
            next,
            count,
        })
    }
}
