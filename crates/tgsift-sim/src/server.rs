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
//! [`Hub`]: super::hub::Hub

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use grammers_tl_types as tl;
use tl::Serializable;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::api::{self, Caller, Reply};
use super::crypto::{self, ServerKey};
use super::hub::Out;
use super::shared::Shared;
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
    let writer = tokio::spawn(write_loop(
        wr,
        write_transport,
        key.clone(),
        Arc::clone(&session),
        shared.world.salt,
        rx,
        conn_cancel.clone(),
    ));
    let registration = shared.hub.register(dc, key_id, tx.clone());
    let conn = Conn {
        shared: Arc::clone(&shared),
        caller: Caller {
            dc,
            key_id,
            conn: registration.id,
        },
        tx,
    };
    let mut kill = shared.kill.subscribe();
    kill.borrow_and_update();
    let mut drop_at = registration.drop_at.clone();

    let mut packet = Some(first);
    let result = loop {
        let data = match packet.take() {
            Some(p) => p,
            None => tokio::select! {
                _ = conn_cancel.cancelled() => break Ok(()),
                _ = kill.changed() => break Ok(()),
                _ = unpinged(&mut drop_at) => {
                    tracing::debug!(dc, "sim: no ping within the disconnect delay; dropping the connection");
                    break Ok(());
                }
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
    /// Handles one encrypted packet from the client.
    fn packet(&self, key: &ServerKey, session: &AtomicI64, data: &[u8]) -> io::Result<()> {
        let plain = crypto::decrypt_from_client(key, data).map_err(io::Error::other)?;
        let field = |at: usize| -> io::Result<i64> {
            plain
                .get(at..at + 8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .ok_or_else(|| io::Error::other("short message header"))
        };
        let session_id = field(8)?;
        let msg_id = field(16)?;
        let len = plain
            .get(28..32)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| io::Error::other("short message header"))?;
        let body = usize::try_from(len)
            .ok()
            .and_then(|len| plain.get(32..32 + len))
            .ok_or_else(|| io::Error::other("message length exceeds packet"))?;
        if session.swap(session_id, Ordering::SeqCst) != session_id {
            self.shared.hub.set_session(self.caller.conn, session_id);
            // A new session on this key: tell the client, with the salt to use from now on.
            let created = tl::enums::NewSession::Created(tl::types::NewSessionCreated {
                first_msg_id: msg_id,
                unique_id: rand::random(),
                server_salt: self.shared.world.salt,
            });
            self.send(created.to_bytes(), false);
        }
        self.message(msg_id, body, 0);
        Ok(())
    }

    fn send(&self, body: Vec<u8>, content: bool) {
        // Pongs and future salts answer a client message; new_session_created does not.
        let _ = self.tx.send(Out::Msg {
            body,
            content,
            response: content,
        });
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
                    self.send(pong.to_bytes(), true);
                }
            }
            GET_FUTURE_SALTS => {
                let num = read_u32(body, 4).unwrap_or(1).clamp(1, 64);
                self.send(future_salts(msg_id, num, self.shared.world.salt), true);
            }
            _ => {
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

fn future_salts(req_msg_id: i64, num: u32, salt: i64) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i32)
        .unwrap_or(0);
    let salts = (0..num as i32)
        .map(|i| tl::types::FutureSalt {
            valid_since: now - 1800 + i * 3600,
            valid_until: now - 1800 + (i + 1) * 3600,
            salt: salt.wrapping_add(i64::from(i)),
        })
        .collect();
    tl::enums::FutureSalts::Salts(tl::types::FutureSalts {
        req_msg_id,
        now,
        salts: tl::RawVec(salts),
    })
    .to_bytes()
}

/// Numbers, encrypts and frames outgoing messages in order; `Close` ends the connection silently.
async fn write_loop(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut transport: ServerTransport,
    key: ServerKey,
    session: Arc<AtomicI64>,
    salt: i64,
    mut rx: mpsc::UnboundedReceiver<Out>,
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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let base =
            ((now.as_secs() as i64) << 32) | (i64::from(now.subsec_nanos()) << 2 & 0xffff_fffc);
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
        salt.serialize(&mut plain);
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
