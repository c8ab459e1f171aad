//! Auth keys at rest in a shared database, sealed with ChaCha20-Poly1305 under `TGSIFT_SESSION_KEY`.
//!
//! A PostgreSQL store is read by every worker and often backed up elsewhere, so the auth keys it holds
//! (each one is a full login to a Telegram account) are encrypted with a key that lives only in the
//! workers' environment. A sealed value is `1 ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`; the
//! associated data names the account and DC, so a sealed key copied to another row does not open.
//! The key's id (8 bytes of a SHA-256 over it) is stored beside a session, so a worker started with a
//! different key is told so instead of failing to decrypt.

use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// The environment variable that holds the session key.
pub const SESSION_KEY_ENV: &str = "TGSIFT_SESSION_KEY";

/// Format version of a sealed value.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// Why there is no usable session key.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `TGSIFT_SESSION_KEY` is not set.
    #[error(
        "{SESSION_KEY_ENV} is not set: a PostgreSQL store keeps the accounts' auth keys encrypted with \
         it and refuses to hold sessions without it; generate one with `openssl rand -base64 32`, \
         give every worker the same value, and keep a copy (sessions cannot be read without it)"
    )]
    Missing,
    /// It is set but is not 32 bytes in base64 or hex.
    #[error(
        "{SESSION_KEY_ENV} must be 32 random bytes written as base64 (44 characters) or hex (64), but \
         it {0}; generate one with `openssl rand -base64 32`"
    )]
    Malformed(&'static str),
}

/// Why a sealed value did not open.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Too short, or a format version this build does not know.
    #[error("the sealed value is not in tgsift's format")]
    Format,
    /// The tag did not verify: another key, another row's value, or damaged bytes.
    #[error("the sealed value does not open with this {SESSION_KEY_ENV} (wrong key, or damaged)")]
    Tag,
}

/// The key that seals auth keys; its bytes are never printed.
#[derive(Clone)]
pub struct SessionKey {
    cipher: ChaCha20Poly1305,
    id: [u8; 8],
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey")
            .field("id", &hex(&self.id))
            .finish_non_exhaustive()
    }
}

impl SessionKey {
    /// The key from `TGSIFT_SESSION_KEY`.
    pub(crate) fn from_env() -> Result<Self, KeyError> {
        match std::env::var(SESSION_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::parse(&text),
            Ok(_) => Err(KeyError::Malformed("is empty")),
            Err(std::env::VarError::NotPresent) => Err(KeyError::Missing),
            Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::Malformed("is not text")),
        }
    }

    /// A key written as base64 (standard alphabet, padded or not) or as 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..KEY_LEN)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| KeyError::Malformed("is not hex"))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                .map_err(|_| KeyError::Malformed("is neither base64 nor hex"))?
        };
        let bytes: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| KeyError::Malformed("does not decode to 32 bytes"))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A key from its 32 bytes.
    pub(crate) fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"tgsift session key id\0")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        SessionKey {
            cipher: ChaCha20Poly1305::new(&Key::from(*bytes)),
            id,
        }
    }

    /// Names the key without revealing it: stored beside sessions to tell a wrong key from damage.
    pub fn id(&self) -> [u8; 8] {
        self.id
    }

    /// Seals `plain`, bound to `context` (which must be given again to open it).
    pub(crate) fn seal(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            // ChaCha20-Poly1305 fails only for messages beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value [`SessionKey::seal`] made with this key and `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(SealError::Format);
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Format)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Tag)
    }
}

/// Lower-case hex, for key ids in messages.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SessionKey {
        SessionKey::from_bytes(&[seed; KEY_LEN])
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let plain = [0xABu8; 256];
        let sealed = key(1).seal(b"acct/2", &plain);
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 256 + TAG_LEN);
        assert_eq!(sealed[0], VERSION);
        assert!(
            !sealed.windows(16).any(|w| w == [0xAB; 16]),
            "no plaintext in the output"
        );
        assert_eq!(key(1).open(b"acct/2", &sealed).expect("open"), plain);
        assert_eq!(key(2).open(b"acct/2", &sealed), Err(SealError::Tag));
        assert_eq!(key(1).open(b"acct/4", &sealed), Err(SealError::Tag));
        let mut flipped = sealed.clone();
        flipped[40] ^= 1;
        assert_eq!(key(1).open(b"acct/2", &flipped), Err(SealError::Tag));
        assert_eq!(
            key(1).open(b"acct/2", &sealed[..20]),
            Err(SealError::Format)
        );
        let mut future = sealed;
        future[0] = 2;
        assert_eq!(key(1).open(b"acct/2", &future), Err(SealError::Format));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let k = key(3);
        assert_ne!(k.seal(b"c", b"same"), k.seal(b"c", b"same"));
    }

    #[test]
    fn keys_parse_from_base64_and_hex_and_bad_ones_are_named() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let from_b64 = SessionKey::parse(&b64).expect("base64");
        let from_hex = SessionKey::parse(&hex(&bytes)).expect("hex");
        let unpadded = SessionKey::parse(b64.trim_end_matches('=')).expect("unpadded");
        assert_eq!(from_b64.id(), from_hex.id());
        assert_eq!(from_b64.id(), unpadded.id());
        let sealed = from_b64.seal(b"x", b"secret");
        assert_eq!(from_hex.open(b"x", &sealed).expect("same key"), b"secret");
        assert_ne!(from_b64.id(), key(0).id());

        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert_eq!(
            SessionKey::parse(&short).map(|k| k.id()),
            Err(KeyError::Malformed("does not decode to 32 bytes"))
        );
        assert_eq!(
            SessionKey::parse("not a key!").map(|k| k.id()),
            Err(KeyError::Malformed("is neither base64 nor hex"))
        );
        let missing = KeyError::Missing.to_string();
        assert!(
            missing.contains(SESSION_KEY_ENV) && missing.contains("openssl rand"),
            "{missing}"
        );
    }

    #[test]
    fn debug_shows_the_id_only() {
        let k = key(7);
        let shown = format!("{k:?}");
        assert!(shown.contains(&hex(&k.id())), "{shown}");
        assert!(!shown.contains("0707"), "{shown}");
    }
}
