//! Live updates from the simulated DC as Telegram sends them, seen by the unmodified grammers client:
//! pushes to members that asked for updates, per-channel pts, differences, push faults, and the key
//! rule of `--strict-keys`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{API_ID, within};
use grammers_client::Client;
use grammers_client::session::SessionData;
use grammers_client::session::storages::MemorySession;
use grammers_client::update::Update;
use grammers_client::{InvocationError, SenderPool};
use grammers_mtsender::UpdatesConfiguration;
use grammers_session::updates::UpdatesLike;
use grammers_tl_types as tl;
use tgsift_sim::{Fault, LiveConfig, PushFault, Scripted, ScriptedPush, Sim, SimConfig};
use tokio::sync::mpsc;

/// A client on `data`'s key that keeps the raw updates channel (what grammers' runner pushes into).
fn client_on(data: SessionData) -> (Client, mpsc::Receiver<UpdatesLike>) {
    let pool = SenderPool::new(Arc::new(MemorySession::from(data)), API_ID);
    let client = Client::new(pool.handle);
    tokio::spawn(pool.runner.run());
    (client, pool.updates)
}

/// Another session on the same auth key (what a copied session file is).
fn same_key(data: &SessionData) -> SessionData {
    SessionData {
        home_dc: data.home_dc,
        dc_options: data.dc_options.clone(),
        ..SessionData::default()
    }
}

fn input_channel(sim: &Sim, name: &str) -> tl::enums::InputChannel {
    let (id, hash) = sim
        .with_channel(name, |c| (c.spec().id, c.spec().access_hash))
        .expect("channel");
    tl::enums::InputChannel::Channel(tl::types::InputChannel {
        channel_id: id,
        access_hash: hash,
    })
}

/// The next pushed `Updates` (skipping grammers' own connection notices), or `None` after `wait`.
async fn next_push(
    rx: &mut mpsc::Receiver<UpdatesLike>,
    wait: Duration,
) -> Option<tl::enums::Updates> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(UpdatesLike::Updates(u))) => return Some(u),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

/// A pushed `updates` with one update: checks what Telegram guarantees of channel pushes.
fn single(push: tl::enums::Updates, channel: i64, hash: i64) -> tl::enums::Update {
    let tl::enums::Updates::Updates(u) = push else {
        panic!("expected updates, got {push:?}");
    };
    assert_eq!(u.seq, 0, "channel pushes carry seq 0");
    assert!(u.date > 0);
    let ok = u.chats.iter().any(|c| {
        matches!(c, tl::enums::Chat::Channel(ch) if ch.id == channel && ch.access_hash == Some(hash) && !ch.min && !ch.left)
    });
    assert!(
        ok,
        "the channel, with its access hash, is in chats: {:?}",
        u.chats
    );
    assert_eq!(u.updates.len(), 1);
    u.updates.into_iter().next().expect("one update")
}

/// (pts, pts_count) of a channel update.
fn pts_of(u: &tl::enums::Update) -> (i32, i32) {
    match u {
        tl::enums::Update::NewChannelMessage(u) => (u.pts, u.pts_count),
        tl::enums::Update::EditChannelMessage(u) => (u.pts, u.pts_count),
        tl::enums::Update::DeleteChannelMessages(u) => (u.pts, u.pts_count),
        other => panic!("not a channel message update: {other:?}"),
    }
}

#[tokio::test]
async fn members_that_asked_for_updates_get_every_change_in_pts_order() {
    within(60, async {
        let sim = Sim::start(SimConfig::generated(3, 2, 200)).await.expect("sim");
        let names = sim.channel_usernames();
        let (id0, hash0) = sim
            .with_channel(&names[0], |c| (c.spec().id, c.spec().access_hash))
            .expect("c");
        let (c, mut rx) = client_on(sim.new_session(0, true));
        c.get_me().await.expect("get_me");
        // Connected and authorized, but it never asked for updates: nothing is pushed.
        sim.append_post(&names[0], "Nobody is told about this one yet, it is a quiet post.")
            .expect("post");
        assert!(next_push(&mut rx, Duration::from_millis(400)).await.is_none());
        assert_eq!(sim.subscribers(), 0);

        let tl::enums::updates::State::State(state) = c
            .invoke(&tl::functions::updates::GetState {})
            .await
            .expect("getState");
        assert_eq!(sim.subscribers(), 1);

        // New posts, an edit, a deletion of two: one push each, pts contiguous with pts_count.
        let mut pts = sim.channel_pts(&names[0]).expect("pts");
        let a = sim
            .append_post(&names[0], "First live post: the market opened higher this morning.")
            .expect("a");
        let b = sim.publish_post(&names[0]).expect("b");
        assert!(sim.edit_post(&names[0], a, "First live post, corrected: it opened lower."));
        assert_eq!(sim.delete_messages(&names[0], &[b, 5_000_000, a - 1]), 2);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let push = next_push(&mut rx, Duration::from_secs(5)).await.expect("push");
            let u = single(push, id0, hash0);
            let (p, n) = pts_of(&u);
            assert_eq!(p, pts + n, "contiguous pts");
            pts = p;
            seen.push(u);
        }
        assert!(
            matches!(&seen[0], tl::enums::Update::NewChannelMessage(u) if matches!(&u.message, tl::enums::Message::Message(m) if m.id == a && m.post))
        );
        assert!(matches!(&seen[1], tl::enums::Update::NewChannelMessage(u) if u.message.id() == b));
        match &seen[2] {
            tl::enums::Update::EditChannelMessage(u) => match &u.message {
                tl::enums::Message::Message(m) => {
                    assert_eq!(m.id, a);
                    assert_eq!(m.message, "First live post, corrected: it opened lower.");
                    assert!(m.edit_date.is_some_and(|d| d >= m.date));
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        match &seen[3] {
            tl::enums::Update::DeleteChannelMessages(u) => {
                assert_eq!((u.channel_id, u.messages.clone(), u.pts_count), (id0, vec![b, a - 1], 2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pts, sim.channel_pts(&names[0]).expect("pts"));
        assert!(state.pts > 0 && state.seq > 0);

        // The deleted post is messageEmpty to channels.getMessages; the edited one has its new text.
        let got = c
            .invoke(&tl::functions::channels::GetMessages {
                channel: input_channel(&sim, &names[0]),
                id: vec![
                    tl::enums::InputMessage::Id(tl::types::InputMessageId { id: b }),
                    tl::enums::InputMessage::Id(tl::types::InputMessageId { id: a }),
                ],
            })
            .await
            .expect("getMessages");
        let tl::enums::messages::Messages::ChannelMessages(got) = got else {
            panic!("channelMessages");
        };
        assert!(matches!(&got.messages[0], tl::enums::Message::Empty(e) if e.id == b));
        assert!(
            matches!(&got.messages[1], tl::enums::Message::Message(m) if m.edit_date.is_some() && m.message.contains("corrected"))
        );
        assert_eq!(got.pts, pts);

        // Leaving a channel stops its pushes; the other channel's still arrive; joining resumes.
        let left = c
            .invoke(&tl::functions::channels::LeaveChannel {
                channel: input_channel(&sim, &names[0]),
            })
            .await
            .expect("leave");
        let tl::enums::Updates::Updates(left) = left else {
            panic!("updates");
        };
        assert!(matches!(&left.chats[0], tl::enums::Chat::Channel(ch) if ch.left));
        assert!(matches!(&left.updates[0], tl::enums::Update::Channel(u) if u.channel_id == id0));
        assert_eq!(sim.is_member(&names[0], 0), Some(false));
        let err = c
            .invoke(&tl::functions::channels::LeaveChannel {
                channel: input_channel(&sim, &names[0]),
            })
            .await
            .expect_err("not a member");
        assert!(err.is("USER_NOT_PARTICIPANT"), "{err:?}");
        // grammers hands the updates of the leave's result to its update loop too.
        let echo = next_push(&mut rx, Duration::from_secs(5)).await.expect("echo");
        assert!(
            matches!(&echo, tl::enums::Updates::Updates(u) if matches!(&u.updates[..], [tl::enums::Update::Channel(_)])),
            "{echo:?}"
        );
        sim.publish_post(&names[0]).expect("post");
        let other = sim.publish_post(&names[1]).expect("post");
        let push = next_push(&mut rx, Duration::from_secs(5)).await.expect("push");
        let tl::enums::Updates::Updates(u) = push else {
            panic!("updates");
        };
        assert!(
            matches!(&u.updates[0], tl::enums::Update::NewChannelMessage(m) if m.message.id() == other),
            "{u:?}"
        );
        assert!(next_push(&mut rx, Duration::from_millis(300)).await.is_none());
        let joined = c
            .invoke(&tl::functions::channels::JoinChannel {
                channel: input_channel(&sim, &names[0]),
            })
            .await
            .expect("join");
        let tl::enums::messages::ChatInviteJoinResult::Ok(joined) = joined else {
            panic!("chatInviteJoinResultOk");
        };
        assert!(
            matches!(&joined.updates, tl::enums::Updates::Updates(u) if matches!(&u.chats[..], [tl::enums::Chat::Channel(ch)] if !ch.left)),
            "{joined:?}"
        );
        let err = c
            .invoke(&tl::functions::channels::JoinChannel {
                channel: input_channel(&sim, &names[0]),
            })
            .await
            .expect_err("already a member");
        assert!(err.is("USER_ALREADY_PARTICIPANT"), "{err:?}");
        assert_eq!(sim.is_member(&names[0], 0), Some(true));
        let again = sim.publish_post(&names[0]).expect("post");
        let u = single(
            next_push(&mut rx, Duration::from_secs(5)).await.expect("push"),
            id0,
            hash0,
        );
        assert_eq!(pts_of(&u).0, sim.channel_pts(&names[0]).expect("pts"));
        assert!(matches!(u, tl::enums::Update::NewChannelMessage(m) if m.message.id() == again));

        // A reconnect is a new session: no pushes until it asks again.
        sim.disconnect_all();
        c.get_me().await.expect("reconnected");
        sim.publish_post(&names[1]).expect("post");
        assert!(next_push(&mut rx, Duration::from_millis(400)).await.is_none());
        assert_eq!(sim.subscribers(), 0);
    })
    .await;
}

fn channel_difference(
    sim: &Sim,
    name: &str,
    pts: i32,
    limit: i32,
) -> tl::functions::updates::GetChannelDifference {
    tl::functions::updates::GetChannelDifference {
        force: false,
        channel: input_channel(sim, name),
        filter: tl::enums::ChannelMessagesFilter::Empty,
        pts,
        limit,
    }
}

#[tokio::test]
async fn channel_difference_honours_limit_and_says_too_long_or_empty() {
    within(60, async {
        let mut cfg = SimConfig::generated(4, 1, 300);
        cfg.event_log = 50;
        let sim = Sim::start(cfg).await.expect("sim");
        let name = sim.channel_usernames()[0].clone();
        let (c, _rx) = client_on(sim.new_session(0, true));
        let start = sim.channel_pts(&name).expect("pts");
        let ids: Vec<i32> = (0..30)
            .map(|_| sim.publish_post(&name).expect("post"))
            .collect();
        let edited = ids[3];
        assert!(sim.edit_post(&name, edited, "Edited while the client was away."));

        use tl::enums::updates::ChannelDifference as D;
        // Cut at the limit: final = false and the pts reached.
        let d = c
            .invoke(&channel_difference(&sim, &name, start, 10))
            .await
            .expect("diff");
        let D::Difference(d) = d else {
            panic!("difference, got {d:?}")
        };
        assert!(!d.r#final);
        assert_eq!(d.pts, start + 10);
        let got: Vec<i32> = d.new_messages.iter().map(|m| m.id()).collect();
        assert_eq!(got, ids[..10]);
        assert!(d.timeout.is_some());
        // The rest, then the edit (as an other_update with its own pts).
        let d = c
            .invoke(&channel_difference(&sim, &name, start + 10, 100))
            .await
            .expect("diff");
        let D::Difference(d) = d else {
            panic!("difference, got {d:?}")
        };
        assert!(d.r#final);
        assert_eq!(d.pts, start + 31);
        let got: Vec<i32> = d.new_messages.iter().map(|m| m.id()).collect();
        assert_eq!(got, ids[10..]);
        assert!(matches!(
            &d.other_updates[..],
            [tl::enums::Update::EditChannelMessage(u)] if u.pts == start + 31 && u.pts_count == 1 && u.message.id() == edited
        ));
        // Nothing new: empty, with a timeout.
        let d = c
            .invoke(&channel_difference(&sim, &name, start + 31, 100))
            .await
            .expect("diff");
        assert!(
            matches!(&d, D::Empty(e) if e.pts == start + 31 && e.r#final && e.timeout.is_some()),
            "{d:?}"
        );
        // Past the log: too long, with the dialog's pts and the newest messages.
        for _ in 0..40 {
            sim.publish_post(&name).expect("post");
        }
        let now = sim.channel_pts(&name).expect("pts");
        let d = c
            .invoke(&channel_difference(&sim, &name, start, 100))
            .await
            .expect("diff");
        let D::TooLong(t) = d else {
            panic!("too long, got {d:?}")
        };
        let tl::enums::Dialog::Dialog(dialog) = &t.dialog else {
            panic!("dialog");
        };
        assert_eq!(dialog.pts, Some(now));
        let top = sim.with_channel(&name, |ch| ch.top_id()).expect("top");
        assert_eq!(dialog.top_message, top);
        assert_eq!(t.messages.first().map(|m| m.id()), Some(top));
        assert!(!t.messages.is_empty() && t.messages.len() <= 100);
        assert!(matches!(&t.chats[0], tl::enums::Chat::Channel(ch) if ch.access_hash.is_some()));
        // Still within the log: a normal difference.
        let d = c
            .invoke(&channel_difference(&sim, &name, now - 20, 100))
            .await
            .expect("diff");
        assert!(matches!(&d, D::Difference(d) if d.new_messages.len() == 20 && d.pts == now));
        let err = c
            .invoke(&channel_difference(&sim, &name, 0, 100))
            .await
            .expect_err("pts 0");
        assert!(err.is("PERSISTENT_TIMESTAMP_INVALID"), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn state_difference_and_push_faults_are_consistent() {
    within(60, async {
        let sim = Sim::start(SimConfig::generated(5, 1, 100)).await.expect("sim");
        let name = sim.channel_usernames()[0].clone();
        let (id, hash) = sim
            .with_channel(&name, |c| (c.spec().id, c.spec().access_hash))
            .expect("c");
        let (c, mut rx) = client_on(sim.new_session(0, true));
        let tl::enums::updates::State::State(state) = c
            .invoke(&tl::functions::updates::GetState {})
            .await
            .expect("state");
        let diff = |pts: i32| tl::functions::updates::GetDifference {
            pts,
            pts_limit: None,
            pts_total_limit: None,
            date: state.date,
            qts: state.qts,
            qts_limit: None,
        };
        let d = c.invoke(&diff(state.pts)).await.expect("diff");
        assert!(
            matches!(&d, tl::enums::updates::Difference::Empty(e) if e.seq == state.seq),
            "{d:?}"
        );

        // A dropped push: the next one shows the gap.
        let before = sim.channel_pts(&name).expect("pts");
        sim.script_push(ScriptedPush::next(PushFault::Drop));
        sim.publish_post(&name).expect("post");
        let kept = sim.publish_post(&name).expect("post");
        let u = single(next_push(&mut rx, Duration::from_secs(5)).await.expect("push"), id, hash);
        assert!(matches!(&u, tl::enums::Update::NewChannelMessage(m) if m.message.id() == kept));
        assert_eq!(pts_of(&u), (before + 2, 1), "pts {} - 1 > {before}: a gap", before + 2);

        // updatesTooLong instead of a push; getDifference then names the channel and where to
        // fetch from, once.
        let before = sim.channel_pts(&name).expect("pts");
        sim.script_push(ScriptedPush::next(PushFault::UpdatesTooLong).in_channel(id));
        sim.publish_post(&name).expect("post");
        let push = next_push(&mut rx, Duration::from_secs(5)).await.expect("push");
        assert!(matches!(push, tl::enums::Updates::TooLong), "{push:?}");
        let d = c.invoke(&diff(state.pts)).await.expect("diff");
        let tl::enums::updates::Difference::Difference(d) = d else {
            panic!("difference, got {d:?}");
        };
        assert!(matches!(
            &d.other_updates[..],
            [tl::enums::Update::ChannelTooLong(u)] if u.channel_id == id && u.pts == Some(before)
        ));
        assert!(matches!(&d.chats[0], tl::enums::Chat::Channel(ch) if ch.id == id && ch.access_hash == Some(hash)));
        let tl::enums::updates::State::State(s) = &d.state;
        assert_eq!((s.pts, s.seq), (state.pts, state.seq));
        let d = c.invoke(&diff(state.pts)).await.expect("diff");
        assert!(matches!(d, tl::enums::updates::Difference::Empty(_)));

        // updateChannelTooLong instead of a push, with the pts before the event.
        let before = sim.channel_pts(&name).expect("pts");
        sim.script_push(ScriptedPush::next(PushFault::ChannelTooLong));
        sim.publish_post(&name).expect("post");
        let u = single(next_push(&mut rx, Duration::from_secs(5)).await.expect("push"), id, hash);
        assert!(
            matches!(&u, tl::enums::Update::ChannelTooLong(t) if t.channel_id == id && t.pts == Some(before)),
            "{u:?}"
        );

        // FLOOD_WAIT on difference calls comes from the usual fault plan (above grammers' 60 s
        // auto-sleep, so it surfaces here).
        sim.script(Scripted::on(
            "updates.getChannelDifference",
            Fault::FloodWait(90),
        ));
        let err = c
            .invoke(&channel_difference(&sim, &name, before, 100))
            .await
            .expect_err("flood");
        assert!(matches!(&err, InvocationError::Rpc(r) if r.code == 420 && r.value == Some(90)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn stream_updates_gets_every_live_post_once_and_recovers_a_dropped_push() {
    within(120, async {
        let sim = Sim::start(SimConfig::generated(6, 3, 500))
            .await
            .expect("sim");
        let names = sim.channel_usernames();
        // A client that logs in like any user: after sign-in its session knows the self user, so
        // grammers' update loop starts with updates.getState.
        let acc = sim.accounts()[0].clone();
        let pool = SenderPool::new(
            Arc::new(MemorySession::from(sim.new_session(0, false))),
            API_ID,
        );
        let client = Client::new(pool.handle);
        let updates = pool.updates;
        tokio::spawn(pool.runner.run());
        let token = client
            .request_login_code(&acc.phone, crate::common::API_HASH)
            .await
            .expect("code");
        client.sign_in(&token, &acc.code).await.expect("sign in");
        let mut stream = client
            .stream_updates(updates, UpdatesConfiguration { catch_up: false })
            .await
            .expect("stream");
        let (tx, mut got) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            loop {
                match stream.next().await {
                    Ok(Update::NewMessage(m)) => {
                        let _ = tx.send((m.peer_id().bare_id().unwrap_or(0), m.id()));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send((-1, 0));
                        panic!("update stream failed: {e:?}");
                    }
                }
            }
        });
        let t0 = Instant::now();
        while sim.subscribers() == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the stream asked for updates"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let tops: Vec<(i64, i32)> = names
            .iter()
            .map(|n| {
                sim.with_channel(n, |c| (c.spec().id, c.top_id()))
                    .expect("c")
            })
            .collect();
        // One push is lost (well after every channel has had pushes), and the client's first
        // getChannelDifference meets a FLOOD_WAIT it sleeps through.
        sim.script_push(ScriptedPush::next(PushFault::Drop).after(60));
        sim.script(Scripted::on(
            "updates.getChannelDifference",
            Fault::FloodWait(1),
        ));
        let live = sim.start_live(LiveConfig::posts(30.0));
        tokio::time::sleep(Duration::from_secs(10)).await;
        live.stop().await;

        let mut want: BTreeMap<(i64, i32), usize> = BTreeMap::new();
        for (name, (id, top)) in names.iter().zip(&tops) {
            let now = sim.with_channel(name, |c| c.top_id()).expect("c");
            for m in top + 1..=now {
                want.insert((*id, m), 1);
            }
        }
        assert!(want.len() >= 250, "{} posts published in 10 s", want.len());
        let mut seen: BTreeMap<(i64, i32), usize> = BTreeMap::new();
        let t1 = Instant::now();
        while seen.len() < want.len() && t1.elapsed() < Duration::from_secs(40) {
            match tokio::time::timeout(Duration::from_millis(200), got.recv()).await {
                Ok(Some((-1, _))) => panic!("the stream failed"),
                Ok(Some(key)) => *seen.entry(key).or_default() += 1,
                Ok(None) => break,
                Err(_) => {}
            }
        }
        // A little longer, to catch a duplicate arriving late.
        while let Ok(Some(key)) = tokio::time::timeout(Duration::from_millis(500), got.recv()).await
        {
            *seen.entry(key).or_default() += 1;
        }
        reader.abort();
        let missing: Vec<_> = want.keys().filter(|k| !seen.contains_key(k)).collect();
        assert!(missing.is_empty(), "missing {missing:?}");
        assert_eq!(seen, want, "every live post exactly once, nothing else");
        let diffs: Vec<_> = sim
            .log()
            .requests()
            .into_iter()
            .filter(|r| r.method == "updates.getChannelDifference")
            .map(|r| r.outcome)
            .collect();
        assert!(
            diffs.len() >= 2,
            "the gap was filled through getChannelDifference: {diffs:?}"
        );
        assert!(matches!(diffs[0], tgsift_sim::log::Outcome::Flood(1)));
    })
    .await;
}

#[tokio::test]
async fn strict_keys_revoke_a_key_live_on_two_connections_but_not_on_a_reconnect() {
    within(60, async {
        let mut cfg = SimConfig::generated(8, 1, 50);
        cfg.strict_keys = true;
        let sim = Sim::start(cfg).await.expect("sim");
        let data = sim.new_session(0, true);
        let copy = same_key(&data);
        let third = same_key(&data);
        let (a, _ra) = client_on(data);
        a.get_me().await.expect("a");

        // A reconnect: the old connection is closed by the server, the client comes back with a new
        // session; and the client itself drops its connection and reconnects.
        sim.disconnect_all();
        a.get_me().await.expect("after the server closed the connection");
        sim.script(Scripted::on("users.getUsers", Fault::Disconnect));
        a.get_me().await.expect("after a TCP close mid-request");
        a.disconnect();
        let (b, _rb) = client_on(copy);
        b.get_me().await.expect("the same key after the first client quit");

        // A second live connection on the key, with another session: AUTH_KEY_DUPLICATED, and the
        // key is dead for everyone.
        let (c, _rc) = client_on(third);
        let err = c.get_me().await.expect_err("duplicated");
        assert!(
            matches!(&err, InvocationError::Rpc(r) if r.code == 406 && r.name == "AUTH_KEY_DUPLICATED"),
            "{err:?}"
        );
        let err = b.get_me().await.expect_err("revoked");
        assert!(err.is("AUTH_KEY_DUPLICATED"), "{err:?}");

        // Without --strict-keys (the default) sharing goes unnoticed.
        let sim = Sim::start(SimConfig::generated(8, 1, 50)).await.expect("sim");
        let data = sim.new_session(0, true);
        let copy = same_key(&data);
        let (a, _ra) = client_on(data);
        let (b, _rb) = client_on(copy);
        a.get_me().await.expect("a");
        b.get_me().await.expect("b");
        a.get_me().await.expect("a again");
    })
    .await;
}

#[tokio::test]
async fn posts_hidden_from_an_account_are_not_pushed_to_it() {
    within(60, async {
        let mut cfg = SimConfig::generated(5, 1, 100);
        cfg.accounts.push(tgsift_sim::AccountSpec::generated(1));
        cfg.faults = tgsift_sim::RandomFaults {
            hidden: 0.1,
            ..Default::default()
        };
        let sim = Sim::start(cfg).await.expect("sim");
        let name = sim.channel_usernames()[0].clone();
        let mut subs = Vec::new();
        for account in 0..2 {
            let (c, rx) = client_on(sim.new_session(account, true));
            c.invoke(&tl::functions::updates::GetState {})
                .await
                .expect("getState");
            subs.push((c, rx));
        }
        let published: Vec<i32> = (0..80)
            .map(|_| sim.publish_post(&name).expect("post"))
            .collect();
        // An edit of each account's first hidden post reaches only the other account.
        let visible: Vec<Vec<i32>> = (0..2).map(|a| sim.visible_post_ids(&name, a)).collect();
        let hidden_from = |a: usize| {
            published
                .iter()
                .copied()
                .find(|id| !visible[a].contains(id) && visible[1 - a].contains(id))
                .expect("a post hidden from this account only")
        };
        let edited = [hidden_from(0), hidden_from(1)];
        for id in edited {
            assert!(sim.edit_post(&name, id, "Edited while hidden from one account."));
        }
        for (account, (_c, rx)) in subs.iter_mut().enumerate() {
            let mut new = Vec::new();
            let mut edits = Vec::new();
            while let Some(push) = next_push(rx, Duration::from_millis(800)).await {
                let tl::enums::Updates::Updates(u) = push else {
                    panic!("updates");
                };
                for u in u.updates {
                    match u {
                        tl::enums::Update::NewChannelMessage(u) => new.push(u.message.id()),
                        tl::enums::Update::EditChannelMessage(u) => edits.push(u.message.id()),
                        other => panic!("{other:?}"),
                    }
                }
            }
            let want: Vec<i32> = published
                .iter()
                .copied()
                .filter(|id| visible[account].contains(id))
                .collect();
            assert!(want.len() < published.len(), "some are hidden");
            assert_eq!(new, want, "account {account}");
            assert_eq!(edits, vec![edited[1 - account]], "account {account}");
        }
    })
    .await;
}
