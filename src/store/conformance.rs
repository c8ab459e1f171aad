//! The store tests both backends must pass: each test is written once against the store traits and
//! runs on SQLite ([`Store`]) and on PostgreSQL ([`PgBackend`], when `TGSIFT_TEST_PG` names a
//! database; see `postgres::testing`). What a trait cannot show (a post's tagging status, tags set by
//! hand) is read and written through [`Inspect`], a test-only window into each backend's tables.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::postgres::PgError;
use super::postgres::backend::{HeldLeases, PgBackend};
use super::postgres::testing::fresh_store;
use super::prelude::*;
use super::{
    Activity, ActivityRow, BatchOutcome, ClientState, NewChannel, PostIn, Store, StoreError,
    unix_now,
};

/// Raw access for the assertions the traits do not cover.
trait Inspect {
    /// (text, tagging status, tags, deleted_at) of a post.
    fn post_state(
        &self,
        channel_id: i64,
        message_id: i32,
    ) -> Option<(String, String, i64, Option<i64>)>;
    /// The post's row id.
    fn post_id(&self, channel_id: i64, message_id: i32) -> i64;
    /// Tags every post of the channel (status `success`, one tag), as a tagger would.
    fn tag_all(&mut self, channel_id: i64);
    /// Records that a message was deleted before it was stored (as live mode does).
    fn remember_deletion(&mut self, channel_id: i64, message_id: i32, at: i64);
}

impl Inspect for Store {
    fn post_state(
        &self,
        channel_id: i64,
        message_id: i32,
    ) -> Option<(String, String, i64, Option<i64>)> {
        use rusqlite::OptionalExtension;
        self.read("inspect", |c| {
            c.query_row(
                "SELECT text, tagging_status, (SELECT count(*) FROM post_tags t WHERE t.post_id = p.id),
                        deleted_at FROM posts p WHERE channel_id = ?1 AND message_id = ?2",
                rusqlite::params![channel_id, message_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
        })
        .expect("inspect")
    }

    fn post_id(&self, channel_id: i64, message_id: i32) -> i64 {
        self.read("inspect", |c| {
            c.query_row(
                "SELECT id FROM posts WHERE channel_id = ?1 AND message_id = ?2",
                rusqlite::params![channel_id, message_id],
                |r| r.get(0),
            )
        })
        .expect("post id")
    }

    fn tag_all(&mut self, channel_id: i64) {
        self.write("tag", |tx| {
            tx.execute(
                "UPDATE posts SET tagging_status = 'success', tagging_attempts = 1 WHERE channel_id = ?1",
                [channel_id],
            )?;
            tx.execute(
                "INSERT INTO post_tags (post_id, tag, score, source)
                 SELECT id, 'x', 1.0, 'test' FROM posts WHERE channel_id = ?1",
                [channel_id],
            )
        })
        .expect("tag");
    }

    fn remember_deletion(&mut self, channel_id: i64, message_id: i32, at: i64) {
        self.write("remember", |tx| {
            tx.execute(
                "INSERT INTO message_deletions (channel_id, message_id, deleted_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![channel_id, message_id, at],
            )
        })
        .expect("remember");
    }
}

impl Inspect for PgBackend {
    fn post_state(
        &self,
        channel_id: i64,
        message_id: i32,
    ) -> Option<(String, String, i64, Option<i64>)> {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query_opt(
                    "SELECT text, tagging_status, (SELECT count(*) FROM post_tags t WHERE t.post_id = p.id),
                            deleted_at FROM posts p WHERE channel_id = $1 AND message_id = $2",
                    &[&channel_id, &i64::from(message_id)],
                )
                .await?
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
        })
        .expect("inspect")
    }

    fn post_id(&self, channel_id: i64, message_id: i32) -> i64 {
        self.tx("inspect", async |tx| {
            Ok(tx
                .query_one(
                    "SELECT id FROM posts WHERE channel_id = $1 AND message_id = $2",
                    &[&channel_id, &i64::from(message_id)],
                )
                .await?
                .get(0))
        })
        .expect("post id")
    }

    fn tag_all(&mut self, channel_id: i64) {
        self.tx("tag", async |tx| {
            tx.execute(
                "UPDATE posts SET tagging_status = 'success', tagging_attempts = 1 WHERE channel_id = $1",
                &[&channel_id],
            )
            .await?;
            tx.execute(
                "INSERT INTO post_tags (post_id, tag, score, source)
                 SELECT id, 'x', 1.0, 'test' FROM posts WHERE channel_id = $1",
                &[&channel_id],
            )
            .await?;
            Ok(())
        })
        .expect("tag");
    }

    fn remember_deletion(&mut self, channel_id: i64, message_id: i32, at: i64) {
        self.tx("remember", async |tx| {
            tx.execute(
                "INSERT INTO message_deletions (channel_id, message_id, deleted_at) VALUES ($1, $2, $3)",
                &[&channel_id, &i64::from(message_id), &at],
            )
            .await?;
            Ok(())
        })
        .expect("remember");
    }
}

/// Runs `test` on a fresh SQLite store.
fn on_sqlite(test: impl FnOnce(&mut Store)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("t.db")).expect("open");
    test(&mut store);
}

/// Runs `test` on a fresh PostgreSQL backend (a schema of its own), unless PostgreSQL tests are
/// skipped. The backend's calls run on a runtime of the test's own; the test body runs outside it.
fn on_postgres(name: &str, test: impl FnOnce(&mut PgBackend)) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let opened = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), fresh_store(name))
            .await
            .expect("the test database answered in time")
    });
    let Some(store) = opened else { return };
    let mut backend = PgBackend::new(
        store.expect("open the test store"),
        runtime.handle().clone(),
    );
    test(&mut backend);
}

fn post(id: i32, text: &str) -> PostIn {
    PostIn {
        message_id: id,
        date: 1_700_000_000 + i64::from(id),
        edit_date: None,
        text: text.into(),
        views: Some(10),
        forwards: Some(1),
        grouped_id: None,
        has_media: false,
    }
}

fn outcome(inserted: usize, edited: usize, unchanged: usize, deleted: usize) -> BatchOutcome {
    BatchOutcome {
        inserted,
        edited,
        unchanged,
        deleted,
    }
}

/// An account `a` following one channel `@news`; returns the channel's row id.
fn setup<S: AccountStore + ChannelStore + ?Sized>(s: &mut S) -> i64 {
    let a = s
        .add_account("a", None, None, Path::new("a.session"))
        .expect("account");
    let c = NewChannel {
        tg_id: 5,
        access_hash: 7,
        username: Some("news".into()),
        title: "News".into(),
        backfill: "all".into(),
    };
    let ch = s.add_channel(a.id, &c).expect("add").expect("new");
    assert!(
        s.add_channel(a.id, &c).expect("again").is_none(),
        "adding twice is a no-op"
    );
    assert_eq!((ch.account.as_str(), ch.tg_id, ch.access_hash), ("a", 5, 7));
    ch.id
}

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
    s.set_account_disabled(got.id, Some("logged out"))
        .expect("disable");
    assert_eq!(
        s.account("alice")
            .expect("read")
            .expect("exists")
            .disabled_reason
            .as_deref(),
        Some("logged out")
    );
    s.set_account_user("alice", 42, Some("+15551111111"))
        .expect("login again");
    let back = s.account("alice").expect("read").expect("exists");
    assert_eq!(
        (back.disabled_reason, back.phone.as_deref()),
        (None, Some("+15551111111"))
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
            ("channels.getMessages".into(), 3.0, None),
            ("messages.getHistory".into(), 12.5, Some(25.0)),
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
    };
    s.save_client_state(a.id, &state).expect("save");
    let back = s.load_client_state(a.id).expect("load");
    assert_eq!(back.pace, state.pace);
    assert_eq!(back.breaker, (3, Some(now + 10_000)));
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

fn batches_upsert_and_advance_the_checkpoint<S: AccountStore + ChannelStore + Inspect + ?Sized>(
    s: &mut S,
) {
    let ch = setup(s);
    let page = [post(1, "a"), post(2, ""), post(4, "d")];
    assert_eq!(
        s.store_batch(ch, "@news", &page, Some((1, 4)))
            .expect("batch"),
        outcome(3, 0, 0, 0)
    );
    assert_eq!(
        s.store_batch(ch, "@news", &page, Some((1, 4)))
            .expect("again"),
        outcome(0, 0, 3, 0),
        "the same batch again duplicates nothing"
    );
    assert_eq!(s.message_ids(ch).expect("ids"), vec![1, 2, 4]);
    assert_eq!(
        s.channel(ch)
            .expect("read")
            .expect("exists")
            .last_message_id,
        4
    );
    s.store_batch(ch, "@news", &[post(5, "e")], Some((5, 7)))
        .expect("next");
    assert_eq!(s.fetched_ranges(ch).expect("ranges"), vec![(1, 7)]);
    assert_eq!(
        s.post_state(ch, 2).expect("stored").1,
        "skipped",
        "no text, nothing to tag"
    );
    assert_eq!(s.post_state(ch, 1).expect("stored").1, "pending");
    assert_eq!(s.channel_post_count(ch).expect("count"), 4);
    assert_eq!(s.post_counts().expect("counts").get(&ch), Some(&4));
    // A checkpoint never moves back.
    s.set_checkpoint(ch, 3).expect("checkpoint");
    assert_eq!(
        s.channel(ch)
            .expect("read")
            .expect("exists")
            .last_message_id,
        7
    );
    s.set_checkpoint(ch, 20).expect("checkpoint");
    assert_eq!(
        s.channel(ch)
            .expect("read")
            .expect("exists")
            .last_message_id,
        20
    );
}

fn grouped_pages_and_edits<S: AccountStore + ChannelStore + Inspect + ?Sized>(s: &mut S) {
    let ch = setup(s);
    s.store_batch(ch, "@news", &[post(2, "old")], Some((1, 2)))
        .expect("first page");
    s.tag_all(ch);
    let mut edited = post(2, "new");
    edited.edit_date = Some(1_800_000_000);
    let pages = vec![
        (vec![edited.clone(), post(3, "c")], (1, 4)),
        (vec![post(5, "e"), post(7, "g")], (5, 7)),
    ];
    assert_eq!(
        s.store_batches(ch, "@news", &pages).expect("group"),
        vec![outcome(1, 1, 0, 0), outcome(2, 0, 0, 0)]
    );
    assert_eq!(s.message_ids(ch).expect("ids"), vec![2, 3, 5, 7]);
    assert_eq!(
        s.channel(ch)
            .expect("read")
            .expect("exists")
            .last_message_id,
        7
    );
    assert_eq!(s.fetched_ranges(ch).expect("ranges"), vec![(1, 7)]);
    let id = s.post_id(ch, 2);
    assert_eq!(
        s.post_versions(id).expect("versions"),
        vec![(
            "old".to_string(),
            None,
            s.post_versions(id).expect("v")[0].2
        )]
    );
    assert_eq!(
        s.post_state(ch, 2).expect("stored"),
        ("new".to_string(), "pending".to_string(), 0, None),
        "an edit drops the tags and makes the post due again"
    );
    // An older copy of the post (a page fetched before the edit) does not bring the old text back.
    let out = s
        .store_batch(ch, "@news", &[post(2, "old")], None)
        .expect("stale refresh");
    assert_eq!(out, outcome(0, 0, 1, 0));
    assert_eq!(s.post_state(ch, 2).expect("stored").0, "new");
    // A refresh never inserts.
    let out = s
        .store_batch(ch, "@news", &[post(9, "not stored before")], None)
        .expect("refresh");
    assert_eq!(out, outcome(0, 0, 0, 0));
    assert_eq!(s.message_ids(ch).expect("ids"), vec![2, 3, 5, 7]);
}

fn deletions_are_marked<S: AccountStore + ChannelStore + Inspect + ?Sized>(s: &mut S) {
    let ch = setup(s);
    s.store_batch(
        ch,
        "@news",
        &[post(1, "a"), post(2, "b"), post(3, "c")],
        Some((1, 3)),
    )
    .expect("page");
    // The page again without 2: it was deleted in the channel.
    let out = s
        .store_page(
            ch,
            "@news",
            &[post(1, "a"), post(3, "c")],
            None,
            Some((1, 3)),
        )
        .expect("refresh");
    assert_eq!(out, outcome(0, 0, 2, 1));
    assert!(
        s.post_state(ch, 2).expect("kept").3.is_some(),
        "kept, marked deleted"
    );
    assert_eq!(s.post_state(ch, 1).expect("kept").3, None);
    // A deletion learned before the post was stored marks it as it comes in.
    s.remember_deletion(ch, 5, 1_700_000_500);
    s.store_batch(ch, "@news", &[post(4, "d"), post(5, "e")], Some((4, 5)))
        .expect("next");
    assert_eq!(s.post_state(ch, 5).expect("stored").3, Some(1_700_000_500));
    assert_eq!(s.post_state(ch, 4).expect("stored").3, None);
}

fn channel_states<S: AccountStore + ChannelStore + ?Sized>(s: &mut S) {
    let ch = setup(s);
    s.park_channel(ch, 2_000_000_000, "FLOOD_WAIT 600")
        .expect("park");
    let row = s.channel(ch).expect("read").expect("exists");
    assert_eq!(
        (row.flood_until, row.last_error.as_deref(), row.failures),
        (Some(2_000_000_000), Some("FLOOD_WAIT 600"), 1)
    );
    s.touch_channel(ch).expect("touch");
    let row = s.channel(ch).expect("read").expect("exists");
    assert_eq!(
        (row.flood_until, row.last_error, row.failures),
        (None, None, 0)
    );
    assert!(row.last_fetch_at.is_some());
    s.fail_channel(ch, "CHANNEL_PRIVATE", true).expect("fail");
    let row = s.channel(ch).expect("read").expect("exists");
    assert_eq!((row.active, row.failures), (false, 1));
    s.set_channel_active(ch, true).expect("resume");
    let row = s.channel(ch).expect("read").expect("exists");
    assert_eq!((row.active, row.last_error, row.failures), (true, None, 0));
    assert_eq!(s.find_channels("@NEWS").expect("find").len(), 1);
    assert_eq!(s.find_channels("5").expect("by id")[0].id, ch);
    assert_eq!(
        s.find_channels(&format!("#{ch}")).expect("by row")[0].id,
        ch
    );
    assert!(s.find_channels("@other").expect("none").is_empty());
    assert_eq!(s.channels().expect("list").len(), 1);
    s.remove_channel(ch).expect("remove");
    assert!(s.channels().expect("list").is_empty());
}

macro_rules! both {
    ($($name:ident => $body:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::on_sqlite(|s| super::$body(s)); })*
        }
        mod postgres {
            $(#[test] fn $name() { super::on_postgres(concat!("conf_", stringify!($name)), |s| super::$body(s)); })*
        }
    };
}

both! {
    accounts => accounts_round_trip,
    client_state => client_state_round_trip,
    batches => batches_upsert_and_advance_the_checkpoint,
    edits => grouped_pages_and_edits,
    deletions => deletions_are_marked,
    channel_state => channel_states,
}

/// PostgreSQL only: a worker's backend writes an account's data only while it holds the lease.
#[test]
fn a_fenced_backend_stops_writing_when_the_lease_is_lost() {
    on_postgres("conf_fenced", |admin| {
        let ch = setup(admin);
        let account = admin.account("a").expect("read").expect("exists").id;
        let store = admin.store().clone();
        let leases = Arc::new(HeldLeases::default());
        let mut worker = admin.clone().fenced(Arc::clone(&leases));
        // Not leased yet: refused.
        let err = worker.touch_channel(ch).expect_err("no lease");
        assert!(
            matches!(&err, StoreError::Postgres { source: PgError::NotLeased { account_id }, .. } if *account_id == account),
            "{err:?}"
        );
        let ttl = Duration::from_millis(800);
        let (me, other) = admin.block_on(async {
            (
                store.register_worker("a", 1).await.expect("worker"),
                store.register_worker("b", 2).await.expect("worker"),
            )
        });
        let lease = admin
            .block_on(store.claim_leases(me, 1, ttl))
            .expect("claim")
            .remove(0);
        leases.hold(lease);
        worker
            .store_batch(ch, "@news", &[post(1, "a")], Some((1, 1)))
            .expect("held: written");
        std::thread::sleep(ttl + Duration::from_millis(200));
        let taken = admin
            .block_on(store.claim_leases(other, 1, Duration::from_secs(60)))
            .expect("takeover");
        assert_eq!(taken.len(), 1);
        let err = worker
            .store_batch(ch, "@news", &[post(2, "b")], Some((2, 2)))
            .expect_err("fenced out");
        assert!(
            matches!(
                &err,
                StoreError::Postgres {
                    source: PgError::LeaseLost { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            admin.message_ids(ch).expect("ids"),
            vec![1],
            "the fenced write left nothing"
        );
        assert_eq!(
            admin
                .channel(ch)
                .expect("read")
                .expect("exists")
                .last_message_id,
            1
        );
    });
}
