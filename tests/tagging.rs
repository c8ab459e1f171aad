//! The tagging pipeline's durable statuses, driven by scripted taggers and the embedded one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::within;
use tgsift::tagging::worker::{Outcome, Pipeline};
use tgsift::tagging::{Tag, TagContext, TagError, TagFuture, Tagger};
use tgsift_store::testing::{self, EPOCH};
use tgsift_store::{AsyncStore, PostIn};
use tgsift_tagger::EmbeddedTagger;
use tokio_util::sync::CancellationToken;

/// Fails every post whose text contains "FAIL"; tags the others with their first word.
struct Scripted {
    calls: AtomicU32,
}

impl Tagger for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }
    fn tag<'a>(&'a self, text: &'a str, _: TagContext<'a>) -> TagFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if text.contains("FAIL") {
                Err(TagError::Retry {
                    reason: "scripted outage".into(),
                    retry_after: None,
                })
            } else {
                let first = text.split_whitespace().next().unwrap_or("x").to_lowercase();
                Ok(vec![
                    Tag {
                        tag: first,
                        score: 1.0,
                    },
                    Tag {
                        tag: "scripted".into(),
                        score: 0.5,
                    },
                ])
            }
        })
    }
}

fn setup(texts: &[&str]) -> (tempfile::TempDir, AsyncStore) {
    let (dir, mut s) = testing::sqlite();
    let posts: Vec<PostIn> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| PostIn::new(i as i32 + 1, EPOCH + i as i64, *t))
        .collect();
    testing::news_with(&mut s, &posts);
    (dir, AsyncStore::new(s))
}

async fn statuses(store: &AsyncStore) -> Vec<(String, String, i64)> {
    store
        .read("read", |s| {
            s.as_sqlite()
                .expect("an SQLite store")
                .read("statuses", |c| {
                    let mut st = c.prepare(
                    "SELECT text, tagging_status, tagging_attempts FROM posts ORDER BY message_id",
                )?;
                    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                })
        })
        .await
        .expect("statuses")
}

#[tokio::test]
async fn one_failing_post_never_holds_back_the_others_and_exhausts_to_failed() {
    within(30, async {
        let (_d, store) = setup(&["Alpha news", "FAIL this one", "Gamma report", ""]);
        let tagger = Arc::new(Scripted {
            calls: AtomicU32::new(0),
        });
        let p = Arc::new(Pipeline::new(
            store.clone(),
            tagger.clone(),
            None,
            2,
            0.0,
            2,
        ));
        let r = p.run_due(&CancellationToken::new()).await.expect("pass");
        assert_eq!((r.tagged, r.retrying, r.failed), (2, 1, 0));
        let st = statuses(&store).await;
        assert_eq!(st[0].1, "success");
        assert_eq!((st[1].1.as_str(), st[1].2), ("retrying", 1));
        assert_eq!(st[2].1, "success");
        assert_eq!(st[3].1, "skipped", "no text, never attempted");
        // Not due yet (1 s minimum delay): a pass now does nothing.
        assert_eq!(
            p.run_due(&CancellationToken::new()).await.expect("pass"),
            Default::default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
        let r = p.run_due(&CancellationToken::new()).await.expect("pass");
        assert_eq!(r.failed, 1, "second attempt of 2 exhausts it");
        let st = statuses(&store).await;
        assert_eq!((st[1].1.as_str(), st[1].2), ("failed", 2));
        assert_eq!(tagger.calls.load(Ordering::SeqCst), 4);
        let post = store
            .read("post", |s| {
                s.list_posts(&tgsift_store::PostFilter {
                    limit: 10,
                    ..Default::default()
                })
            })
            .await
            .expect("list");
        let failed = post.iter().find(|p| p.text.contains("FAIL")).expect("post");
        assert_eq!(
            failed.tagging_error.as_deref(),
            Some("temporary failure: scripted outage")
        );
    })
    .await;
}

#[tokio::test]
async fn the_llm_giving_up_falls_back_to_the_embedded_tagger() {
    within(30, async {
        let (_d, store) = setup(&[
            "FAIL: Центробанк России сохранил ключевую ставку на уровне 16%, инфляция замедляется",
        ]);
        let tagger = Arc::new(Scripted {
            calls: AtomicU32::new(0),
        });
        let p = Pipeline::new(
            store.clone(),
            tagger,
            Some(Arc::new(EmbeddedTagger::new())),
            5,
            2.0,
            1,
        );
        let due = store
            .with("claim", |s| s.claim_due(10, 60))
            .await
            .expect("claim")
            .remove(0);
        match p.tag_one(due).await.expect("attempt") {
            Outcome::Tagged { tags, source } => {
                assert_eq!(source, "embedded");
                assert!(!tags.is_empty());
            }
            other => panic!("expected tags from the fallback, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_crash_mid_tagging_leaves_the_post_due_again() {
    within(30, async {
        let (_d, store) = setup(&["Alpha news"]);
        // A worker claims the post and dies (its claim was short-lived here).
        let claimed = store
            .with("claim", |s| s.claim_due(10, -1))
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        let tagger = Arc::new(Scripted {
            calls: AtomicU32::new(0),
        });
        let p = Arc::new(Pipeline::new(store.clone(), tagger, None, 3, 1.0, 1));
        let r = p.run_due(&CancellationToken::new()).await.expect("pass");
        assert_eq!(r.tagged, 1, "the dead worker's post was picked up again");
    })
    .await;
}

#[tokio::test]
async fn the_embedded_pipeline_tags_simulated_posts() {
    within(60, async {
        let texts: Vec<String> = (1..=40)
            .map(|i| tgsift_sim::textgen::post_text(tgsift_sim::Lang::Mixed, 7, i).text)
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (_d, store) = setup(&refs);
        let p = Pipeline::from_config(
            &tgsift::config::Loaded::load(&Default::default())
                .expect("defaults")
                .config
                .tagging,
            store.clone(),
        )
        .expect("pipeline")
        .expect("embedded is the default");
        let r = p.run_due(&CancellationToken::new()).await.expect("pass");
        assert_eq!(r.tagged, 40);
        let stats = store
            .read("stats", |s| s.tag_stats(None))
            .await
            .expect("stats");
        assert_eq!(stats.with_tags, 40);
        for post in store
            .read("list", |s| {
                s.list_posts(&tgsift_store::PostFilter {
                    limit: 40,
                    ..Default::default()
                })
            })
            .await
            .expect("list")
        {
            assert!(
                (3..=7).contains(&post.tags.len()),
                "3–7 tags, got {:?} for {}",
                post.tags,
                post.text
            );
        }
    })
    .await;
}

#[tokio::test]
async fn configured_noise_tags_and_abbreviations_reach_the_stored_tags() {
    within(60, async {
        let (_d, store) = setup(&[
            "Parliament passes the budget after a long debate.\n#politics #Подборка #news",
            "Языковая модель научилась писать код и отвечать на вопросы.\n#технологии #ИИ",
            "Новая нейросеть уже доступна разработчикам.\n#ИИ",
        ]);
        let opts = tgsift::config::LoadOptions {
            env: [(
                "TGSIFT_TAGGING__NOISE_TAGS".to_string(),
                "подборка".to_string(),
            )]
            .into(),
            ..Default::default()
        };
        let loaded = tgsift::config::Loaded::load(&opts).expect("config");
        assert_eq!(loaded.config.tagging.noise_tags, ["подборка"]);
        let p = Pipeline::from_config(&loaded.config.tagging, store.clone())
            .expect("pipeline")
            .expect("embedded is the default");
        let r = p.run_due(&CancellationToken::new()).await.expect("pass");
        assert_eq!(r.tagged, 3);
        let list = |tag: Option<&str>| {
            let tag = tag.map(str::to_owned);
            let store = store.clone();
            async move {
                store
                    .read("list", move |s| {
                        s.list_posts(&tgsift_store::PostFilter {
                            tag,
                            limit: 10,
                            ..Default::default()
                        })
                    })
                    .await
                    .expect("list")
            }
        };
        let posts = list(None).await;
        let tags = |text: &str| -> Vec<String> {
            posts
                .iter()
                .find(|p| p.text.starts_with(text))
                .map(|p| p.tags.iter().map(|t| t.0.clone()).collect())
                .unwrap_or_default()
        };
        let politics = tags("Parliament");
        assert_eq!(politics.first().map(String::as_str), Some("politics"));
        assert!(
            !politics.iter().any(|t| t == "подборка" || t == "news"),
            "the user's and the built-in noise: {politics:?}"
        );
        assert!(tags("Языковая").iter().any(|t| t == "ИИ"), "{posts:?}");
        assert!(!tags("Языковая").iter().any(|t| t == "ИЯ"), "{posts:?}");
        assert_eq!(list(Some("ии")).await.len(), 2, "«ИИ» finds its posts");
    })
    .await;
}

/// Blocks every attempt until released, so a test can change the post meanwhile.
struct Gate {
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
    seen: std::sync::Mutex<Vec<String>>,
}

impl Tagger for Gate {
    fn name(&self) -> String {
        "gate".into()
    }
    fn tag<'a>(&'a self, text: &'a str, _: TagContext<'a>) -> TagFuture<'a> {
        Box::pin(async move {
            self.seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(text.to_string());
            self.entered.notify_one();
            self.release.notified().await;
            Ok(vec![Tag {
                tag: text.split_whitespace().next().unwrap_or("x").to_lowercase(),
                score: 1.0,
            }])
        })
    }
}

#[tokio::test]
async fn an_edit_arriving_while_a_slow_tagger_works_is_tagged_from_its_new_text() {
    within(30, async {
        let (_d, store) = setup(&["Original wording of the post"]);
        let gate = Arc::new(Gate {
            entered: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
            seen: std::sync::Mutex::new(Vec::new()),
        });
        let p = Arc::new(Pipeline::new(store.clone(), gate.clone(), None, 3, 1.0, 1));
        let worker = {
            let p = Arc::clone(&p);
            tokio::spawn(async move { p.run_due(&CancellationToken::new()).await })
        };
        gate.entered.notified().await;
        // The refresh sees an edit while the old text is being tagged.
        let edited = PostIn::new(1, EPOCH, "Edited wording after all").edited(Some(1_700_000_900));
        let out = store
            .with("refresh", move |s| {
                let ch = s.channels()?[0].id;
                s.store_batch(ch, "@news", &[edited], None)
            })
            .await
            .expect("refresh");
        assert_eq!(out.edited, 1);
        gate.release.notify_one();
        // The edited post is due again at once: the same pass tags its new text.
        gate.entered.notified().await;
        let st = statuses(&store).await;
        assert_eq!(
            (st[0].1.as_str(), st[0].2),
            ("pending", 0),
            "the old text's result was dropped and no attempt counted"
        );
        gate.release.notify_one();
        let pass = worker.await.expect("join").expect("pass");
        assert_eq!((pass.tagged, pass.stale), (1, 1));
        let post = store
            .read("post", |s| s.post(1))
            .await
            .expect("read")
            .expect("post");
        assert_eq!(
            post.tags.iter().map(|t| t.0.as_str()).collect::<Vec<_>>(),
            vec!["edited"]
        );
        assert_eq!(
            gate.seen.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            vec![
                "Original wording of the post".to_string(),
                "Edited wording after all".to_string()
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn shutdown_mid_attempt_releases_the_claim_without_counting_an_attempt() {
    within(30, async {
        let (_d, store) = setup(&["Alpha news", "Beta report"]);
        let gate = Arc::new(Gate {
            entered: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
            seen: std::sync::Mutex::new(Vec::new()),
        });
        let p = Arc::new(Pipeline::new(store.clone(), gate.clone(), None, 3, 1.0, 2));
        let cancel = CancellationToken::new();
        let worker = {
            let (p, c) = (Arc::clone(&p), cancel.clone());
            tokio::spawn(async move { p.run_due(&c).await })
        };
        gate.entered.notified().await;
        cancel.cancel();
        let r = worker.await.expect("join").expect("pass");
        assert_eq!(r.total(), 0);
        let st = statuses(&store).await;
        assert!(
            st.iter().all(|(_, s, a)| s == "pending" && *a == 0),
            "{st:?}"
        );
        let free = store
            .with("claim", |s| s.claim_due(10, 60))
            .await
            .expect("claim");
        assert_eq!(free.len(), 2, "both claims were released at once");
    })
    .await;
}
