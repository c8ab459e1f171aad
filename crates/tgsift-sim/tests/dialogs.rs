//! `messages.getDialogs` against the real, unmodified grammers 0.11 client: its `iter_dialogs` lists
//! exactly the account's dialogs, and stops early when pages end short (as Telegram's do, and as
//! `DialogsConfig::short_pages` makes the simulator's); raw calls show the order, the pinned and
//! archived dialogs, `folder_id` and the paging rule.

use crate::common::{client, within};
use std::collections::BTreeSet;

use grammers_client::Client;
use grammers_tl_types as tl;
use tgsift_sim::{Sim, SimConfig};

/// Every dialog of account 0 as bare ids: its chats, 25 contacts and 6 basic groups.
fn truth(sim: &Sim) -> BTreeSet<i64> {
    let mut all: BTreeSet<i64> = sim.memberships(0).into_iter().map(|(id, _)| id).collect();
    all.extend((0..25).map(|n| 900_000 + n));
    all.extend((0..6).map(|n| 40_000 + n));
    all
}

async fn iterate(c: &Client) -> Vec<i64> {
    let mut it = c.iter_dialogs();
    let mut got = Vec::new();
    while let Some(d) = it.next().await.expect("dialogs") {
        got.push(d.peer_id().bare_id().expect("bare id"));
    }
    got
}

fn request(
    folder: Option<i32>,
    exclude_pinned: bool,
    limit: i32,
) -> tl::functions::messages::GetDialogs {
    tl::functions::messages::GetDialogs {
        exclude_pinned,
        folder_id: folder,
        offset_date: 0,
        offset_id: 0,
        offset_peer: tl::enums::InputPeer::Empty,
        limit,
        hash: 0,
    }
}

#[tokio::test]
async fn grammers_iter_dialogs_lists_exactly_the_accounts_dialogs() {
    within(60, async {
        let mut cfg = SimConfig::memberships(3, 230, 12, 2);
        cfg.dialogs.short_pages = false;
        let sim = Sim::start(cfg).await.expect("sim");
        let c = client(&sim);
        let got = iterate(&c).await;
        let set: BTreeSet<i64> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len(), "no dialog twice");
        assert_eq!(set, truth(&sim));
        let calls = sim.log().dialogs_calls();
        assert!(calls.len() >= 3, "paged: {} calls", calls.len());
        assert!(
            calls[1..]
                .iter()
                .all(|c| c.exclude_pinned && !c.first_page())
        );

        // A channel the account left is no longer listed.
        sim.leave("@sim_news", 0);
        let id = sim
            .with_channel("sim_news", |ch| ch.spec().id)
            .expect("channel");
        let again: BTreeSet<i64> = iterate(&c).await.into_iter().collect();
        assert!(!again.contains(&id) && again.len() == set.len() - 1);
    })
    .await;
}

#[tokio::test]
async fn short_pages_stop_a_client_that_takes_them_for_the_end() {
    within(60, async {
        let sim = Sim::start(SimConfig::memberships(3, 230, 12, 2))
            .await
            .expect("sim");
        let c = client(&sim);
        let got: BTreeSet<i64> = iterate(&c).await.into_iter().collect();
        assert!(
            got.len() < truth(&sim).len(),
            "grammers stops at the first short page: {} of {}",
            got.len(),
            truth(&sim).len()
        );
    })
    .await;
}

#[tokio::test]
async fn pinned_first_archive_apart_and_pages_after_their_offset() {
    within(60, async {
        let mut cfg = SimConfig::memberships(3, 40, 0, 2);
        cfg.dialogs.short_pages = false;
        let sim = Sim::start(cfg).await.expect("sim");
        let c = client(&sim);
        let tl::enums::messages::Dialogs::Dialogs(all) =
            c.invoke(&request(None, false, 100)).await.expect("all")
        else {
            panic!("71 dialogs fit one answer: messages.dialogs");
        };
        assert_eq!(all.dialogs.len(), 71);
        let pinned: Vec<bool> = all
            .dialogs
            .iter()
            .map(|d| match d {
                tl::enums::Dialog::Dialog(d) => d.pinned,
                _ => false,
            })
            .collect();
        assert_eq!(
            &pinned[..4],
            &[true, true, true, false],
            "three pinned, first"
        );
        assert!(pinned[3..].iter().all(|p| !p));
        let archived = all
            .dialogs
            .iter()
            .filter(|d| matches!(d, tl::enums::Dialog::Dialog(d) if d.folder_id == Some(1)))
            .count();
        assert_eq!(archived, 4, "every tenth of 40 channels");
        let tl::enums::messages::Dialogs::Dialogs(arch) = c
            .invoke(&request(Some(1), false, 100))
            .await
            .expect("archive")
        else {
            panic!("whole");
        };
        assert_eq!(arch.dialogs.len(), 4);
        let tl::enums::messages::Dialogs::Dialogs(main) =
            c.invoke(&request(Some(0), true, 100)).await.expect("main")
        else {
            panic!("whole");
        };
        assert_eq!(main.dialogs.len(), 71 - 4 - 3, "no archive, no pinned");
        // Unpinned dialogs come newest first.
        let dates: Vec<i32> = main
            .dialogs
            .iter()
            .map(|d| {
                let tl::enums::Dialog::Dialog(d) = d else {
                    return 0;
                };
                main.messages
                    .iter()
                    .find_map(|m| match m {
                        tl::enums::Message::Message(m)
                            if m.id == d.top_message && m.peer_id == d.peer =>
                        {
                            Some(m.date)
                        }
                        tl::enums::Message::Service(m)
                            if m.id == d.top_message && m.peer_id == d.peer =>
                        {
                            Some(m.date)
                        }
                        _ => None,
                    })
                    .expect("top message")
            })
            .collect();
        assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
        // A page of 10: a slice with the count, and the next page starts after its last dialog.
        let tl::enums::messages::Dialogs::Slice(page) =
            c.invoke(&request(Some(0), true, 10)).await.expect("page")
        else {
            panic!("a page of a longer list is a slice");
        };
        assert_eq!((page.count, page.dialogs.len()), (71 - 4, 10));
        let bad = tl::functions::messages::GetDialogs {
            folder_id: Some(7),
            ..request(None, false, 10)
        };
        let err = c.invoke(&bad).await.expect_err("unknown folder");
        assert!(err.to_string().contains("FOLDER_ID_INVALID"), "{err}");
    })
    .await;
}

/// A fleet's memberships (`SimConfig::shares`, `sim serve --shares`): channel i's only member is
/// account i mod 3, so each account's dialogs list its own share and it is pushed the posts of its
/// share only.
#[tokio::test]
async fn shares_give_each_account_its_own_channels_and_their_pushes() {
    within(60, async {
        let mut cfg = SimConfig::generated(5, 6, 3);
        cfg.accounts = (0..3).map(tgsift_sim::AccountSpec::generated).collect();
        cfg.shares = true;
        let sim = Sim::start(cfg).await.expect("sim");
        let names = [
            "sim_news",
            "sim_tech",
            "sim_mixed",
            "sim_markets",
            "sim_sport",
            "sim_science",
        ];
        let id_of = |name: &str| sim.with_channel(name, |c| c.spec().id).expect("channel");
        for (i, name) in names.iter().enumerate() {
            for a in 0..3 {
                assert_eq!(sim.is_member(name, a), Some(i % 3 == a), "{name} / {a}");
            }
        }
        let (c, mut updates) = crate::common::strict_client(&sim, 1);
        let share: BTreeSet<i64> = [id_of("sim_tech"), id_of("sim_sport")].into();
        let listed: BTreeSet<i64> = iterate(&c).await.into_iter().collect();
        assert_eq!(listed, share, "account 1 lists its share only");
        c.invoke(&tl::functions::updates::GetState {})
            .await
            .expect("getState");
        for name in names {
            sim.publish_post(name).expect("published");
        }
        let mut pushed = BTreeSet::new();
        while let Ok(Some(u)) =
            tokio::time::timeout(std::time::Duration::from_millis(700), updates.recv()).await
        {
            let grammers_session::updates::UpdatesLike::Updates(u) = u else {
                continue;
            };
            let list = match u {
                tl::enums::Updates::Updates(u) => u.updates,
                tl::enums::Updates::Combined(u) => u.updates,
                tl::enums::Updates::UpdateShort(u) => vec![u.update],
                _ => Vec::new(),
            };
            for up in list {
                if let tl::enums::Update::NewChannelMessage(m) = up
                    && let tl::enums::Message::Message(m) = m.message
                    && let tl::enums::Peer::Channel(p) = m.peer_id
                {
                    pushed.insert(p.channel_id);
                }
            }
        }
        assert_eq!(pushed, share, "pushed the posts of its share, none other");
    })
    .await;
}
