//! [`AlertStore`] on both backends: alerts queued per sink, deduplicated within a window, retried and
//! given up on; and what the alert rules read. Times are forced through [`AlertsInspect`].

use serde_json::json;

use super::{on_postgres, on_sqlite, post, setup};
use crate::SqliteStore;
use crate::postgres::backend::PgBackend;
use crate::prelude::*;
use crate::{ClientState, NewAlert, unix_now};

/// What the alert tests force beyond the traits.
trait AlertsInspect {
    /// Makes every alert due for its next attempt.
    fn make_alerts_due(&mut self);
    /// Sets when an account's breaker opened (unix ms).
    fn breaker_opened(&mut self, account_id: i64, at_ms: i64);
    /// Records a tagging attempt of a post: its status and when.
    fn tagging_attempt(&mut self, channel_id: i64, message_id: i32, status: &str, at: i64);
}

impl AlertsInspect for SqliteStore {
    fn make_alerts_due(&mut self) {
        self.write("due", |tx| tx.execute("UPDATE alerts SET next_at = 0", []))
            .expect("due");
    }

    fn breaker_opened(&mut self, account_id: i64, at_ms: i64) {
        self.write("breaker", |tx| {
            tx.execute(
                "UPDATE breaker_state SET opened_at_ms = ?2 WHERE account_id = ?1",
                [account_id, at_ms],
            )
        })
        .expect("breaker");
    }

    fn tagging_attempt(&mut self, channel_id: i64, message_id: i32, status: &str, at: i64) {
        self.write("tagging", |tx| {
            tx.execute(
                "UPDATE posts SET tagging_status = ?3, last_tagging_attempt = ?4
                 WHERE channel_id = ?1 AND message_id = ?2",
                rusqlite::params![channel_id, message_id, status, at],
            )
        })
        .expect("tagging");
    }
}

impl AlertsInspect for PgBackend {
    fn make_alerts_due(&mut self) {
        self.tx("due", async |tx| {
            tx.execute("UPDATE alerts SET next_at = 0", &[]).await?;
            Ok(())
        })
        .expect("due");
    }

    fn breaker_opened(&mut self, account_id: i64, at_ms: i64) {
        self.tx("breaker", async |tx| {
            tx.execute(
                "UPDATE breaker_state SET opened_at_ms = $2 WHERE account_id = $1",
                &[&account_id, &at_ms],
            )
            .await?;
            Ok(())
        })
        .expect("breaker");
    }

    fn tagging_attempt(&mut self, channel_id: i64, message_id: i32, status: &str, at: i64) {
        self.tx("tagging", async |tx| {
            tx.execute(
                "UPDATE posts SET tagging_status = $3, last_tagging_attempt = $4
                 WHERE channel_id = $1 AND message_id = $2",
                &[&channel_id, &i64::from(message_id), &status, &at],
            )
            .await?;
            Ok(())
        })
        .expect("tagging");
    }
}

fn alert(key: &str) -> NewAlert {
    NewAlert {
        kind: "channel_deactivated".into(),
        dedup_key: key.into(),
        account: Some("alice".into()),
        message: "channel @x cannot be read".into(),
        details: json!({"channel": "@x"}),
    }
}

fn ids(rows: &[crate::AlertRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

fn queued_per_sink_deduplicated_and_retried<S: AlertStore + AlertsInspect + ?Sized>(s: &mut S) {
    let sinks = vec![
        "telegram".to_string(),
        "http://127.0.0.1:9/hook".to_string(),
    ];
    let a = alert("channel:@x");
    let raised = s.raise_alert(&a, &sinks, 3600).expect("raise");
    assert_eq!(raised.len(), 2);
    assert!(raised[0] < raised[1], "in the sinks' order");
    assert!(
        s.raise_alert(&a, &sinks, 3600).expect("again").is_empty(),
        "deduplicated"
    );
    let due = s.due_alerts(10).expect("due");
    assert_eq!(ids(&due), raised);
    assert_eq!(
        (
            due[0].sink.as_str(),
            due[1].sink.as_str(),
            due[0].kind.as_str(),
            due[0].dedup_key.as_str(),
            due[0].account.as_deref(),
            due[0].message.as_str(),
            &due[0].details,
            due[0].attempts,
        ),
        (
            "telegram",
            "http://127.0.0.1:9/hook",
            "channel_deactivated",
            "channel:@x",
            Some("alice"),
            "channel @x cannot be read",
            &json!({"channel": "@x"}),
            0
        )
    );
    assert_eq!(ids(&s.due_alerts(1).expect("due")), vec![raised[0]]);
    s.alert_attempt(raised[0], None, 0, 5).expect("delivered");
    s.alert_attempt(raised[1], Some("refused"), 60, 2)
        .expect("retry later");
    assert!(s.due_alerts(10).expect("due").is_empty());
    let rows = s.alerts_by_id(&raised).expect("read");
    assert_eq!(
        (
            rows[1].attempts,
            rows[1].last_error.as_deref(),
            rows[1].failed_at
        ),
        (1, Some("refused"), None)
    );
    s.make_alerts_due();
    assert_eq!(ids(&s.due_alerts(10).expect("due")), vec![raised[1]]);
    s.alert_attempt(raised[1], Some("refused"), 60, 2)
        .expect("gave up");
    assert!(s.due_alerts(10).expect("due").is_empty());
    let rows = s
        .alerts_by_id(&[raised[1], raised[0], raised[1] + 100])
        .expect("read");
    assert_eq!(ids(&rows), raised, "by id, the unknown left out");
    assert!(rows[0].delivered_at.is_some());
    assert_eq!(
        (
            rows[0].attempts,
            rows[0].last_error.as_deref(),
            rows[0].failed_at
        ),
        (1, None, None)
    );
    assert!(rows[1].failed_at.is_some() && rows[1].attempts == 2);
    assert_eq!(rows[1].delivered_at, None);
}

fn the_window_and_repeated_sinks_decide_what_is_raised<S: AlertStore + ?Sized>(s: &mut S) {
    let telegram = vec!["telegram".to_string()];
    let first = s.raise_alert(&alert("k"), &telegram, 3600).expect("raise");
    assert_eq!(first.len(), 1);
    let other = s
        .raise_alert(&alert("other"), &telegram, 3600)
        .expect("other key");
    assert_eq!(other.len(), 1, "another key is another alert");
    let twice = vec![
        "telegram".to_string(),
        "telegram".to_string(),
        "hook".to_string(),
    ];
    let more = s.raise_alert(&alert("k"), &twice, 3600).expect("raise");
    assert_eq!(more.len(), 1, "only the new sink, once");
    let fresh = s.raise_alert(&alert("new"), &twice, 3600).expect("raise");
    assert_eq!(fresh.len(), 2, "a sink named twice is raised once");
    let outside = s.raise_alert(&alert("k"), &telegram, 0).expect("no window");
    assert_eq!(outside.len(), 1, "outside the window it is raised again");
    let recent = s.recent_alerts(100).expect("recent");
    let mut all: Vec<i64> = [first, other, more, fresh, outside].concat();
    all.reverse();
    assert_eq!(ids(&recent), all, "newest first");
    assert_eq!(
        recent
            .iter()
            .map(|r| (r.dedup_key.as_str(), r.sink.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("k", "telegram"),
            ("new", "hook"),
            ("new", "telegram"),
            ("k", "hook"),
            ("other", "telegram"),
            ("k", "telegram"),
        ]
    );
    assert_eq!(ids(&s.recent_alerts(2).expect("recent")), all[..2].to_vec());
}

fn the_conditions_the_rules_look_at<
    S: AccountStore + ChannelStore + ClientStateStore + AlertStore + AlertsInspect + ?Sized,
>(
    s: &mut S,
) {
    let ch = setup(s);
    let account = s.account("a").expect("read").expect("a").id;
    let now = unix_now();
    assert_eq!(
        s.alert_conditions(now + 10, (now + 10) * 1000, 0)
            .expect("conditions"),
        crate::AlertConditions::default(),
        "nothing parked, no breaker open, no tagging failed"
    );
    let before = unix_now();
    s.park_channel(ch, now + 3_600, "FLOOD_WAIT_3600")
        .expect("park");
    let after = unix_now();
    let c = s.alert_conditions(after, 0, 0).expect("conditions");
    assert_eq!(c.parked.len(), 1);
    let (label, name, since, error) = &c.parked[0];
    assert_eq!(
        (label.as_str(), name.as_str(), error.as_str()),
        ("@news", "a", "FLOOD_WAIT_3600")
    );
    assert!((before..=after).contains(since));
    assert!(
        s.alert_conditions(before - 1, 0, 0)
            .expect("conditions")
            .parked
            .is_empty(),
        "parked since after the limit"
    );
    let state = ClientState {
        breaker: (3, Some((now + 600) * 1000)),
        ..ClientState::default()
    };
    s.save_client_state(account, &state).expect("breaker");
    s.breaker_opened(account, now * 1000 - 5_000);
    assert_eq!(
        s.alert_conditions(after, now * 1000, 0)
            .expect("conditions")
            .breakers,
        vec![("a".to_string(), now * 1000 - 5_000)]
    );
    assert!(
        s.alert_conditions(after, now * 1000 - 6_000, 0)
            .expect("conditions")
            .breakers
            .is_empty(),
        "opened after the limit"
    );
    s.store_batch(
        ch,
        "@news",
        &[post(1, "a"), post(2, "b"), post(3, "c")],
        Some((1, 3)),
    )
    .expect("posts");
    s.tagging_attempt(ch, 1, "failed", now - 100);
    s.tagging_attempt(ch, 2, "retrying", now - 10);
    s.tagging_attempt(ch, 3, "success", now - 5);
    assert_eq!(
        s.alert_conditions(after, 0, now - 200)
            .expect("conditions")
            .tagging_failures,
        2
    );
    assert_eq!(
        s.alert_conditions(after, 0, now - 50)
            .expect("conditions")
            .tagging_failures,
        1
    );
    // An inactive channel is not reported as parked; a breaker closed again is not either.
    s.set_channel_active(ch, false).expect("deactivate");
    s.save_client_state(account, &ClientState::default())
        .expect("closed");
    let c = s
        .alert_conditions(after, now * 1000, 0)
        .expect("conditions");
    assert_eq!((c.parked.len(), c.breakers.len()), (0, 0));
}

/// The time a breaker opened is recorded by saving the client state: kept while it stays open or
/// half-open, forgotten once a success closes it.
fn a_breaker_is_open_since_it_first_opened<
    S: AccountStore + ChannelStore + ClientStateStore + AlertStore + ?Sized,
>(
    s: &mut S,
) {
    setup(s);
    let account = s.account("a").expect("read").expect("a").id;
    let open = |failures: u32, secs: i64| ClientState {
        breaker: (failures, Some((unix_now() + secs) * 1000)),
        ..ClientState::default()
    };
    let breakers = |s: &S, before_ms: i64| {
        s.alert_conditions(0, before_ms, 0)
            .expect("conditions")
            .breakers
    };
    let first = unix_now() * 1000;
    s.save_client_state(account, &open(3, 600)).expect("open");
    let saved = unix_now() * 1000 + 1_000;
    let seen = breakers(s, saved);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let opened = seen[0].1;
    assert!(
        (first - 1_000..=saved).contains(&opened),
        "{opened} vs {first}"
    );
    assert!(
        breakers(s, opened - 1).is_empty(),
        "not open before it opened"
    );
    // Saved again while open, half-open (the window over, failures not reset), and open again after a
    // failed probe: still open since the first time.
    s.save_client_state(account, &open(4, 600)).expect("open");
    s.save_client_state(
        account,
        &ClientState {
            breaker: (4, Some(0)),
            ..ClientState::default()
        },
    )
    .expect("half-open");
    s.save_client_state(account, &open(5, 600))
        .expect("open again");
    assert_eq!(breakers(s, saved), vec![("a".to_string(), opened)]);
    // A success closes it; opening later starts a new period.
    s.save_client_state(account, &ClientState::default())
        .expect("closed");
    assert!(breakers(s, i64::MAX).is_empty());
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    s.save_client_state(account, &open(3, 600)).expect("open");
    let again = breakers(s, i64::MAX);
    assert!(
        again.len() == 1 && again[0].1 > opened,
        "{again:?} vs {opened}"
    );
}

both! {
    alerts_queued_per_sink_deduplicated_and_retried => queued_per_sink_deduplicated_and_retried,
    alerts_window_and_repeated_sinks => the_window_and_repeated_sinks_decide_what_is_raised,
    alerts_conditions => the_conditions_the_rules_look_at,
    alerts_breaker_open_since_it_first_opened => a_breaker_is_open_since_it_first_opened,
}
