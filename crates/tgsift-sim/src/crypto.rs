//! The server side of MTProto 2.0 encryption: decrypts what the client sends (x = 0) and encrypts what it
//! receives (x = 8).
//!
//! grammers-crypto only ships the client's half (`encrypt_data_v2` is client→server and `decrypt_data_v2`
//! server→client), and its `calc_key` is private, so the ~50 lines of the
//! [MTProto 2.0 scheme](https://core.telegram.org/mtproto/description#defining-aes-key-and-initialization-vector)
//! are re-implemented here on top of its public AES-IGE. The tests check both directions against grammers'
//! own functions.

use std::fmt;

use grammers_crypto::aes::{ige_decrypt, ige_encrypt};
use rand::Rng;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// `auth_key_id` (8) and `msg_key` (16) precede the ciphertext.
const HEADER_LEN: usize = 8 + 16;
/// salt, session_id, msg_id, seq_no and the body length: the plaintext header of every message.
const PLAIN_HEADER_LEN: usize = 8 + 8 + 8 + 4 + 4;
/// Least padding MTProto 2.0 allows.
const MIN_PADDING: usize = 12;
/// Most padding MTProto 2.0 allows.
const MAX_PADDING: usize = 1024;
/// The shortest packet that can hold a message: the plaintext header, a constructor id and minimum padding,
/// rounded up to a block.
const MIN_PACKET_LEN: usize =
    HEADER_LEN + (PLAIN_HEADER_LEN + 4 + MIN_PADDING).next_multiple_of(16);

/// A 256-byte MTProto auth key as the server holds it.
#[derive(Clone)]
pub struct ServerKey {
    bytes: [u8; 256],
    id: i64,
}

impl ServerKey {
    /// Wraps key bytes shared with a client session (the simulator pre-seeds keys instead of running DH).
    pub fn from_bytes(bytes: [u8; 256]) -> Self {
        let sha = Sha1::digest(bytes);
        let mut id = [0; 8];
        id.copy_from_slice(&sha[12..20]);
        Self {
            bytes,
            id: i64::from_le_bytes(id),
        }
    }

    /// A fresh random key, for a new simulated session.
    pub fn generate() -> Self {
        let mut bytes = [0; 256];
        rand::rng().fill(&mut bytes[..]);
        Self::from_bytes(bytes)
    }

    /// The raw key, to hand to the client's session storage.
    pub fn bytes(&self) -> &[u8; 256] {
        &self.bytes
    }

    /// `auth_key_id`: SHA1(key)[12..20] read little-endian, exactly as it leads every encrypted packet.
    pub fn id(&self) -> i64 {
        self.id
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key material: it would decrypt every logged session.
        f.debug_struct("ServerKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why an encrypted packet from the client was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CryptoError {
    /// The packet cannot even hold the headers and a minimal message.
    #[error("encrypted packet too short ({0} bytes)")]
    TooShort(usize),
    /// The ciphertext is not a whole number of AES blocks.
    #[error("encrypted packet length {0} is not 24 + a multiple of 16")]
    BadLength(usize),
    /// The packet names another auth key than the one it was checked against.
    #[error("auth_key_id mismatch: expected {expected:#018x}, got {got:#018x}")]
    KeyIdMismatch {
        /// Id of the key the server used.
        expected: i64,
        /// Id carried by the packet.
        got: i64,
    },
    /// The msg_key does not match the decrypted plaintext: tampered, or encrypted with another key.
    #[error("msg_key mismatch")]
    MsgKeyMismatch,
    /// The message length field leaves a padding outside 12..=1024 bytes (or runs past the packet).
    #[error(
        "message length {len} does not fit a {plaintext}-byte plaintext with 12..=1024 bytes of padding"
    )]
    BadMessageLength {
        /// The length field of the message.
        len: i32,
        /// Size of the decrypted plaintext.
        plaintext: usize,
    },
}

/// Reads the auth_key_id of an encrypted packet (its first 8 bytes), so the server can pick the key.
pub(crate) fn packet_key_id(packet: &[u8]) -> Result<i64, CryptoError> {
    match packet.first_chunk::<8>() {
        Some(id) => Ok(i64::from_le_bytes(*id)),
        None => Err(CryptoError::TooShort(packet.len())),
    }
}

/// Decrypts a client→server packet (x = 0), checking key id, msg_key and the padding length; returns the
/// plaintext (salt|session_id|msg_id|seq_no|len|body|padding), whose `len` field is then known to fit.
pub(crate) fn decrypt_from_client(key: &ServerKey, packet: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if packet.len() < MIN_PACKET_LEN {
        return Err(CryptoError::TooShort(packet.len()));
    }
    if !(packet.len() - HEADER_LEN).is_multiple_of(16) {
        return Err(CryptoError::BadLength(packet.len()));
    }
    let got = packet_key_id(packet)?;
    if got != key.id {
        return Err(CryptoError::KeyIdMismatch {
            expected: key.id,
            got,
        });
    }
    let mut msg_key = [0; 16];
    msg_key.copy_from_slice(&packet[8..HEADER_LEN]);
    let (aes_key, aes_iv) = calc_key(key, &msg_key, 0);
    let mut plaintext = packet[HEADER_LEN..].to_vec();
    ige_decrypt(&mut plaintext, &aes_key, &aes_iv);
    if msg_key_for(key, 0, &plaintext) != msg_key {
        return Err(CryptoError::MsgKeyMismatch);
    }
    let mut len = [0; 4];
    len.copy_from_slice(&plaintext[PLAIN_HEADER_LEN - 4..PLAIN_HEADER_LEN]);
    let len = i32::from_le_bytes(len);
    let padding = usize::try_from(len)
        .ok()
        .and_then(|l| (plaintext.len() - PLAIN_HEADER_LEN).checked_sub(l));
    if !padding.is_some_and(|p| (MIN_PADDING..=MAX_PADDING).contains(&p)) {
        return Err(CryptoError::BadMessageLength {
            len,
            plaintext: plaintext.len(),
        });
    }
    Ok(plaintext)
}

/// Encrypts a server→client plaintext (x = 8), padding it with 12..=1024 random bytes to a multiple of 16.
pub(crate) fn encrypt_to_client(key: &ServerKey, plaintext: &[u8]) -> Vec<u8> {
    let mut rng = rand::rng();
    let min_padding = MIN_PADDING + (16 - (plaintext.len() + MIN_PADDING) % 16) % 16;
    let padding = min_padding + 16 * rng.random_range(0..=(MAX_PADDING - min_padding) / 16);

    let mut packet = Vec::with_capacity(HEADER_LEN + plaintext.len() + padding);
    packet.extend_from_slice(&key.id.to_le_bytes());
    packet.extend_from_slice(&[0; 16]);
    packet.extend_from_slice(plaintext);
    let start = packet.len();
    packet.resize(start + padding, 0);
    rng.fill(&mut packet[start..]);

    let msg_key = msg_key_for(key, 8, &packet[HEADER_LEN..]);
    packet[8..HEADER_LEN].copy_from_slice(&msg_key);
    let (aes_key, aes_iv) = calc_key(key, &msg_key, 8);
    ige_encrypt(&mut packet[HEADER_LEN..], &aes_key, &aes_iv);
    packet
}

/// msg_key = SHA256(auth_key[88+x..120+x] ‖ plaintext ‖ padding)[8..24].
fn msg_key_for(key: &ServerKey, x: usize, padded: &[u8]) -> [u8; 16] {
    let large = Sha256::new()
        .chain_update(&key.bytes[88 + x..120 + x])
        .chain_update(padded)
        .finalize();
    let mut msg_key = [0; 16];
    msg_key.copy_from_slice(&large[8..24]);
    msg_key
}

/// The AES-IGE key and iv for a message: x = 0 client→server, x = 8 server→client.
fn calc_key(key: &ServerKey, msg_key: &[u8; 16], x: usize) -> ([u8; 32], [u8; 32]) {
    let a = Sha256::new()
        .chain_update(msg_key)
        .chain_update(&key.bytes[x..x + 36])
        .finalize();
    let b = Sha256::new()
        .chain_update(&key.bytes[40 + x..76 + x])
        .chain_update(msg_key)
        .finalize();
    let mut aes_key = [0; 32];
    aes_key[..8].copy_from_slice(&a[..8]);
    aes_key[8..24].copy_from_slice(&b[8..24]);
    aes_key[24..].copy_from_slice(&a[24..]);
    let mut aes_iv = [0; 32];
    aes_iv[..8].copy_from_slice(&b[..8]);
    aes_iv[8..24].copy_from_slice(&a[8..24]);
    aes_iv[24..].copy_from_slice(&b[24..]);
    (aes_key, aes_iv)
}

#[cfg(test)]
mod tests {
    use grammers_crypto::{AuthKey, DequeBuffer, decrypt_data_v2, encrypt_data_v2};

    use super::*;

    fn key() -> ServerKey {
        let mut bytes = [0; 256];
        bytes
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (i * 7 + 3) as u8);
        ServerKey::from_bytes(bytes)
    }

    /// A well-formed message plaintext without padding: salt, session, msg_id, seq_no, len, body.
    fn message(body_len: usize) -> Vec<u8> {
        let mut plain = Vec::new();
        plain.extend_from_slice(&0x1122_3344_5566_7788_i64.to_le_bytes());
        plain.extend_from_slice(&(-42_i64).to_le_bytes());
        plain.extend_from_slice(&(0x6000_0000_0000_0004_i64).to_le_bytes());
        plain.extend_from_slice(&1_i32.to_le_bytes());
        plain.extend_from_slice(&(body_len as i32).to_le_bytes());
        plain.extend((0..body_len).map(|i| i as u8));
        plain
    }

    /// Encrypts like the grammers client does (x = 0, 17..=32 bytes of padding).
    fn client_encrypt(key: &ServerKey, plain: &[u8]) -> Vec<u8> {
        let mut buffer = DequeBuffer::with_capacity(plain.len() + 64, 32);
        buffer.extend(plain.iter().copied());
        encrypt_data_v2(&mut buffer, &AuthKey::from_bytes(*key.bytes()));
        buffer[..].to_vec()
    }

    #[test]
    fn key_id_matches_grammers() {
        // grammers' own test vector (CR/auth_key.rs): key bytes 0, 1, 2, … give this key_id on the wire.
        let mut bytes = [0; 256];
        bytes.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let expected = [50, 209, 88, 110, 164, 87, 223, 200];
        assert_eq!(
            ServerKey::from_bytes(bytes).id(),
            i64::from_le_bytes(expected)
        );
        // And the id leads every packet the grammers client sends.
        let key = key();
        let packet = client_encrypt(&key, &message(4));
        assert_eq!(packet_key_id(&packet), Ok(key.id()));
    }

    #[test]
    fn debug_hides_the_key_bytes() {
        let key = ServerKey::from_bytes([0xab; 256]);
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.id().to_string()), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(!shown.to_lowercase().contains("ab, ab"), "{shown}");
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (ServerKey::generate(), ServerKey::generate());
        assert_ne!(a.bytes(), b.bytes());
        assert_eq!(a.id(), ServerKey::from_bytes(*a.bytes()).id());
    }

    #[test]
    fn decrypts_what_grammers_client_encrypts() {
        let key = key();
        for body_len in [4, 8, 12, 16, 100, 1000, 4096] {
            let plain = message(body_len);
            let packet = client_encrypt(&key, &plain);
            let decrypted = decrypt_from_client(&key, &packet).unwrap();
            assert_eq!(&decrypted[..plain.len()], &plain[..], "body_len {body_len}");
            assert!((17..=32).contains(&(decrypted.len() - plain.len())));
        }
    }

    #[test]
    fn grammers_client_decrypts_what_server_encrypts() {
        let key = key();
        let auth_key = AuthKey::from_bytes(*key.bytes());
        for body_len in [0, 4, 8, 12, 16, 20, 100, 1000, 4096] {
            let plain = message(body_len);
            for _ in 0..8 {
                let mut packet = encrypt_to_client(&key, &plain);
                assert_eq!(packet_key_id(&packet), Ok(key.id()));
                let decrypted = decrypt_data_v2(&mut packet, &auth_key).unwrap();
                assert_eq!(&decrypted[..plain.len()], &plain[..]);
                let padding = decrypted.len() - plain.len();
                assert!((12..=1024).contains(&padding), "padding {padding}");
                assert_eq!(decrypted.len() % 16, 0);
            }
        }
    }

    #[test]
    fn padding_length_varies() {
        let key = key();
        let lens: std::collections::HashSet<usize> = (0..64)
            .map(|_| encrypt_to_client(&key, &message(8)).len())
            .collect();
        assert!(lens.len() > 4, "{lens:?}");
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let key = key();
        let packet = client_encrypt(&key, &message(40));
        for i in 0..packet.len() {
            let mut bad = packet.clone();
            bad[i] ^= 0x01;
            let err = decrypt_from_client(&key, &bad).unwrap_err();
            if i < 8 {
                assert!(
                    matches!(err, CryptoError::KeyIdMismatch { .. }),
                    "byte {i}: {err:?}"
                );
            } else {
                assert_eq!(err, CryptoError::MsgKeyMismatch, "byte {i}");
            }
        }
    }

    #[test]
    fn wrong_key_is_a_key_id_mismatch() {
        let (key, other) = (key(), ServerKey::generate());
        let packet = client_encrypt(&key, &message(40));
        assert_eq!(
            decrypt_from_client(&other, &packet),
            Err(CryptoError::KeyIdMismatch {
                expected: other.id(),
                got: key.id()
            })
        );
        // The same key bytes with a forged id in front still fail, on msg_key.
        let mut forged = client_encrypt(&other, &message(40));
        forged[..8].copy_from_slice(&key.id().to_le_bytes());
        assert_eq!(
            decrypt_from_client(&key, &forged),
            Err(CryptoError::MsgKeyMismatch)
        );
    }

    #[test]
    fn short_and_unaligned_packets_are_errors() {
        let key = key();
        assert_eq!(packet_key_id(&[1, 2, 3]), Err(CryptoError::TooShort(3)));
        assert_eq!(
            decrypt_from_client(&key, &[]),
            Err(CryptoError::TooShort(0))
        );
        assert_eq!(
            decrypt_from_client(&key, &[0; 71]),
            Err(CryptoError::TooShort(71))
        );
        let packet = client_encrypt(&key, &message(40));
        assert_eq!(
            decrypt_from_client(&key, &packet[..packet.len() - 1]),
            Err(CryptoError::BadLength(packet.len() - 1))
        );
        let mut longer = packet.clone();
        longer.extend_from_slice(&[0; 8]);
        assert_eq!(
            decrypt_from_client(&key, &longer),
            Err(CryptoError::BadLength(packet.len() + 8))
        );
    }

    #[test]
    fn message_length_must_leave_valid_padding() {
        let key = key();
        // Encrypts as a client would (x = 0) but with zero padding up to the next block only, so the
        // test picks the exact padding (grammers always adds 17..=32 bytes).
        let client_packet = |plain: &[u8]| {
            let mut padded = plain.to_vec();
            padded.resize(plain.len().next_multiple_of(16), 0);
            let msg_key = msg_key_for(&key, 0, &padded);
            let (k, iv) = calc_key(&key, &msg_key, 0);
            ige_encrypt(&mut padded, &k, &iv);
            let mut packet = key.id().to_le_bytes().to_vec();
            packet.extend_from_slice(&msg_key);
            packet.extend_from_slice(&padded);
            packet
        };
        // Length field claims more than the plaintext holds.
        let mut plain = message(16);
        plain[28..32].copy_from_slice(&1000_i32.to_le_bytes());
        plain.resize(64, 0);
        assert!(matches!(
            decrypt_from_client(&key, &client_packet(&plain)),
            Err(CryptoError::BadMessageLength { len: 1000, .. })
        ));
        // Negative length.
        plain[28..32].copy_from_slice(&(-4_i32).to_le_bytes());
        assert!(matches!(
            decrypt_from_client(&key, &client_packet(&plain)),
            Err(CryptoError::BadMessageLength { len: -4, .. })
        ));
        // Padding of only 8 bytes (too little): 32 + 24 + 8 = 64.
        plain[28..32].copy_from_slice(&24_i32.to_le_bytes());
        assert!(matches!(
            decrypt_from_client(&key, &client_packet(&plain)),
            Err(CryptoError::BadMessageLength { len: 24, .. })
        ));
        // Exactly 12 bytes of padding is fine: 32 + 20 + 12 = 64.
        plain[28..32].copy_from_slice(&20_i32.to_le_bytes());
        assert!(decrypt_from_client(&key, &client_packet(&plain)).is_ok());
        // More than 1024 bytes of padding is not.
        let mut plain = message(4);
        plain.resize(32 + 4 + 1040, 0);
        assert!(matches!(
            decrypt_from_client(&key, &client_packet(&plain)),
            Err(CryptoError::BadMessageLength { len: 4, .. })
        ));
    }

    #[test]
    fn random_buffers_never_panic() {
        let key = key();
        let mut rng = rand::rng();
        let valid = client_encrypt(&key, &message(64));
        for i in 0..5000 {
            let len = rng.random_range(0..300);
            let mut buf = vec![0; len];
            rng.fill(&mut buf[..]);
            if i % 2 == 0 && len >= 8 {
                // Half of them carry the right key id so they reach the AES and msg_key stages.
                buf[..8].copy_from_slice(&key.id().to_le_bytes());
            }
            assert!(decrypt_from_client(&key, &buf).is_err());
            let _ = packet_key_id(&buf);
        }
        // Truncations of a valid packet, too.
        for len in 0..valid.len() {
            assert!(decrypt_from_client(&key, &valid[..len]).is_err());
        }
    }
}
