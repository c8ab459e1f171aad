//! `channels import`: following every channel an account is a member of from its dialog list, with no
//! username resolved; the filters and the dry run; resuming at the page a FLOOD_WAIT stopped it at;
//! and the `channel_left` alert when the account leaves a followed channel.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::setup::Setup;
use crate::common::within;
use tgsift_sim::{Fault, Scripted, SimConfig};
use tgsift_store::SqliteStore;
use tgsift_store::prelude::*;

/// Telegram ids of the channels the database follows for `alice`.
fn followed(s: &Setup) -> BTreeSet<i64> {
    let store = SqliteStore::open(&s.db).expect("store");
    store
        .channels()
        .expect("channels")
        .into_iter()
        .map(|c| c.tg_id)
        .collect()
}

/// The sim's memberships of account 0: broadcast channels, and with `groups` supergroups too.
fn members(s: &Setup, groups: bool) -> BTreeSet<i64> {
    s.sim
        .memberships(0)
        .into_iter()
        .filter(|(_, megagroup)| groups || !megagroup)
        .map(|(id, _)| id)
        .collect()
}

fn resolves(s: &Setup) -> usize {
    s.sim.log().count("contacts.resolveUsername")
}

#[tokio::test]
async fn an_account_in_300_channels_follows_them_all_without_resolving_a_username() {
    within(120, async {
        let s = Setup::of(SimConfig::memberships(7, 300, 20, 3), false).await;
        let (code, out, err) = s.output(&["channels", "import", "alice"]).await;
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(resolves(&s), 0, "no username is resolved");
        let want = members(&s, false);
        assert_eq!(want.len(), 300);
        assert_eq!(
            followed(&s),
            want,
            "exactly the broadcast channels it is in"
        );
        assert!(
            out.contains("followed 300, 0 already followed"),
            "the summary: {out}"
        );
        // 300 channels, 20 groups, 25 private chats and 6 basic groups, with short pages: more
        // than four pages, and only the first without an offset.
        let calls = s.sim.log().dialogs_calls();
        assert!(calls.len() > 4, "{} pages", calls.len());
        assert!(calls[0].first_page() && calls[1..].iter().all(|c| !c.first_page()));
        let store = SqliteStore::open(&s.db).expect("store");
        let account = store.account("alice").expect("read").expect("alice").id;
        let state = store
            .dialog_import(account)
            .expect("read")
            .expect("recorded");
        assert!(state.finished_at.is_some(), "{state:?}");
        assert_eq!(state.followed, 300);
        drop(store);

        // With --groups, the supergroups come too; the channels already followed stay as they are.
        let (code, out, err) = s.output(&["channels", "import", "alice", "--groups"]).await;
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(followed(&s), members(&s, true));
        assert!(out.contains("followed 20, 300 already followed"), "{out}");
        assert_eq!(resolves(&s), 0);
    })
    .await;
}

#[tokio::test]
async fn filters_choose_by_title_or_username_and_a_dry_run_stores_nothing() {
    within(90, async {
        let cfg = SimConfig::memberships(7, 40, 6, 3);
        let specs = cfg.channels.clone();
        let s = Setup::of(cfg, false).await;

        let (code, out, err) = s
            .output(&["channels", "import", "alice", "--groups", "--dry-run"])
            .await;
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with("would follow "))
                .count(),
            46,
            "{out}"
        );
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with("skip ") && l.ends_with(": a private chat"))
                .count(),
            25,
            "{out}"
        );
        assert!(out.contains("(dry run: nothing was stored)"), "{out}");
        assert!(followed(&s).is_empty(), "a dry run follows nothing");
        let store = SqliteStore::open(&s.db).expect("store");
        let account = store.account("alice").expect("read").expect("alice").id;
        assert_eq!(
            store.dialog_import(account).expect("read"),
            None,
            "a dry run records no import"
        );
        drop(store);

        // Without --groups, groups are skipped with their reason.
        let (_, out, _) = s
            .output(&["channels", "import", "alice", "--dry-run"])
            .await;
        assert_eq!(
            out.lines()
                .filter(|l| l.contains("a group (add --groups to follow groups too)"))
                .count(),
            6,
            "{out}"
        );

        // Private channels (no username) by title, but not #7; and by @username, the `sim_tech` ones.
        let (code, out, err) = s
            .output(&[
                "channels",
                "import",
                "alice",
                "--filter",
                "^Private|^@sim_tech",
                "--exclude",
                "#7$",
            ])
            .await;
        assert_eq!(code, Some(0), "{out}\n{err}");
        let want: BTreeSet<i64> = specs
            .iter()
            .filter(|c| !c.megagroup)
            .filter(|c| {
                c.title.starts_with("Private")
                    || c.username
                        .as_deref()
                        .is_some_and(|u| u.starts_with("sim_tech"))
            })
            .filter(|c| !c.title.ends_with("#7"))
            .map(|c| c.id)
            .collect();
        assert!(want.len() > 10, "{want:?}");
        assert_eq!(followed(&s), want);
        assert_eq!(resolves(&s), 0);

        // A filter that is not a regular expression is a usage error, before anything runs.
        let (code, _, err) = s
            .output(&["channels", "import", "alice", "--filter", "(unclosed"])
            .await;
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("not a regular expression"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_flood_on_page_3_goes_on_at_page_3_after_a_restart() {
    within(120, async {
        let s = Setup::of(SimConfig::memberships(7, 300, 0, 3), false).await;
        // Above the 1 s threshold: the attempt stops there (one attempt: the job fails).
        s.sim.script(
            Scripted::on("messages.getDialogs", Fault::FloodWait(2))
                .after(2)
                .times(1),
        );
        let env = [
            ("TGSIFT_TELEGRAM__FLOOD_SLEEP_THRESHOLD", "1"),
            ("TGSIFT_JOBS__MAX_ATTEMPTS", "1"),
        ];
        let (code, out, err) = s.output_with(&["channels", "import", "alice"], &env).await;
        assert_eq!(code, Some(1), "the flood stops the import: {out}\n{err}");
        assert!(err.contains("FLOOD_WAIT"), "{err}");
        let first = s.sim.log().dialogs_calls();
        assert_eq!(first.len(), 3, "pages 1 and 2, then the flood on page 3");
        let partial = followed(&s);
        assert!(
            !partial.is_empty() && partial.len() < 300,
            "pages 1 and 2 are followed: {}",
            partial.len()
        );
        let store = SqliteStore::open(&s.db).expect("store");
        let account = store.account("alice").expect("read").expect("alice").id;
        let state = store
            .dialog_import(account)
            .expect("read")
            .expect("recorded");
        assert_eq!((state.pages, state.finished_at), (2, None));
        drop(store);

        // The restart: after the window, a new command goes on at page 3.
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        let (code, out, err) = s.output_with(&["channels", "import", "alice"], &env).await;
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert!(out.contains("went on at page 3"), "{out}");
        let all = s.sim.log().dialogs_calls();
        let again = &all[first.len()];
        assert_eq!(
            (again.offset_date, again.offset_id, again.offset_peer),
            (
                first[2].offset_date,
                first[2].offset_id,
                first[2].offset_peer
            ),
            "the second run's first page is page 3, not page 1"
        );
        assert!(!again.first_page());
        assert!(all[first.len()..].iter().all(|c| !c.first_page()));
        assert_eq!(followed(&s), members(&s, false), "and the set is complete");
        assert_eq!(resolves(&s), 0);
    })
    .await;
}

#[tokio::test]
async fn leaving_a_followed_channel_raises_channel_left_once() {
    within(90, async {
        let s = Setup::of(SimConfig::memberships(7, 4, 0, 5), false).await;
        let (code, out, err) = s.output(&["channels", "import", "alice"]).await;
        assert_eq!(code, Some(0), "{out}\n{err}");
        assert_eq!(followed(&s).len(), 4);
        s.sim.leave("@sim_news", 0);
        // A sink that never answers: the alert is recorded all the same.
        let env = [("TGSIFT_ALERTS__WEBHOOKS", "http://127.0.0.1:9/hook")];
        for _ in 0..2 {
            let (code, out, err) = s.output_with(&["run", "--once"], &env).await;
            assert_eq!(code, Some(0), "{out}\n{err}");
        }
        let store = SqliteStore::open(&s.db).expect("store");
        let left: Vec<(String, String)> = store
            .read("alerts", |c| {
                let mut st =
                    c.prepare("SELECT kind, message FROM alerts WHERE kind = 'channel_left'")?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
            })
            .expect("alerts");
        assert_eq!(left.len(), 1, "once: {left:?}");
        assert!(left[0].1.contains("@sim_news"), "{left:?}");
        let marked: Vec<String> = store
            .channels()
            .expect("channels")
            .into_iter()
            .filter(|c| c.left_at.is_some())
            .map(|c| c.label())
            .collect();
        assert_eq!(marked, ["@sim_news"]);
        drop(store);
        let (_, out, _) = s.output(&["channels", "list"]).await;
        let line = out
            .lines()
            .find(|l| l.contains("@sim_news"))
            .expect("listed");
        assert!(line.contains(" left "), "{line}");
        let (code, out, _) = s.output(&["channels", "prune-left", "alice"]).await;
        assert_eq!(code, Some(0));
        assert!(out.contains("@sim_news"), "{out}");
        let store = SqliteStore::open(&s.db).expect("store");
        let still: Vec<String> = store
            .channels()
            .expect("channels")
            .into_iter()
            .filter(|c| c.active)
            .map(|c| c.label())
            .collect();
        assert_eq!(still.len(), 3, "the others stay: {still:?}");
        assert!(!still.contains(&"@sim_news".to_string()));
    })
    .await;
}
