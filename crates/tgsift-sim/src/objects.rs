//! Builders of the TL objects the simulator sends: users, channels, messages (posts and service
//! messages), dialogs, config, 2FA parameters; [`media`] builds the media of posts.
//!
//! The generated TL structs have no `Default`, so every field is spelled out once here, with the values
//! Telegram itself sends for a broadcast channel and a regular user.

mod discussion;
mod media;

pub(crate) use discussion::{channel_full, comment, commenter, copy, megagroup, message_replies};
pub(crate) use media::photo_sizes;

use grammers_tl_types as tl;

use super::files::Stamp;
use super::state::AccountSpec;
use super::world::{ChannelSpec, ServiceAction, SimMessage, SimPost, SimService};

/// Telegram's 2048-bit safe prime for 2FA (SRP), used with generator 3.
pub(crate) const SRP_P_HEX: &str = "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f642477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b";
/// The SRP generator.
pub(crate) const SRP_G: i32 = 3;

/// The SRP prime as bytes.
pub(crate) fn srp_p() -> Vec<u8> {
    (0..SRP_P_HEX.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&SRP_P_HEX[i..i + 2], 16).ok())
        .collect()
}

/// The account's 2FA salts, fixed per account as on Telegram (they change only with the password).
pub(crate) fn srp_salts(acc: &AccountSpec) -> (Vec<u8>, Vec<u8>) {
    use sha2::Digest;
    let h =
        |tag: &[u8]| sha2::Sha256::digest([&acc.user_id.to_le_bytes()[..], tag].concat()).to_vec();
    (h(b"salt1"), h(b"salt2")[..16].to_vec())
}

/// The KDF algorithm description sent in `account.password`.
pub(crate) fn password_algo(acc: &AccountSpec) -> tl::enums::PasswordKdfAlgo {
    let (salt1, salt2) = srp_salts(acc);
    tl::enums::PasswordKdfAlgo::Sha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow(
        tl::types::PasswordKdfAlgoSha256Sha256Pbkdf2Hmacsha512iter100000Sha256ModPow {
            salt1,
            salt2,
            g: SRP_G,
            p: srp_p(),
        },
    )
}

/// A user object; `is_self` marks the account the key is logged in as.
pub(crate) fn user(acc: &AccountSpec, is_self: bool) -> tl::enums::User {
    user_object(
        acc.user_id,
        acc.access_hash,
        &acc.first_name,
        is_self.then(|| acc.phone.trim_start_matches('+').to_string()),
        is_self,
    )
}

/// A regular user (not a bot) with this id, access hash and first name; `phone` only for the
/// account itself.
pub(crate) fn user_object(
    id: i64,
    access_hash: i64,
    first_name: &str,
    phone: Option<String>,
    is_self: bool,
) -> tl::enums::User {
    tl::enums::User::User(tl::types::User {
        is_self,
        contact: false,
        mutual_contact: false,
        deleted: false,
        bot: false,
        bot_chat_history: false,
        bot_nochats: false,
        verified: false,
        restricted: false,
        min: false,
        bot_inline_geo: false,
        support: false,
        scam: false,
        apply_min_photo: false,
        fake: false,
        bot_attach_menu: false,
        premium: false,
        attach_menu_enabled: false,
        bot_can_edit: false,
        close_friend: false,
        stories_hidden: false,
        stories_unavailable: false,
        contact_require_premium: false,
        bot_business: false,
        bot_has_main_app: false,
        bot_forum_view: false,
        bot_forum_can_manage_topics: false,
        bot_can_manage_bots: false,
        bot_guestchat: false,
        bot_guard: false,
        id,
        access_hash: Some(access_hash),
        first_name: Some(first_name.to_string()),
        last_name: None,
        username: None,
        phone,
        photo: None,
        status: None,
        bot_info_version: None,
        restriction_reason: None,
        bot_inline_placeholder: None,
        lang_code: None,
        emoji_status: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        bot_active_users: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_community_id: None,
    })
}

/// A broadcast channel object (a megagroup for a spec that is one) with its access hash (never
/// `min`); `left` when the account asking is not a member; `has_link` when it has a discussion group.
pub(crate) fn channel(spec: &ChannelSpec, left: bool) -> tl::enums::Chat {
    tl::enums::Chat::Channel(tl::types::Channel {
        creator: false,
        left,
        broadcast: !spec.megagroup,
        verified: false,
        megagroup: spec.megagroup,
        restricted: false,
        signatures: false,
        min: false,
        scam: false,
        has_link: spec.discussion.is_some(),
        has_geo: false,
        slowmode_enabled: false,
        call_active: false,
        call_not_empty: false,
        fake: false,
        gigagroup: false,
        noforwards: false,
        join_to_send: false,
        join_request: false,
        forum: false,
        stories_hidden: false,
        stories_hidden_min: false,
        stories_unavailable: false,
        signature_profiles: false,
        autotranslation: false,
        broadcast_messages_allowed: false,
        monoforum: false,
        forum_tabs: false,
        id: spec.id,
        access_hash: Some(spec.access_hash),
        title: spec.title.clone(),
        username: spec.username.clone(),
        photo: tl::enums::ChatPhoto::Empty,
        date: spec.start_date,
        restriction_reason: None,
        admin_rights: None,
        banned_rights: None,
        default_banned_rights: None,
        participants_count: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        emoji_status: None,
        level: None,
        subscription_until_date: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_monoforum_id: None,
        linked_community_id: None,
    })
}

/// Any channel message: a post or a service message; file references are issued with `stamp`.
pub(crate) fn message_of(channel_id: i64, m: &SimMessage, stamp: &Stamp) -> tl::enums::Message {
    match m {
        SimMessage::Post(p) => message(channel_id, p, stamp),
        SimMessage::Service(s) => service_message(channel_id, s),
    }
}

/// A channel's service message, as `messageService` with `post: true` (pins reply to the pinned
/// message, as Telegram sends them).
pub(crate) fn service_message(channel_id: i64, s: &SimService) -> tl::enums::Message {
    use tl::enums::MessageAction as A;
    let mut reply_to = None;
    let action = match &s.action {
        ServiceAction::ChannelCreate { title } => {
            A::ChannelCreate(tl::types::MessageActionChannelCreate {
                title: title.clone(),
            })
        }
        ServiceAction::PinMessage { pinned } => {
            reply_to = Some(tl::enums::MessageReplyHeader::Header(
                tl::types::MessageReplyHeader {
                    reply_to_scheduled: false,
                    forum_topic: false,
                    quote: false,
                    reply_to_ephemeral: false,
                    reply_to_msg_id: Some(*pinned),
                    reply_to_peer_id: None,
                    reply_from: None,
                    reply_media: None,
                    reply_to_top_id: None,
                    quote_text: None,
                    quote_entities: None,
                    quote_offset: None,
                    todo_item_id: None,
                    poll_option: None,
                },
            ));
            A::PinMessage
        }
        ServiceAction::EditTitle { title } => {
            A::ChatEditTitle(tl::types::MessageActionChatEditTitle {
                title: title.clone(),
            })
        }
        ServiceAction::EditPhoto { photo_id } => {
            A::ChatEditPhoto(tl::types::MessageActionChatEditPhoto {
                photo: tl::enums::Photo::Empty(tl::types::PhotoEmpty { id: *photo_id }),
            })
        }
        ServiceAction::GroupCall { call_id, duration } => {
            A::GroupCall(tl::types::MessageActionGroupCall {
                call: tl::enums::InputGroupCall::Call(tl::types::InputGroupCall {
                    id: *call_id,
                    access_hash: call_id.rotate_left(17),
                }),
                duration: *duration,
            })
        }
    };
    tl::enums::Message::Service(tl::types::MessageService {
        out: false,
        mentioned: false,
        media_unread: false,
        reactions_are_possible: false,
        silent: false,
        post: true,
        legacy: false,
        id: s.id,
        from_id: None,
        peer_id: tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id }),
        saved_peer_id: None,
        reply_to,
        date: s.date,
        action,
        reactions: None,
        ttl_period: None,
    })
}

/// The account's dialog with a channel, as `channelDifferenceTooLong` carries it: its newest
/// message and the channel's pts.
pub(crate) fn dialog(channel_id: i64, top_message: i32, pts: i32) -> tl::enums::Dialog {
    tl::enums::Dialog::Dialog(tl::types::Dialog {
        pinned: false,
        unread_mark: false,
        view_forum_as_messages: false,
        peer: tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id }),
        top_message,
        read_inbox_max_id: top_message,
        read_outbox_max_id: 0,
        unread_count: 0,
        unread_mentions_count: 0,
        unread_reactions_count: 0,
        unread_poll_votes_count: 0,
        notify_settings: tl::enums::PeerNotifySettings::Settings(tl::types::PeerNotifySettings {
            show_previews: None,
            silent: None,
            mute_until: None,
            ios_sound: None,
            android_sound: None,
            other_sound: None,
            stories_muted: None,
            stories_hide_sender: None,
            stories_ios_sound: None,
            stories_android_sound: None,
            stories_other_sound: None,
        }),
        pts: Some(pts),
        draft: None,
        folder_id: None,
        ttl_period: None,
    })
}

/// A channel post as `message#…` with `post: true`; its file reference is issued with `stamp`.
pub(crate) fn message(channel_id: i64, p: &SimPost, stamp: &Stamp) -> tl::enums::Message {
    let media = p
        .media
        .as_ref()
        .map(|m| media::message_media(channel_id, p.id, p.date, m, stamp));
    message_with(channel_id, p, media)
}

/// A channel post carrying `media` (built by the caller).
pub(crate) fn message_with(
    channel_id: i64,
    p: &SimPost,
    media: Option<tl::enums::MessageMedia>,
) -> tl::enums::Message {
    tl::enums::Message::Message(tl::types::Message {
        out: false,
        mentioned: false,
        media_unread: false,
        silent: false,
        post: true,
        from_scheduled: false,
        legacy: false,
        edit_hide: false,
        pinned: false,
        noforwards: false,
        invert_media: false,
        offline: false,
        video_processing_pending: false,
        paid_suggested_post_stars: false,
        paid_suggested_post_ton: false,
        id: p.id,
        from_id: None,
        from_boosts_applied: None,
        from_rank: None,
        peer_id: tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id }),
        saved_peer_id: None,
        fwd_from: None,
        via_bot_id: None,
        via_business_bot_id: None,
        guestchat_via_from: None,
        reply_to: None,
        date: p.date,
        message: p.text.clone(),
        media,
        reply_markup: None,
        entities: None,
        // views and forwards share one flag bit: always set both.
        views: Some(p.views),
        forwards: Some(p.forwards),
        replies: None,
        edit_date: p.edit_date,
        post_author: None,
        grouped_id: p.grouped_id,
        reactions: None,
        restriction_reason: None,
        ttl_period: None,
        quick_reply_shortcut_id: None,
        effect: None,
        factcheck: None,
        report_delivery_until_date: None,
        paid_message_stars: None,
        suggested_post: None,
        schedule_repeat_period: None,
        summary_from_language: None,
        rich_message: None,
    })
}

/// `updateMessageReactions` of a channel post: its reactions per emoji, as
/// `messages.getMessagesReactions` answers them.
pub(crate) fn message_reactions(
    channel_id: i64,
    msg_id: i32,
    reactions: &[(String, i32)],
) -> tl::enums::Update {
    tl::enums::Update::MessageReactions(tl::types::UpdateMessageReactions {
        peer: tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id }),
        msg_id,
        top_msg_id: None,
        saved_peer_id: None,
        reactions: tl::enums::MessageReactions::Reactions(tl::types::MessageReactions {
            min: false,
            can_see_list: false,
            reactions_as_tags: false,
            results: reactions
                .iter()
                .map(|(emoticon, count)| {
                    tl::enums::ReactionCount::Count(tl::types::ReactionCount {
                        chosen_order: None,
                        reaction: tl::enums::Reaction::Emoji(tl::types::ReactionEmoji {
                            emoticon: emoticon.clone(),
                        }),
                        count: *count,
                    })
                })
                .collect(),
            recent_reactions: None,
            top_reactors: None,
        }),
    })
}

/// A message the account sent to its own Saved Messages: outgoing, in the chat with itself.
pub(crate) fn saved_message(user_id: i64, m: &super::state::SavedMessage) -> tl::enums::Message {
    let p = SimPost {
        id: m.id,
        date: m.date,
        edit_date: None,
        text: m.text.clone(),
        media: None,
        grouped_id: None,
        views: 0,
        forwards: 0,
    };
    match message_with(0, &p, None) {
        tl::enums::Message::Message(mut msg) => {
            msg.out = true;
            msg.post = false;
            msg.views = None;
            msg.forwards = None;
            msg.peer_id = tl::enums::Peer::User(tl::types::PeerUser { user_id });
            tl::enums::Message::Message(msg)
        }
        other => other,
    }
}

/// What Telegram returns for a deleted or never-existing message id.
pub(crate) fn message_empty(id: i32) -> tl::enums::Message {
    tl::enums::Message::Empty(tl::types::MessageEmpty { id, peer_id: None })
}

/// `help.getConfig`'s answer. `dc_options` lists every DC's address, none of them `static`: grammers
/// takes only static options into its session (and keeps the addresses it was given), Telethon finds
/// the DC of a file there before it exports its authorization to it.
pub(crate) fn config(
    this_dc: i32,
    now: i32,
    dcs: &std::collections::BTreeMap<i32, std::net::SocketAddr>,
) -> tl::enums::Config {
    let dc_options = dcs
        .iter()
        .map(|(&id, addr)| {
            tl::enums::DcOption::Option(tl::types::DcOption {
                ipv6: addr.is_ipv6(),
                media_only: false,
                tcpo_only: false,
                cdn: false,
                r#static: false,
                this_port_only: false,
                id,
                ip_address: addr.ip().to_string(),
                port: i32::from(addr.port()),
                secret: None,
            })
        })
        .collect();
    tl::enums::Config::Config(tl::types::Config {
        default_p2p_contacts: false,
        preload_featured_stickers: false,
        revoke_pm_inbox: true,
        blocked_mode: false,
        force_try_ipv6: false,
        date: now,
        expires: now + 3600,
        test_mode: false,
        this_dc,
        dc_options,
        dc_txt_domain_name: "sim.tgsift.invalid".into(),
        chat_size_max: 200,
        megagroup_size_max: 200_000,
        forwarded_count_max: 100,
        online_update_period_ms: 210_000,
        offline_blur_timeout_ms: 5_000,
        offline_idle_timeout_ms: 30_000,
        online_cloud_timeout_ms: 300_000,
        notify_cloud_delay_ms: 30_000,
        notify_default_delay_ms: 1_500,
        push_chat_period_ms: 60_000,
        push_chat_limit: 2,
        edit_time_limit: 172_800,
        revoke_time_limit: i32::MAX,
        revoke_pm_time_limit: i32::MAX,
        rating_e_decay: 2_419_200,
        stickers_recent_limit: 200,
        channels_read_media_period: 604_800,
        tmp_sessions: None,
        call_receive_timeout_ms: 20_000,
        call_ring_timeout_ms: 90_000,
        call_connect_timeout_ms: 30_000,
        call_packet_timeout_ms: 10_000,
        me_url_prefix: "https://t.me/".into(),
        autoupdate_url_prefix: None,
        gif_search_username: None,
        venue_search_username: None,
        img_search_username: None,
        static_maps_provider: None,
        caption_length_max: 1024,
        message_length_max: 4096,
        webfile_dc_id: 4,
        suggested_lang_code: None,
        lang_pack_version: None,
        base_lang_pack_version: None,
        reactions_default: None,
        autologin_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lists_every_dc_and_none_as_static() {
        let dcs = (1..=5)
            .map(|dc| {
                (
                    dc,
                    std::net::SocketAddr::from(([127, 0, 0, 1], 4000 + dc as u16)),
                )
            })
            .collect();
        let tl::enums::Config::Config(c) = config(2, 1_700_000_000, &dcs);
        assert_eq!(c.this_dc, 2);
        let options: Vec<(i32, String, i32, bool)> = c
            .dc_options
            .iter()
            .map(|tl::enums::DcOption::Option(o)| (o.id, o.ip_address.clone(), o.port, o.r#static))
            .collect();
        assert_eq!(
            options,
            (1..=5)
                .map(|dc| (dc, "127.0.0.1".to_string(), 4000 + dc, false))
                .collect::<Vec<_>>()
        );
    }
}
