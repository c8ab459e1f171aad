//! The API layer: unwraps `invokeWithLayer`/`initConnection`, applies key checks, authorization,
//! injected faults and flood limits, and answers the methods a channel parser or an updates loop
//! uses, with Telegram's semantics and errors.

use std::time::{Duration, Instant};

use grammers_tl_types as tl;
use tl::{Deserializable, Identifiable, Serializable};

mod comments;
pub(crate) mod dialogs;

use super::chat::{Chat, channel_message};
use super::counts;
use super::faults::{Fault, PageFaults};
use super::files::{self, Stamp};
use super::flood::wait_seconds;
use super::hub::ConnId;
use super::log::{ClientInit, Outcome, RequestLog};
use super::objects;
use super::shared::{Publish, Shared, unix_now};
use super::state::{ChannelEntry, PendingLogin, Side, SrpChallenge, Standing, read, write};
use super::updates;
use super::world::{HistoryQuery, SimMessage};

/// How long a connection whose key is live on another connection waits for that one to close
/// before the key counts as duplicated (a reconnecting client may open the new connection before
/// the server has read the old one's end).
const DUPLICATE_GRACE: Duration = Duration::from_secs(1);

/// The answer to one API call.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The serialized (boxed) result object.
    Result(Vec<u8>),
    /// An `rpc_error`.
    Error { code: i32, message: String },
    /// Close the connection without answering.
    Disconnect,
}

impl Reply {
    fn err(code: i32, message: impl Into<String>) -> Self {
        Reply::Error {
            code,
            message: message.into(),
        }
    }

    fn ok<T: Serializable>(value: T) -> Self {
        Reply::Result(value.to_bytes())
    }
}

/// Who is calling: the DC the connection serves, the auth key it uses and the connection itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller {
    /// DC id the connection was accepted on.
    pub dc: i32,
    /// The auth key id.
    pub key_id: i64,
    /// The connection (for update subscriptions and key checks).
    pub conn: ConnId,
}

/// Reads everything; lets `InvokeWithLayer<Rest>` parse its header and leave the inner query unread.
struct Rest;

impl Deserializable for Rest {
    fn deserialize(_: &mut tl::Cursor) -> tl::deserialize::Result<Self> {
        Ok(Rest)
    }
}

/// Methods that work before login.
const NO_AUTH: &[&str] = &[
    "help.getConfig",
    "help.getNearestDc",
    "auth.sendCode",
    "auth.signIn",
    "auth.checkPassword",
    "account.getPassword",
    "auth.importAuthorization",
    "auth.exportLoginToken",
    "auth.importLoginToken",
];

fn now_unix() -> i32 {
    unix_now()
}

/// Strips the wrappers a client puts around its first query (`invokeWithLayer`, `initConnection`,
/// `invokeWithoutUpdates`), returning the inner query; what `initConnection` says of the client is
/// recorded in the log.
fn unwrap_query<'a>(log: &RequestLog, mut body: &'a [u8]) -> Result<&'a [u8], Reply> {
    loop {
        let Some(id) = body
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return Err(Reply::err(400, "INPUT_REQUEST_TOO_SHORT"));
        };
        let mut cursor = tl::Cursor::from_slice(&body[4..]);
        let parsed = if id == tl::functions::InvokeWithLayer::<Rest>::CONSTRUCTOR_ID {
            tl::functions::InvokeWithLayer::<Rest>::deserialize(&mut cursor).map(|_| ())
        } else if id == tl::functions::InitConnection::<Rest>::CONSTRUCTOR_ID {
            tl::functions::InitConnection::<Rest>::deserialize(&mut cursor).map(|init| {
                log.record_init(ClientInit {
                    api_id: init.api_id,
                    device_model: init.device_model,
                    system_version: init.system_version,
                    app_version: init.app_version,
                    lang_code: init.lang_code,
                    system_lang_code: init.system_lang_code,
                })
            })
        } else if id == tl::functions::InvokeWithoutUpdates::<Rest>::CONSTRUCTOR_ID {
            Ok(())
        } else {
            return Ok(body);
        };
        parsed.map_err(|_| Reply::err(400, "INPUT_FETCH_ERROR"))?;
        body = &body[4 + cursor.pos()..];
    }
}

/// Answers one API call (already decrypted and unwrapped from containers).
pub(crate) async fn handle(shared: &Shared, caller: Caller, body: &[u8]) -> Reply {
    let query = match unwrap_query(&shared.log, body) {
        Ok(q) => q,
        Err(reply) => return reply,
    };
    let Some(id) = query
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return Reply::err(400, "INPUT_REQUEST_TOO_SHORT");
    };
    // A ping wrapped in initConnection (the first request of a connection) is still a ping.
    if id == tl::functions::PingDelayDisconnect::CONSTRUCTOR_ID {
        let Ok(ping) = tl::functions::PingDelayDisconnect::from_bytes(&query[4..]) else {
            return Reply::err(400, "INPUT_FETCH_ERROR");
        };
        shared
            .hub
            .ping_delay_disconnect(caller.conn, ping.disconnect_delay);
        return pong(ping.ping_id);
    }
    if id == tl::functions::Ping::CONSTRUCTOR_ID {
        return match tl::functions::Ping::from_bytes(&query[4..]) {
            Ok(p) => pong(p.ping_id),
            Err(_) => Reply::err(400, "INPUT_FETCH_ERROR"),
        };
    }
    // A content request: Telegram pushes again to a connection it had stopped pushing to for idling.
    shared.hub.touch(caller.conn);
    let method = tl::name_for_id(id);
    let at = Instant::now();
    let user = shared.world.user_on(caller.key_id, caller.dc);
    let who = user
        .map(|u| shared.world.accounts[u].user_id)
        .unwrap_or(caller.key_id);

    if id == tl::functions::messages::GetDialogs::CONSTRUCTOR_ID
        && let Ok(req) = tl::functions::messages::GetDialogs::from_bytes(&query[4..])
    {
        let me = user.map(|u| shared.world.accounts[u].user_id);
        shared.log.record_dialogs(super::log::DialogsCall {
            at,
            account: who,
            offset_date: req.offset_date,
            offset_id: req.offset_id,
            offset_peer: match &req.offset_peer {
                tl::enums::InputPeer::User(p) => Some(p.user_id),
                tl::enums::InputPeer::Chat(p) => Some(p.chat_id),
                tl::enums::InputPeer::Channel(p) => Some(p.channel_id),
                tl::enums::InputPeer::PeerSelf => me,
                _ => None,
            },
            limit: req.limit,
            folder_id: req.folder_id,
            exclude_pinned: req.exclude_pinned,
        });
    }
    let reply = gate(shared, caller, user, who, method, at).await;
    let reply = match reply {
        Some(r) => r,
        None => dispatch(shared, caller, user, id, &query[4..]).await,
    };
    let outcome = match &reply {
        Reply::Result(_) => Outcome::Ok,
        Reply::Disconnect => Outcome::Dropped,
        Reply::Error { message, .. } => match flood_seconds(message) {
            Some(secs) => Outcome::Flood(secs),
            None => Outcome::Error(message.clone()),
        },
    };
    if let (true, Reply::Error { message, .. }) =
        (id == tl::functions::upload::GetFile::CONSTRUCTOR_ID, &reply)
    {
        shared.files.tally.refused(message);
    }
    shared.log.record(who, method, at, outcome);
    reply
}

/// What a frozen account may still call (whole namespaces end in `.`): reading who it is, its
/// settings and the app config that carries the appeal link, and logging out. Everything else,
/// reading channels and updates included, is `FROZEN_METHOD_INVALID`.
const FROZEN_MAY: &[&str] = &[
    "help.",
    "account.",
    "langpack.",
    "users.getUsers",
    "users.getFullUser",
    "auth.logOut",
];

fn frozen_may(method: &str, allowed: &str) -> bool {
    if allowed.ends_with('.') {
        method.starts_with(allowed)
    } else {
        method == allowed
    }
}

fn flood_seconds(message: &str) -> Option<u32> {
    ["FLOOD_WAIT_", "SLOWMODE_WAIT_"]
        .iter()
        .find_map(|p| message.strip_prefix(p)?.parse().ok())
}

/// Authorization, injected faults and flood control, in Telegram's order; `None` lets the call through.
async fn gate(
    shared: &Shared,
    caller: Caller,
    user: Option<usize>,
    who: i64,
    method: &'static str,
    at: Instant,
) -> Option<Reply> {
    if shared.world.is_revoked(caller.key_id) {
        return Some(Reply::err(406, "AUTH_KEY_DUPLICATED"));
    }
    if shared.strict_keys && shared.hub.rivals_after(caller.conn, DUPLICATE_GRACE).await {
        // Two live connections with different sessions on one key: Telegram revokes the key.
        tracing::warn!(
            dc = caller.dc,
            "sim: an auth key is used by two live connections at once; revoking it"
        );
        shared.world.revoke(caller.key_id);
        return Some(Reply::err(406, "AUTH_KEY_DUPLICATED"));
    }
    if user.is_none() && !NO_AUTH.contains(&method) && method != "auth.logOut" {
        if shared.world.take_ended(caller.key_id) {
            return Some(Reply::err(401, "SESSION_REVOKED"));
        }
        return Some(Reply::err(401, "AUTH_KEY_UNREGISTERED"));
    }
    match user.and_then(|u| shared.world.standing(u)) {
        Some(Standing::Banned) => return Some(Reply::err(401, "USER_DEACTIVATED_BAN")),
        Some(Standing::Frozen) if !FROZEN_MAY.iter().any(|m| frozen_may(method, m)) => {
            return Some(Reply::err(420, "FROZEN_METHOD_INVALID"));
        }
        _ => {}
    }
    if let Some(dc) = user.and_then(|u| shared.world.moved_to(u))
        && dc != caller.dc
        && !method.starts_with("auth.")
        && !method.starts_with("help.")
        // Files are fetched from the DC that holds them, wherever the account lives.
        && !method.starts_with("upload.")
    {
        return Some(Reply::err(303, format!("USER_MIGRATE_{dc}")));
    }
    let account = user.map(|u| shared.world.accounts[u].user_id);
    match shared.faults.pick(method, account) {
        Some(Fault::FloodWait(x)) => return Some(Reply::err(420, format!("FLOOD_WAIT_{x}"))),
        Some(Fault::SlowmodeWait(x)) => return Some(Reply::err(420, format!("SLOWMODE_WAIT_{x}"))),
        Some(Fault::Rpc { code, message }) => return Some(Reply::Error { code, message }),
        Some(Fault::Disconnect) => return Some(Reply::Disconnect),
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Garbled) => return Some(Reply::Result(GARBLED.to_vec())),
        None => {}
    }
    if let Err(refused) = shared.flood.admit(who, method, at) {
        if let (true, Some(u)) = (refused.freeze, user) {
            tracing::warn!(
                account = who,
                "sim: the account kept flooding; Telegram freezes it"
            );
            shared.world.set_standing(u, Some(Standing::Frozen));
        }
        return Some(Reply::err(
            420,
            format!("FLOOD_WAIT_{}", wait_seconds(refused.wait)),
        ));
    }
    None
}

/// The answer to a ping sent as an API call (the msg_id is the server's to fill; clients match the
/// rpc_result by its own).
fn pong(ping_id: i64) -> Reply {
    Reply::ok(tl::enums::Pong::Pong(tl::types::Pong {
        msg_id: 0,
        ping_id,
    }))
}

/// A boxed object whose constructor exists in no layer.
const GARBLED: [u8; 8] = [0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0];

macro_rules! parse {
    ($ty:ty, $body:expr) => {
        match <$ty>::from_bytes($body) {
            Ok(v) => v,
            Err(_) => return Reply::err(400, "INPUT_FETCH_ERROR"),
        }
    };
}

async fn dispatch(
    shared: &Shared,
    caller: Caller,
    user: Option<usize>,
    id: u32,
    body: &[u8],
) -> Reply {
    use tl::functions as f;
    let world = &shared.world;
    match id {
        f::help::GetConfig::CONSTRUCTOR_ID => {
            Reply::ok(objects::config(caller.dc, shared.now(), &shared.dc_addrs))
        }
        f::updates::GetState::CONSTRUCTOR_ID => {
            // From now on this connection gets the account's updates; what a session reset made
            // it miss is forgotten (only getDifference reports it).
            if let Some(u) = user {
                shared.hub.subscribe(caller.conn, u);
                shared.hub.forget_missed(caller.conn);
            }
            let pts = user.map_or(super::state::COMMON_PTS, |u| world.common_pts(u));
            Reply::ok(updates::state(pts, shared.now()))
        }
        f::users::GetUsers::CONSTRUCTOR_ID => {
            let req = parse!(f::users::GetUsers, body);
            let me = user.map(|u| &world.accounts[u]);
            let users: Vec<tl::enums::User> = req
                .id
                .iter()
                .filter_map(|input| match input {
                    tl::enums::InputUser::UserSelf => me.map(|a| objects::user(a, true)),
                    tl::enums::InputUser::User(u) => world
                        .accounts
                        .iter()
                        .find(|a| a.user_id == u.user_id && a.access_hash == u.access_hash)
                        .map(|a| objects::user(a, me.is_some_and(|m| m.user_id == a.user_id))),
                    _ => None,
                })
                .collect();
            Reply::ok(users)
        }
        f::contacts::ResolveUsername::CONSTRUCTOR_ID => {
            let req = parse!(f::contacts::ResolveUsername, body);
            if !valid_username(&req.username) {
                return Reply::err(400, "USERNAME_INVALID");
            }
            let Some(ch) = world.channel_by_username(&req.username) else {
                return Reply::err(400, "USERNAME_NOT_OCCUPIED");
            };
            let ch = read(&ch);
            let spec = ch.history.spec();
            Reply::ok(tl::enums::contacts::ResolvedPeer::Peer(
                tl::types::contacts::ResolvedPeer {
                    peer: tl::enums::Peer::Channel(tl::types::PeerChannel {
                        channel_id: spec.id,
                    }),
                    chats: vec![objects::channel(spec, left_of(&ch, user))],
                    users: vec![],
                },
            ))
        }
        f::channels::GetChannels::CONSTRUCTOR_ID => {
            let req = parse!(f::channels::GetChannels, body);
            let mut chats = Vec::new();
            for input in &req.id {
                match chat_for(shared, user, input, false) {
                    Ok((ch, side)) => {
                        let ch = read(&ch);
                        if let Some(chat) = Chat::of(&ch, side) {
                            chats.push(chat.object(chat.left(user)));
                        }
                    }
                    Err(e) => return e,
                }
            }
            Reply::ok(tl::enums::messages::Chats::Chats(
                tl::types::messages::Chats { chats },
            ))
        }
        f::messages::GetHistory::CONSTRUCTOR_ID => {
            let req = parse!(f::messages::GetHistory, body);
            let input = match &req.peer {
                tl::enums::InputPeer::Channel(c) => {
                    tl::enums::InputChannel::Channel(tl::types::InputChannel {
                        channel_id: c.channel_id,
                        access_hash: c.access_hash,
                    })
                }
                _ => return Reply::err(400, "PEER_ID_INVALID"),
            };
            let ch = match channel_for(shared, user, &input, true) {
                Ok(ch) => ch,
                Err(e) => return e,
            };
            let ch = read(&ch);
            let q = HistoryQuery {
                offset_id: req.offset_id,
                offset_date: req.offset_date,
                add_offset: req.add_offset,
                limit: req.limit,
                max_id: req.max_id,
                min_id: req.min_id,
            };
            let found = ch.history.history(&q);
            let stamp = shared.stamp();
            let messages = match shared.faults.page_faults(user_id(shared, user)) {
                None => found
                    .iter()
                    .map(|m| channel_message(&ch, m, &stamp))
                    .collect(),
                Some(mut pf) => faulty_page(&mut pf, &ch, found, &stamp),
            };
            channel_messages(&ch, user, messages)
        }
        f::messages::GetMessagesViews::CONSTRUCTOR_ID => {
            let req = parse!(f::messages::GetMessagesViews, body);
            let ch = match counted_channel(shared, user, &req.peer, req.id.len()) {
                Ok(ch) => ch,
                Err(e) => return e,
            };
            let ch = read(&ch);
            let (now, grown) = (shared.clock.unix(), shared.counts.grown());
            let spec = ch.history.spec();
            let views = req
                .id
                .iter()
                .map(|&id| match ch.history.post(id) {
                    Some(p) => {
                        let c = counts::current(spec.id, &p, now, grown);
                        tl::types::MessageViews {
                            views: Some(c.views),
                            forwards: Some(c.forwards),
                            replies: ch.discussion.as_ref().and_then(|g| {
                                let r = g.thread.replies(&ch.history, id)?;
                                Some(objects::message_replies(&r, true, g.id()))
                            }),
                        }
                    }
                    // A deleted or unknown id: an entry without counters, in its place.
                    None => tl::types::MessageViews {
                        views: None,
                        forwards: None,
                        replies: None,
                    },
                })
                .map(tl::enums::MessageViews::Views)
                .collect();
            Reply::ok(tl::enums::messages::MessageViews::Views(
                tl::types::messages::MessageViews {
                    views,
                    chats: vec![objects::channel(spec, left_of(&ch, user))],
                    users: vec![],
                },
            ))
        }
        f::messages::GetMessagesReactions::CONSTRUCTOR_ID => {
            let req = parse!(f::messages::GetMessagesReactions, body);
            let ch = match counted_channel(shared, user, &req.peer, req.id.len()) {
                Ok(ch) => ch,
                Err(e) => return e,
            };
            let ch = read(&ch);
            let (now, grown) = (shared.clock.unix(), shared.counts.grown());
            let spec = ch.history.spec();
            let updates = req
                .id
                .iter()
                .filter_map(|&id| {
                    let p = ch.history.post(id)?;
                    let c = counts::current(spec.id, &p, now, grown);
                    Some(objects::message_reactions(spec.id, id, &c.reactions))
                })
                .collect();
            Reply::ok(tl::enums::Updates::Updates(tl::types::Updates {
                updates,
                users: vec![],
                chats: vec![objects::channel(spec, left_of(&ch, user))],
                date: now as i32,
                seq: 0,
            }))
        }
        f::channels::GetMessages::CONSTRUCTOR_ID => {
            let req = parse!(f::channels::GetMessages, body);
            if req.id.len() > 200 {
                return Reply::err(400, "LIMIT_INVALID");
            }
            let (ch, side) = match chat_for(shared, user, &req.channel, true) {
                Ok(found) => found,
                Err(e) => return e,
            };
            let ch = read(&ch);
            let Some(chat) = Chat::of(&ch, side) else {
                return Reply::err(400, "CHANNEL_INVALID");
            };
            let stamp = shared.stamp();
            let mut pf = shared.faults.page_faults(user_id(shared, user));
            let chat_id = chat.id();
            let mut messages: Vec<_> = req
                .id
                .iter()
                .map(|m| match m {
                    tl::enums::InputMessage::Id(m) => match chat.message(m.id, &stamp) {
                        // A post hidden from this account looks deleted to it; a placeholder
                        // fault blanks a message that exists.
                        Some(msg)
                            if pf.as_mut().is_none_or(|pf| {
                                let hidden = chat.is_post(m.id) && pf.hides(chat_id, m.id);
                                !hidden && !pf.blank()
                            }) =>
                        {
                            msg
                        }
                        _ => objects::message_empty(m.id),
                    },
                    _ => objects::message_empty(0),
                })
                .collect();
            if let Some(pf) = pf.as_mut() {
                pf.maybe_dup(&mut messages);
            }
            match chat {
                Chat::Channel(_) => channel_messages(&ch, user, messages),
                Chat::Group(_, g) => {
                    let (chats, users) = chat.peers(&messages, user);
                    Reply::ok(tl::enums::messages::Messages::ChannelMessages(
                        tl::types::messages::ChannelMessages {
                            inexact: false,
                            pts: g.events.pts(),
                            // The group's whole count is not simulated: what it holds of the ids.
                            count: messages.len() as i32,
                            offset_id_offset: None,
                            messages,
                            topics: vec![],
                            chats,
                            users,
                        },
                    ))
                }
            }
        }
        f::updates::GetDifference::CONSTRUCTOR_ID => {
            let req = parse!(f::updates::GetDifference, body);
            if let Some(u) = user {
                shared.hub.subscribe(caller.conn, u);
            }
            let (saved, users, pts) = match user {
                Some(u) => {
                    let me = &world.accounts[u];
                    let saved: Vec<_> = world
                        .saved_after(u, req.pts)
                        .iter()
                        .map(|m| objects::saved_message(me.user_id, m))
                        .collect();
                    let users = if saved.is_empty() {
                        vec![]
                    } else {
                        vec![objects::user(me, true)]
                    };
                    (saved, users, world.common_pts(u))
                }
                None => (vec![], vec![], super::state::COMMON_PTS),
            };
            let too_long = shared.hub.take_too_long(caller.conn);
            let chats = too_long
                .iter()
                .filter_map(|&(id, _)| world.chat_by_id(id))
                .filter_map(|(ch, side)| {
                    let ch = read(&ch);
                    let chat = Chat::of(&ch, side)?;
                    Some(chat.object(chat.left(user)))
                })
                .collect();
            Reply::ok(updates::difference(
                &too_long,
                chats,
                saved,
                users,
                pts,
                shared.now(),
            ))
        }
        f::updates::GetChannelDifference::CONSTRUCTOR_ID => {
            let req = parse!(f::updates::GetChannelDifference, body);
            if req.pts <= 0 {
                return Reply::err(400, "PERSISTENT_TIMESTAMP_INVALID");
            }
            let (ch, side) = match chat_for(shared, user, &req.channel, true) {
                Ok(found) => found,
                Err(e) => return e,
            };
            let ch = read(&ch);
            let Some(chat) = Chat::of(&ch, side) else {
                return Reply::err(400, "CHANNEL_INVALID");
            };
            let mut pf = shared.faults.page_faults(user_id(shared, user));
            Reply::ok(updates::channel_difference(
                chat,
                req.pts,
                req.limit,
                user,
                shared
                    .channel_timeout
                    .load(std::sync::atomic::Ordering::Relaxed),
                pf.as_mut(),
                &shared.stamp(),
            ))
        }
        f::channels::JoinChannel::CONSTRUCTOR_ID => {
            let req = parse!(f::channels::JoinChannel, body);
            let (ch, side) = match chat_for(shared, user, &req.channel, true) {
                Ok(found) => found,
                Err(e) => return e,
            };
            let Some(u) = user else {
                return Reply::err(401, "AUTH_KEY_UNREGISTERED");
            };
            let max = world
                .max_channels
                .load(std::sync::atomic::Ordering::Relaxed);
            let joined = world.channels_joined(u);
            let mut entry = write(&ch);
            if side == Side::Group {
                let Some(g) = entry.discussion.as_mut() else {
                    return Reply::err(400, "CHANNEL_INVALID");
                };
                if g.members.contains(&u) {
                    return Reply::err(400, "USER_ALREADY_PARTICIPANT");
                }
                if joined >= max {
                    return Reply::err(400, "CHANNELS_TOO_MUCH");
                }
                g.members.push(u);
            } else {
                if entry.members.contains(u) {
                    return Reply::err(400, "USER_ALREADY_PARTICIPANT");
                }
                if joined >= max {
                    return Reply::err(400, "CHANNELS_TOO_MUCH");
                }
                entry.members.join(u);
            }
            // This layer wraps the updates in messages.chatInviteJoinResultOk.
            Reply::ok(tl::enums::messages::ChatInviteJoinResult::Ok(
                tl::types::messages::ChatInviteJoinResultOk {
                    updates: membership_updates(&entry, side, false),
                },
            ))
        }
        f::upload::GetFile::CONSTRUCTOR_ID => {
            let req = parse!(f::upload::GetFile, body);
            let Some(u) = user else {
                return Reply::err(401, "AUTH_KEY_UNREGISTERED");
            };
            match files::get_file(shared, caller.dc, u, &req) {
                Ok(file) => {
                    let tl::enums::upload::File::File(f) = &file else {
                        return Reply::ok(file);
                    };
                    shared.files.tally.served(f.bytes.len());
                    Reply::ok(file)
                }
                Err((code, message)) => Reply::Error { code, message },
            }
        }
        f::auth::ExportAuthorization::CONSTRUCTOR_ID => {
            let req = parse!(f::auth::ExportAuthorization, body);
            let Some(u) = user else {
                return Reply::err(401, "AUTH_KEY_UNREGISTERED");
            };
            // Telegram refuses an export to the DC the call is made on.
            if !super::DC_IDS.contains(&req.dc_id) || req.dc_id == caller.dc {
                return Reply::err(400, "DC_ID_INVALID");
            }
            let bytes: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
            super::state::lock(&world.exported).insert(bytes.clone(), (u, req.dc_id));
            Reply::ok(tl::enums::auth::ExportedAuthorization::Authorization(
                tl::types::auth::ExportedAuthorization {
                    id: world.accounts[u].user_id,
                    bytes,
                },
            ))
        }
        f::auth::ImportAuthorization::CONSTRUCTOR_ID => {
            let req = parse!(f::auth::ImportAuthorization, body);
            // Exported bytes are good once, for the account and the DC they were exported for.
            let found = super::state::lock(&world.exported).remove(&req.bytes);
            let Some((u, _)) =
                found.filter(|&(u, dc)| world.accounts[u].user_id == req.id && dc == caller.dc)
            else {
                return Reply::err(400, "AUTH_BYTES_INVALID");
            };
            if world
                .with_key(caller.key_id, |k| {
                    k.logins.set(caller.dc, Some(u));
                    k.pending = None;
                })
                .is_none()
            {
                return Reply::err(401, "AUTH_KEY_UNREGISTERED");
            }
            shared.files.tally.auth_imported();
            authorization(&world.accounts[u])
        }
        f::channels::LeaveChannel::CONSTRUCTOR_ID => {
            let req = parse!(f::channels::LeaveChannel, body);
            let (ch, side) = match chat_for(shared, user, &req.channel, false) {
                Ok(found) => found,
                Err(e) => return e,
            };
            let Some(u) = user else {
                return Reply::err(401, "AUTH_KEY_UNREGISTERED");
            };
            let mut entry = write(&ch);
            if side == Side::Group {
                let Some(g) = entry.discussion.as_mut() else {
                    return Reply::err(400, "CHANNEL_INVALID");
                };
                let Some(at) = g.members.iter().position(|&a| a == u) else {
                    return Reply::err(400, "USER_NOT_PARTICIPANT");
                };
                g.members.remove(at);
            } else {
                if !entry.members.leave(u) {
                    return Reply::err(400, "USER_NOT_PARTICIPANT");
                }
            }
            Reply::ok(membership_updates(&entry, side, true))
        }
        f::messages::GetDialogs::CONSTRUCTOR_ID => {
            let req = parse!(f::messages::GetDialogs, body);
            dialogs::get_dialogs(shared, user, &req)
        }
        f::channels::GetFullChannel::CONSTRUCTOR_ID => {
            let req = parse!(f::channels::GetFullChannel, body);
            comments::get_full_channel(shared, user, &req.channel)
        }
        f::messages::GetReplies::CONSTRUCTOR_ID => {
            let req = parse!(f::messages::GetReplies, body);
            comments::get_replies(shared, user, &req)
        }
        f::messages::GetDiscussionMessage::CONSTRUCTOR_ID => {
            let req = parse!(f::messages::GetDiscussionMessage, body);
            comments::get_discussion_message(shared, user, &req.peer, req.msg_id)
        }
        f::messages::SendMessage::CONSTRUCTOR_ID => {
            let req = parse!(f::messages::SendMessage, body);
            let Some(u) = user else {
                return Reply::err(401, "AUTH_KEY_UNREGISTERED");
            };
            send_message(shared, u, req)
        }
        f::auth::SendCode::CONSTRUCTOR_ID => {
            let req = parse!(f::auth::SendCode, body);
            send_code(shared, caller, &req.phone_number)
        }
        f::auth::SignIn::CONSTRUCTOR_ID => {
            let req = parse!(f::auth::SignIn, body);
            sign_in(shared, caller, &req)
        }
        f::account::GetPassword::CONSTRUCTOR_ID => get_password(shared, caller, user).await,
        f::auth::CheckPassword::CONSTRUCTOR_ID => {
            let req = parse!(f::auth::CheckPassword, body);
            check_password(shared, caller, req).await
        }
        f::auth::ExportLoginToken::CONSTRUCTOR_ID => {
            let req = parse!(f::auth::ExportLoginToken, body);
            if req.api_id <= 0 || req.api_hash.is_empty() {
                return Reply::err(400, "API_ID_INVALID");
            }
            let next = shared
                .login_tokens
                .export(caller.key_id, caller.conn, caller.dc, |a| {
                    home_dc_of(shared, a)
                });
            login_token(shared, caller, next)
        }
        f::auth::ImportLoginToken::CONSTRUCTOR_ID => {
            let req = parse!(f::auth::ImportLoginToken, body);
            let next = shared.login_tokens.import(
                &req.token,
                caller.key_id,
                caller.conn,
                caller.dc,
                |a| home_dc_of(shared, a),
            );
            login_token(shared, caller, next)
        }
        f::auth::LogOut::CONSTRUCTOR_ID => {
            if user.is_none() {
                return Reply::err(401, "AUTH_KEY_UNREGISTERED");
            }
            // The authorizations exported from this login end with it.
            world.with_key(caller.key_id, |k| {
                k.logins.clear();
                k.pending = None;
            });
            Reply::ok(tl::enums::auth::LoggedOut::Out(
                tl::types::auth::LoggedOut {
                    future_auth_token: None,
                },
            ))
        }
        _ => Reply::err(400, format!("INPUT_METHOD_INVALID_{id}")),
    }
}

/// The caller's user id (`None` before login), which page faults hide posts by.
fn user_id(shared: &Shared, user: Option<usize>) -> Option<i64> {
    user.map(|u| shared.world.accounts[u].user_id)
}

/// Whether `m` is a post hidden from the caller (service messages never are).
fn hidden_post(pf: &PageFaults, channel_id: i64, m: &SimMessage) -> bool {
    matches!(m, SimMessage::Post(p) if pf.hides(channel_id, p.id))
}

/// A getHistory page with the page faults applied, in order: posts hidden from the caller are
/// dropped from the window (which still spanned them), the page may be cut to a shorter non-empty
/// prefix, messages may become `messageEmpty` placeholders, and one may be repeated.
fn faulty_page(
    pf: &mut PageFaults,
    ch: &ChannelEntry,
    found: Vec<SimMessage>,
    stamp: &Stamp,
) -> Vec<tl::enums::Message> {
    let channel_id = ch.history.spec().id;
    let mut visible: Vec<SimMessage> = found
        .into_iter()
        .filter(|m| !hidden_post(pf, channel_id, m))
        .collect();
    visible.truncate(pf.page_len(visible.len()));
    let mut page: Vec<_> = visible
        .iter()
        .map(|m| {
            if pf.blank() {
                objects::message_empty(m.id())
            } else {
                channel_message(ch, m, stamp)
            }
        })
        .collect();
    pf.maybe_dup(&mut page);
    page
}

/// Telegram usernames: 5–32 characters, a letter first, then letters, digits and underscores.
/// `messages.sendMessage`. Only the account's own Saved Messages (`inputPeerSelf`, or the account as
/// `inputPeerUser`) can be written to here: broadcast channels refuse non-admins
/// (`CHAT_WRITE_FORBIDDEN`), and the simulated world has no other users.
fn send_message(
    shared: &Shared,
    account: usize,
    req: tl::functions::messages::SendMessage,
) -> Reply {
    let me = &shared.world.accounts[account];
    let mut into = None;
    match &req.peer {
        tl::enums::InputPeer::PeerSelf => {}
        tl::enums::InputPeer::User(p) if p.user_id == me.user_id => {}
        tl::enums::InputPeer::Channel(p) => {
            let input = tl::enums::InputChannel::Channel(tl::types::InputChannel {
                channel_id: p.channel_id,
                access_hash: p.access_hash,
            });
            let (ch, side) = match chat_for(shared, Some(account), &input, true) {
                Ok(found) => found,
                Err(e) => return e,
            };
            // Members write in a supergroup; nobody here administers a broadcast channel (or a
            // discussion group: comments are the simulator's own).
            let writable = side == Side::Channel && {
                let entry = read(&ch);
                entry.history.spec().megagroup && !left_of(&entry, Some(account))
            };
            if !writable {
                return Reply::err(403, "CHAT_WRITE_FORBIDDEN");
            }
            into = Some(ch);
        }
        tl::enums::InputPeer::ChannelFromMessage(_) => {
            return Reply::err(403, "CHAT_WRITE_FORBIDDEN");
        }
        _ => return Reply::err(400, "PEER_ID_INVALID"),
    }
    if req.message.trim().is_empty() {
        return Reply::err(400, "MESSAGE_EMPTY");
    }
    // Telegram's limit, in UTF-16 code units.
    if req.message.encode_utf16().count() > 4096 {
        return Reply::err(400, "MESSAGE_TOO_LONG");
    }
    if let Some(ch) = into {
        // A new message of the supergroup, pushed to its members like any other.
        let Some(id) = shared.publish(&ch, Publish::Text(req.message)) else {
            return Reply::err(500, "INTERNAL");
        };
        return Reply::ok(tl::enums::Updates::Updates(tl::types::Updates {
            updates: vec![tl::enums::Update::MessageId(tl::types::UpdateMessageId {
                id,
                random_id: req.random_id,
            })],
            users: vec![],
            chats: vec![],
            date: now_unix(),
            seq: 0,
        }));
    }
    let date = now_unix();
    let (msg, pts) = shared.world.send_to_self(account, req.message, date);
    Reply::ok(tl::enums::Updates::UpdateShortSentMessage(
        tl::types::UpdateShortSentMessage {
            out: true,
            id: msg.id,
            pts,
            pts_count: 1,
            date,
            media: None,
            entities: None,
            ttl_period: None,
        },
    ))
}

fn valid_username(name: &str) -> bool {
    let n = name.len();
    (4..=32).contains(&n)
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Looks up a channel by input, checking the access hash (`CHANNEL_INVALID`) and, for reads of its
/// content, whether the caller was banned (`CHANNEL_PRIVATE`). A discussion group is
/// `CHANNEL_INVALID` here: only the methods that serve groups look them up ([`chat_for`]).
fn channel_for(
    shared: &Shared,
    user: Option<usize>,
    input: &tl::enums::InputChannel,
    reading: bool,
) -> Result<std::sync::Arc<std::sync::RwLock<super::state::ChannelEntry>>, Reply> {
    match chat_for(shared, user, input, reading)? {
        (ch, Side::Channel) => Ok(ch),
        (_, Side::Group) => Err(Reply::err(400, "CHANNEL_INVALID")),
    }
}

/// Looks up a channel or a discussion group by input, with the checks of [`channel_for`] (a ban
/// from the channel covers its group).
fn chat_for(
    shared: &Shared,
    user: Option<usize>,
    input: &tl::enums::InputChannel,
    reading: bool,
) -> Result<(std::sync::Arc<std::sync::RwLock<ChannelEntry>>, Side), Reply> {
    let tl::enums::InputChannel::Channel(c) = input else {
        return Err(Reply::err(400, "CHANNEL_INVALID"));
    };
    let (ch, side) = shared
        .world
        .chat_by_id(c.channel_id)
        .ok_or_else(|| Reply::err(400, "CHANNEL_INVALID"))?;
    {
        let entry = read(&ch);
        let access_hash = match (side, &entry.discussion) {
            (Side::Group, Some(g)) => g.thread.spec().access_hash,
            _ => entry.history.spec().access_hash,
        };
        if access_hash != c.access_hash {
            return Err(Reply::err(400, "CHANNEL_INVALID"));
        }
        if reading && user.is_some_and(|u| entry.banned.contains(&u)) {
            return Err(Reply::err(400, "CHANNEL_PRIVATE"));
        }
    }
    Ok((ch, side))
}

/// `left` of the channel object for this caller: set when the account is not a member.
fn left_of(ch: &ChannelEntry, user: Option<usize>) -> bool {
    user.is_none_or(|u| !ch.members.contains(u))
}

/// The `updates` of `channels.joinChannel` / `channels.leaveChannel`: `updateChannel` and the
/// channel as the account now sees it.
fn membership_updates(ch: &ChannelEntry, side: Side, left: bool) -> tl::enums::Updates {
    let chat = Chat::of(ch, side).unwrap_or(Chat::Channel(ch));
    tl::enums::Updates::Updates(tl::types::Updates {
        updates: vec![tl::enums::Update::Channel(tl::types::UpdateChannel {
            channel_id: chat.id(),
        })],
        users: vec![],
        chats: vec![chat.object(left)],
        date: now_unix(),
        seq: 0,
    })
}

/// `messages.channelMessages` with the channel's true count (service messages included), as
/// getHistory and getMessages answer.
/// The channel of a counts request (`messages.getMessagesViews`, `getMessagesReactions`): a channel
/// peer this account may read, and at most 100 ids, as Telegram takes them.
fn counted_channel(
    shared: &Shared,
    user: Option<usize>,
    peer: &tl::enums::InputPeer,
    ids: usize,
) -> Result<std::sync::Arc<std::sync::RwLock<ChannelEntry>>, Reply> {
    if ids > 100 {
        return Err(Reply::err(400, "LIMIT_INVALID"));
    }
    let input = match peer {
        tl::enums::InputPeer::Channel(c) => {
            tl::enums::InputChannel::Channel(tl::types::InputChannel {
                channel_id: c.channel_id,
                access_hash: c.access_hash,
            })
        }
        _ => return Err(Reply::err(400, "PEER_ID_INVALID")),
    };
    channel_for(shared, user, &input, true)
}

fn channel_messages(
    ch: &ChannelEntry,
    user: Option<usize>,
    messages: Vec<tl::enums::Message>,
) -> Reply {
    // Posts name the recent repliers of their comments: those users and chats come along.
    let (chats, users) = Chat::Channel(ch).peers(&messages, user);
    Reply::ok(tl::enums::messages::Messages::ChannelMessages(
        tl::types::messages::ChannelMessages {
            inexact: false,
            pts: ch.pts(),
            count: ch.history.count(),
            offset_id_offset: None,
            messages,
            topics: vec![],
            chats,
            users,
        },
    ))
}

fn normalise_phone(p: &str) -> String {
    p.chars().filter(|c| c.is_ascii_digit()).collect()
}

fn send_code(shared: &Shared, caller: Caller, phone: &str) -> Reply {
    let world = &shared.world;
    let wanted = normalise_phone(phone);
    let Some(idx) = world
        .accounts
        .iter()
        .position(|a| normalise_phone(&a.phone) == wanted)
    else {
        return Reply::err(400, "PHONE_NUMBER_INVALID");
    };
    let acc = &world.accounts[idx];
    if acc.home_dc != caller.dc {
        return Reply::err(303, format!("PHONE_MIGRATE_{}", acc.home_dc));
    }
    let hash = format!("{:016x}", rand::random::<u64>());
    let code_len = acc.code.chars().count() as i32;
    let stored = world.with_key(caller.key_id, |k| {
        k.pending = Some(PendingLogin {
            account: idx,
            phone_code_hash: hash.clone(),
            code_ok: false,
            srp: None,
        });
    });
    if stored.is_none() {
        return Reply::err(401, "AUTH_KEY_UNREGISTERED");
    }
    Reply::ok(tl::enums::auth::SentCode::Code(tl::types::auth::SentCode {
        r#type: tl::enums::auth::SentCodeType::App(tl::types::auth::SentCodeTypeApp {
            length: code_len,
        }),
        phone_code_hash: hash,
        next_type: None,
        timeout: None,
    }))
}

fn authorization(acc: &super::state::AccountSpec) -> Reply {
    Reply::ok(authorization_of(acc))
}

/// `auth.authorization` for a login as `acc`.
fn authorization_of(acc: &super::state::AccountSpec) -> tl::enums::auth::Authorization {
    tl::enums::auth::Authorization::Authorization(tl::types::auth::Authorization {
        setup_password_required: false,
        otherwise_relogin_days: None,
        tmp_sessions: None,
        future_auth_token: None,
        user: objects::user(acc, true),
    })
}

/// The DC an account lives on now: where it was moved to, else its own.
fn home_dc_of(shared: &Shared, account: usize) -> i32 {
    shared
        .world
        .moved_to(account)
        .unwrap_or(shared.world.accounts[account].home_dc)
}

/// The answer of `auth.exportLoginToken` / `auth.importLoginToken` (see the `qr` module): a token
/// to show, a migration, or the login itself — `SESSION_PASSWORD_NEEDED` first when the account
/// has a 2FA password, as after a right login code.
fn login_token(shared: &Shared, caller: Caller, next: super::qr::Next) -> Reply {
    use super::qr::Next;
    let world = &shared.world;
    let account = match next {
        Next::Show { token, expires } => {
            return Reply::ok(tl::enums::auth::LoginToken::Token(
                tl::types::auth::LoginToken { expires, token },
            ));
        }
        Next::Migrate { dc, token } => {
            return Reply::ok(tl::enums::auth::LoginToken::MigrateTo(
                tl::types::auth::LoginTokenMigrateTo { dc_id: dc, token },
            ));
        }
        Next::Refused(message) => return Reply::err(400, message),
        Next::LogIn(account) => account,
    };
    let needs_password = world.accounts[account].password.is_some();
    let done = world.with_key(caller.key_id, |k| {
        if needs_password {
            k.pending = Some(PendingLogin {
                account,
                phone_code_hash: String::new(),
                code_ok: true,
                srp: None,
            });
        } else {
            k.logins.set(caller.dc, Some(account));
            k.pending = None;
        }
    });
    if done.is_none() {
        return Reply::err(401, "AUTH_KEY_UNREGISTERED");
    }
    if needs_password {
        return Reply::err(401, "SESSION_PASSWORD_NEEDED");
    }
    Reply::ok(tl::enums::auth::LoginToken::Success(
        tl::types::auth::LoginTokenSuccess {
            authorization: authorization_of(&world.accounts[account]),
        },
    ))
}

fn sign_in(shared: &Shared, caller: Caller, req: &tl::functions::auth::SignIn) -> Reply {
    let world = &shared.world;
    let outcome = world.with_key(caller.key_id, |k| {
        let Some(p) = k.pending.as_mut() else {
            return Err(Reply::err(400, "PHONE_CODE_EXPIRED"));
        };
        let acc = &world.accounts[p.account];
        if p.phone_code_hash != req.phone_code_hash
            || normalise_phone(&acc.phone) != normalise_phone(&req.phone_number)
        {
            return Err(Reply::err(400, "PHONE_CODE_EXPIRED"));
        }
        match req.phone_code.as_deref() {
            None | Some("") => return Err(Reply::err(400, "PHONE_CODE_EMPTY")),
            Some(code) if code != acc.code => return Err(Reply::err(400, "PHONE_CODE_INVALID")),
            Some(_) => {}
        }
        if acc.password.is_some() {
            p.code_ok = true;
            return Err(Reply::err(401, "SESSION_PASSWORD_NEEDED"));
        }
        let idx = p.account;
        k.logins.set(caller.dc, Some(idx));
        k.pending = None;
        Ok(idx)
    });
    match outcome {
        None => Reply::err(401, "AUTH_KEY_UNREGISTERED"),
        Some(Err(reply)) => reply,
        Some(Ok(idx)) => authorization(&world.accounts[idx]),
    }
}

async fn get_password(shared: &Shared, caller: Caller, user: Option<usize>) -> Reply {
    let world = &shared.world;
    let account = world.with_key(caller.key_id, |k| match (&k.pending, user) {
        (Some(p), _) if p.code_ok => Some(p.account),
        (_, Some(u)) => Some(u),
        _ => None,
    });
    let Some(Some(idx)) = account else {
        return Reply::err(401, "AUTH_KEY_UNREGISTERED");
    };
    let acc = world.accounts[idx].clone();
    let challenge = match acc.password.clone() {
        None => None,
        Some(password) => {
            let (salt1, salt2) = objects::srp_salts(&acc);
            // PBKDF2 with 100,000 rounds: keep it off the async workers.
            let srp = tokio::task::spawn_blocking(move || {
                super::srp::Srp::new(
                    password.as_bytes(),
                    &salt1,
                    &salt2,
                    &objects::srp_p(),
                    objects::SRP_G as u32,
                )
            })
            .await;
            let Ok(srp) = srp else {
                return Reply::err(500, "INTERNAL");
            };
            let challenge = SrpChallenge {
                srp_id: rand::random::<i64>(),
                secure_random: (0..256).map(|_| rand::random::<u8>()).collect(),
                srp,
            };
            world.with_key(caller.key_id, |k| {
                if let Some(p) = k.pending.as_mut() {
                    p.srp = Some(challenge.clone());
                }
            });
            Some(challenge)
        }
    };
    let algo = objects::password_algo(&acc);
    let has_password = challenge.is_some();
    let (srp_b, srp_id, secure_random) = match challenge {
        Some(c) => (Some(c.srp.g_b), Some(c.srp_id), c.secure_random),
        None => (None, None, (0..256).map(|_| rand::random::<u8>()).collect()),
    };
    Reply::ok(tl::enums::account::Password::Password(
        tl::types::account::Password {
            has_recovery: false,
            has_secure_values: false,
            has_password,
            current_algo: has_password.then(|| algo.clone()),
            srp_b,
            srp_id,
            hint: None,
            email_unconfirmed_pattern: None,
            new_algo: algo,
            new_secure_algo: tl::enums::SecurePasswordKdfAlgo::Unknown,
            secure_random,
            pending_reset_date: None,
            login_email_pattern: None,
        },
    ))
}

/// Verifies the client's SRP proof by recomputing it from the challenge and the account's password.
async fn check_password(
    shared: &Shared,
    caller: Caller,
    req: tl::functions::auth::CheckPassword,
) -> Reply {
    let world = &shared.world;
    let tl::enums::InputCheckPasswordSrp::Srp(proof) = req.password else {
        return Reply::err(400, "PASSWORD_HASH_INVALID");
    };
    let pending = world
        .with_key(caller.key_id, |k| k.pending.clone())
        .flatten();
    let Some(PendingLogin {
        account,
        code_ok: true,
        srp: Some(srp),
        ..
    }) = pending
    else {
        return Reply::err(400, "PASSWORD_HASH_INVALID");
    };
    if srp.srp_id != proof.srp_id {
        return Reply::err(400, "SRP_ID_INVALID");
    }
    let acc = world.accounts[account].clone();
    if acc.password.is_none() {
        return Reply::err(400, "PASSWORD_HASH_INVALID");
    }
    let (salt1, salt2) = objects::srp_salts(&acc);
    // The SRP check (core.telegram.org/api/srp) with the server's own secret: any client's proof.
    let verified = tokio::task::spawn_blocking(move || {
        srp.srp.verify(
            &salt1,
            &salt2,
            &objects::srp_p(),
            objects::SRP_G as u32,
            &proof.a,
            &proof.m1,
        )
    })
    .await;
    match verified {
        Ok(true) => {}
        Ok(false) => return Reply::err(400, "PASSWORD_HASH_INVALID"),
        Err(_) => return Reply::err(500, "INTERNAL"),
    }
    world.with_key(caller.key_id, |k| {
        k.logins.set(caller.dc, Some(account));
        k.pending = None;
    });
    authorization(&acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_telegram_rules() {
        assert!(valid_username("news_ru"));
        assert!(!valid_username("1news"));
        assert!(!valid_username("ab"));
        assert!(!valid_username("with-dash"));
        assert!(!valid_username(&"x".repeat(33)));
    }

    #[test]
    fn flood_errors_are_recognised() {
        assert_eq!(flood_seconds("FLOOD_WAIT_12"), Some(12));
        assert_eq!(flood_seconds("SLOWMODE_WAIT_3"), Some(3));
        assert_eq!(flood_seconds("INTERNAL"), None);
    }

    #[test]
    fn wrappers_are_unwrapped() {
        let inner = tl::functions::help::GetConfig {};
        let wrapped = tl::functions::InvokeWithLayer {
            layer: tl::LAYER,
            query: tl::functions::InitConnection {
                api_id: 1,
                device_model: "d".into(),
                system_version: "s".into(),
                app_version: "a".into(),
                system_lang_code: "en".into(),
                lang_pack: "".into(),
                lang_code: "en".into(),
                proxy: None,
                params: None,
                query: inner.clone(),
            },
        }
        .to_bytes();
        let log = RequestLog::default();
        assert_eq!(
            unwrap_query(&log, &wrapped).expect("unwrap"),
            inner.to_bytes().as_slice()
        );
        assert_eq!(
            log.client_inits(),
            vec![ClientInit {
                api_id: 1,
                device_model: "d".into(),
                system_version: "s".into(),
                app_version: "a".into(),
                lang_code: "en".into(),
                system_lang_code: "en".into(),
            }]
        );
        assert!(unwrap_query(&log, &[1, 2]).is_err());
    }
}
