//! [`AccountStore`] and [`ClientStateStore`] on both backends.

use std::path::Path;

use super::{on_postgres, on_sqlite};
use crate::prelude::*;
use crate::{AccountState, Activity, ActivityRow, ClientIdentity, ClientState, unix_now};

fn accounts_round_trip<S: AccountStore + ?Sized>(s: &mut S) {
    let a = s
        .add_account(
            "alice",
            Some("+15550000000"),
            None,
            Path::new("sessions/alice.session"),
        )
        .expect("add");
    assert_eq!(a.name, "alice");
    assert!(
        s.add_account("alice", None, None, Path::new("x")).is_err(),
        "names are unique"
    );
    s.set_account_user("alice", 42, None).expect("user");
    let got = s.account("alice").expect("read").expect("exists");
    assert_eq!(
        (got.user_id, got.phone.as_deref()),
        (Some(42), Some("+15550000000"))
    );
    assert_eq!(got.state, AccountState::Active);
    assert_eq!(got.identity, None);
    let face = ClientIdentity {
        device_model: "tgsift".into(),
        system_version: "Linux".into(),
        app_version: "0.1.0".into(),
        lang_code: "en".into(),
        system_lang_code: "en".into(),
        proxy: Some("socks5://u:p@127.0.0.1:1080".into()),
    };
    s.set_account_identity(got.id, &face).expect("identity");
    assert_eq!(
        s.account("alice").expect("read").expect("exists").identity,
        Some(face)
    );
    for state in AccountState::ALL {
        s.set_account_state(got.id, state, Some("420 FROZEN_METHOD_INVALID"))
            .expect("set the state");
        let read = s.account("alice").expect("read").expect("exists");
        let reason = (state != AccountState::Active).then_some("420 FROZEN_METHOD_INVALID");
        assert_eq!(
            (read.state, read.disabled_reason.as_deref()),
            (state, reason)
        );
    }
    s.set_account_state(got.id, AccountState::Frozen, None)
        .expect("stop without a reason");
    assert_eq!(
        s.account("alice")
            .expect("read")
            .expect("exists")
            .disabled_reason
            .as_deref(),
        Some("frozen"),
        "a stopped account always has a reason"
    );
    s.set_account_user("alice", 42, Some("+15551111111"))
        .expect("login again");
    let back = s.account("alice").expect("read").expect("exists");
    assert_eq!(
        (back.state, back.disabled_reason, back.phone.as_deref()),
        (AccountState::Active, None, Some("+15551111111"))
    );
    assert_eq!(s.accounts().expect("list").len(), 1);
    assert_eq!(s.account_channel_count(got.id).expect("count"), 0);
    assert!(s.remove_account("alice").expect("remove"));
    assert!(!s.remove_account("alice").expect("remove again"));
    assert_eq!(s.account("alice").expect("read"), None);
}

fn client_state_round_trip<S: AccountStore + ClientStateStore + ?Sized>(s: &mut S) {
    let a = s
        .add_account("a", None, None, Path::new("a.session"))
        .expect("account");
    let now = unix_now() * 1000;
    let state = ClientState {
        pace: vec![
            ("channels.getMessages".into(), 3.0, None, None),
            (
                "messages.getHistory".into(),
                12.5,
                Some(25.0),
                Some(now + 6 * 3_600_000),
            ),
        ],
        windows: vec![
            ("contacts.resolveUsername".into(), now + 3_600_000),
            ("messages.getHistory".into(), now - 5),
        ],
        breaker: (3, Some(now + 10_000)),
        activity: Activity {
            floods: 2,
            retries: 5,
        },
        budget: vec![
            ("contacts.resolveUsername".into(), now - 86_400_001),
            ("contacts.resolveUsername".into(), now - 60_000),
            ("channels.joinChannel".into(), now - 1_000),
        ],
    };
    s.save_client_state(a.id, &state).expect("save");
    let back = s.load_client_state(a.id).expect("load");
    assert_eq!(back.pace, state.pace);
    assert_eq!(back.breaker, (3, Some(now + 10_000)));
    assert_eq!(
        back.budget,
        vec![
            ("contacts.resolveUsername".to_string(), now - 60_000),
            ("channels.joinChannel".to_string(), now - 1_000),
        ],
        "calls older than a day are forgotten"
    );
    assert_eq!(
        back.windows,
        vec![("contacts.resolveUsername".to_string(), now + 3_600_000)]
    );
    let later = ClientState {
        activity: Activity {
            floods: 1,
            retries: 0,
        },
        ..ClientState::default()
    };
    s.save_client_state(a.id, &later).expect("replace");
    let today = unix_now() - unix_now().rem_euclid(86_400);
    assert_eq!(
        s.activity(None, today, today + 86_400).expect("activity"),
        vec![ActivityRow {
            account: "a".into(),
            day: today,
            counts: Activity {
                floods: 3,
                retries: 5
            }
        }],
        "each save adds what was counted since the one before"
    );
    assert!(
        s.activity(Some(&[a.id + 1]), today, today + 86_400)
            .expect("other")
            .is_empty()
    );
    assert!(
        s.activity(None, today + 86_400, today + 2 * 86_400)
            .expect("tomorrow")
            .is_empty()
    );
    assert_eq!(
        s.load_client_state(a.id).expect("load"),
        ClientState::default()
    );
}

both! {
    accounts => accounts_round_trip,
    client_state => client_state_round_trip,
}
