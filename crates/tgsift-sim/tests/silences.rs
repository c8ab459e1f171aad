//! Telegram's silences against the real, unmodified grammers 0.11 client and its MTProto layer:
//! clients keep working through salt rotation and clock skew, and the quiet ones (black holes,
//! session resets, idle stop, unpushed channels) are silent exactly as promised.

use crate::common::{client, input_channel, within};
use std::time::{Duration, Instant};

use grammers_client::Client;
use grammers_crypto::DequeBuffer;
use grammers_mtproto::mtp::{Deserialization, Encrypted, Mtp};
use grammers_mtproto::transport::{Full, Transport};
use grammers_tl_types as tl;
use tgsift_sim::{Sim, SimConfig};
use tl::Serializable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One channel (`@sim_news`) of 20 posts and one account.
async fn sim() -> Sim {
    Sim::start(SimConfig::generated(42, 1, 20))
        .await
        .expect("start sim")
}

async fn get_state(c: &Client) -> tl::types::updates::State {
    let tl::enums::updates::State::State(s) = c
        .invoke(&tl::functions::updates::GetState {})
        .await
        .expect("getState");
    s
}

async fn get_history(c: &Client, sim: &Sim) -> usize {
    let tl::enums::InputChannel::Channel(ch) = input_channel(sim, "sim_news") else {
        unreachable!()
    };
    let history = c
        .invoke(&tl::functions::messages::GetHistory {
            peer: tl::enums::InputPeer::Channel(tl::types::InputPeerChannel {
                channel_id: ch.channel_id,
                access_hash: ch.access_hash,
            }),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 10,
            max_id: 0,
            min_id: 0,
            hash: 0,
        })
        .await
        .expect("getHistory");
    match history {
        tl::enums::messages::Messages::ChannelMessages(m) => m.messages.len(),
        other => panic!("{other:?}"),
    }
}

/// Calls getState and getHistory back to back for `run`; all must succeed.
async fn keeps_working(c: &Client, sim: &Sim, run: Duration) -> usize {
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < run {
        get_state(c).await;
        assert_eq!(get_history(c, sim).await, 10);
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rounds
}

#[tokio::test]
async fn grammers_keeps_working_while_salts_rotate_every_two_seconds() {
    within(60, async {
        let sim = sim().await;
        sim.set_salt_rotate(Some(Duration::from_secs(2)));
        let c = client(&sim);
        let rounds = keeps_working(&c, &sim, Duration::from_secs(6)).await;
        assert!(rounds >= 5, "{rounds}");
        let counts = sim.silence_counts();
        assert!(
            counts.bad_server_salts >= 2,
            "the first packet (salt 0) and stale salts after rotations are refused: {counts:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn grammers_corrects_its_clock_when_the_server_is_ten_minutes_ahead() {
    within(60, async {
        let sim = sim().await;
        sim.set_clock_skew(600);
        let c = client(&sim);
        keeps_working(&c, &sim, Duration::from_secs(1)).await;
        let counts = sim.silence_counts();
        assert!(
            counts.msg_ids_too_low >= 1 && counts.msg_ids_too_high == 0,
            "{counts:?}"
        );
        // Corrected once: the following calls pass.
        keeps_working(&c, &sim, Duration::from_millis(500)).await;
        assert_eq!(sim.silence_counts().msg_ids_too_low, counts.msg_ids_too_low);
    })
    .await;
}

/// grammers 0.11 never lets a msg_id go below the last one it used, so after the correction for a
/// server clock behind its own it re-sends with the same too-high time (code 17 again, in a tight
/// loop) until real time has caught up to 30 s past the skew: Telegram would refuse it the same way.
#[tokio::test]
async fn grammers_stalls_while_the_server_clock_is_behind_by_more_than_30_s() {
    within(60, async {
        let sim = sim().await;
        sim.set_clock_skew(-600);
        let c = client(&sim);
        let stalled = tokio::time::timeout(Duration::from_secs(2), get_state(&c)).await;
        assert!(
            stalled.is_err(),
            "no answer while its msg_ids stay 600 s ahead"
        );
        assert!(sim.silence_counts().msg_ids_too_high > 10);
        assert!(sim.log().counts().is_empty(), "nothing was processed");
        drop(c);
        drop(sim); // ends the client's loop

        let sim = self::sim().await;
        sim.set_clock_skew(-35);
        let c = client(&sim);
        let start = Instant::now();
        get_state(&c).await;
        let stall = start.elapsed();
        assert!(
            stall > Duration::from_secs(3),
            "answered after {stall:?}: about 5 s of refusals first"
        );
        assert!(sim.silence_counts().msg_ids_too_high > 10);
        keeps_working(&c, &sim, Duration::from_millis(500)).await;
    })
    .await;
}

#[tokio::test]
async fn salts_and_skew_together_still_work() {
    within(60, async {
        let sim = sim().await;
        sim.set_clock_skew(900);
        sim.set_salt_rotate(Some(Duration::from_secs(2)));
        let c = client(&sim);
        // A salt lives 2 to 4 s here (its period and the next): 5 s outlive at least one.
        keeps_working(&c, &sim, Duration::from_secs(5)).await;
        let counts = sim.silence_counts();
        assert!(
            counts.msg_ids_too_low >= 1 && counts.bad_server_salts >= 1,
            "{counts:?}"
        );
    })
    .await;
}

/// grammers' own MTProto layer over a TCP connection, to see the server's service messages.
struct RawConn {
    stream: TcpStream,
    mtp: Encrypted,
    transport: Full,
}

impl RawConn {
    async fn open(sim: &Sim, salt: i64, time_offset: i32) -> RawConn {
        let key = sim.new_session(0, true).dc_options[&tgsift_sim::HOME_DC]
            .auth_key
            .expect("key");
        let stream = TcpStream::connect(sim.addr(tgsift_sim::HOME_DC).expect("addr"))
            .await
            .expect("connect");
        RawConn {
            stream,
            mtp: Encrypted::build()
                .first_salt(salt)
                .time_offset(time_offset)
                .finish(key),
            transport: Full::new(),
        }
    }

    async fn send(&mut self, body: &[u8]) {
        let mut buf = DequeBuffer::with_capacity(body.len() + 1024, 128);
        self.mtp.push(&mut buf, body).expect("fits");
        self.mtp.finalize(&mut buf).expect("a packet");
        self.transport.pack(&mut buf);
        self.stream.write_all(&buf[..]).await.expect("write");
    }

    /// Reads packets until one yields something for the caller (service messages grammers handles
    /// itself, like new_session_created, yield nothing).
    async fn recv(&mut self) -> Vec<Deserialization> {
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            let mut out = Vec::new();
            while let Ok(offset) = self.transport.unpack(&mut buf) {
                out.extend(
                    self.mtp
                        .deserialize(&mut buf[offset.data_range.clone()])
                        .expect("decrypts"),
                );
                buf.drain(..offset.next_offset);
            }
            if !out.is_empty() {
                return out;
            }
        }
    }
}

fn bad_message_code(d: &[Deserialization]) -> Option<i32> {
    d.iter().find_map(|d| match d {
        Deserialization::BadMessage(b) => Some(b.code),
        _ => None,
    })
}

#[tokio::test]
async fn a_stale_salt_gets_bad_server_salt_and_the_packet_is_not_processed() {
    within(30, async {
        let sim = sim().await;
        sim.set_salt_rotate(Some(Duration::from_secs(3600)));
        let mut raw = RawConn::open(&sim, 0, 0).await;
        raw.send(&tl::functions::updates::GetState {}.to_bytes())
            .await;
        let got = raw.recv().await;
        assert_eq!(bad_message_code(&got), Some(48));
        assert!(sim.log().counts().is_empty(), "not processed");
        assert_eq!(sim.silence_counts().bad_server_salts, 1);

        // Without rotation the same packet is answered.
        let sim = self::sim().await;
        let mut raw = RawConn::open(&sim, 0, 0).await;
        raw.send(&tl::functions::updates::GetState {}.to_bytes())
            .await;
        let got = raw.recv().await;
        assert!(
            matches!(got.as_slice(), [Deserialization::RpcResult(_)]),
            "{}",
            got.len()
        );
    })
    .await;
}

#[tokio::test]
async fn msg_ids_off_server_time_get_codes_16_and_17() {
    within(30, async {
        let sim = sim().await;
        for (offset, code) in [(-301, 16), (32, 17), (-1000, 16), (1000, 17)] {
            let mut raw = RawConn::open(&sim, 0, offset).await;
            raw.send(&tl::functions::updates::GetState {}.to_bytes())
                .await;
            assert_eq!(bad_message_code(&raw.recv().await), Some(code), "{offset}");
        }
        sim.set_clock_skew(-1000);
        let mut raw = RawConn::open(&sim, 0, -1000).await;
        raw.send(&tl::functions::updates::GetState {}.to_bytes())
            .await;
        assert!(bad_message_code(&raw.recv().await).is_none(), "in step");
        assert!(sim.log().counts().len() == 1, "only the last one processed");
    })
    .await;
}

#[tokio::test]
async fn a_black_hole_stays_open_and_answers_nothing_while_new_connections_work() {
    within(30, async {
        let sim = sim().await;
        let c = client(&sim);
        get_state(&c).await;
        assert_eq!(sim.subscribers(), 1);
        assert_eq!(sim.blackhole(0), 1);
        assert_eq!((sim.black_holes(), sim.subscribers()), (1, 0));
        let silent = tokio::time::timeout(
            Duration::from_secs(2),
            c.invoke(&tl::functions::updates::GetState {}),
        )
        .await;
        assert!(silent.is_err(), "no answer from a black hole");
        sim.append_post("sim_news", "into the void");
        assert_eq!(sim.silence_counts().pushes_black_holed, 1);
        assert_eq!(sim.connections(), 1, "still open");
        sim.disconnect_all();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sim.connections(), 1, "not even disconnect_all closes it");

        let fresh = client(&sim);
        get_state(&fresh).await;
        assert_eq!(
            sim.blackhole(0),
            1,
            "only the new one: the old one is a hole already"
        );
        assert_eq!(sim.silence_counts().black_holes, 2);
        drop(c);
        drop(fresh);
    })
    .await;
}

#[tokio::test]
async fn a_reset_session_gets_no_pushes_and_get_difference_names_the_channel() {
    within(30, async {
        let sim = sim().await;
        let c = client(&sim);
        let state = get_state(&c).await;
        let pts_before = sim.channel_pts("sim_news").expect("pts");
        assert_eq!(sim.reset_sessions(0), 1);
        assert_eq!(sim.subscribers(), 0);
        sim.append_post("sim_news", "missed");
        sim.append_post("sim_news", "missed too");
        let counts = sim.silence_counts();
        assert_eq!((counts.session_resets, counts.pushes_session_reset), (1, 2));

        let diff = c
            .invoke(&tl::functions::updates::GetDifference {
                pts: state.pts,
                pts_limit: None,
                pts_total_limit: None,
                date: state.date,
                qts: state.qts,
                qts_limit: None,
            })
            .await
            .expect("getDifference");
        let tl::enums::updates::Difference::Difference(d) = diff else {
            panic!("{diff:?}")
        };
        let channel_id = sim
            .with_channel("sim_news", |ch| ch.spec().id)
            .expect("channel");
        assert!(
            matches!(d.other_updates.as_slice(),
                [tl::enums::Update::ChannelTooLong(u)] if u.channel_id == channel_id && u.pts == Some(pts_before)),
            "{:?}",
            d.other_updates
        );
        assert_eq!(sim.subscribers(), 1, "subscribed again");
        sim.append_post("sim_news", "pushed again");
        assert_eq!(sim.silence_counts().pushes_delivered, 1);
    })
    .await;
}

#[tokio::test]
async fn idle_connections_stop_getting_pushes_and_unpushed_channels_never_get_them() {
    within(30, async {
        let sim = sim().await;
        let c = client(&sim);
        get_state(&c).await;
        sim.set_push_idle_stop(Some(Duration::from_millis(300)));
        sim.append_post("sim_news", "fresh");
        tokio::time::sleep(Duration::from_millis(600)).await;
        sim.append_post("sim_news", "while idle");
        get_state(&c).await;
        sim.append_post("sim_news", "after a request");
        let counts = sim.silence_counts();
        assert_eq!((counts.pushes_delivered, counts.pushes_idle_stopped), (2, 1));

        sim.set_push_idle_stop(None);
        let channel_id = sim
            .with_channel("sim_news", |ch| ch.spec().id)
            .expect("channel");
        assert!(!sim.is_unpushed(channel_id));
        sim.set_unpushed(1.0);
        assert!(sim.is_unpushed(channel_id));
        let pts = sim.channel_pts("sim_news").expect("pts");
        sim.append_post("sim_news", "never pushed");
        assert_eq!(sim.silence_counts().pushes_unpushed, 1);
        // Still there for whoever asks.
        let diff = c
            .invoke(&tl::functions::updates::GetChannelDifference {
                force: false,
                channel: input_channel(&sim, "sim_news"),
                filter: tl::enums::ChannelMessagesFilter::Empty,
                pts,
                limit: 100,
            })
            .await
            .expect("getChannelDifference");
        let tl::enums::updates::ChannelDifference::Difference(d) = diff else {
            panic!("{diff:?}")
        };
        assert_eq!(d.new_messages.len(), 1);

        sim.set_channel_timeout(300);
        let empty = c
            .invoke(&tl::functions::updates::GetChannelDifference {
                force: false,
                channel: input_channel(&sim, "sim_news"),
                filter: tl::enums::ChannelMessagesFilter::Empty,
                pts: sim.channel_pts("sim_news").expect("pts"),
                limit: 100,
            })
            .await
            .expect("getChannelDifference");
        assert!(
            matches!(&empty, tl::enums::updates::ChannelDifference::Empty(e) if e.timeout == Some(300)),
            "{empty:?}"
        );
    })
    .await;
}
