//! Where messages for a person go: a webhook (POST JSON), the sending account's Saved Messages, or a
//! Telegram chat by `@username`. Alerts ([`crate::alerts`]) and watches ([`crate::watches`]) deliver
//! through these; each decides itself when to retry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use grammers_tl_types as tl;

use crate::telegram::client::Account;

/// Telegram's limit on a message's text, in UTF-16 code units.
pub(crate) const MESSAGE_LIMIT: usize = 4096;

/// A watch's sink, as `--sink` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Sink {
    /// `webhook:URL`: POST JSON to an http(s) URL.
    Webhook(String),
    /// `saved-messages`: the sending account's Saved Messages.
    SavedMessages,
    /// `telegram:@chat`: a chat, group or channel the sending account may write to.
    Chat(String),
}

impl Sink {
    /// Reads a sink; the error says which forms there are.
    pub(crate) fn parse(s: &str) -> Result<Sink, String> {
        let s = s.trim();
        if s == "saved-messages" {
            return Ok(Sink::SavedMessages);
        }
        if let Some(url) = s.strip_prefix("webhook:") {
            let parsed = url::Url::parse(url)
                .map_err(|e| format!("sink `{s}`: `{url}` is not a URL ({e})"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(format!(
                    "sink `{s}`: a webhook needs an http:// or https:// URL with a host"
                ));
            }
            return Ok(Sink::Webhook(url.to_string()));
        }
        if let Some(chat) = s.strip_prefix("telegram:") {
            let name = chat.strip_prefix('@').unwrap_or(chat);
            let valid = (4..=32).contains(&name.len())
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "sink `{s}`: `{chat}` is not a Telegram @username (4–32 letters, digits, _)"
                ));
            }
            return Ok(Sink::Chat(name.to_string()));
        }
        Err(format!(
            "sink `{s}` is not one of webhook:URL, saved-messages, telegram:@chat"
        ))
    }

    /// Whether delivering needs a Telegram account.
    pub(crate) fn on_telegram(&self) -> bool {
        !matches!(self, Sink::Webhook(_))
    }
}

/// An HTTP client for webhooks: short timeouts, so a sink that hangs costs one attempt, not a task.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// POSTs `body` to `url`; any 2xx is delivered.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let resp = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("webhook: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("webhook answered {}", resp.status()))
    }
}

/// Sends `text` to `peer` as `account` (no link preview).
pub(crate) async fn send_text(
    account: &Account,
    peer: tl::enums::InputPeer,
    text: String,
) -> Result<(), String> {
    account
        .invoke(&tl::functions::messages::SendMessage {
            no_webpage: true,
            silent: false,
            background: false,
            clear_draft: false,
            noforwards: false,
            update_stickersets_order: false,
            invert_media: false,
            allow_paid_floodskip: false,
            peer,
            reply_to: None,
            message: text,
            random_id: rand::random(),
            reply_markup: None,
            entities: None,
            schedule_date: None,
            schedule_repeat_period: None,
            send_as: None,
            quick_reply_shortcut: None,
            effect: None,
            allow_paid_stars: None,
            suggested_post: None,
            rich_message: None,
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Chats resolved by `@username`, per account: `contacts.resolveUsername` is the call Telegram limits
/// most harshly, so each chat is resolved once per process and account.
#[derive(Default)]
pub(crate) struct Chats {
    known: Mutex<HashMap<(i64, String), tl::enums::InputPeer>>,
}

impl Chats {
    /// The peer `@name` is for `account` (row id `account_id`).
    pub(crate) async fn peer(
        &self,
        account_id: i64,
        account: &Account,
        name: &str,
    ) -> Result<tl::enums::InputPeer, String> {
        let key = (account_id, name.to_lowercase());
        if let Some(p) = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(p.clone());
        }
        let resolved = account
            .invoke(&tl::functions::contacts::ResolveUsername {
                username: name.to_string(),
                referer: None,
            })
            .await
            .map_err(|e| format!("resolving @{name}: {e}"))?;
        let tl::enums::contacts::ResolvedPeer::Peer(r) = resolved;
        let peer = match &r.peer {
            tl::enums::Peer::Channel(c) => r.chats.iter().find_map(|ch| match ch {
                tl::enums::Chat::Channel(ch) if ch.id == c.channel_id => {
                    Some(tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
                        channel_id: ch.id,
                        access_hash: ch.access_hash.unwrap_or(0),
                    }))
                }
                _ => None,
            }),
            tl::enums::Peer::User(u) => r.users.iter().find_map(|us| match us {
                tl::enums::User::User(us) if us.id == u.user_id => {
                    Some(tl::enums::InputPeer::User(tl::types::InputPeerUser {
                        user_id: us.id,
                        access_hash: us.access_hash.unwrap_or(0),
                    }))
                }
                _ => None,
            }),
            tl::enums::Peer::Chat(c) => {
                Some(tl::enums::InputPeer::Chat(tl::types::InputPeerChat {
                    chat_id: c.chat_id,
                }))
            }
        }
        .ok_or_else(|| format!("@{name} resolved to nothing to write to"))?;
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, peer.clone());
        Ok(peer)
    }
}

/// Splits `text` into messages within Telegram's limit, at line breaks where it can.
pub(crate) fn split_message(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let units = |s: &str| s.encode_utf16().count();
    for line in text.split_inclusive('\n') {
        if units(&current) + units(line) > MESSAGE_LIMIT && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if units(line) > MESSAGE_LIMIT {
            // One line longer than a message: cut it by characters.
            for c in line.chars() {
                if units(&current) + c.len_utf16() > MESSAGE_LIMIT {
                    out.push(std::mem::take(&mut current));
                }
                current.push(c);
            }
        } else {
            current.push_str(line);
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_read_their_three_forms_and_name_what_is_wrong() {
        assert_eq!(Sink::parse("saved-messages"), Ok(Sink::SavedMessages));
        assert_eq!(
            Sink::parse("webhook:http://127.0.0.1:9/hook"),
            Ok(Sink::Webhook("http://127.0.0.1:9/hook".into()))
        );
        assert_eq!(
            Sink::parse("telegram:@Rates_Desk"),
            Ok(Sink::Chat("Rates_Desk".into()))
        );
        for (bad, says) in [
            ("webhook:ftp://x/y", "http:// or https://"),
            ("webhook:nope", "is not a URL"),
            ("telegram:@ab", "not a Telegram @username"),
            ("email:me@example.com", "is not one of"),
        ] {
            let e = Sink::parse(bad).expect_err(bad);
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn long_messages_are_split_within_the_limit_at_line_breaks() {
        let line = format!("{}\n", "я".repeat(1000));
        let text = line.repeat(9);
        let parts = split_message(&text);
        assert_eq!(parts.len(), 3);
        assert!(
            parts
                .iter()
                .all(|p| p.encode_utf16().count() <= MESSAGE_LIMIT)
        );
        assert_eq!(parts.concat(), text);
        let one = "x".repeat(MESSAGE_LIMIT * 2 + 5);
        let parts = split_message(&one);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            [4096, 4096, 5]
        );
    }
}
