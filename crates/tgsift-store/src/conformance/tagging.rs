//! [`TaggingStore`] on both backends: claims and their tokens, attempts and the retry rules,
//! re-queueing, and posts read with their tags; on PostgreSQL, that workers claiming at once never get
//! the same post. [`TaggingInspect`] writes what the traits cannot (tags and deletions set by hand, a
//! failing tag write, storage times) for these tests and those of stats, trends and exports.

use std::collections::HashSet;

use super::{Inspect, on_postgres, on_sqlite, post, setup};
use crate::postgres::backend::PgBackend;
use crate::prelude::*;
use crate::{
    Attempt, AttemptResult, DuePost, PostFilter, Recorded, RetryRules, SqliteStore, TaggingStatus,
    unix_now,
};

/// Raw writes of post rows for the assertions the traits cannot set up.
pub(super) trait TaggingInspect {
    /// Makes every later insert of a tag of `post_id` fail with the error `injected`.
    fn fail_tags_of(&mut self, post_id: i64);
    /// Marks a post deleted in its channel at `at`.
    fn set_deleted_at(&mut self, post_id: i64, at: i64);
    /// Gives a post a tag (source `embedded`), as a tagger would.
    fn add_tag(&mut self, post_id: i64, tag: &str, score: f64);
    /// Sets when a post was stored (unix ms; `None` for a post stored before the column existed).
    fn set_stored_at(&mut self, post_id: i64, ms: Option<i64>);
    /// Removes a post row.
    fn remove_post(&mut self, post_id: i64);
    /// Replaces every tag with `rows` (post id, tag, score) as written, without names, as a tgsift
    /// before `tag_names` stored them, then names them as the migration to `tag_names` does.
    fn name_old_tags(&mut self, rows: &[(i64, &str, f64)]);
}

impl TaggingInspect for SqliteStore {
    fn name_old_tags(&mut self, rows: &[(i64, &str, f64)]) {
        self.write("store and name old tags", |tx| {
            tx.execute_batch("DELETE FROM post_tags; DELETE FROM tag_names;")?;
            for (post_id, tag, score) in rows {
                tx.execute(
                    "INSERT INTO post_tags (post_id, tag, score, source) VALUES (?1, ?2, ?3, 'embedded')",
                    rusqlite::params![post_id, tag, score],
                )?;
            }
            crate::sqlite::tagging::name_stored_tags(tx)
        })
        .expect("old tags");
    }

    fn fail_tags_of(&mut self, post_id: i64) {
        self.write("fail one post's tags", |tx| {
            tx.execute_batch(&format!(
                "CREATE TRIGGER no_tags BEFORE INSERT ON post_tags WHEN NEW.post_id = {post_id}
                 BEGIN SELECT RAISE(ABORT, 'injected'); END;"
            ))
        })
        .expect("trigger");
    }

    fn set_deleted_at(&mut self, post_id: i64, at: i64) {
        self.write("delete", |tx| {
            tx.execute(
                "UPDATE posts SET deleted_at = ?2 WHERE id = ?1",
                [post_id, at],
            )
        })
        .expect("delete");
    }

    fn add_tag(&mut self, post_id: i64, tag: &str, score: f64) {
        self.write("tag", |tx| {
            tx.execute(
                "INSERT INTO post_tags (post_id, tag, score, source) VALUES (?1, ?2, ?3, 'embedded')",
                rusqlite::params![post_id, tag, score],
            )
        })
        .expect("tag");
    }

    fn set_stored_at(&mut self, post_id: i64, ms: Option<i64>) {
        self.write("stored at", |tx| {
            tx.execute(
                "UPDATE posts SET stored_at_ms = ?2 WHERE id = ?1",
                rusqlite::params![post_id, ms],
            )
        })
        .expect("stored at");
    }

    fn remove_post(&mut self, post_id: i64) {
        self.write("remove", |tx| {
            tx.execute("DELETE FROM posts WHERE id = ?1", [post_id])
        })
        .expect("remove");
    }
}

impl TaggingInspect for PgBackend {
    fn name_old_tags(&mut self, rows: &[(i64, &str, f64)]) {
        self.tx("store and name old tags", async |tx| {
            tx.batch_execute("DELETE FROM post_tags; DELETE FROM tag_names;")
                .await?;
            for (post_id, tag, score) in rows {
                tx.execute(
                    "INSERT INTO post_tags (post_id, tag, score, source) VALUES ($1, $2, $3, 'embedded')",
                    &[post_id, tag, score],
                )
                .await?;
            }
            crate::postgres::backend::tagging::name_stored_tags(tx).await?;
            Ok(())
        })
        .expect("old tags");
    }

    fn fail_tags_of(&mut self, post_id: i64) {
        self.tx("fail one post's tags", async |tx| {
            tx.batch_execute(&format!(
                "CREATE FUNCTION no_tags() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     IF NEW.post_id = {post_id} THEN RAISE EXCEPTION 'injected'; END IF;
                     RETURN NEW;
                 END $$;
                 CREATE TRIGGER no_tags BEFORE INSERT ON post_tags FOR EACH ROW EXECUTE FUNCTION no_tags();"
            ))
            .await?;
            Ok(())
        })
        .expect("trigger");
    }

    fn set_deleted_at(&mut self, post_id: i64, at: i64) {
        self.tx("delete", async |tx| {
            tx.execute(
                "UPDATE posts SET deleted_at = $2 WHERE id = $1",
                &[&post_id, &at],
            )
            .await?;
            Ok(())
        })
        .expect("delete");
    }

    fn add_tag(&mut self, post_id: i64, tag: &str, score: f64) {
        self.tx("tag", async |tx| {
            tx.execute(
                "INSERT INTO post_tags (post_id, tag, score, source) VALUES ($1, $2, $3, 'embedded')",
                &[&post_id, &tag, &score],
            )
            .await?;
            Ok(())
        })
        .expect("tag");
    }

    fn set_stored_at(&mut self, post_id: i64, ms: Option<i64>) {
        self.tx("stored at", async |tx| {
            tx.execute(
                "UPDATE posts SET stored_at_ms = $2 WHERE id = $1",
                &[&post_id, &ms],
            )
            .await?;
            Ok(())
        })
        .expect("stored at");
    }

    fn remove_post(&mut self, post_id: i64) {
        self.tx("remove", async |tx| {
            tx.execute("DELETE FROM posts WHERE id = $1", &[&post_id])
                .await?;
            Ok(())
        })
        .expect("remove");
    }
}

/// What the tagging tests use of a backend.
trait Tagging: AccountStore + ChannelStore + TaggingStore + Inspect + TaggingInspect {}
impl<T: AccountStore + ChannelStore + TaggingStore + Inspect + TaggingInspect + ?Sized> Tagging
    for T
{
}

/// `@news` with one post per text (message ids 1, 2, …, dated in that order); returns the channel's
/// row id and the posts' row ids.
fn seed<S: Tagging + ?Sized>(s: &mut S, texts: &[&str]) -> (i64, Vec<i64>) {
    let ch = setup(s);
    let posts: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| post(i as i32 + 1, t))
        .collect();
    s.store_batch(ch, "@news", &posts, Some((1, texts.len() as i32)))
        .expect("posts");
    let ids = (1..=texts.len() as i32).map(|m| s.post_id(ch, m)).collect();
    (ch, ids)
}

const RULES: RetryRules = RetryRules {
    max_attempts: 3,
    base_delay_secs: 2.0,
};

fn tagged(p: &DuePost) -> Attempt {
    tagged_with(p, &[("news", 1.0)])
}

fn tagged_with(p: &DuePost, tags: &[(&str, f64)]) -> Attempt {
    Attempt {
        post_id: p.id,
        claim: p.claim,
        result: AttemptResult::Tagged {
            tags: tags.iter().map(|(t, s)| (t.to_string(), *s)).collect(),
            source: "embedded".into(),
        },
    }
}

fn failed(p: &DuePost) -> Attempt {
    Attempt {
        post_id: p.id,
        claim: p.claim,
        result: AttemptResult::Failed {
            error: "boom".into(),
        },
    }
}

fn record<S: TaggingStore + ?Sized>(s: &mut S, a: Attempt, rules: RetryRules) -> Recorded {
    s.record_attempts(&[a], rules).expect("record").remove(0)
}

fn ids(posts: &[DuePost]) -> Vec<i64> {
    posts.iter().map(|p| p.id).collect()
}

fn statuses_go_pending_retrying_failed_with_due_times<S: Tagging + ?Sized>(s: &mut S) {
    let (_, posts) = seed(s, &["one", "two", ""]);
    let due = s.claim_due(10, 60).expect("claim");
    assert_eq!(
        due.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(),
        vec!["one", "two"],
        "skipped posts are never due"
    );
    assert_eq!(ids(&due), posts[..2]);
    assert_eq!(
        due.iter().map(|d| d.attempts).collect::<Vec<_>>(),
        vec![0, 0]
    );
    assert!(
        s.claim_due(10, 60).expect("claim again").is_empty(),
        "claimed posts are not handed out twice"
    );
    assert_eq!(
        record(s, tagged(&due[0]), RULES),
        Recorded::Applied(TaggingStatus::Success)
    );
    assert_eq!(
        record(s, failed(&due[1]), RULES),
        Recorded::Applied(TaggingStatus::Retrying)
    );
    let p = s.post(due[1].id).expect("read").expect("exists");
    assert_eq!(
        (p.tagging_attempts, p.tagging_error.as_deref()),
        (1, Some("boom"))
    );
    assert_eq!(p.tagging_status, TaggingStatus::Retrying);
    assert!(p.next_tagging_at.expect("due later") > unix_now());
    assert!(
        s.claim_due(10, 60).expect("claim").is_empty(),
        "not due before next_tagging_at"
    );
    // The claim was consumed by the outcome: the same token cannot write twice.
    assert_eq!(record(s, failed(&due[1]), RULES), Recorded::Stale);
    let again = s.claim_post(due[1].id, 60).expect("claim").expect("post");
    assert_eq!(again.attempts, 1);
    assert_eq!(
        record(s, failed(&again), RULES),
        Recorded::Applied(TaggingStatus::Retrying)
    );
    let first_delay = p.next_tagging_at.unwrap_or(0) - p.last_tagging_attempt.unwrap_or(0);
    let p2 = s.post(due[1].id).expect("read").expect("exists");
    let second_delay = p2.next_tagging_at.unwrap_or(0) - p2.last_tagging_attempt.unwrap_or(0);
    assert_eq!((first_delay, second_delay), (2, 4), "exponential delay");
    let last = s.claim_post(due[1].id, 60).expect("claim").expect("post");
    assert_eq!(
        record(s, failed(&last), RULES),
        Recorded::Applied(TaggingStatus::Failed)
    );
    let p3 = s.post(due[1].id).expect("read").expect("exists");
    assert_eq!(
        (
            p3.tagging_status.as_str(),
            p3.tagging_attempts,
            p3.next_tagging_at
        ),
        ("failed", 3, None)
    );
    assert!(
        s.claim_post(posts[2], 60).expect("claim").is_none(),
        "a post without text is never claimed"
    );
    let done = s.post(due[0].id).expect("read").expect("exists");
    assert_eq!(
        (done.tagging_status.as_str(), done.tagging_attempts),
        ("success", 1)
    );
    assert_eq!(
        done.tags,
        vec![("news".to_owned(), 1.0, "embedded".to_owned())]
    );
    let stats = s.tag_stats(None).expect("stats");
    assert_eq!(stats.total, 3);
    assert_eq!(stats.with_tags, 1);
    assert_eq!(stats.needing_retry, 0);
    assert_eq!(
        stats.by_status.into_iter().collect::<Vec<_>>(),
        vec![
            ("failed".to_owned(), 1),
            ("skipped".to_owned(), 1),
            ("success".to_owned(), 1)
        ]
    );
    assert_eq!(s.tag_stats(Some("nobody")).expect("stats").total, 0);
}

fn retry_requeues_retrying_and_force_includes_failed<S: Tagging + ?Sized>(s: &mut S) {
    let (_, posts) = seed(s, &["a", "b"]);
    let due = s.claim_due(10, 60).expect("claim");
    let slow = RetryRules {
        max_attempts: 5,
        base_delay_secs: 60.0,
    };
    let once = RetryRules {
        max_attempts: 1,
        base_delay_secs: 60.0,
    };
    record(s, failed(&due[0]), slow);
    record(s, failed(&due[1]), once);
    let stats = s.tag_stats(Some("a")).expect("stats");
    assert_eq!((stats.total, stats.needing_retry), (2, 1));
    assert_eq!(s.requeue_tagging(None, 50, false).expect("retry"), 1);
    assert_eq!(s.requeue_tagging(None, 50, false).expect("retry"), 0);
    assert_eq!(
        s.requeue_tagging(Some("nobody"), 50, true)
            .expect("other account"),
        0
    );
    assert_eq!(s.requeue_tagging(Some("a"), 50, true).expect("force"), 1);
    let again = s.claim_due(10, 60).expect("claim");
    assert_eq!(ids(&again), posts);
    assert_eq!(
        again.iter().map(|p| p.attempts).collect::<Vec<_>>(),
        vec![1, 0],
        "a retried post keeps its attempts, a failed one starts over"
    );
}

fn requeue_takes_the_oldest_posts_up_to_the_limit<S: Tagging + ?Sized>(s: &mut S) {
    let (_, posts) = seed(s, &["a", "b", "c"]);
    let due = s.claim_due(10, 60).expect("claim");
    let once = RetryRules {
        max_attempts: 1,
        base_delay_secs: 60.0,
    };
    let out = s
        .record_attempts(&due.iter().map(failed).collect::<Vec<_>>(), once)
        .expect("record");
    assert_eq!(out, vec![Recorded::Applied(TaggingStatus::Failed); 3]);
    assert_eq!(s.requeue_tagging(None, 2, true).expect("force"), 2);
    let statuses: Vec<TaggingStatus> = posts
        .iter()
        .map(|id| s.post(*id).expect("read").expect("exists").tagging_status)
        .collect();
    assert_eq!(
        statuses,
        [
            TaggingStatus::Pending,
            TaggingStatus::Pending,
            TaggingStatus::Failed
        ]
    );
}

fn an_expired_claim_makes_the_post_due_again_and_voids_the_old_token<S: Tagging + ?Sized>(
    s: &mut S,
) {
    seed(s, &["a"]);
    let dead = s
        .claim_due(10, -1)
        .expect("claim with an already expired lease");
    assert_eq!(dead.len(), 1);
    let live = s.claim_due(10, 60).expect("claim");
    assert_eq!(live.len(), 1, "a dead worker's claim expires");
    assert_ne!(live[0].claim, dead[0].claim);
    assert_eq!(
        record(s, tagged(&dead[0]), RULES),
        Recorded::Stale,
        "the dead worker's late result is dropped"
    );
    assert_eq!(
        record(s, tagged(&live[0]), RULES),
        Recorded::Applied(TaggingStatus::Success)
    );
}

fn an_edit_voids_the_claim_of_a_worker_tagging_the_old_text<S: Tagging + ?Sized>(s: &mut S) {
    let (ch, _) = seed(s, &["old text"]);
    let due = s.claim_due(10, 60).expect("claim");
    let mut edited = post(1, "new text");
    edited.edit_date = Some(1_700_000_500);
    let out = s
        .store_batch(ch, "@news", &[edited], None)
        .expect("refresh");
    assert_eq!(out.edited, 1);
    assert_eq!(record(s, tagged(&due[0]), RULES), Recorded::Stale);
    let p = s.post(due[0].id).expect("read").expect("exists");
    assert_eq!((p.tagging_status.as_str(), p.tags.len()), ("pending", 0));
    let again = s.claim_due(10, 60).expect("claim");
    assert_eq!(again[0].text, "new text");
}

fn claims_are_renewed_and_released_by_token<S: Tagging + ?Sized>(s: &mut S) {
    seed(s, &["a", "b"]);
    let due = s.claim_due(10, -1).expect("claim, expired at once");
    assert_eq!(s.renew_claims(due[0].claim, 60).expect("renew"), 2);
    assert_eq!(s.renew_claims(due[0].claim ^ 1, 60).expect("renew"), 0);
    assert!(s.claim_due(10, 60).expect("claim").is_empty(), "renewed");
    s.release_claims(due[0].claim ^ 1, &[due[0].id])
        .expect("release under another token");
    s.release_claims(due[0].claim, &[due[1].id])
        .expect("release");
    let freed = s.claim_due(10, 60).expect("claim");
    assert_eq!(ids(&freed), vec![due[1].id]);
    let p = s.post(due[1].id).expect("read").expect("exists");
    assert_eq!(p.tagging_attempts, 0, "a released claim burns no attempt");
}

fn one_failing_write_rolls_back_only_its_own_post<S: Tagging + ?Sized>(s: &mut S) {
    seed(s, &["a", "b", "c"]);
    let due = s.claim_due(10, 60).expect("claim");
    s.fail_tags_of(due[1].id);
    let out = s
        .record_attempts(&due.iter().map(tagged).collect::<Vec<_>>(), RULES)
        .expect("batch");
    assert_eq!(out[0], Recorded::Applied(TaggingStatus::Success));
    assert!(
        matches!(&out[1], Recorded::Error(e) if e.contains("injected")),
        "{out:?}"
    );
    assert_eq!(out[2], Recorded::Applied(TaggingStatus::Success));
    let statuses: Vec<TaggingStatus> = due
        .iter()
        .map(|p| s.post(p.id).expect("read").expect("exists").tagging_status)
        .collect();
    assert_eq!(
        statuses,
        [
            TaggingStatus::Success,
            TaggingStatus::Pending,
            TaggingStatus::Success
        ]
    );
    assert_eq!(
        s.post(due[2].id).expect("read").expect("exists").tags.len(),
        1
    );
}

fn a_batch_applies_each_attempt_in_turn<S: Tagging + ?Sized>(s: &mut S) {
    seed(s, &["a", "b"]);
    let due = s.claim_due(10, 60).expect("claim");
    // The same post twice: the second attempt finds the claim consumed by the first.
    let out = s
        .record_attempts(
            &[
                failed(&due[0]),
                tagged_with(&due[1], &[("x", 0.1), ("y", 0.3), ("x", 0.8)]),
                tagged(&due[0]),
            ],
            RULES,
        )
        .expect("batch");
    assert_eq!(
        out,
        vec![
            Recorded::Applied(TaggingStatus::Retrying),
            Recorded::Applied(TaggingStatus::Success),
            Recorded::Stale
        ]
    );
    let p = s.post(due[1].id).expect("read").expect("exists");
    assert_eq!(
        p.tags,
        vec![
            ("x".to_owned(), 0.8, "embedded".to_owned()),
            ("y".to_owned(), 0.3, "embedded".to_owned())
        ],
        "a tag listed twice keeps its best score"
    );
    // Re-tagging replaces the tags.
    let again = s.claim_post(due[1].id, 60).expect("claim").expect("post");
    let out = s
        .record_attempts(
            &[tagged_with(&again, &[("z", 0.5)]), failed(&due[0])],
            RULES,
        )
        .expect("batch");
    assert_eq!(
        out,
        vec![Recorded::Applied(TaggingStatus::Success), Recorded::Stale]
    );
    let p = s.post(due[1].id).expect("read").expect("exists");
    assert_eq!(
        (p.tags, p.tagging_attempts),
        (vec![("z".to_owned(), 0.5, "embedded".to_owned())], 2)
    );
    assert!(s.record_attempts(&[], RULES).expect("none").is_empty());
}

fn lists_leave_deleted_posts_out_and_carry_tags_from_one_statement<S: Tagging + ?Sized>(s: &mut S) {
    seed(s, &["a", "b", "c"]);
    let due = s.claim_due(10, 60).expect("claim");
    let two_tags = tagged_with(&due[0], &[("нефть", 0.5), ("ставка", 0.9)]);
    record(s, two_tags, RULES);
    s.set_deleted_at(due[2].id, 99);
    let list = |s: &S, include_deleted| {
        s.list_posts(&PostFilter {
            include_deleted,
            limit: 10,
            ..Default::default()
        })
        .expect("list")
    };
    let shown = list(s, false);
    assert_eq!(
        shown.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![due[1].id, due[0].id]
    );
    assert_eq!(
        shown[1].tags,
        vec![
            ("ставка".to_owned(), 0.9, "embedded".to_owned()),
            ("нефть".to_owned(), 0.5, "embedded".to_owned())
        ]
    );
    assert_eq!(
        (
            shown[1].channel.as_str(),
            shown[1].message_id,
            shown[1].date
        ),
        ("@news", 1, 1_700_000_001)
    );
    assert!(shown[0].tags.is_empty());
    let all = list(s, true);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].deleted_at, Some(99));
    assert_eq!(
        s.post(due[2].id)
            .expect("read")
            .expect("shown by id")
            .deleted_at,
        Some(99)
    );
    assert!(s.post(-1).expect("read").is_none());
}

fn list_filters_and_pages<S: Tagging + ?Sized>(s: &mut S) {
    let (_, p) = seed(s, &["a", "", "c", "d"]);
    for (id, tag) in [(p[0], "x"), (p[2], "x"), (p[3], "y")] {
        s.add_tag(id, tag, 0.5);
    }
    let list = |s: &S, f: PostFilter| {
        s.list_posts(&PostFilter { limit: 10, ..f })
            .expect("list")
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(s, PostFilter::default()), vec![p[3], p[2], p[1], p[0]]);
    assert_eq!(
        list(
            s,
            PostFilter {
                tag: Some("x".into()),
                ..Default::default()
            }
        ),
        vec![p[2], p[0]]
    );
    assert_eq!(
        list(
            s,
            PostFilter {
                status: Some(TaggingStatus::Skipped),
                ..Default::default()
            }
        ),
        vec![p[1]]
    );
    assert_eq!(
        list(
            s,
            PostFilter {
                since: Some(1_700_000_003),
                ..Default::default()
            }
        ),
        vec![p[3], p[2]]
    );
    assert_eq!(
        list(
            s,
            PostFilter {
                before: Some((1_700_000_003, p[2])),
                ..Default::default()
            }
        ),
        vec![p[1], p[0]],
        "a page continues after its cursor"
    );
    assert_eq!(
        list(
            s,
            PostFilter {
                channel: Some("@news".into()),
                ..Default::default()
            }
        )
        .len(),
        4
    );
    assert!(
        list(
            s,
            PostFilter {
                channel: Some("@nobody".into()),
                ..Default::default()
            }
        )
        .is_empty()
    );
    let newest = s
        .list_posts(&PostFilter {
            limit: 2,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(
        newest.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![p[3], p[2]]
    );
    let one = s
        .list_posts(&PostFilter {
            limit: 0,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(one.len(), 1, "a limit of 0 lists one post");
}

fn texts_tag_counts_and_retag<S: Tagging + ?Sized>(s: &mut S) {
    let (ch, p) = seed(s, &["a", "", "c", "d"]);
    assert_eq!(
        s.channel_texts(ch, 2).expect("texts"),
        (vec!["d".to_owned(), "c".to_owned()], p[3])
    );
    assert_eq!(
        s.channel_texts(ch, 10).expect("texts"),
        (vec!["d".to_owned(), "c".to_owned(), "a".to_owned()], p[3])
    );
    assert_eq!(
        s.channel_texts_after(ch, p[0], 10).expect("new texts"),
        (vec!["c".to_owned(), "d".to_owned()], p[3])
    );
    assert_eq!(
        s.channel_texts_after(ch, p[0], 1).expect("new texts"),
        (vec!["c".to_owned()], p[2])
    );
    assert_eq!(
        s.channel_texts_after(ch, p[3], 10).expect("nothing new"),
        (Vec::new(), p[3])
    );
    assert_eq!(s.channel_texts(ch + 1, 10).expect("none"), (Vec::new(), 0));
    assert_eq!(s.channel_tag_stats(ch).expect("stats"), (4, 0, 0));
    let due = s.claim_due(10, 60).expect("claim");
    let out = s
        .record_attempts(
            &[
                tagged_with(&due[0], &[("x", 0.9), ("y", 0.5)]),
                tagged_with(&due[1], &[("x", 0.7)]),
                tagged_with(&due[2], &[("B", 0.2), ("a", 0.2)]),
            ],
            RULES,
        )
        .expect("record");
    assert_eq!(out, vec![Recorded::Applied(TaggingStatus::Success); 3]);
    assert_eq!(
        s.post(p[3]).expect("read").expect("exists").tags,
        vec![
            ("B".to_owned(), 0.2, "embedded".to_owned()),
            ("a".to_owned(), 0.2, "embedded".to_owned())
        ],
        "equal scores in byte order of the tag"
    );
    assert_eq!(s.channel_tag_stats(ch).expect("stats"), (4, 3, 4));
    let top = |v: &[(&str, i64)]| {
        v.iter()
            .map(|(t, n)| (t.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        s.top_tags(None, 10).expect("top"),
        top(&[("x", 2), ("B", 1), ("a", 1), ("y", 1)])
    );
    assert_eq!(
        s.top_tags(Some(ch), 2).expect("top"),
        top(&[("x", 2), ("B", 1)])
    );
    assert!(s.top_tags(Some(ch + 1), 10).expect("top").is_empty());
    assert_eq!(s.tag_stats(None).expect("stats").with_tags, 3);
    // Re-tagging a range makes its posts with text pending again, their tags kept until replaced.
    assert_eq!(
        s.requeue_for_retag(Some(ch), Some(3), None).expect("retag"),
        2
    );
    let again = s.claim_due(10, 60).expect("claim");
    assert_eq!(ids(&again), vec![p[2], p[3]]);
    assert_eq!(
        again.iter().map(|d| d.attempts).collect::<Vec<_>>(),
        vec![0, 0]
    );
    assert_eq!(s.post(p[2]).expect("read").expect("exists").tags.len(), 1);
    assert_eq!(
        s.requeue_for_retag(Some(ch), None, Some(1)).expect("retag"),
        1
    );
    assert_eq!(
        s.requeue_for_retag(Some(ch + 1), None, None)
            .expect("other channel"),
        0
    );
    assert_eq!(s.requeue_for_retag(None, None, None).expect("retag all"), 3);
    assert_eq!(
        ids(&s.claim_due(10, 60).expect("claim")),
        vec![p[0], p[2], p[3]],
        "re-queueing releases the claims"
    );
}

fn two_claims_never_return_the_same_post<S: Tagging + ?Sized>(s: &mut S) {
    let (_, posts) = seed(s, &["a", "b", "c", "d", "e"]);
    let first = s.claim_due(3, 60).expect("first worker");
    let second = s.claim_due(3, 60).expect("second worker");
    assert_eq!(ids(&first), posts[..3]);
    assert_eq!(ids(&second), posts[3..]);
    assert_ne!(first[0].claim, second[0].claim);
    assert!(first.iter().all(|p| p.claim == first[0].claim));
    assert!(s.claim_due(3, 60).expect("third worker").is_empty());
    // Both workers' outcomes land, each under its own token; the other's token is stale.
    let mut wrong = tagged(&first[0]);
    wrong.claim = second[0].claim;
    assert_eq!(record(s, wrong, RULES), Recorded::Stale);
    let out = s
        .record_attempts(
            &first.iter().chain(&second).map(tagged).collect::<Vec<_>>(),
            RULES,
        )
        .expect("record");
    assert_eq!(out, vec![Recorded::Applied(TaggingStatus::Success); 5]);
}

/// Tags of a post as (tag, score) pairs, best first.
fn tags_of<S: Tagging + ?Sized>(s: &S, post_id: i64) -> Vec<(String, f64)> {
    s.post(post_id)
        .expect("read")
        .expect("exists")
        .tags
        .into_iter()
        .map(|(t, score, _)| (t, score))
        .collect()
}

/// Row ids of the posts a tag filter lists, newest first.
fn with_tag<S: Tagging + ?Sized>(s: &S, tag: &str) -> Vec<i64> {
    s.list_posts(&PostFilter {
        tag: Some(tag.into()),
        limit: 10,
        ..Default::default()
    })
    .expect("list")
    .iter()
    .map(|r| r.id)
    .collect()
}

fn owned(v: &[(&str, f64)]) -> Vec<(String, f64)> {
    v.iter().map(|(t, s)| (t.to_string(), *s)).collect()
}

fn a_tag_in_any_case_is_one_tag_named_once<S: Tagging + ?Sized>(s: &mut S) {
    let (_, p) = seed(s, &["a", "b", "c", "d"]);
    let due = s.claim_due(10, 60).expect("claim");
    s.record_attempts(
        &[
            tagged_with(&due[0], &[("Nvidia", 0.9), ("rates", 0.5)]),
            tagged_with(&due[1], &[("nvidia", 0.6), ("NVIDIA ", 0.8)]),
            tagged_with(&due[2], &[("Ёлка", 0.3), ("tate  Modern", 0.2)]),
        ],
        RULES,
    )
    .expect("record");
    // The first form given names the tag; a post given two forms has one tag, with the best score.
    assert_eq!(tags_of(s, p[0]), owned(&[("Nvidia", 0.9), ("rates", 0.5)]));
    assert_eq!(tags_of(s, p[1]), owned(&[("Nvidia", 0.8)]));
    assert_eq!(
        tags_of(s, p[2]),
        owned(&[("Ёлка", 0.3), ("tate Modern", 0.2)])
    );
    // Later posts get the name, whatever case their tagger wrote.
    record(
        s,
        tagged_with(&due[3], &[("NVIDIA", 1.0), ("Tate Modern", 0.5)]),
        RULES,
    );
    assert_eq!(
        tags_of(s, p[3]),
        owned(&[("Nvidia", 1.0), ("tate Modern", 0.5)])
    );
    // Filters and counts match in any case (and ё as е).
    for asked in ["nvidia", "Nvidia", "NVIDIA", " nVidia "] {
        assert_eq!(with_tag(s, asked), [p[3], p[1], p[0]], "{asked}");
    }
    assert_eq!(with_tag(s, "елка"), [p[2]]);
    assert_eq!(with_tag(s, "TATE MODERN"), [p[3], p[2]]);
    assert!(with_tag(s, "nvidia corp").is_empty());
    assert_eq!(
        s.top_tags(None, 2).expect("top"),
        [("Nvidia".to_string(), 3), ("tate Modern".to_string(), 2)]
    );
    assert_eq!(
        s.tag_name("NVIDIA").expect("name").as_deref(),
        Some("Nvidia")
    );
    assert_eq!(s.tag_name("unknown").expect("name"), None);
}

fn stored_tags_get_one_name_and_keep_every_post<S: Tagging + ?Sized>(s: &mut S) {
    let (_, p) = seed(s, &["a", "b", "c", "d"]);
    // As the issue found them: one tag in several cases, a post carrying two of them.
    s.name_old_tags(&[
        (p[0], "nvidia", 0.5),
        (p[0], "Nvidia", 0.9),
        (p[1], "nvidia", 0.4),
        (p[2], "nvidia", 0.3),
        (p[1], "tate Modern", 0.2),
        (p[2], "Tate Modern", 0.1),
        (p[3], "ставка", 1.0),
    ]);
    // The form most posts carry names the tag (byte-wise first among equals); the post that had
    // two forms keeps one row, the name's.
    assert_eq!(tags_of(s, p[0]), owned(&[("nvidia", 0.5)]));
    assert_eq!(
        tags_of(s, p[1]),
        owned(&[("nvidia", 0.4), ("Tate Modern", 0.2)])
    );
    assert_eq!(
        tags_of(s, p[2]),
        owned(&[("nvidia", 0.3), ("Tate Modern", 0.1)])
    );
    assert_eq!(tags_of(s, p[3]), owned(&[("ставка", 1.0)]));
    assert_eq!(
        s.list_posts(&PostFilter {
            limit: 10,
            ..Default::default()
        })
        .expect("list")
        .iter()
        .map(|r| r.id)
        .collect::<Vec<_>>(),
        [p[3], p[2], p[1], p[0]],
        "every post and id kept"
    );
    assert_eq!(with_tag(s, "NVIDIA"), [p[2], p[1], p[0]]);
    assert_eq!(
        s.top_tags(None, 10).expect("top"),
        [
            ("nvidia".to_string(), 3),
            ("Tate Modern".to_string(), 2),
            ("ставка".to_string(), 1)
        ]
    );
    // New tags take the names.
    let due = s.claim_post(p[3], 60).expect("claim").expect("post");
    record(
        s,
        tagged_with(&due, &[("Nvidia", 0.7), ("tate modern", 0.6)]),
        RULES,
    );
    assert_eq!(
        tags_of(s, p[3]),
        owned(&[("nvidia", 0.7), ("Tate Modern", 0.6)])
    );
}

both! {
    tagging_one_name_per_tag => a_tag_in_any_case_is_one_tag_named_once,
    tagging_old_tags_named => stored_tags_get_one_name_and_keep_every_post,
    tagging_statuses => statuses_go_pending_retrying_failed_with_due_times,
    tagging_requeue => retry_requeues_retrying_and_force_includes_failed,
    tagging_requeue_limit => requeue_takes_the_oldest_posts_up_to_the_limit,
    tagging_expired_claim => an_expired_claim_makes_the_post_due_again_and_voids_the_old_token,
    tagging_edit_voids_claim => an_edit_voids_the_claim_of_a_worker_tagging_the_old_text,
    tagging_renew_release => claims_are_renewed_and_released_by_token,
    tagging_failing_write => one_failing_write_rolls_back_only_its_own_post,
    tagging_batch_in_turn => a_batch_applies_each_attempt_in_turn,
    tagging_lists => lists_leave_deleted_posts_out_and_carry_tags_from_one_statement,
    tagging_list_filters => list_filters_and_pages,
    tagging_texts_and_retag => texts_tag_counts_and_retag,
    tagging_two_claims => two_claims_never_return_the_same_post,
}

/// PostgreSQL only: opening a database whose tags have no names yet (as migration V8 finds them, or
/// after an open that stopped half-way) names them, keeping every post and id.
#[test]
fn tagging_opening_names_unnamed_tags() {
    const NAME: &str = "conf_tagging_names_on_open";
    on_postgres(NAME, |s| {
        let (_, p) = seed(s, &["a", "b"]);
        s.tx("store tags without names", async |tx| {
            for (post, tag) in [(p[0], "Nvidia"), (p[0], "nvidia"), (p[1], "nvidia")] {
                tx.execute(
                    "INSERT INTO post_tags (post_id, tag, score, source) VALUES ($1, $2, 0.5, 'x')",
                    &[&post, &tag],
                )
                .await?;
            }
            Ok(())
        })
        .expect("tags");
        let config = crate::testing::postgres::schema_config(NAME).expect("config");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime
            .block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(30),
                    crate::PgStore::open_config(config),
                )
                .await
            })
            .expect("opened in time")
            .expect("open");
        assert_eq!(tags_of(s, p[0]), owned(&[("nvidia", 0.5)]));
        assert_eq!(with_tag(s, "NVIDIA"), [p[1], p[0]]);
        assert_eq!(
            s.tag_name("Nvidia").expect("name").as_deref(),
            Some("nvidia")
        );
    });
}

/// PostgreSQL only: workers claiming at the same moment (each on its own connection) never get the
/// same post, and together they get every post.
#[test]
fn tagging_concurrent_claims_are_disjoint() {
    on_postgres("conf_tagging_concurrent", |s| {
        let texts: Vec<String> = (0..300).map(|i| format!("post {i}")).collect();
        let (_, posts) = seed(s, &texts.iter().map(String::as_str).collect::<Vec<_>>());
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let mut w = s.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        let due = w.claim_due(7, 60).expect("claim");
                        if due.is_empty() {
                            return got;
                        }
                        got.extend(ids(&due));
                    }
                })
            })
            .collect();
        let mut all: Vec<i64> = Vec::new();
        for w in workers {
            all.extend(w.join().expect("worker"));
        }
        let unique: HashSet<i64> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "a post was claimed twice");
        all.sort_unstable();
        assert_eq!(all, posts);
    });
}

/// PostgreSQL only: a worker tags the posts of the accounts it holds first, and another account's
/// fresh posts only once they waited (their own worker keeps their channels' document frequencies).
#[test]
fn a_worker_claims_its_own_accounts_posts_first() {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::postgres::backend::LeaseFences;

    on_postgres("conf_claim_own", |admin| {
        let mine = setup(admin);
        let a = admin.account("a").expect("read").expect("exists").id;
        let b = admin
            .add_account("b", None, None, std::path::Path::new("b.session"))
            .expect("account b")
            .id;
        let mut theirs = crate::testing::news_channel();
        theirs.tg_id = 77;
        theirs.username = Some("theirs".into());
        let theirs = admin.add_channel(b, &theirs).expect("add").expect("new").id;
        admin
            .store_batch(theirs, "@theirs", &[post(1, "their post")], Some((1, 1)))
            .expect("their post");
        admin
            .store_batch(mine, "@news", &[post(1, "my post")], Some((1, 1)))
            .expect("my post");
        let store = admin.store().clone();
        let leases = Arc::new(LeaseFences::default());
        let me = admin
            .block_on(store.register_worker("me", 1))
            .expect("worker");
        for lease in admin
            .block_on(store.claim_leases(me, 1, Duration::from_secs(60)))
            .expect("claim")
        {
            assert_eq!(lease.account_id, a, "the lowest account first");
            leases.hold(lease);
        }
        let mut worker = admin.clone().fenced(Arc::clone(&leases));
        let first = worker.claim_due(10, 60).expect("claim");
        assert_eq!(
            first.iter().map(|p| p.channel_id).collect::<Vec<_>>(),
            vec![mine],
            "only its own account's post while the other one is fresh"
        );
        assert!(worker.claim_due(10, 60).expect("again").is_empty());
        admin.block_on(async {
            let c = store.client("age a post").await.expect("client");
            c.execute(
                "UPDATE posts SET stored_at_ms = stored_at_ms - 60000 WHERE channel_id = $1",
                &[&theirs],
            )
            .await
            .expect("age");
        });
        let helped = worker.claim_due(10, 60).expect("claim");
        assert_eq!(
            helped.iter().map(|p| p.channel_id).collect::<Vec<_>>(),
            vec![theirs],
            "a post that waited is anyone's"
        );
        // An unfenced backend (`tags run`, admin commands) claims every due post as before.
        worker
            .release_claims(first[0].claim, &[first[0].id])
            .expect("release");
        let all = admin.claim_due(10, 60).expect("claim");
        assert_eq!(
            all.iter().map(|p| p.channel_id).collect::<Vec<_>>(),
            vec![mine]
        );
    });
}
