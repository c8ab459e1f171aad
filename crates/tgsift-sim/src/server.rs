//! Listeners and connections: the transport and MTProto message layers of the simulated DC.
//!
//! Each DC id (1..=5) has its own listener, so `PHONE_MIGRATE_X` really moves the client to another
//! address. A connection detects its transport from the first bytes, picks the auth key from the first
//! packet, and then runs two halves: the reader decrypts packets, unwraps containers and gzip, answers
//! service messages (ping, future salts) and spawns one task per API call; the writer numbers, encrypts
//! and frames everything sent back, in order — answers and the server-initiated pushes the [`Hub`]
//! queues. A fault may close the connection without a reply. Every connection is registered in the
//! hub while it lives, so the server knows which sessions are connected and on which keys.
//!
//! Before a packet is read, Telegram's two checks apply (see [`ServerClock`]): a msg_id too far from
//! server time gets `bad_msg_notification` 16/17, a stale salt (when salts rotate) `bad_server_salt`;
//! either way the packet is not processed and the client re-sends it. A connection may also turn
//! into a black hole (a fault, or [`Hub::black_hole`]): from then on both halves discard everything
//! and only the client's close (or the simulator's shutdown) ends it — not pings, not
//! `disconnect_all`.
//!
//! [`Hub`]: super::hub::Hub
//! [`Hub::black_hole`]: super::hub::Hub::black_hole
//! [`ServerClock`]: super::clock::ServerClock

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use grammers_tl_types as tl;
use tl::Serializable;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::api::{self, Caller, Reply};
use super::clock::{self, BadTime};
use super::crypto::{self, ServerKey};
use super::faults::RandomSilence;
use super::hub::Out;
use super::shared::Shared;
use super::silence::Event;
use super::transport::ServerTransport;

const MSG_CONTAINER: u32 = 0x73f1f8dc;
const GZIP_PACKED: u32 = 0x3072cfa1;
const RPC_RESULT: u32 = 0xf35c6d01;
const MSGS_ACK: u32 = 0x62d6b459;
const PING: u32 = 0x7abe77ec;
const PING_DELAY_DISCONNECT: u32 = 0xf3427b8c;
const GET_FUTURE_SALTS: u32 = 0xb921bd04;
/// Results larger than this are sent gzip-packed, as Telegram does.
const GZIP_ABOVE: usize = 8 * 1024;
/// Refuse to inflate a client's gzip beyond this.
const MAX_INFLATED: u64 = 4 * 1024 * 1024;

/// Binds a listener with SO_REUSEADDR so it can be re-bound to the same port after an outage.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Binds DC `dc`'s listener (port 0 = ephemeral) and returns its address.
pub(crate) fn listen(addr: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let l = bind(addr)?;
    let a = l.local_addr()?;
    Ok((l, a))
}

/// Accepts connections for one DC until `cancel`; closes and re-binds the listener during outages.
pub(crate) async fn run_dc(
    shared: Arc<Shared>,
    dc: i32,
    listener: TcpListener,
    cancel: CancellationToken,
) {
    let mut listener = Some(listener);
    let mut outage = shared.outage.subscribe();
    let addr = listener.as_ref().and_then(|l| l.local_addr().ok());
    loop {
        let until = *outage.borrow_and_update();
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            listener = None; // closed: new connections are refused
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = outage.changed() => {}
            }
            continue;
        }
        if listener.is_none() {
            let Some(a) = addr else { return };
            match bind(a) {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    tracing::warn!(dc, error = %e, "sim: cannot re-bind listener, retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let Some(l) = listener.as_ref() else { continue };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = outage.changed() => {}
            accepted = l.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    let cancel = cancel.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(shared, dc, stream, cancel).await {
                            tracing::debug!(dc, error = %e, "sim: connection ended");
                        }
                    });
                }
                Err(e) => tracing::debug!(dc, error = %e, "sim: accept failed"),
            }
        }
    }
}

struct Conn {
    shared: Arc<Shared>,
    caller: Caller,
    tx: mpsc::UnboundedSender<Out>,
    /// True once the connection is a black hole.
    black_hole: watch::Receiver<bool>,
    /// The newest msg_id the client sent (shared with the hub).
    last_msg_id: Arc<AtomicI64>,
    /// A new session id arrived and `new_session_created` is still to be sent: with the first of its
    /// packets the server accepts (answers to refused ones already echo the session id).
    unannounced: std::sync::atomic::AtomicBool,
}

async fn serve(
    shared: Arc<Shared>,
    dc: i32,
    stream: TcpStream,
    cancel: CancellationToken,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let mut transport = ServerTransport::detect(&mut rd)
        .await
        .map_err(io::Error::other)?;
    let write_transport = transport.clone();

    // The first packet names the key; an unknown key gets Telegram's transport error -404.
    let Some(first) = transport
        .read_frame(&mut rd)
        .await
        .map_err(io::Error::other)?
    else {
        return Ok(());
    };
    let key_id = crypto::packet_key_id(&first).map_err(io::Error::other)?;
    let Some(key) = shared.world.key(key_id) else {
        let mut out = Vec::new();
        write_transport.write_transport_error(404, &mut out);
        wr.write_all(&out).await?;
        return Ok(());
    };

    let (tx, rx) = mpsc::unbounded_channel();
    let session = Arc::new(AtomicI64::new(0));
    let conn_cancel = cancel.child_token();
    let registration = shared.hub.register(dc, key_id, tx.clone());
    let writer = tokio::spawn(write_loop(
        wr,
        write_transport,
        key.clone(),
        Arc::clone(&session),
        Arc::clone(&shared),
        rx,
        registration.black_hole.clone(),
        conn_cancel.clone(),
    ));
    let conn = Conn {
        shared: Arc::clone(&shared),
        caller: Caller {
            dc,
            key_id,
            conn: registration.id,
        },
        tx,
        black_hole: registration.black_hole.clone(),
        last_msg_id: Arc::clone(&registration.last_msg_id),
        unannounced: std::sync::atomic::AtomicBool::new(false),
    };
    let mut kill = shared.kill.subscribe();
    kill.borrow_and_update();
    let mut drop_at = registration.drop_at.clone();
    let mut black_hole = registration.black_hole.clone();

    let mut packet = Some(first);
    let result = loop {
        let data = match packet.take() {
            Some(p) => p,
            // A black hole reads and discards until the client closes; nothing else ends it.
            None if *black_hole.borrow() => tokio::select! {
                _ = conn_cancel.cancelled() => break Ok(()),
                frame = transport.read_frame(&mut rd) => match frame {
                    Ok(Some(_)) => continue,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(io::Error::other(e)),
                },
            },
            None => tokio::select! {
                _ = conn_cancel.cancelled() => break Ok(()),
                _ = kill.changed() => break Ok(()),
                _ = unpinged(&mut drop_at) => {
                    tracing::debug!(dc, "sim: no ping within the disconnect delay; dropping the connection");
                    break Ok(());
                }
                _ = black_holed(&mut black_hole) => continue,
                frame = transport.read_frame(&mut rd) => match frame {
                    Ok(Some(f)) => f,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(io::Error::other(e)),
                },
            },
        };
        if let Err(e) = conn.packet(&key, &session, &data) {
            break Err(e);
        }
    };
    conn_cancel.cancel();
    // Forget the connection at once: its session no longer gets pushes, and a client reconnecting
    // with the same key is not taken for a second one.
    drop(registration);
    drop(conn);
    let _ = writer.await;
    result
}

/// Resolves when the connection becomes a black hole.
async fn black_holed(black_hole: &mut watch::Receiver<bool>) {
    if black_hole.wait_for(|b| *b).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `new_session_created`: the server (re)created the session at `first_msg_id`; use `salt`.
pub(crate) fn new_session_created(first_msg_id: i64, salt: i64) -> Vec<u8> {
    tl::enums::NewSession::Created(tl::types::NewSessionCreated {
        first_msg_id,
        unique_id: rand::random(),
        server_salt: salt,
    })
    .to_bytes()
}

/// Resolves when the connection's `ping_delay_disconnect` deadline passes without a newer ping.
async fn unpinged(drop_at: &mut tokio::sync::watch::Receiver<Option<tokio::time::Instant>>) {
    loop {
        let at = *drop_at.borrow_and_update();
        match at {
            Some(at) => tokio::select! {
                _ = tokio::time::sleep_until(at) => return,
                changed = drop_at.changed() => if changed.is_err() {
                    return std::future::pending().await;
                },
            },
            None => {
                if drop_at.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

impl Conn {
    /// Handles one encrypted packet from the client: Telegram's time and salt checks, then its
    /// message(s). A black hole discards it.
    fn packet(&self, key: &ServerKey, session: &AtomicI64, data: &[u8]) -> io::Result<()> {
        if *self.black_hole.borrow() {
            return Ok(());
        }
        if self.shared.faults.silence(RandomSilence::BlackHole) {
            if self.shared.hub.black_hole(self.caller.conn) {
                self.shared.silence.tally.add(Event::BlackHole, 1);
                tracing::debug!(
                    dc = self.caller.dc,
                    "sim: the connection became a black hole"
                );
            }
            return Ok(());
        }
        let plain = crypto::decrypt_from_client(key, data).map_err(io::Error::other)?;
        let field = |at: usize| -> io::Result<i64> {
            plain
                .get(at..at + 8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .ok_or_else(|| io::Error::other("short message header"))
        };
        let salt = field(0)?;
        let session_id = field(8)?;
        let msg_id = field(16)?;
        let seq_no = plain
            .get(24..28)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| io::Error::other("short message header"))?;
        let len = plain
            .get(28..32)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| io::Error::other("short message header"))?;
        let body = usize::try_from(len)
            .ok()
            .and_then(|len| plain.get(32..32 + len))
            .ok_or_else(|| io::Error::other("message length exceeds packet"))?;
        self.last_msg_id.store(msg_id, Ordering::Relaxed);
        if session.swap(session_id, Ordering::SeqCst) != session_id {
            self.unannounced.store(true, Ordering::SeqCst);
        }
        let clock = &self.shared.clock;
        if let Err(why) = clock.check_msg_id(msg_id) {
            let event = match why {
                BadTime::TooLow => Event::MsgIdTooLow,
                BadTime::TooHigh => Event::MsgIdTooHigh,
            };
            self.shared.silence.tally.add(event, 1);
            self.send(clock::bad_time(msg_id, seq_no, why), false, true);
            return Ok(());
        }
        if !clock.accepts(salt) {
            self.shared.silence.tally.add(Event::BadServerSalt, 1);
            self.send(
                clock::bad_server_salt(msg_id, seq_no, clock.salt()),
                false,
                true,
            );
            return Ok(());
        }
        // A packet refused above opens no session: the first one accepted does, and the client
        // hears of it (with the salt to use) only then, stamped with a time it has corrected to.
        if self.unannounced.swap(false, Ordering::SeqCst) {
            self.shared.hub.set_session(self.caller.conn, session_id);
            self.send(new_session_created(msg_id, clock.salt()), false, false);
        }
        self.message(msg_id, body, 0);
        Ok(())
    }

    /// Queues a message: `response` ones answer a client message (pongs, future salts, bad-message
    /// notifications), the others are the server's own (new_session_created).
    fn send(&self, body: Vec<u8>, content: bool, response: bool) {
        let _ = self.tx.send(Out::Msg {
            body,
            content,
            response,
        });
    }

    /// Forgets the session, as Telegram does now and then (a fault): `new_session_created` naming
    /// `first_msg_id`, and no pushes until the client asks for updates again.
    fn reset_session(&self, first_msg_id: i64) {
        let created = new_session_created(first_msg_id, self.shared.clock.salt());
        if self.shared.hub.reset_session(self.caller.conn, created) {
            self.shared.silence.tally.add(Event::SessionReset, 1);
        }
    }

    /// Handles one message body: containers and gzip are opened, service messages answered here, API
    /// calls handed to their own task.
    fn message(&self, msg_id: i64, body: &[u8], depth: u8) {
        let Some(id) = read_u32(body, 0) else { return };
        match id {
            MSG_CONTAINER if depth == 0 => {
                let Some(count) = read_u32(body, 4) else {
                    return;
                };
                let mut at = 8;
                for _ in 0..count.min(1024) {
                    let (Some(inner_id), Some(len)) = (read_i64(body, at), read_u32(body, at + 12))
                    else {
                        return;
                    };
                    let start = at + 16;
                    let Some(inner) = body.get(start..start + len as usize) else {
                        return;
                    };
                    self.message(inner_id, inner, depth + 1);
                    at = start + len as usize;
                }
            }
            GZIP_PACKED if depth < 3 => {
                let Ok(packed) = <Vec<u8> as tl::Deserializable>::from_bytes(&body[4..]) else {
                    return;
                };
                if let Some(unpacked) = gunzip(&packed) {
                    self.message(msg_id, &unpacked, depth + 1);
                }
            }
            MSGS_ACK => {}
            PING | PING_DELAY_DISCONNECT => {
                if id == PING_DELAY_DISCONNECT
                    && let Some(delay) = read_u32(body, 12)
                {
                    self.shared
                        .hub
                        .ping_delay_disconnect(self.caller.conn, delay as i32);
                }
                if let Some(ping_id) = read_i64(body, 4) {
                    let pong = tl::enums::Pong::Pong(tl::types::Pong { msg_id, ping_id });
                    self.send(pong.to_bytes(), true, true);
                }
            }
            GET_FUTURE_SALTS => {
                let num = read_u32(body, 4).unwrap_or(1);
                self.send(self.shared.clock.future_salts(msg_id, num), true, true);
            }
            _ => {
                if self.shared.faults.silence(RandomSilence::SessionReset) {
                    self.reset_session(msg_id);
                }
                let shared = Arc::clone(&self.shared);
                let caller = self.caller;
                let tx = self.tx.clone();
                let body = body.to_vec();
                tokio::spawn(async move {
                    shared.latency.one_way().await;
                    let reply = api::handle(&shared, caller, &body).await;
                    shared.latency.one_way().await;
                    let out = match reply {
                        Reply::Disconnect => Out::Close,
                        Reply::Result(bytes) => Out::Msg {
                            body: rpc_result(msg_id, bytes, true),
                            content: true,
                            response: true,
                        },
                        Reply::Error { code, message } => {
                            let err = tl::enums::RpcError::Error(tl::types::RpcError {
                                error_code: code,
                                error_message: message,
                            });
                            Out::Msg {
                                body: rpc_result(msg_id, err.to_bytes(), false),
                                content: true,
                                response: true,
                            }
                        }
                    };
                    let _ = tx.send(out);
                });
            }
        }
    }
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_i64(b: &[u8], at: usize) -> Option<i64> {
    b.get(at..at + 8)
        .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(MAX_INFLATED)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// `rpc_result req_msg_id result`, gzip-packing large results (never errors) like Telegram.
fn rpc_result(req_msg_id: i64, result: Vec<u8>, may_gzip: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(result.len() / 2 + 16);
    RPC_RESULT.serialize(&mut out);
    req_msg_id.serialize(&mut out);
    if may_gzip && result.len() > GZIP_ABOVE {
        GZIP_PACKED.serialize(&mut out);
        gzip(&result).serialize(&mut out);
    } else {
        out.extend_from_slice(&result);
    }
    out
}

/// Numbers (with server time), salts, encrypts and frames outgoing messages in order; `Close` ends
/// the connection silently; a black hole sends nothing more and is never closed from here.
#[allow(clippy::too_many_arguments)]
async fn write_loop(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut transport: ServerTransport,
    key: ServerKey,
    session: Arc<AtomicI64>,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    black_hole: watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    let mut last_msg_id = 0i64;
    let mut content_sent = 0i32;
    let mut buf = Vec::new();
    loop {
        let out = tokio::select! {
            _ = cancel.cancelled() => break,
            out = rx.recv() => out,
        };
        if out.is_some() && *black_hole.borrow() {
            continue;
        }
        let Some(Out::Msg {
            body,
            content,
            response,
        }) = out
        else {
            // Close (a fault) or every sender gone: drop the socket without another byte.
            cancel.cancel();
            break;
        };
        let base = shared.clock.msg_id_base();
        let mut msg_id = base.max(last_msg_id + 4) & !3;
        msg_id |= if response { 1 } else { 3 };
        // Large pushes are gzip-packed like large results.
        let body = if !response && body.len() > GZIP_ABOVE {
            let mut packed = Vec::with_capacity(body.len() / 2);
            GZIP_PACKED.serialize(&mut packed);
            gzip(&body).serialize(&mut packed);
            packed
        } else {
            body
        };
        last_msg_id = msg_id & !3;
        let seq_no = if content {
            content_sent += 1;
            content_sent * 2 - 1
        } else {
            content_sent * 2
        };
        let mut plain = Vec::with_capacity(32 + body.len());
        shared.clock.salt().serialize(&mut plain);
        session.load(Ordering::SeqCst).serialize(&mut plain);
        msg_id.serialize(&mut plain);
        seq_no.serialize(&mut plain);
        (body.len() as i32).serialize(&mut plain);
        plain.extend_from_slice(&body);
        let packet = crypto::encrypt_to_client(&key, &plain);
        buf.clear();
        transport.write_frame(&packet, &mut buf);
        if wr.write_all(&buf).await.is_err() {
            cancel.cancel();
            break;
        }
    }
}
