//! The client layer's error taxonomy: what callers branch on.
//!
//! Nothing outside `telegram/` matches on RPC error names. A raw grammers [`InvocationError`] is
//! classified once, here, into a flood (wait X seconds), a transient failure (retry with backoff) or a
//! permanent one (stop, with a message that says what to do).
//!
//! Account-level answers are a class of their own: a frozen, banned, logged-out account or a revoked
//! key does not mend by retrying, and retrying is what gets an account from restricted to banned.
//! Only a 420 whose name is a flood is a flood: `FROZEN_METHOD_INVALID` is a 420 too.

use std::time::Duration;

use tgsift_store::AccountState;

use grammers_mtproto::mtp::DeserializeError;
use grammers_mtsender::InvocationError;

/// What one failed call means for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// `FLOOD_WAIT_X`, `FLOOD_PREMIUM_WAIT_X` or `SLOWMODE_WAIT_X`: the same call may be sent again
    /// after X seconds.
    Flood(u32),
    /// The connection or the server failed; the same call may succeed if retried.
    Transient(String),
    /// An RPC error tgsift does not know: retried a few times with backoff, then reported, so the
    /// caller can park the work and try again later rather than give up on it for good.
    Unknown { code: i32, name: String },
    /// The answer arrived but could not be decoded: retrying at once would get the same bytes.
    Undecodable(String),
    /// Retrying cannot help.
    Permanent(Permanent),
    /// `USER_MIGRATE_X`/`NETWORK_MIGRATE_X` after login: the account now lives on DC X; the call
    /// succeeds there once the authorization is copied over.
    Migrate(i32),
}

/// Permanent failures with their meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Permanent {
    /// The account cannot be used any more, in this state, with Telegram's error name.
    Account(AccountState, String),
    /// A join Telegram refuses for good (`CHANNELS_TOO_MUCH`, `INVITE_REQUEST_SENT`…).
    Join(String),
    /// The channel cannot be read (`CHANNEL_PRIVATE`, `CHANNEL_INVALID`).
    Channel(String),
    /// The username does not exist or is malformed (`USERNAME_NOT_OCCUPIED`, `USERNAME_INVALID`).
    Username(String),
    /// A file download's own error (`FILE_MIGRATE_X`, `FILE_REFERENCE_EXPIRED`, `LIMIT_INVALID`…):
    /// Telegram's name and its number, for the downloader to act on.
    File(String, Option<u32>),
    /// The message named does not have what was asked (`MSG_ID_INVALID`: no such message, or a post
    /// without a comment section).
    Message(String),
    /// A local problem (session storage, bad DC).
    Local(String),
}

/// The account state an RPC error means, if it is about the account rather than the call.
fn account_state(code: i32, name: &str) -> Option<AccountState> {
    match name {
        "AUTH_KEY_DUPLICATED" => Some(AccountState::KeyRevoked),
        "USER_DEACTIVATED_BAN" | "USER_DEACTIVATED" | "PHONE_NUMBER_BANNED" => {
            Some(AccountState::Banned)
        }
        _ if name.starts_with("FROZEN_") => Some(AccountState::Frozen),
        "AUTH_KEY_UNREGISTERED"
        | "AUTH_KEY_INVALID"
        | "AUTH_KEY_PERM_EMPTY"
        | "SESSION_REVOKED"
        | "SESSION_EXPIRED" => Some(AccountState::LoggedOut),
        // Any other 401 but the login step that asks for the 2FA password.
        _ if code == 401 && name != "SESSION_PASSWORD_NEEDED" => Some(AccountState::LoggedOut),
        _ => None,
    }
}

/// Whether an RPC error (by its name without the number) is a flood: only these are waited out.
fn is_flood(r: &grammers_mtsender::RpcError) -> bool {
    r.is("FLOOD_WAIT") || r.is("FLOOD_PREMIUM_WAIT") || r.is("SLOWMODE_WAIT")
}

/// Joins Telegram refuses for good: too many channels, or a request an admin must approve.
const JOIN_REFUSED: &[&str] = &[
    "CHANNELS_TOO_MUCH",
    "USER_CHANNELS_TOO_MUCH",
    "INVITE_REQUEST_SENT",
];

impl Class {
    /// A short name for metrics.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Class::Flood(_) => "flood",
            Class::Transient(_) => "transient",
            Class::Unknown { .. } => "unknown",
            Class::Undecodable(_) => "undecodable",
            Class::Permanent(_) => "permanent",
            Class::Migrate(_) => "migrate",
        }
    }
}

/// Classifies a grammers error.
pub(crate) fn classify(e: &InvocationError) -> Class {
    match e {
        InvocationError::Rpc(r) => {
            if let Some(state) = account_state(r.code, &r.name) {
                return Class::Permanent(Permanent::Account(
                    state,
                    format!("{} {}", r.code, r.name),
                ));
            }
            if is_flood(r) {
                return Class::Flood(r.value.unwrap_or(1));
            }
            if r.name.starts_with("FILE_")
                || matches!(
                    r.name.as_str(),
                    "LIMIT_INVALID" | "OFFSET_INVALID" | "LOCATION_INVALID"
                )
            {
                return Class::Permanent(Permanent::File(r.name.clone(), r.value));
            }
            if r.code == 303
                && let (Some(dc), "USER_MIGRATE" | "NETWORK_MIGRATE") = (r.value, r.name.as_str())
            {
                return Class::Migrate(dc as i32);
            }
            if JOIN_REFUSED.contains(&r.name.as_str()) {
                return Class::Permanent(Permanent::Join(r.name.clone()));
            }
            if r.code == 500
                || r.code == -503
                || r.is("*_ERROR")
                || r.name == "RPC_CALL_FAIL"
                || r.name == "TIMEOUT"
            {
                return Class::Transient(format!("{} {}", r.code, r.name));
            }
            match r.name.as_str() {
                "CHANNEL_PRIVATE" | "CHANNEL_INVALID" | "CHANNEL_PUBLIC_GROUP_NA" => {
                    Class::Permanent(Permanent::Channel(r.name.clone()))
                }
                "USERNAME_NOT_OCCUPIED" | "USERNAME_INVALID" => {
                    Class::Permanent(Permanent::Username(r.name.clone()))
                }
                "MSG_ID_INVALID" => Class::Permanent(Permanent::Message(r.name.clone())),
                _ => Class::Unknown {
                    code: r.code,
                    name: r.name.clone(),
                },
            }
        }
        InvocationError::Io(err) => Class::Transient(format!("connection: {err}")),
        InvocationError::Transport(err) => Class::Transient(format!("transport: {err}")),
        // A body that does not parse fails only its own request: the same bytes would come again.
        // Broken framing or crypto kills the connection instead, which a reconnect may cure.
        InvocationError::Deserialize(
            err @ (DeserializeError::UnexpectedConstructor { .. }
            | DeserializeError::MessageBufferTooSmall
            | DeserializeError::DecompressionFailed),
        ) => Class::Undecodable(err.to_string()),
        InvocationError::Deserialize(err) => Class::Transient(format!("bad response: {err}")),
        InvocationError::Dropped(why) => Class::Transient(format!("request dropped: {why}")),
        InvocationError::Authentication(err) => Class::Transient(format!("authentication: {err}")),
        InvocationError::InvalidDc => {
            Class::Permanent(Permanent::Local("no address for the DC".into()))
        }
        InvocationError::Session(err) => {
            Class::Permanent(Permanent::Local(format!("session storage: {err}")))
        }
    }
}

/// An error from the client layer, typed for the callers (ingest, onboarding, CLI).
#[derive(Clone, Debug, thiserror::Error)]
pub enum TgError {
    /// A FLOOD_WAIT longer than the threshold (or one too many): park the work until now + `seconds`.
    #[error("FLOOD_WAIT of {seconds} s on {method} for account {account}: parked until it ends")]
    FloodWait {
        account: String,
        method: &'static str,
        seconds: u32,
    },
    /// tgsift's own budget of a method Telegram punishes hard (resolveUsername, joinChannel) is used
    /// up for now: nothing is sent before it allows.
    #[error(
        "account {account} has used its budget of {method} for now (see telegram.resolve_per_day / join_per_day): next call in {seconds} s"
    )]
    Budget {
        account: String,
        method: &'static str,
        seconds: u32,
    },
    /// Telegram refuses the account itself (logged out, key revoked, frozen, banned): it is stopped
    /// until its owner acts, because retrying cannot help and can make it worse.
    #[error("account {account} is {state} ({reason}): {}", what_to_do(account, *state))]
    AccountStopped {
        account: String,
        state: AccountState,
        reason: String,
    },
    /// Telegram refuses to let the account join a channel, for a reason retrying cannot change.
    #[error(
        "account {account} cannot join {channel} ({reason}): {}",
        join_advice(reason)
    )]
    JoinRefused {
        account: String,
        channel: String,
        reason: String,
    },
    /// The channel cannot be read by this account.
    #[error(
        "channel {channel} cannot be read by account {account} ({reason}): check the link or the account's access"
    )]
    Channel {
        account: String,
        channel: String,
        reason: String,
    },
    /// The username does not exist.
    #[error("@{username} does not exist on Telegram ({reason}): check the spelling")]
    Username { username: String, reason: String },
    /// Connection errors, 500s or timeouts persisted through every retry.
    #[error("{method} failed for account {account} after {attempts} attempts: {last}")]
    Exhausted {
        account: String,
        method: &'static str,
        attempts: u32,
        last: String,
    },
    /// The account's circuit breaker is open after repeated connection failures.
    #[error(
        "account {account}: Telegram unreachable after {failures} consecutive failures; next try in {} s",
        retry_in.as_secs_f64().ceil()
    )]
    CircuitOpen {
        account: String,
        failures: u32,
        retry_in: Duration,
    },
    /// An RPC error tgsift does not know, still there after a few retries.
    #[error("{method} failed for account {account}: {code} {name}")]
    Rpc {
        account: String,
        method: &'static str,
        code: i32,
        name: String,
    },
    /// Telegram's answer could not be decoded (a layer mismatch or a broken object).
    #[error("{method} for account {account}: the answer could not be decoded ({reason})")]
    Undecodable {
        account: String,
        method: &'static str,
        reason: String,
    },
    /// Telegram refused a file download (`FILE_MIGRATE` with the file's DC, an expired file
    /// reference, a bad offset): the downloader decides what follows.
    #[error("upload.getFile for account {account}: {name}{}", value.map(|v| format!("_{v}")).unwrap_or_default())]
    File {
        account: String,
        name: String,
        value: Option<u32>,
    },
    /// The message named has no such thing (`MSG_ID_INVALID`): a post without a comment section,
    /// a message that is not there. Asking again cannot help.
    #[error("account {account}: Telegram has no such message ({name})")]
    NoSuchMessage { account: String, name: String },
    /// A local problem: session file, lease, configuration.
    #[error("account {account}: {message}")]
    Local { account: String, message: String },
    /// Shutdown was requested while waiting.
    #[error("cancelled")]
    Cancelled,
}

/// What the owner of an account stopped in `state` can do, for errors, alerts and listings.
pub fn what_to_do(account: &str, state: AccountState) -> String {
    match state {
        AccountState::Active => "nothing to do".into(),
        AccountState::LoggedOut => format!(
            "the session was ended (from another device, or never completed); log in again with `tgsift account add {account} --phone …`"
        ),
        AccountState::KeyRevoked => format!(
            "Telegram revoked the session's key because it was used from two places at once; log in again with `tgsift account add {account} --phone …`, and never run one session in two processes or on two hosts"
        ),
        AccountState::Frozen => format!(
            "Telegram froze the account: it can read nothing until it is unfrozen. Open Telegram's official app on that account and follow its appeal link, wait for the answer, then run `tgsift account check {account}`; nothing calls Telegram for it until then"
        ),
        AccountState::Banned => format!(
            "Telegram banned the account; it cannot be used again. Appeal to Telegram from the official app if you think it is a mistake; its stored posts stay, and `tgsift account remove {account}` forgets it"
        ),
    }
}

fn join_advice(reason: &str) -> &'static str {
    match reason {
        "INVITE_REQUEST_SENT" => {
            "the channel approves members by hand: a request was sent; add the channel again once an admin accepts it"
        }
        _ => {
            "the account is in as many channels as Telegram allows (500); leave some in the official app or add the channel to another account"
        }
    }
}

impl TgError {
    /// Whether retrying later (after a park or a cool-down) can help.
    pub(crate) fn is_temporary(&self) -> bool {
        matches!(
            self,
            TgError::FloodWait { .. }
                | TgError::Budget { .. }
                | TgError::Exhausted { .. }
                | TgError::CircuitOpen { .. }
                | TgError::Rpc { .. }
                | TgError::Undecodable { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_mtsender::RpcError;

    fn rpc(code: i32, msg: &str) -> InvocationError {
        InvocationError::Rpc(RpcError::from(grammers_tl_types::types::RpcError {
            error_code: code,
            error_message: msg.into(),
        }))
    }

    #[test]
    fn errors_are_classified_like_telegram_means_them() {
        assert_eq!(classify(&rpc(420, "FLOOD_WAIT_17")), Class::Flood(17));
        assert_eq!(classify(&rpc(420, "SLOWMODE_WAIT_3")), Class::Flood(3));
        assert_eq!(classify(&rpc(420, "FLOOD_PREMIUM_WAIT_5")), Class::Flood(5));
        // A 420 that is not named a flood is not waited out.
        assert_eq!(
            classify(&rpc(420, "FROZEN_METHOD_INVALID")),
            Class::Permanent(Permanent::Account(
                AccountState::Frozen,
                "420 FROZEN_METHOD_INVALID".into()
            ))
        );
        assert!(matches!(
            classify(&rpc(420, "SOMETHING_NEW")),
            Class::Unknown { code: 420, .. }
        ));
        for (code, name, state) in [
            (400, "FROZEN_PARTICIPANT_MISSING", AccountState::Frozen),
            (406, "AUTH_KEY_DUPLICATED", AccountState::KeyRevoked),
            (401, "USER_DEACTIVATED_BAN", AccountState::Banned),
            (400, "PHONE_NUMBER_BANNED", AccountState::Banned),
            (401, "AUTH_KEY_UNREGISTERED", AccountState::LoggedOut),
            (401, "SESSION_REVOKED", AccountState::LoggedOut),
            (401, "SOME_NEW_REFUSAL", AccountState::LoggedOut),
        ] {
            assert_eq!(
                classify(&rpc(code, name)),
                Class::Permanent(Permanent::Account(state, format!("{code} {name}"))),
                "{name}"
            );
        }
        assert!(matches!(
            classify(&rpc(401, "SESSION_PASSWORD_NEEDED")),
            Class::Unknown { .. }
        ));
        for name in [
            "CHANNELS_TOO_MUCH",
            "USER_CHANNELS_TOO_MUCH",
            "INVITE_REQUEST_SENT",
        ] {
            assert_eq!(
                classify(&rpc(400, name)),
                Class::Permanent(Permanent::Join(name.into()))
            );
        }
        assert!(matches!(
            classify(&rpc(500, "INTERNAL")),
            Class::Transient(_)
        ));
        assert!(matches!(
            classify(&rpc(500, "RPC_CALL_FAIL")),
            Class::Transient(_)
        ));
        assert!(matches!(
            classify(&rpc(400, "CHANNEL_PRIVATE")),
            Class::Permanent(Permanent::Channel(_))
        ));
        assert!(matches!(
            classify(&rpc(400, "USERNAME_INVALID")),
            Class::Permanent(Permanent::Username(_))
        ));
        assert_eq!(
            classify(&rpc(400, "SOME_NEW_REFUSAL")),
            Class::Unknown {
                code: 400,
                name: "SOME_NEW_REFUSAL".into()
            }
        );
        assert!(matches!(
            classify(&InvocationError::Deserialize(
                DeserializeError::UnexpectedConstructor { id: 7 }
            )),
            Class::Undecodable(_)
        ));
        let io = InvocationError::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "read 0 bytes",
        ));
        assert!(matches!(classify(&io), Class::Transient(_)));
        assert!(matches!(
            classify(&InvocationError::Dropped("x")),
            Class::Transient(_)
        ));
    }
}
