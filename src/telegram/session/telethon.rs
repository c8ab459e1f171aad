//! Telethon's `StringSession`: read and written, so an account authorized with Telethon moves to tgsift
//! without logging in again.

use std::fmt;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use base64::engine::{DecodePaddingMode, Engine as _};
use base64::{DecodeError, alphabet};
use grammers_session::SessionData;
use grammers_session::types::DcOption;

use super::{AUTH_KEY_LEN, SessionError};

/// Telethon's `StringSession` format version (the first character).
const TELETHON_VERSION: char = '1';
/// Decoded length of a Telethon string with an IPv4 address: `>B4sH256s`.
const TELETHON_V4_LEN: usize = 1 + 4 + 2 + AUTH_KEY_LEN;
/// Decoded length with an IPv6 address: `>B16sH256s`.
const TELETHON_V6_LEN: usize = 1 + 16 + 2 + AUTH_KEY_LEN;
/// URL-safe base64 that, like Python's `urlsafe_b64decode`, does not insist on the padding.
const TELETHON_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A Telethon string session (`'1'` + URL-safe base64 of `dc_id, ip, port, auth_key`), so an account
/// authorized with Telethon can move to tgsift without logging in again.
#[derive(Clone, PartialEq, Eq)]
pub struct TelethonString {
    /// The account's home DC (1 to 5).
    pub dc_id: u8,
    /// The address Telethon used for that DC.
    pub addr: SocketAddr,
    /// The permanent auth key bound to the account on that DC.
    pub auth_key: [u8; 256],
}

impl TelethonString {
    /// Reads a string as printed by Telethon's `StringSession.save()`; whitespace and surrounding quotes
    /// from copy and paste are ignored, the base64 padding is optional.
    pub fn parse(text: &str) -> Result<Self, SessionError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let compact = compact.trim_matches(|c| c == '"' || c == '\'');
        let Some(body) = compact.strip_prefix(TELETHON_VERSION) else {
            return Err(invalid_telethon(match compact.chars().next() {
                None => "the string is empty".to_string(),
                Some(c) => format!(
                    "it starts with {c:?}, but a Telethon string session starts with the version \
                     character '{TELETHON_VERSION}'"
                ),
            }));
        };
        let bytes = TELETHON_BASE64
            .decode(body)
            .map_err(|e| invalid_telethon(describe_base64_error(&e)))?;
        let ip_len = match bytes.len() {
            TELETHON_V4_LEN => 4,
            TELETHON_V6_LEN => 16,
            n => {
                return Err(invalid_telethon(format!(
                    "it decodes to {n} bytes, but a Telethon string session has {TELETHON_V4_LEN} (IPv4) \
                     or {TELETHON_V6_LEN} (IPv6); strings from Pyrogram, GramJS or other libraries are \
                     not supported"
                )));
            }
        };
        let truncated = || invalid_telethon("it is truncated");
        let (&dc_id, rest) = bytes.split_first().ok_or_else(truncated)?;
        let (ip, rest) = rest.split_at_checked(ip_len).ok_or_else(truncated)?;
        let (port, key) = rest.split_at_checked(2).ok_or_else(truncated)?;
        let ip = match <[u8; 4]>::try_from(ip) {
            Ok(v4) => IpAddr::from(v4),
            Err(_) => IpAddr::from(<[u8; 16]>::try_from(ip).map_err(|_| truncated())?),
        };
        let port = u16::from_be_bytes(<[u8; 2]>::try_from(port).map_err(|_| truncated())?);
        let auth_key = <[u8; AUTH_KEY_LEN]>::try_from(key).map_err(|_| truncated())?;

        if !(1..=5).contains(&dc_id) {
            return Err(invalid_telethon(format!(
                "it names DC {dc_id}, but Telegram's data centres are numbered 1 to 5"
            )));
        }
        if ip.is_unspecified() {
            return Err(invalid_telethon(format!(
                "its server address {ip} is unspecified"
            )));
        }
        if port == 0 {
            return Err(invalid_telethon("its server port is 0"));
        }
        if auth_key.iter().all(|&b| b == 0) {
            return Err(invalid_telethon(
                "it holds no auth key (all zeros): the Telethon session was never logged in",
            ));
        }
        Ok(TelethonString {
            dc_id,
            addr: SocketAddr::new(ip, port),
            auth_key,
        })
    }

    /// Writes the string as Telethon's `StringSession.save()` would (with base64 padding).
    pub(crate) fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(TELETHON_V6_LEN);
        bytes.push(self.dc_id);
        match self.addr.ip() {
            IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
        }
        bytes.extend_from_slice(&self.addr.port().to_be_bytes());
        bytes.extend_from_slice(&self.auth_key);
        let mut out = String::with_capacity(1 + bytes.len().div_ceil(3) * 4);
        out.push(TELETHON_VERSION);
        URL_SAFE.encode_string(&bytes, &mut out);
        out
    }

    /// Session data for [`SqliteSession::import_data`](super::SqliteSession::import_data): home DC = `dc_id`, whose option gets this address
    /// (IPv4 or IPv6 slot) and the key; all other DCs and the other address keep grammers' defaults.
    pub(crate) fn to_session_data(&self) -> SessionData {
        let mut data = SessionData::default();
        let dc_id = i32::from(self.dc_id);
        data.home_dc = dc_id;
        let option = data.dc_options.entry(dc_id).or_insert_with(|| DcOption {
            id: dc_id,
            ipv4: SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
            ipv6: SocketAddrV6::new(std::net::Ipv6Addr::UNSPECIFIED, 0, 0, 0),
            auth_key: None,
        });
        match self.addr {
            SocketAddr::V4(addr) => {
                option.ipv4 = addr;
                if option.ipv6.ip().is_unspecified() {
                    option.ipv6 = SocketAddrV6::new(addr.ip().to_ipv6_mapped(), addr.port(), 0, 0);
                }
            }
            SocketAddr::V6(addr) => option.ipv6 = addr,
        }
        option.auth_key = Some(self.auth_key);
        data
    }
}

impl fmt::Debug for TelethonString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelethonString")
            .field("dc_id", &self.dc_id)
            .field("addr", &self.addr)
            .field(
                "auth_key",
                &format_args!("<{AUTH_KEY_LEN} bytes, redacted>"),
            )
            .finish()
    }
}

fn invalid_telethon(reason: impl Into<String>) -> SessionError {
    SessionError::InvalidTelethonString {
        reason: reason.into(),
    }
}

/// Says what is wrong with the base64 without quoting it (its characters encode the key).
fn describe_base64_error(e: &DecodeError) -> String {
    match *e {
        DecodeError::InvalidByte(offset, byte) => {
            let hint = match byte {
                b'+' | b'/' => {
                    " ('+' and '/' belong to standard base64; Telethon uses the URL-safe '-' and '_')"
                }
                b'=' => " (padding may only come at the end)",
                _ => "",
            };
            format!(
                "character {} after the version is not URL-safe base64{hint}",
                offset + 1
            )
        }
        DecodeError::InvalidLength(_) | DecodeError::InvalidLastSymbol(..) => {
            "its base64 has an impossible length (was it cut short when copied?)".to_string()
        }
        DecodeError::InvalidPadding => "its base64 padding is malformed".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use grammers_session::Session;

    use super::super::SqliteSession;
    use super::super::tests::{key, temp};
    use super::*;

    /// Telethon's `StringSession.save()` for DC 2, 149.154.167.51:443 and `key(7)`, built by hand from
    /// `'1' + urlsafe_b64encode(struct.pack('>B4sH256s', ...))`.
    fn known_vector() -> (String, Vec<u8>) {
        let mut packed = vec![2u8, 149, 154, 167, 51, 0x01, 0xBB];
        packed.extend_from_slice(&key(7));
        assert_eq!(packed.len(), 263);
        (format!("1{}", URL_SAFE.encode(&packed)), packed)
    }

    #[test]
    fn a_telethon_string_is_read_as_telethon_writes_it() {
        let (text, _) = known_vector();
        assert_eq!(
            text.len(),
            1 + 352,
            "Telethon strings with IPv4 are 353 characters"
        );
        assert!(text.ends_with('='));
        // Independently computed with Python's `struct` and `base64`.
        assert!(text.starts_with("1ApWapzMBuwcICQoLDA0ODxA"), "{text}");
        assert!(text.ends_with("AgMEBQY="), "{text}");
        let parsed = TelethonString::parse(&text).unwrap();
        assert_eq!(parsed.dc_id, 2);
        assert_eq!(
            parsed.addr,
            "149.154.167.51:443".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(parsed.auth_key, key(7));
        assert_eq!(parsed.encode(), text);

        // Without padding, wrapped over lines, quoted: all as pasted by hand.
        let bare = text.trim_end_matches('=');
        assert_eq!(TelethonString::parse(bare).unwrap(), parsed);
        let (head, tail) = text.split_at(100);
        assert_eq!(
            TelethonString::parse(&format!("  '{head}\n{tail}'\n")).unwrap(),
            parsed
        );
    }

    #[test]
    fn telethon_strings_round_trip_for_ipv4_and_ipv6() {
        for addr in ["127.0.0.1:20002", "[2001:67c:4e8:f002::a]:443"] {
            let original = TelethonString {
                dc_id: 4,
                addr: addr.parse().unwrap(),
                auth_key: key(3),
            };
            let text = original.encode();
            let expected_len = if original.addr.is_ipv4() { 353 } else { 369 };
            assert_eq!(text.len(), expected_len, "{addr}");
            assert_eq!(TelethonString::parse(&text).unwrap(), original);
        }
        // Python: '1' + urlsafe_b64encode(struct.pack('>B16sH256s', 4, ip.packed, 443, key(3))).
        let v6 = TelethonString {
            dc_id: 4,
            addr: "[2001:67c:4e8:f002::a]:443".parse().unwrap(),
            auth_key: key(3),
        }
        .encode();
        assert!(v6.starts_with("1BCABBnwE6PACAAAAAAAAAAoBuwMEB"), "{v6}");
        assert!(v6.ends_with("_v8AAQI="), "{v6}");
    }

    #[test]
    fn a_telethon_string_becomes_a_session_file() {
        let dir = temp();
        let path = dir.path().join("moved.session");
        let telethon = TelethonString::parse(&known_vector().0).unwrap();
        let data = telethon.to_session_data();
        let session = SqliteSession::import_data(&path, &data).unwrap();
        drop(session);

        let session = SqliteSession::open(&path).unwrap();
        let default = SessionData::default();
        assert_eq!(session.home_dc_id().unwrap(), 2);
        assert_eq!(session.auth_key(), Some(key(7)));
        let dc2 = session.dc_option(2).unwrap().unwrap();
        assert_eq!(dc2.ipv4, "149.154.167.51:443".parse().unwrap());
        assert_eq!(dc2.ipv6, default.dc_options[&2].ipv6);
        for id in [1, 3, 4, 5] {
            assert_eq!(
                session.dc_option(id).unwrap().as_ref(),
                default.dc_options.get(&id)
            );
        }
        assert_eq!(session.self_user(), None, "Telethon strings carry no user");
    }

    #[test]
    fn telethon_garbage_is_refused_with_a_reason() {
        let (text, packed) = known_vector();
        let body = &text[1..];
        let repack = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = packed.clone();
            edit(&mut bytes);
            format!("1{}", URL_SAFE.encode(&bytes))
        };
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            (format!("2{body}"), "version character '1'"),
            (body.to_string(), "version character '1'"),
            (
                format!("1{}", body.replace('-', "+").replacen('A', "+", 1)),
                "standard base64",
            ),
            (
                format!("1{}!", &body[..body.len() - 1]),
                "not URL-safe base64",
            ),
            (text[..200].to_string(), "decodes to"),
            (format!("1{}", &body[..body.len() - 3]), "impossible length"),
            (repack(&|b| b.push(0)), "decodes to 264 bytes"),
            (repack(&|b| b[0] = 0), "DC 0"),
            (repack(&|b| b[0] = 6), "DC 6"),
            (repack(&|b| b[1..5].fill(0)), "unspecified"),
            (repack(&|b| b[5..7].fill(0)), "port is 0"),
            (repack(&|b| b[7..].fill(0)), "no auth key"),
        ];
        for (input, expected) in cases {
            let err = TelethonString::parse(&input).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, SessionError::InvalidTelethonString { .. }),
                "{input:?}: {msg}"
            );
            assert!(
                msg.contains(expected),
                "{input:?}: {msg:?} lacks {expected:?}"
            );
            assert!(
                !msg.contains(&body[20..40]),
                "the string leaked into {msg:?}"
            );
            assert!(err.is_usage());
        }
    }
}
