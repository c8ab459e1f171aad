//! The simulator's getHistory against Telegram's rule written plainly (`sim::paging`), and grammers'
//! own paging over whole channels whose sizes are not multiples of a page, and over channels paged
//! like Telegram at its worst (hidden posts, short pages, placeholders, repeated ids).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::common::reference::{Read, careful_read, peer_of};
use crate::common::{client, within};
use grammers_client::Client;
use grammers_tl_types as tl;
use proptest::prelude::*;
use tgsift_sim::paging::history_reference;
use tgsift_sim::world::HistoryQuery;
use tgsift_sim::{
    AccountSpec, ChannelSpec, Lang, RandomFaults, ServiceRun, Sim, SimChannel, SimConfig,
};

/// A channel and its full listing `(id, date)` for the reference.
struct Fixture {
    ch: SimChannel,
    listing: Vec<(i32, i32)>,
}

impl Fixture {
    fn new(ch: SimChannel) -> Fixture {
        let listing = ch
            .ids()
            .into_iter()
            .map(|id| (id, ch.message(id).expect("listed").date()))
            .collect();
        Fixture { ch, listing }
    }

    fn top(&self) -> i32 {
        self.ch.top_id()
    }

    fn dates(&self) -> (i32, i32) {
        let first = self.listing.first().map_or(0, |m| m.1);
        let last = self.listing.last().map_or(0, |m| m.1);
        (first, last)
    }
}

fn spec(posts: i32, seed: u64) -> ChannelSpec {
    ChannelSpec {
        id: 5_000 + seed as i64,
        access_hash: 99,
        username: Some(format!("ref_{seed}")),
        title: format!("Reference {seed}"),
        lang: Lang::En,
        posts,
        seed,
        start_date: 1_600_000_000,
        service_run: None,
        discussion: None,
        megagroup: false,
    }
}

/// Channels of awkward sizes: empty, one message, not multiples of 100, a run of service messages,
/// and one changed at run time (published posts, deletions of both kinds).
fn fixtures() -> &'static [Fixture] {
    static F: OnceLock<Vec<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let mut with_run = spec(2_941, 5);
        with_run.service_run = Some(ServiceRun {
            first: 1_200,
            len: 260,
        });
        let mut changed = SimChannel::new(spec(733, 10));
        let now = changed.newest_date();
        for k in 0..150 {
            changed.publish(now + k / 7);
        }
        for id in (3..883).step_by(23) {
            changed.delete(id);
        }
        vec![
            Fixture::new(SimChannel::new(spec(0, 1))),
            Fixture::new(SimChannel::new(spec(1, 2))),
            Fixture::new(SimChannel::new(spec(57, 3))),
            Fixture::new(SimChannel::new(with_run)),
            Fixture::new(SimChannel::new(spec(10_037, 6))),
            Fixture::new(changed),
        ]
    })
}

/// Values near the interesting places (0, the ends, inside) and, sometimes, anything at all.
fn around(lo: i32, hi: i32) -> BoxedStrategy<i32> {
    prop_oneof![
        3 => Just(0),
        6 => lo.saturating_sub(3)..=hi.saturating_add(3),
        1 => any::<i32>(),
    ]
    .boxed()
}

fn query(f: &Fixture) -> BoxedStrategy<HistoryQuery> {
    let top = f.top();
    let (d0, d1) = f.dates();
    let near_top = prop_oneof![
        around(0, top),
        (top.saturating_sub(120)..=top.saturating_add(2)),
    ];
    (
        near_top,
        around(d0, d1),
        prop_oneof![6 => -130..=130i32, 1 => any::<i32>()],
        prop_oneof![6 => -3..=130i32, 2 => Just(100), 1 => any::<i32>()],
        around(0, top),
        around(0, top),
        0..4u8,
    )
        .prop_map(
            |(offset_id, offset_date, add_offset, limit, max_id, min_id, mask)| {
                HistoryQuery {
                    offset_id,
                    // Dates and id bounds are unset in most real queries: keep many of them 0.
                    offset_date: if mask & 1 == 0 { offset_date } else { 0 },
                    add_offset,
                    limit,
                    max_id: if mask & 2 == 0 { max_id } else { 0 },
                    min_id,
                }
            },
        )
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12_000))]

    /// 12,000 random queries over channels of awkward sizes: the fast path returns exactly what the
    /// plain rule does.
    #[test]
    fn history_ids_follow_the_reference_rule(
        (i, q) in (0..fixtures().len()).prop_flat_map(|i| (Just(i), query(&fixtures()[i])))
    ) {
        let f = &fixtures()[i];
        prop_assert_eq!(f.ch.history_ids(&q), history_reference(&f.listing, &q), "{:?}", q);
    }
}

#[test]
fn the_reference_sees_the_top_of_the_channel_like_telegram() {
    // The shape clients use to page oldest→newest without min_id: offset_id = last seen + 1,
    // add_offset = -limit. At the top it returns only the newer messages, never older ones.
    let f = &fixtures()[4];
    let ids = f.ch.ids();
    let n = ids.len();
    let last_seen = ids[n - 31];
    let q = HistoryQuery {
        offset_id: last_seen + 1,
        add_offset: -100,
        limit: 100,
        ..Default::default()
    };
    let got = f.ch.history_ids(&q);
    let want: Vec<i32> = ids[n - 30..].iter().rev().copied().collect();
    assert_eq!(got, want);
    assert_eq!(history_reference(&f.listing, &q), want);
}

#[tokio::test]
async fn grammers_iterates_2941_and_10037_messages_exactly_both_ways() {
    within(240, async {
        let mut cfg = SimConfig::generated(42, 2, 2_941);
        cfg.channels[0].service_run = Some(ServiceRun {
            first: 1_000,
            len: 260,
        });
        cfg.channels[1].posts = 10_037;
        let sim = Sim::start(cfg).await.expect("sim");
        let names = sim.channel_usernames();
        // Some run-time changes too: published posts and deleted messages of both kinds.
        sim.append_post(
            &names[0],
            "A post published at run time, long enough to read.",
        )
        .expect("append");
        for _ in 0..12 {
            sim.publish_post(&names[1]).expect("publish");
        }
        let inner = sim
            .with_channel(&names[1], |ch| ch.ids()[400])
            .expect("channel");
        assert_eq!(sim.delete_messages(&names[1], &[1, inner, 10_040]), 3);
        let c = client(&sim, 0, true);
        for (name, top) in names.iter().zip([2_942, 10_049]) {
            let ids = sim.with_channel(name, |ch| ch.ids()).expect("channel");
            assert_eq!(ids.last().copied(), Some(top));
            assert!(ids.len() % 100 != 0);
            let peer = c
                .resolve_username(name.trim_start_matches('@'))
                .await
                .expect("resolve")
                .expect("found");
            let peer = peer.to_ref().await.expect("ref").expect("hash");

            let mut it = c.iter_messages(peer);
            assert_eq!(it.total().await.expect("total"), ids.len());
            let mut newest_first = Vec::new();
            while let Some(m) = it.next().await.expect("next") {
                newest_first.push(m.id());
            }
            let want: Vec<i32> = ids.iter().rev().copied().collect();
            assert_eq!(newest_first, want, "{name}: newest→oldest");

            let mut it = c.iter_messages(peer).reverse(true);
            let mut oldest_first = Vec::new();
            while let Some(m) = it.next().await.expect("next") {
                oldest_first.push(m.id());
            }
            assert_eq!(oldest_first, ids, "{name}: oldest→newest");
        }
    })
    .await;
}

// Telegram at its worst: hidden posts, short pages, placeholders, repeated ids (issue 28).

/// Posts in the channel of the page-fault tests: about 30 pages.
const FAULT_POSTS: i32 = 3_000;

/// A simulator with two accounts and one channel of [`FAULT_POSTS`] posts under these faults.
async fn fault_sim(faults: RandomFaults) -> (Sim, String) {
    let mut cfg = SimConfig::generated(28, 1, FAULT_POSTS);
    cfg.accounts.push(AccountSpec::generated(1));
    cfg.faults = faults;
    let sim = Sim::start(cfg).await.expect("sim");
    let name = sim.channel_usernames()[0].clone();
    (sim, name)
}

/// What account `account` must end up with: its visible posts and every service message.
fn truth(sim: &Sim, name: &str, account: usize) -> BTreeSet<i32> {
    let service = crate::common::reference::service_ids(sim, name);
    assert!(!service.is_empty(), "the channel has service messages");
    sim.visible_post_ids(name, account)
        .into_iter()
        .chain(service)
        .collect()
}

/// Reads the channel as account 0 under `faults`; checks the ids exactly; returns the read and the
/// number of getHistory calls it took.
async fn read_under(faults: RandomFaults) -> (Sim, String, Read, usize) {
    let (sim, name) = fault_sim(faults.clone()).await;
    let c = client(&sim, 0, true);
    let read = careful_read(&c, peer_of(&sim, &name)).await;
    assert_eq!(read.ids, truth(&sim, &name, 0), "{faults:?}");
    let calls = sim.log().count("messages.getHistory");
    (sim, name, read, calls)
}

/// Raw getHistory pages of 100, newest to oldest, as account 0 sends them.
async fn raw_pages(c: &Client, sim: &Sim, name: &str) -> Vec<Vec<i32>> {
    let peer = peer_of(sim, name);
    let mut pages = Vec::new();
    let mut offset_id = 0;
    loop {
        let req = tl::functions::messages::GetHistory {
            peer: peer.into(),
            offset_id,
            offset_date: 0,
            add_offset: 0,
            limit: 100,
            max_id: 0,
            min_id: 0,
            hash: 0,
        };
        let tl::enums::messages::Messages::ChannelMessages(m) = c.invoke(&req).await.expect("page")
        else {
            panic!("channels answer channelMessages");
        };
        let ids: Vec<i32> = m.messages.iter().map(|m| m.id()).collect();
        let Some(&last) = ids.last() else {
            return pages;
        };
        offset_id = last;
        pages.push(ids);
    }
}

#[tokio::test]
async fn each_page_fault_alone_and_all_together_leave_a_careful_reader_with_exactly_the_visible_messages()
 {
    within(600, async {
        let (_, _, clean, clean_calls) = read_under(RandomFaults::default()).await;
        assert_eq!((clean.passes, clean.placeholders), (1, 0));
        assert_eq!(clean.yielded, clean.ids.len());
        let pages = clean.ids.len().div_ceil(100);
        // Every page, perhaps grammers' own empty last page, and the reader's confirming one.
        assert!(
            clean_calls <= pages + 2,
            "{clean_calls} calls for {pages} pages"
        );

        // Hidden posts: short pages in the middle, stable, and per account.
        let hidden = RandomFaults {
            hidden: 0.05,
            ..Default::default()
        };
        let (sim, name, first, _) = read_under(hidden).await;
        let again = careful_read(&client(&sim, 0, true), peer_of(&sim, &name)).await;
        assert_eq!(again.ids, first.ids, "hidden posts stay hidden");
        let other = careful_read(&client(&sim, 1, true), peer_of(&sim, &name)).await;
        assert_eq!(other.ids, truth(&sim, &name, 1));
        let mine: BTreeSet<i32> = sim.visible_post_ids(&name, 0).into_iter().collect();
        let theirs: BTreeSet<i32> = sim.visible_post_ids(&name, 1).into_iter().collect();
        let all = sim.with_channel(&name, |c| c.post_ids()).expect("channel");
        let hidden_from_me = all.len() - mine.len();
        assert!(
            (all.len() / 40..all.len() / 12).contains(&hidden_from_me),
            "about 5 % hidden: {hidden_from_me} of {}",
            all.len()
        );
        assert!(
            theirs.difference(&mine).count() > 10,
            "the other account sees posts hidden from the first"
        );
        let short_in_middle = raw_pages(&client(&sim, 0, true), &sim, &name)
            .await
            .iter()
            .rev()
            .skip(1)
            .any(|p| p.len() < 100);
        assert!(short_in_middle, "some page before the last came back short");

        // Short pages: more calls than a clean read, never an empty page before the end.
        let (sim, name, read, calls) = read_under(RandomFaults {
            short_page: 0.2,
            ..Default::default()
        })
        .await;
        assert!(calls > clean_calls, "{calls} calls vs {clean_calls} clean");
        assert_eq!(read.yielded, read.ids.len());
        let pages = raw_pages(&client(&sim, 0, true), &sim, &name).await;
        assert!(pages.iter().rev().skip(1).any(|p| p.len() < 100));
        assert!(pages.iter().all(|p| !p.is_empty()));

        // Placeholders: met, and resolved by asking again.
        let (_, _, read, _) = read_under(RandomFaults {
            empty: 0.05,
            ..Default::default()
        })
        .await;
        assert!(read.placeholders > 20, "{read:?}");

        // Repeated ids: a raw page holds one id twice; the reader yields more than it keeps.
        let (sim, name, read, _) = read_under(RandomFaults {
            dup: 0.2,
            ..Default::default()
        })
        .await;
        assert!(read.yielded > read.ids.len(), "{read:?}");
        let pages = raw_pages(&client(&sim, 0, true), &sim, &name).await;
        assert!(
            pages.iter().any(|p| p.windows(2).any(|w| w[0] == w[1])),
            "a page repeats an id right after itself"
        );

        // All together.
        let (_, _, read, calls) = read_under(RandomFaults {
            hidden: 0.05,
            short_page: 0.2,
            empty: 0.05,
            dup: 0.2,
            ..Default::default()
        })
        .await;
        assert!(calls > clean_calls && read.placeholders > 0 && read.yielded > read.ids.len());
    })
    .await;
}

#[tokio::test]
async fn get_messages_answers_message_empty_for_a_post_hidden_from_the_caller_only() {
    within(120, async {
        let (sim, name) = fault_sim(RandomFaults {
            hidden: 0.05,
            ..Default::default()
        })
        .await;
        let mine: BTreeSet<i32> = sim.visible_post_ids(&name, 0).into_iter().collect();
        let hidden: Vec<i32> = sim
            .visible_post_ids(&name, 1)
            .into_iter()
            .filter(|id| !mine.contains(id))
            .take(20)
            .collect();
        assert!(hidden.len() >= 10);
        let seen: Vec<i32> = mine.iter().take(5).copied().collect();
        let ask: Vec<i32> = hidden.iter().chain(&seen).copied().collect();
        let peer = peer_of(&sim, &name);
        let to_me = client(&sim, 0, true)
            .get_messages_by_id(peer, &ask)
            .await
            .expect("by id");
        let to_them = client(&sim, 1, true)
            .get_messages_by_id(peer, &ask)
            .await
            .expect("by id");
        for (i, id) in ask.iter().enumerate() {
            let me = to_me[i].as_ref().expect("answered");
            let them = to_them[i].as_ref().expect("answered");
            assert_eq!((me.id(), them.id()), (*id, *id));
            let empty_to_me = matches!(me.raw, tl::enums::Message::Empty(_));
            assert_eq!(empty_to_me, i < hidden.len(), "id {id}");
            assert!(!matches!(them.raw, tl::enums::Message::Empty(_)), "id {id}");
        }

        // Channel differences leave hidden new posts out for the account they are hidden from.
        let before = sim.channel_pts(&name).expect("pts");
        let published: Vec<i32> = (0..400)
            .map(|_| sim.publish_post(&name).expect("post"))
            .collect();
        for account in 0..2 {
            let req = tl::functions::updates::GetChannelDifference {
                force: false,
                channel: tl::enums::InputChannel::Channel(tl::types::InputChannel {
                    channel_id: sim.with_channel(&name, |c| c.spec().id).expect("channel"),
                    access_hash: sim
                        .with_channel(&name, |c| c.spec().access_hash)
                        .expect("channel"),
                }),
                filter: tl::enums::ChannelMessagesFilter::Empty,
                pts: before,
                limit: 1_000,
            };
            let tl::enums::updates::ChannelDifference::Difference(d) = client(&sim, account, true)
                .invoke(&req)
                .await
                .expect("difference")
            else {
                panic!("a difference");
            };
            let got: Vec<i32> = d.new_messages.iter().map(|m| m.id()).collect();
            let visible: BTreeSet<i32> = sim.visible_post_ids(&name, account).into_iter().collect();
            let want: Vec<i32> = published
                .iter()
                .copied()
                .filter(|id| visible.contains(id))
                .collect();
            assert_eq!(got, want, "account {account}");
            assert!(want.len() < published.len(), "some new posts hidden");
            assert_eq!(d.pts, sim.channel_pts(&name).expect("pts"));
        }
    })
    .await;
}
