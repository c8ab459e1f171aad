//! The simulator's getHistory against Telegram's rule written plainly (`sim::paging`), and grammers'
//! own paging over whole channels whose sizes are not multiples of a page.

mod common;

use std::sync::OnceLock;

use common::{client, within};
use proptest::prelude::*;
use tgsift_sim::paging::history_reference;
use tgsift_sim::world::HistoryQuery;
use tgsift_sim::{ChannelSpec, Lang, ServiceRun, Sim, SimChannel, SimConfig};

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
