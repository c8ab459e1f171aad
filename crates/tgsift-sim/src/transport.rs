//! The server side of Telegram's four TCP transports, detected from a connection's first bytes as Telegram
//! does: full (no tag), abridged (`0xef`), intermediate (`0xeeeeeeee`) and padded intermediate
//! (`0xdddddddd`). See <https://core.telegram.org/mtproto/mtproto-transports>.
//!
//! grammers 0.11 only ever speaks full, but the simulator accepts all four so it can stand in for a real
//! data centre. Reading is buffered inside [`ServerTransport`], so [`ServerTransport::read_frame`] is
//! cancel-safe (it can sit in a `tokio::select!`) and a frame's size is validated before anything is
//! allocated for it. Obfuscated connections (64 random bytes first) are not supported: they are read as
//! a full-transport frame and fail its length, size, seq or CRC check.

use std::fmt;
use std::io;

use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest payload accepted from a client; a larger declared length fails before anything is allocated.
pub(crate) const MAX_CLIENT_FRAME: usize = 2 * 1024 * 1024;

/// How much to ask the socket for at a time, beyond what the current frame still needs.
const READ_CHUNK: usize = 16 * 1024;

/// Which framing a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransportKind {
    /// `len:i32 | seq:i32 | payload | crc32`, with no tag; what grammers uses.
    Full,
    /// Tag `0xef`, then the length in 4-byte words in 1 byte (or `0x7f` + 3 bytes).
    Abridged,
    /// Tag `0xeeeeeeee`, then `len:u32 | payload`.
    Intermediate,
    /// Tag `0xdddddddd`, then `len:u32 | payload | 0..=15 random bytes`.
    PaddedIntermediate,
}

impl TransportKind {
    /// The bytes a client sends before its first frame to choose this transport.
    #[cfg(test)]
    pub(crate) fn tag(self) -> &'static [u8] {
        match self {
            TransportKind::Full => &[],
            TransportKind::Abridged => &[0xef],
            TransportKind::Intermediate => &[0xee; 4],
            TransportKind::PaddedIntermediate => &[0xdd; 4],
        }
    }
}

/// Why a connection's byte stream could not be read as frames; the connection should be closed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    /// A length field that no valid frame can have (full: below 12, negative or not a multiple of 4;
    /// intermediate: not a multiple of 4).
    #[error("bad frame length {got}")]
    BadLen {
        /// The length as it was on the wire.
        got: i64,
    },
    /// A full-transport frame out of sequence (lost, replayed or reordered).
    #[error("bad frame seq: expected {expected}, got {got}")]
    BadSeq {
        /// The next seq this connection expected.
        expected: i32,
        /// The seq in the frame.
        got: i32,
    },
    /// A full-transport frame whose CRC32 does not match its contents.
    #[error("bad frame crc32: computed {expected:#010x}, got {got:#010x}")]
    BadCrc {
        /// CRC32 of the received bytes.
        expected: u32,
        /// CRC32 the frame carried.
        got: u32,
    },
    /// A declared payload larger than [`MAX_CLIENT_FRAME`].
    #[error("frame of {0} bytes exceeds the {MAX_CLIENT_FRAME}-byte limit")]
    TooLarge(usize),
    /// The socket failed.
    #[error("transport i/o: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection in the middle of a tag or frame.
    #[error("connection closed mid-frame")]
    UnexpectedEof,
}

/// Server side of one connection's framing (detected on the first read).
///
/// Clone it right after [`detect`](Self::detect) to get a writer half: the full transport keeps separate
/// seq counters per direction, so the reader and the writer each own one copy.
#[derive(Clone)]
pub(crate) struct ServerTransport {
    kind: TransportKind,
    recv_seq: i32,
    send_seq: i32,
    /// Bytes read from the socket but not yet returned as frames.
    buf: Vec<u8>,
}

/// What parsing the buffered bytes gave.
enum Step {
    /// A whole frame's payload, already removed from the buffer.
    Frame(Vec<u8>),
    /// The buffer must hold at least this many bytes before trying again.
    Need(usize),
}

impl ServerTransport {
    /// A transport of a known kind, for tests or for code that frames without reading a tag.
    pub(crate) fn new(kind: TransportKind) -> Self {
        Self {
            kind,
            recv_seq: 0,
            send_seq: 0,
            buf: Vec::new(),
        }
    }

    /// Reads the first bytes of a new connection and picks the transport (Full when no tag is present;
    /// those 4 bytes are the first frame's length). A connection closed before any byte gives Full, whose
    /// first `read_frame` then returns `Ok(None)`.
    pub(crate) async fn detect<R: AsyncRead + Unpin>(r: &mut R) -> Result<Self, TransportError> {
        let mut t = Self::new(TransportKind::Full);
        if !t.fill(r, 1).await? {
            return Ok(t);
        }
        if t.buf[0] == 0xef {
            t.kind = TransportKind::Abridged;
            t.buf.drain(..1);
            return Ok(t);
        }
        if !t.fill(r, 4).await? {
            return Err(TransportError::UnexpectedEof);
        }
        t.kind = match t.buf[..4] {
            [0xee, 0xee, 0xee, 0xee] => TransportKind::Intermediate,
            [0xdd, 0xdd, 0xdd, 0xdd] => TransportKind::PaddedIntermediate,
            _ => return Ok(t),
        };
        t.buf.drain(..4);
        Ok(t)
    }

    #[cfg(test)]
    /// Which framing the client chose.
    pub(crate) fn kind(&self) -> TransportKind {
        self.kind
    }

    /// Next frame payload; `Ok(None)` on a clean EOF between frames. Cancel-safe: partial data stays
    /// buffered for the next call.
    pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Option<Vec<u8>>, TransportError> {
        loop {
            match self.parse()? {
                Step::Frame(payload) => return Ok(Some(payload)),
                Step::Need(n) => {
                    if !self.fill(r, n).await? {
                        return if self.buf.is_empty() {
                            Ok(None)
                        } else {
                            Err(TransportError::UnexpectedEof)
                        };
                    }
                }
            }
        }
    }

    /// Appends one framed payload to `out` (and advances the send seq for full). The payload should be
    /// an MTProto packet: a multiple of 4 bytes and at most 1 MiB (grammers reads into a fixed
    /// 1 MiB + 8 KiB buffer, `grammers-mtsender` `sender.rs:40`, and drops the connection on anything
    /// bigger).
    pub(crate) fn write_frame(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        match self.kind {
            TransportKind::Full => {
                let start = out.len();
                out.extend_from_slice(&(payload.len() as i32 + 12).to_le_bytes());
                out.extend_from_slice(&self.send_seq.to_le_bytes());
                out.extend_from_slice(payload);
                let crc = crc32fast::hash(&out[start..]);
                out.extend_from_slice(&crc.to_le_bytes());
                self.send_seq = self.send_seq.wrapping_add(1);
            }
            TransportKind::Abridged => {
                let words = payload.len() / 4;
                if words < 0x7f {
                    out.push(words as u8);
                } else {
                    out.push(0x7f);
                    out.extend_from_slice(&(words as u32).to_le_bytes()[..3]);
                }
                out.extend_from_slice(payload);
            }
            TransportKind::Intermediate => {
                out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                out.extend_from_slice(payload);
            }
            TransportKind::PaddedIntermediate => {
                let mut rng = rand::rng();
                let padding = rng.random_range(0..16);
                out.extend_from_slice(&((payload.len() + padding) as u32).to_le_bytes());
                out.extend_from_slice(payload);
                let start = out.len();
                out.resize(start + padding, 0);
                rng.fill(&mut out[start..]);
            }
        }
    }

    /// Appends Telegram's transport-level error `-status` (404: unknown auth key, 429: too many
    /// connections), which clients read as an error code rather than a packet.
    ///
    /// Full sends the bare negative `i32` with no seq or CRC: grammers only reports
    /// `BadStatus { status }` (and, for 404, retries with a fresh key) when a frame's length is negative;
    /// a properly framed 4-byte payload would instead fail as a too-short MTProto message.
    pub(crate) fn write_transport_error(&self, status: i32, out: &mut Vec<u8>) {
        let code = status.wrapping_neg().to_le_bytes();
        match self.kind {
            TransportKind::Full => {}
            TransportKind::Abridged => out.push(1),
            TransportKind::Intermediate | TransportKind::PaddedIntermediate => {
                out.extend_from_slice(&4u32.to_le_bytes())
            }
        }
        out.extend_from_slice(&code);
    }

    /// Reads until at least `n` bytes are buffered; `false` on EOF before that.
    async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        n: usize,
    ) -> Result<bool, TransportError> {
        while self.buf.len() < n {
            self.buf.reserve((n - self.buf.len()).max(READ_CHUNK));
            if r.read_buf(&mut self.buf).await? == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Takes one frame out of the buffer if it is complete, after validating its header.
    fn parse(&mut self) -> Result<Step, TransportError> {
        let (header, len) = match self.kind {
            TransportKind::Full => {
                let Some(&raw) = self.buf.first_chunk::<4>() else {
                    return Ok(Step::Need(4));
                };
                let len = i32::from_le_bytes(raw);
                if len < 12 || len % 4 != 0 {
                    return Err(TransportError::BadLen { got: len.into() });
                }
                (8, len as usize - 12)
            }
            TransportKind::Abridged => {
                let Some(&first) = self.buf.first() else {
                    return Ok(Step::Need(1));
                };
                // The top bit asks for a quick ack, which this server never sends.
                match first & 0x7f {
                    0x7f => {
                        let Some(&[_, a, b, c]) = self.buf.first_chunk::<4>() else {
                            return Ok(Step::Need(4));
                        };
                        (4, u32::from_le_bytes([a, b, c, 0]) as usize * 4)
                    }
                    words => (1, usize::from(words) * 4),
                }
            }
            TransportKind::Intermediate | TransportKind::PaddedIntermediate => {
                let Some(&raw) = self.buf.first_chunk::<4>() else {
                    return Ok(Step::Need(4));
                };
                // As in abridged, the top bit is a quick-ack request.
                let len = (u32::from_le_bytes(raw) & 0x7fff_ffff) as usize;
                if self.kind == TransportKind::Intermediate && !len.is_multiple_of(4) {
                    return Err(TransportError::BadLen { got: len as i64 });
                }
                (4, len)
            }
        };
        if len > MAX_CLIENT_FRAME {
            return Err(TransportError::TooLarge(len));
        }
        let trailer = if self.kind == TransportKind::Full {
            4
        } else {
            0
        };
        let total = header + len + trailer;
        if self.buf.len() < total {
            return Ok(Step::Need(total));
        }
        if self.kind == TransportKind::Full {
            let mut seq = [0; 4];
            seq.copy_from_slice(&self.buf[4..8]);
            let got = i32::from_le_bytes(seq);
            if got != self.recv_seq {
                return Err(TransportError::BadSeq {
                    expected: self.recv_seq,
                    got,
                });
            }
            let mut crc = [0; 4];
            crc.copy_from_slice(&self.buf[total - 4..total]);
            let (got, expected) = (
                u32::from_le_bytes(crc),
                crc32fast::hash(&self.buf[..total - 4]),
            );
            if got != expected {
                return Err(TransportError::BadCrc { expected, got });
            }
            self.recv_seq = self.recv_seq.wrapping_add(1);
        }
        let mut payload = &self.buf[header..header + len];
        if self.kind == TransportKind::PaddedIntermediate {
            payload = unpad(payload);
        }
        let payload = payload.to_vec();
        self.buf.drain(..total);
        if self.buf.capacity() > 4 * READ_CHUNK && self.buf.len() <= READ_CHUNK {
            // Don't keep a 2 MiB buffer around for every idle connection after one big frame.
            self.buf.shrink_to(READ_CHUNK);
        }
        Ok(Step::Frame(payload))
    }
}

impl fmt::Debug for ServerTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTransport")
            .field("kind", &self.kind)
            .field("recv_seq", &self.recv_seq)
            .field("send_seq", &self.send_seq)
            .field("buffered", &self.buf.len())
            .finish()
    }
}

/// Strips padded-intermediate padding, which the frame does not delimit: an encrypted packet is
/// `8 + 16 + 16k` bytes, and an unencrypted one (auth_key_id 0) is `20 + its length field`.
fn unpad(payload: &[u8]) -> &[u8] {
    let len = payload.len();
    if let Some(&[0, 0, 0, 0, 0, 0, 0, 0, _, _, _, _, _, _, _, _, a, b, c, d]) =
        payload.first_chunk::<20>()
    {
        let inner = u32::from_le_bytes([a, b, c, d]) as usize;
        if inner <= len - 20 {
            return &payload[..20 + inner];
        }
    }
    if len >= 24 {
        &payload[..len - (len - 24) % 16]
    } else {
        payload
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use grammers_crypto::DequeBuffer;
    use grammers_mtproto::transport::{self as gt, Transport};
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A payload shaped like an encrypted MTProto packet (`24 + 16k` bytes) whose first `i32` is positive,
    /// so grammers' abridged unpack does not mistake it for a transport error (see `abridged_quirk`).
    fn payload(len: usize, seed: u8) -> Vec<u8> {
        let mut p: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        if let Some(b) = p.get_mut(3) {
            *b &= 0x7f;
        }
        p
    }

    /// Packs payloads with one of grammers' client transports, tag included on the first.
    fn client_pack(t: &mut impl Transport, payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut wire = Vec::new();
        for p in payloads {
            let mut buffer = DequeBuffer::with_capacity(p.len() + 16, 16);
            buffer.extend(p.iter().copied());
            t.pack(&mut buffer);
            wire.extend_from_slice(&buffer[..]);
        }
        wire
    }

    /// Unpacks every frame in `wire` the way grammers' sender does (several frames per read).
    fn client_unpack(t: &mut impl Transport, wire: &mut [u8]) -> Result<Vec<Vec<u8>>, gt::Error> {
        let mut frames = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let off = t.unpack(&mut wire[at..])?;
            frames.push(wire[at..][off.data_range].to_vec());
            at += off.next_offset;
        }
        Ok(frames)
    }

    /// Detects and reads every frame of a complete byte stream.
    async fn server_read_all(wire: &[u8]) -> Result<(TransportKind, Vec<Vec<u8>>), TransportError> {
        let mut r = wire;
        let mut t = ServerTransport::detect(&mut r).await?;
        let mut frames = Vec::new();
        while let Some(f) = t.read_frame(&mut r).await? {
            frames.push(f);
        }
        Ok((t.kind(), frames))
    }

    fn sizes() -> Vec<Vec<u8>> {
        // 504 bytes is 126 words (the largest 1-byte abridged length), 508 the smallest 4-byte one.
        [72, 24, 504, 508, 1032, 4, 0, 200_008]
            .iter()
            .enumerate()
            .map(|(i, &n)| payload(n, i as u8))
            .collect()
    }

    async fn client_to_server(mut client: impl Transport, kind: TransportKind) {
        let payloads = sizes();
        let wire = client_pack(&mut client, &payloads);
        let (got_kind, frames) = server_read_all(&wire).await.unwrap();
        assert_eq!(got_kind, kind);
        assert_eq!(frames, payloads);
    }

    fn server_to_client(mut client: impl Transport, kind: TransportKind) {
        // grammers' intermediate reads a payload of 4 bytes or fewer as a transport error; real packets
        // are at least 20 bytes, so only those are sent here.
        let payloads: Vec<_> = sizes().into_iter().filter(|p| p.len() > 4).collect();
        let mut server = ServerTransport::new(kind);
        let mut wire = Vec::new();
        for p in &payloads {
            server.write_frame(p, &mut wire);
        }
        assert_eq!(client_unpack(&mut client, &mut wire).unwrap(), payloads);
    }

    #[tokio::test]
    async fn full_from_grammers_client() {
        client_to_server(gt::Full::new(), TransportKind::Full).await;
    }

    #[test]
    fn full_to_grammers_client() {
        server_to_client(gt::Full::new(), TransportKind::Full);
    }

    #[tokio::test]
    async fn abridged_from_grammers_client() {
        client_to_server(gt::Abridged::new(), TransportKind::Abridged).await;
    }

    #[test]
    fn abridged_to_grammers_client() {
        server_to_client(gt::Abridged::new(), TransportKind::Abridged);
    }

    #[tokio::test]
    async fn intermediate_from_grammers_client() {
        client_to_server(gt::Intermediate::new(), TransportKind::Intermediate).await;
    }

    #[test]
    fn intermediate_to_grammers_client() {
        server_to_client(gt::Intermediate::new(), TransportKind::Intermediate);
    }

    #[test]
    fn abridged_quirk() {
        // grammers reads the first i32 of any short abridged frame as a transport error when negative,
        // so a real packet whose auth_key_id has bit 31 set would be misread (and an i32::MIN one panics
        // on overflow in debug builds). Documented here, never relied on: the server must not send these.
        let mut server = ServerTransport::new(TransportKind::Abridged);
        let mut wire = Vec::new();
        server.write_frame(&[0, 0, 0, 0x90, 1, 2, 3, 4], &mut wire);
        let err = gt::Abridged::new().unpack(&mut wire).unwrap_err();
        assert!(matches!(err, gt::Error::BadStatus { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn padded_intermediate_from_client_by_spec() {
        // Encrypted-shaped payloads (24 + 16k) plus every padding length 0..=15, and one unencrypted
        // packet (auth_key_id 0 | msg_id | len | body) with padding.
        let mut wire = vec![0xdd; 4];
        let mut expected = Vec::new();
        for pad in 0..16 {
            let p = payload(24 + 16 * pad, pad as u8);
            wire.extend_from_slice(&((p.len() + pad) as u32).to_le_bytes());
            wire.extend_from_slice(&p);
            wire.extend(std::iter::repeat_n(0xa5, pad));
            expected.push(p);
        }
        let mut plain = vec![0; 8];
        plain.extend_from_slice(&0x1234_i64.to_le_bytes());
        plain.extend_from_slice(&12u32.to_le_bytes());
        plain.extend_from_slice(&[7; 12]);
        wire.extend_from_slice(&((plain.len() + 5) as u32).to_le_bytes());
        wire.extend_from_slice(&plain);
        wire.extend_from_slice(&[0xff; 5]);
        expected.push(plain);

        let (kind, frames) = server_read_all(&wire).await.unwrap();
        assert_eq!(kind, TransportKind::PaddedIntermediate);
        assert_eq!(frames, expected);
    }

    #[tokio::test]
    async fn padded_intermediate_to_client_by_spec() {
        let mut server = ServerTransport::new(TransportKind::PaddedIntermediate);
        let mut paddings = std::collections::HashSet::new();
        for i in 0..200 {
            let p = payload(24 + 16 * (i % 7), i as u8);
            let mut wire = Vec::new();
            server.write_frame(&p, &mut wire);
            let len = u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize;
            assert_eq!(len, wire.len() - 4);
            assert_eq!(&wire[4..4 + p.len()], &p[..]);
            let pad = len - p.len();
            assert!(pad < 16);
            paddings.insert(pad);
            // The receiver's rule, (len - 24) % 16, recovers the packet.
            let mut reader = ServerTransport::new(TransportKind::PaddedIntermediate);
            assert_eq!(reader.read_frame(&mut &wire[..]).await.unwrap(), Some(p));
        }
        assert!(paddings.len() > 8, "{paddings:?}");
    }

    #[tokio::test]
    async fn tags_are_detected() {
        for kind in [
            TransportKind::Full,
            TransportKind::Abridged,
            TransportKind::Intermediate,
            TransportKind::PaddedIntermediate,
        ] {
            let mut server = ServerTransport::new(kind);
            let mut wire = kind.tag().to_vec();
            server.write_frame(&payload(40, 1), &mut wire);
            server.write_frame(&payload(56, 2), &mut wire);
            let (got, frames) = server_read_all(&wire).await.unwrap();
            assert_eq!(got, kind);
            assert_eq!(frames, vec![payload(40, 1), payload(56, 2)]);
        }
    }

    #[tokio::test]
    async fn empty_connection_is_a_clean_eof() {
        let mut r: &[u8] = &[];
        let mut t = ServerTransport::detect(&mut r).await.unwrap();
        assert_eq!(t.kind(), TransportKind::Full);
        assert!(t.read_frame(&mut r).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn eof_inside_tag_or_frame() {
        for wire in [&[0xee, 0xee][..], &[0xdd, 0xdd, 0xdd][..], &[0x10][..]] {
            let err = ServerTransport::detect(&mut &wire[..]).await.unwrap_err();
            assert!(
                matches!(err, TransportError::UnexpectedEof),
                "{wire:?}: {err:?}"
            );
        }
        for (mut client, kind) in [
            (
                Box::new(gt::Full::new()) as Box<dyn Transport>,
                TransportKind::Full,
            ),
            (Box::new(gt::Abridged::new()), TransportKind::Abridged),
            (
                Box::new(gt::Intermediate::new()),
                TransportKind::Intermediate,
            ),
        ] {
            let frames = [payload(72, 1), payload(1032, 2)];
            let mut wire = Vec::new();
            let mut first_end = 0;
            for p in &frames {
                let mut buffer = DequeBuffer::with_capacity(p.len(), 16);
                buffer.extend(p.iter().copied());
                client.pack(&mut buffer);
                wire.extend_from_slice(&buffer[..]);
                first_end = if first_end == 0 {
                    wire.len()
                } else {
                    first_end
                };
            }
            // Cut right after the first frame: a clean EOF between frames.
            let mut r = &wire[..first_end];
            let mut t = ServerTransport::detect(&mut r).await.unwrap();
            assert_eq!(
                t.read_frame(&mut r).await.unwrap(),
                Some(frames[0].clone()),
                "{kind:?}"
            );
            assert_eq!(t.read_frame(&mut r).await.unwrap(), None, "{kind:?}");
            // Cut inside the second frame's header or body: the first frame still arrives, then an error.
            for cut in [
                first_end + 1,
                first_end + 3,
                first_end + 500,
                wire.len() - 1,
            ] {
                let mut r = &wire[..cut];
                let mut t = ServerTransport::detect(&mut r).await.unwrap();
                assert_eq!(
                    t.read_frame(&mut r).await.unwrap(),
                    Some(frames[0].clone()),
                    "{kind:?}"
                );
                let err = t.read_frame(&mut r).await.unwrap_err();
                assert!(
                    matches!(err, TransportError::UnexpectedEof),
                    "{kind:?} cut {cut}: {err:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn full_rejects_bad_crc_seq_and_len() {
        let mut wire = client_pack(&mut gt::Full::new(), &[payload(40, 1)]);
        let last = wire.len() - 1;
        wire[last] ^= 1;
        assert!(matches!(
            server_read_all(&wire).await,
            Err(TransportError::BadCrc { .. })
        ));

        let mut wire = client_pack(&mut gt::Full::new(), &[payload(40, 1)]);
        wire[20] ^= 1; // a payload byte
        assert!(matches!(
            server_read_all(&wire).await,
            Err(TransportError::BadCrc { .. })
        ));

        // Two fresh clients on one connection: the second frame repeats seq 0.
        let mut wire = client_pack(&mut gt::Full::new(), &[payload(40, 1)]);
        wire.extend(client_pack(&mut gt::Full::new(), &[payload(40, 2)]));
        let err = server_read_all(&wire).await.unwrap_err();
        assert!(
            matches!(
                err,
                TransportError::BadSeq {
                    expected: 1,
                    got: 0
                }
            ),
            "{err:?}"
        );

        for len in [-404_i32, 0, 8, 13, 30] {
            let mut wire = len.to_le_bytes().to_vec();
            wire.extend_from_slice(&[0; 64]);
            let err = server_read_all(&wire).await.unwrap_err();
            assert!(
                matches!(err, TransportError::BadLen { got } if got == i64::from(len)),
                "{len}: {err:?}"
            );
        }
        let err = server_read_all(&[0xee, 0xee, 0xee, 0xee, 5, 0, 0, 0, 1, 2, 3, 4, 5])
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::BadLen { got: 5 }), "{err:?}");
    }

    #[tokio::test]
    async fn oversized_lengths_fail_without_waiting_for_the_data() {
        let words = (MAX_CLIENT_FRAME / 4 + 1) as u32;
        let huge = [
            ((MAX_CLIENT_FRAME + 16) as i32).to_le_bytes().to_vec(),
            [&[0xef, 0x7f][..], &words.to_le_bytes()[..3]].concat(),
            [&[0xef, 0xff][..], &[0xff; 3][..]].concat(),
            [
                &[0xee; 4][..],
                &((MAX_CLIENT_FRAME + 4) as u32).to_le_bytes()[..],
            ]
            .concat(),
            [&[0xdd; 4][..], &0x7fff_fff0_u32.to_le_bytes()[..]].concat(),
        ];
        for header in huge {
            // A duplex that stays open: the error must come from the header alone, not from an EOF.
            let (mut client, mut server) = tokio::io::duplex(64);
            client.write_all(&header).await.unwrap();
            let read = async {
                let mut t = ServerTransport::detect(&mut server).await?;
                t.read_frame(&mut server).await
            };
            let result = tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .expect("waited for data");
            assert!(
                matches!(result, Err(TransportError::TooLarge(_))),
                "{header:?}: {result:?}"
            );
        }
        // Exactly the limit is accepted.
        let big = payload(MAX_CLIENT_FRAME, 9);
        let wire = client_pack(&mut gt::Intermediate::new(), std::slice::from_ref(&big));
        assert_eq!(server_read_all(&wire).await.unwrap().1, vec![big]);
    }

    #[tokio::test]
    async fn quick_ack_bit_is_ignored() {
        let p = payload(24, 3);
        let mut wire = vec![0xef, 0x80 | 6];
        wire.extend_from_slice(&p);
        assert_eq!(server_read_all(&wire).await.unwrap().1, vec![p.clone()]);
        let mut wire = vec![0xee; 4];
        wire.extend_from_slice(&(24u32 | 0x8000_0000).to_le_bytes());
        wire.extend_from_slice(&p);
        assert_eq!(server_read_all(&wire).await.unwrap().1, vec![p]);
    }

    #[tokio::test]
    async fn frames_trickling_in_byte_by_byte() {
        let payloads = sizes()[..6].to_vec();
        let wire = client_pack(&mut gt::Full::new(), &payloads);
        let (mut client, mut server) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            for b in wire {
                client.write_all(&[b]).await.unwrap();
            }
        });
        let mut t = ServerTransport::detect(&mut server).await.unwrap();
        let mut frames = Vec::new();
        while let Some(f) = t.read_frame(&mut server).await.unwrap() {
            frames.push(f);
        }
        writer.await.unwrap();
        assert_eq!(frames, payloads);
    }

    #[tokio::test]
    async fn read_frame_is_cancel_safe() {
        let p = payload(1032, 4);
        let wire = client_pack(&mut gt::Full::new(), std::slice::from_ref(&p));
        let (mut client, mut server) = tokio::io::duplex(4096);
        client.write_all(&wire[..600]).await.unwrap();
        let mut t = ServerTransport::detect(&mut server).await.unwrap();
        let timed_out =
            tokio::time::timeout(Duration::from_millis(20), t.read_frame(&mut server)).await;
        assert!(timed_out.is_err());
        client.write_all(&wire[600..]).await.unwrap();
        assert_eq!(t.read_frame(&mut server).await.unwrap(), Some(p));
    }

    #[test]
    fn transport_errors_reach_grammers_as_bad_status() {
        for (mut client, kind) in [
            (
                Box::new(gt::Full::new()) as Box<dyn Transport>,
                TransportKind::Full,
            ),
            (Box::new(gt::Abridged::new()), TransportKind::Abridged),
            (
                Box::new(gt::Intermediate::new()),
                TransportKind::Intermediate,
            ),
        ] {
            let mut wire = Vec::new();
            ServerTransport::new(kind).write_transport_error(404, &mut wire);
            assert_eq!(
                client.unpack(&mut wire),
                Err(gt::Error::BadStatus { status: 404 }),
                "{kind:?}"
            );
        }
        // A framed 4-byte payload is not a transport error to grammers' full transport.
        let mut wire = Vec::new();
        ServerTransport::new(TransportKind::Full).write_frame(&(-404_i32).to_le_bytes(), &mut wire);
        assert!(gt::Full::new().unpack(&mut wire).is_ok());
    }

    #[tokio::test]
    async fn write_frame_advances_full_seq_per_direction() {
        let mut server = ServerTransport::new(TransportKind::Full);
        let mut wire = Vec::new();
        for i in 0..3 {
            server.write_frame(&payload(24, i), &mut wire);
        }
        let seqs: Vec<i32> = (0..3)
            .map(|i| i32::from_le_bytes(wire[i * 36 + 4..i * 36 + 8].try_into().unwrap()))
            .collect();
        assert_eq!(seqs, [0, 1, 2]);
        // The receive count is separate: a clone of the writer reads those frames from seq 0.
        let mut reader = server.clone();
        for i in 0..3 {
            assert_eq!(
                reader.read_frame(&mut &wire[i * 36..]).await.unwrap(),
                Some(payload(24, i as u8))
            );
        }
    }

    #[tokio::test]
    async fn random_streams_never_panic() {
        let mut rng = rand::rng();
        for i in 0..3000 {
            let len = rng.random_range(0..200);
            let mut wire = vec![0u8; len];
            rng.fill(&mut wire[..]);
            if let Some(first) = wire.first_mut() {
                // Steer a share of them into each transport.
                *first = [0xef, 0xee, 0xdd, *first][i % 4];
            }
            if i % 4 == 1 || i % 4 == 2 {
                let tag = wire.first().copied().unwrap_or(0);
                wire.iter_mut().take(4).for_each(|b| *b = tag);
            }
            let mut r = &wire[..];
            if let Ok(mut t) = ServerTransport::detect(&mut r).await {
                for _ in 0..200 {
                    match t.read_frame(&mut r).await {
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
    }
}
