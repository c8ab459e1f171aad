//! The control plane of a running service, driven over real HTTP on loopback: every route of the API,
//! auth, durable jobs (kill -9, cancel, retry), `/metrics` read by an independent Prometheus parser,
//! alerts reaching a webhook and the simulated Saved Messages, and CLI admin beside a running service.

use std::collections::BTreeSet;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::setup::{Setup, sigterm, wait_exit};
use crate::common::{db_ids, eventually, urlencode, within};
use serde_json::{Value, json};
use tgsift_sim::{Fault, Scripted};
use tgsift_store::SqliteStore;
use tgsift_store::prelude::*;

const TOKEN: &str = "test-token-3f9a";

/// A free loopback port (bound, then released for the service to take).
fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

/// `tgsift run --http` on a [`Setup`], and an HTTP client for it.
struct Service {
    child: Option<Child>,
    base: String,
    http: reqwest::Client,
}

impl Service {
    fn start(s: &Setup, env: &[(&str, &str)]) -> Service {
        let addr = free_addr();
        let mut all = vec![
            ("TGSIFT_HTTP__TOKEN", TOKEN),
            ("TGSIFT_TAGGING__BACKEND", "embedded"),
        ];
        all.extend_from_slice(env);
        let child = s.spawn_with(&["run", "--http", &addr], "1", &all);
        Service {
            child: Some(child),
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// [`Service::start`], ready, with every channel's history stored.
    async fn synced(s: &Setup, env: &[(&str, &str)]) -> Service {
        let mut svc = Service::start(s, env);
        svc.ready().await;
        assert!(
            eventually(Duration::from_secs(30), || async {
                s.stored() == s.truth()
            })
            .await,
            "the service stored every channel's history"
        );
        svc
    }

    /// Waits until the API answers `/readyz` with 200.
    async fn ready(&mut self) {
        let t0 = Instant::now();
        loop {
            if let Ok(r) = self
                .http
                .get(self.url("/readyz"))
                .bearer_auth(TOKEN)
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("the service exited before it was ready: {st}");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the service never got ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a job to end; returns it.
    async fn job_end(&self, id: i64) -> Value {
        let t0 = Instant::now();
        loop {
            let (st, job) = self.get(&format!("/api/v1/jobs/{id}")).await;
            assert_eq!(st, 200, "{job}");
            if ["done", "failed", "cancelled"].contains(&job["state"].as_str().unwrap_or("")) {
                return job;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "job {id} never ended: {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            let _ = c.wait();
        }
    }

    async fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        sigterm(&child);
        tokio::task::spawn_blocking(move || {
            let st = wait_exit(&mut child, Duration::from_secs(10));
            let _ = child.kill();
            st.and_then(|s| s.code())
        })
        .await
        .expect("join")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Every route the API serves, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/api/v1/tagging/stats"),
    ("post", "/api/v1/tagging/retry"),
    ("post", "/api/v1/posts/{id}/tags/regenerate"),
    ("get", "/api/v1/posts"),
    ("get", "/api/v1/posts/export"),
    ("get", "/api/v1/posts/{id}"),
    ("get", "/api/v1/channels"),
    ("post", "/api/v1/channels"),
    ("post", "/api/v1/channels/import"),
    ("post", "/api/v1/channels/{id}/pause"),
    ("post", "/api/v1/channels/{id}/resume"),
    ("delete", "/api/v1/channels/{id}"),
    ("post", "/api/v1/reparse"),
    ("post", "/api/v1/retag"),
    ("get", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/retry"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("get", "/api/v1/accounts"),
    ("get", "/api/v1/posts/{id}/versions"),
    ("get", "/api/v1/posts/{id}/comments"),
    ("get", "/api/v1/activity"),
    ("get", "/api/v1/watches"),
    ("post", "/api/v1/watches"),
    ("delete", "/api/v1/watches/{name}"),
    ("post", "/api/v1/watches/{name}/test"),
    ("post", "/api/v1/session"),
    ("get", "/api/v1/session"),
    ("delete", "/api/v1/session"),
];

#[test]
fn the_openapi_document_describes_every_route_and_nothing_else() {
    let doc = serde_json::to_value(tgsift::http::openapi()).expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let mut served = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                served.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(served, expected);
}

#[test]
fn the_openapi_document_states_every_error_answer_and_range_the_server_gives() {
    let doc = serde_json::to_value(tgsift::http::openapi()).expect("json");
    let public = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("post", "/api/v1/session"),
    ];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let statuses = op["responses"].as_object().expect("responses");
            let has = |s: &str| statuses.contains_key(s);
            let what = format!("{method} {path}");
            if !public.contains(&(method.as_str(), path.as_str())) {
                assert!(has("401"), "{what} needs the token: {statuses:?}");
            }
            let params = op["parameters"].as_array().map_or(0, Vec::len);
            let body = op.get("requestBody").is_some();
            if params > 0 || body {
                assert!(has("400"), "{what} reads parameters or a body");
            }
            if body {
                for s in ["413", "415", "422"] {
                    assert!(has(s), "{what} takes a body: {s}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let schema = &p["schema"];
                match p["name"].as_str() {
                    Some("limit") => {
                        assert_eq!(
                            (schema["minimum"].as_f64(), schema["maximum"].as_f64()),
                            (Some(1.0), Some(500.0)),
                            "{what}: {p}"
                        );
                    }
                    Some("cursor") => {
                        assert!(
                            schema["pattern"].is_string() || schema["minLength"] == 1,
                            "{what}: a cursor is never empty: {p}"
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    let export = &doc["paths"]["/api/v1/posts/export"]["get"]["responses"]["200"]["content"];
    assert!(
        export.get("application/x-ndjson").is_some() && export.get("text/csv").is_some(),
        "{export}"
    );
}

#[tokio::test]
async fn every_route_answers_over_http_and_needs_the_token() {
    within(120, async {
        let s = Setup::new(2, 300, |c| {
            // Two short floods: slept through (threshold 2 s), counted in /metrics.
            c.flood = tgsift_sim::FloodConfig::off();
        })
        .await;
        s.sim.script(
            Scripted::on("messages.getHistory", Fault::FloodWait(1))
                .after(1)
                .times(2),
        );
        let mut svc = Service::start(&s, &[]);
        svc.ready().await;

        // Liveness needs no token; everything else does, and a wrong one is refused.
        let r = svc
            .http
            .get(svc.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status(), 200);
        // The probes carry no data: answered without the token.
        let r = svc
            .http
            .get(svc.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(r.status(), 200);
        for path in [
            "/metrics",
            "/api/v1/tagging/stats",
            "/openapi.json",
            "/api/v1/nope",
        ] {
            let r = svc.http.get(svc.url(path)).send().await.expect("get");
            assert_eq!(r.status(), 401, "{path} without a token");
            assert_eq!(
                r.headers().get("www-authenticate").map(|v| v.as_bytes()),
                Some(&b"Bearer"[..])
            );
            let body: Value = r.json().await.expect("json");
            assert_eq!(error_code(&body), "unauthorized", "{body}");
            let r = svc
                .http
                .get(svc.url(path))
                .bearer_auth("wrong-token")
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 401, "{path} with a wrong token");
        }
        let r = svc
            .http
            .post(svc.url("/api/v1/tagging/retry"))
            .json(&json!({}))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 401);

        // Everything ingested and tagged.
        let posts = db_ids(&s.db, "SELECT id FROM posts");
        let expected = s.truth().len();
        assert!(
            eventually(Duration::from_secs(60), || async {
                let (_, st) = svc.get("/api/v1/tagging/stats").await;
                st["total"].as_u64() == Some(db_ids(&s.db, "SELECT id FROM posts").len() as u64)
                    && db_ids(&s.db, "SELECT id FROM posts").len() == expected
                    && st["by_status"]["pending"].as_i64().unwrap_or(0) == 0
            })
            .await,
            "ingest and tagging finish"
        );
        let posts_now = db_ids(&s.db, "SELECT id FROM posts");
        assert!(posts.is_subset(&posts_now));
        let (st, stats) = svc.get("/api/v1/tagging/stats?account=alice").await;
        assert_eq!(st, 200, "{stats}");
        assert_eq!(stats["total"].as_u64(), Some(expected as u64));
        assert_eq!(stats["backend"], "embedded");
        let (st, e) = svc.get("/api/v1/tagging/stats?acount=alice").await;
        assert_eq!(
            (st, error_code(&e)),
            (400, "bad_request"),
            "unknown query parameter: {e}"
        );

        // Posts: every one exactly once through the cursor.
        let mut seen = BTreeSet::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/posts?limit=97&cursor={c}"),
                None => "/api/v1/posts?limit=97".into(),
            };
            let (st, page) = svc.get(&path).await;
            assert_eq!(st, 200, "{page}");
            for p in page["items"].as_array().expect("items") {
                assert!(
                    seen.insert(p["id"].as_i64().expect("id")),
                    "a post twice: {p}"
                );
            }
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, posts_now);
        assert_eq!(pages, posts_now.len().div_ceil(97));
        let channel = s.sim.channel_usernames()[0].clone();
        let (st, page) = svc
            .get(&format!(
                "/api/v1/posts?channel={}&status=success&limit=500",
                channel.replace('@', "%40")
            ))
            .await;
        assert_eq!(st, 200, "{page}");
        let in_channel = db_ids(
            &s.db,
            &format!(
                "SELECT p.id FROM posts p JOIN channels c ON c.id = p.channel_id
                 WHERE c.username = '{}' AND p.tagging_status = 'success'",
                channel.trim_start_matches('@')
            ),
        );
        let got: BTreeSet<i64> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(got, in_channel);
        let (st, e) = svc.get("/api/v1/posts?status=bogus").await;
        assert_eq!((st, error_code(&e)), (422, "invalid"), "{e}");
        let (st, e) = svc.get("/api/v1/posts?cursor=zzz").await;
        assert_eq!((st, error_code(&e)), (400, "bad_request"), "{e}");
        let (st, e) = svc.get("/api/v1/posts?channel=%40nobody_here").await;
        assert_eq!((st, error_code(&e)), (404, "not_found"), "{e}");

        // Export, streamed: every post once, read back by a CSV parser and as JSON lines.
        let r = svc
            .http
            .get(svc.url("/api/v1/posts/export?format=csv"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("export");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        let body = r.bytes().await.expect("body");
        let mut rd = csv::Reader::from_reader(&body[..]);
        let ids: Vec<i64> = rd
            .records()
            .map(|rec| rec.expect("csv row")[0].parse().expect("post id"))
            .collect();
        assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), posts_now);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "post-id order");
        let last = ids[ids.len() / 2];
        let r = svc
            .http
            .get(svc.url(&format!("/api/v1/posts/export?after_id={last}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("export");
        let text = r.text().await.expect("body");
        let after: Vec<i64> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json line")["post_id"].as_i64().expect("id"))
            .collect();
        assert_eq!(after, ids.iter().copied().filter(|i| *i > last).collect::<Vec<_>>());
        let (st, e) = svc.get("/api/v1/posts/export?format=xml").await;
        assert_eq!((st, error_code(&e)), (422, "invalid"), "{e}");
        // An unknown tagging status is refused as on /posts, naming the ones there are.
        let (st, e) = svc.get("/api/v1/posts/export?status=bogus").await;
        assert_eq!((st, error_code(&e)), (422, "invalid"), "{e}");
        assert!(e.to_string().contains("pending, retrying, success, failed or skipped"), "{e}");

        // Search: a word of a stored post finds it, with a highlighted snippet.
        let (word, post_id): (String, i64) = SqliteStore::open(&s.db)
            .expect("store")
            .read("pick a word", |c| {
                c.query_row(
                    "SELECT text, id FROM posts WHERE text != '' ORDER BY id LIMIT 1",
                    [],
                    |r| Ok((r.get::<_, String>(0)?, r.get(1)?)),
                )
            })
            .map(|(t, id)| {
                let w = t
                    .split(|ch: char| !ch.is_alphabetic())
                    .filter(|w| w.chars().count() >= 6)
                    .max_by_key(|w| w.chars().count())
                    .expect("a long word")
                    .to_string();
                (w, id)
            })
            .expect("query");
        let (st, found) = svc
            .get(&format!("/api/v1/posts?q={}&limit=500", urlencode(&word)))
            .await;
        assert_eq!(st, 200, "{found}");
        let hits = found["items"].as_array().expect("items");
        assert!(hits.iter().any(|h| h["id"].as_i64() == Some(post_id)), "{word}: {found}");
        assert!(hits.iter().all(|h| h["snippet"].as_str().is_some_and(|s| s.contains('['))), "{found}");
        // Paged by a cursor of the same shape as a list's; past the last searched offset, empty.
        if hits.len() > 1 {
            let (st, first) = svc.get(&format!("/api/v1/posts?q={}&limit=1", urlencode(&word))).await;
            assert_eq!(st, 200, "{first}");
            let c = first["next_cursor"].as_str().expect("a second page").to_string();
            assert_eq!(c, "0.1");
            let (st, second) = svc.get(&format!("/api/v1/posts?q={}&limit=1&cursor={c}", urlencode(&word))).await;
            assert_eq!(st, 200, "{second}");
            assert_eq!(second["items"][0]["id"], hits[1]["id"], "{second}");
        }
        let (st, far) = svc.get(&format!("/api/v1/posts?q={}&cursor=0.99999", urlencode(&word))).await;
        assert_eq!((st, far["items"].as_array().map(Vec::len)), (200, Some(0)), "{far}");
        // Values the document does not allow are refused in either mode.
        for bad in ["q=x&status=bogus", "since=%2B5", "since=2024-1-1", "cursor=", "cursor=1.-2", "limit=0"] {
            let (st, e) = svc.get(&format!("/api/v1/posts?{bad}")).await;
            assert!(matches!(st, 400 | 422), "{bad}: {st} {}", e["error"]);
        }
        let (st, e) = svc.get("/api/v1/jobs?state=bogus").await;
        assert_eq!((st, error_code(&e)), (422, "invalid"), "{e}");

        // One post, and its tags regenerated.
        let tagged = *db_ids(&s.db, "SELECT post_id FROM post_tags")
            .iter()
            .next()
            .expect("a tagged post");
        let (st, post) = svc.get(&format!("/api/v1/posts/{tagged}")).await;
        assert_eq!(st, 200, "{post}");
        assert_eq!(post["id"].as_i64(), Some(tagged));
        assert!(post["tags"][0]["tag"].is_string(), "{post}");
        let date = jiff::Timestamp::from_second(post["date"].as_i64().expect("date")).expect("date");
        assert_eq!(post["date_iso"].as_str(), Some(date.to_string().as_str()), "{post}");
        let (st, regen) = svc
            .post(
                &format!("/api/v1/posts/{tagged}/tags/regenerate"),
                json!({}),
            )
            .await;
        assert_eq!(st, 200, "{regen}");
        assert_eq!(regen["post_id"].as_i64(), Some(tagged));
        let tags: Vec<&str> = regen["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t["tag"].as_str())
            .collect();
        assert!(!tags.is_empty());
        assert_eq!(regen["tags"][0]["source"], "embedded");
        let (st, e) = svc.get("/api/v1/posts/99999999").await;
        assert_eq!((st, error_code(&e)), (404, "not_found"), "{e}");
        let (st, e) = svc.get("/api/v1/posts/abc").await;
        assert_eq!((st, error_code(&e)), (400, "bad_request"), "{e}");

        // Queued work: 202 with a job id, fast.
        let mut fastest = Duration::MAX;
        let mut job = 0;
        for _ in 0..5 {
            let t0 = Instant::now();
            let (st, q) = svc
                .post("/api/v1/tagging/retry", json!({"limit": 10, "force": true}))
                .await;
            fastest = fastest.min(t0.elapsed());
            assert_eq!(st, 202, "{q}");
            assert_eq!(q["status"], "queued");
            job = q["job_id"].as_i64().expect("job id");
        }
        assert!(fastest < Duration::from_millis(100), "202 took {fastest:?}");
        let done = svc.job_end(job).await;
        assert_eq!(done["state"], "done", "{done}");
        assert_eq!(
            done["result"]["requeued"].as_i64(),
            Some(0),
            "nothing was failed: {done}"
        );
        let (st, e) = svc
            .post("/api/v1/tagging/retry", json!({"limti": 10}))
            .await;
        assert_eq!((st, error_code(&e)), (422, "invalid"), "unknown field: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("limti"),
            "{e}"
        );
        let r = svc
            .http
            .post(svc.url("/api/v1/tagging/retry"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 400);
        let r = svc
            .http
            .post(svc.url("/api/v1/tagging/retry"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(format!("{{\"account\": \"{}\"}}", "x".repeat(100_000)))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 413, "bodies are size-limited");

        // Channels: list with a cursor, pause, resume.
        let (st, page) = svc.get("/api/v1/channels?limit=1").await;
        assert_eq!(st, 200, "{page}");
        assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
        let first = page["items"][0]["id"].as_i64().expect("id");
        let cursor = page["next_cursor"]
            .as_str()
            .expect("a second page")
            .to_string();
        let (_, page2) = svc
            .get(&format!("/api/v1/channels?limit=1&cursor={cursor}"))
            .await;
        assert_eq!(page2["items"].as_array().map(Vec::len), Some(1));
        assert!(page2["next_cursor"].is_null(), "{page2}");
        let second = page2["items"][0]["id"].as_i64().expect("id");
        assert_ne!(first, second);
        let (st, ch) = svc
            .post(&format!("/api/v1/channels/{first}/pause"), json!({}))
            .await;
        assert_eq!((st, ch["state"].as_str()), (200, Some("paused")), "{ch}");
        let (st, ch) = svc
            .post(&format!("/api/v1/channels/{first}/resume"), json!({}))
            .await;
        assert_eq!((st, ch["state"].as_str()), (200, Some("active")), "{ch}");
        let (st, e) = svc.post("/api/v1/channels/999/pause", json!({})).await;
        assert_eq!((st, error_code(&e)), (404, "not_found"), "{e}");

        // Reparse and retag as jobs.
        let label = page["items"][0]["label"]
            .as_str()
            .expect("label")
            .to_string();
        let (st, q) = svc
            .post(
                "/api/v1/reparse",
                json!({"channel": label, "from_id": 1, "to_id": 50}),
            )
            .await;
        assert_eq!(st, 202, "{q}");
        let reparse = svc.job_end(q["job_id"].as_i64().expect("id")).await;
        assert_eq!(reparse["state"], "done", "{reparse}");
        assert_eq!(
            reparse["result"]["inserted"].as_i64(),
            Some(0),
            "nothing new: {reparse}"
        );
        assert_eq!(reparse["result"]["to_id"].as_i64(), Some(50), "{reparse}");
        let (st, e) = svc
            .post(
                "/api/v1/reparse",
                json!({"channel": label, "from_id": 9, "to_id": 2}),
            )
            .await;
        assert_eq!((st, error_code(&e)), (422, "invalid"), "{e}");
        let (st, q) = svc.post("/api/v1/retag", json!({"channel": label})).await;
        assert_eq!(st, 202, "{q}");
        let retag = svc.job_end(q["job_id"].as_i64().expect("id")).await;
        let with_text = db_ids(
            &s.db,
            &format!("SELECT id FROM posts WHERE channel_id = {first} AND text != ''"),
        );
        assert_eq!(
            retag["result"]["requeued"].as_u64(),
            Some(with_text.len() as u64),
            "{retag}"
        );

        // Jobs: list with a cursor; a done job can be neither retried nor cancelled.
        let (st, jobs) = svc.get("/api/v1/jobs?limit=3").await;
        assert_eq!(st, 200, "{jobs}");
        assert_eq!(jobs["items"].as_array().map(Vec::len), Some(3));
        let newest: Vec<i64> = jobs["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|j| j["id"].as_i64().expect("id"))
            .collect();
        assert!(
            newest.windows(2).all(|w| w[0] > w[1]),
            "newest first: {newest:?}"
        );
        let (_, older) = svc
            .get(&format!(
                "/api/v1/jobs?limit=50&cursor={}",
                jobs["next_cursor"].as_str().expect("cursor")
            ))
            .await;
        assert!(
            older["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|j| j["id"].as_i64() < newest.last().copied())
        );
        assert_eq!(
            newest.len() + older["items"].as_array().map_or(0, Vec::len),
            7,
            "5 tagging retries, a reparse and a retag, each listed once"
        );
        let (st, e) = svc
            .post(&format!("/api/v1/jobs/{job}/retry"), json!({}))
            .await;
        assert_eq!((st, error_code(&e)), (409, "conflict"), "{e}");
        let (st, e) = svc
            .post(&format!("/api/v1/jobs/{job}/cancel"), json!({}))
            .await;
        assert_eq!((st, error_code(&e)), (409, "conflict"), "{e}");
        let (st, e) = svc.get("/api/v1/jobs/424242").await;
        assert_eq!((st, error_code(&e)), (404, "not_found"), "{e}");

        // Accounts: masked, with the service holding the lease.
        let (st, acc) = svc.get("/api/v1/accounts").await;
        assert_eq!(st, 200, "{acc}");
        assert_eq!(acc["items"][0]["name"], "alice");
        assert!(
            acc["items"][0]["lease"]
                .as_str()
                .unwrap_or("")
                .contains("pid"),
            "{acc}"
        );

        let with_text_all = db_ids(&s.db, "SELECT id FROM posts WHERE text != ''").len();

        // Stop following a channel.
        let (st, gone) = svc
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/channels/{second}"),
                None,
            )
            .await;
        assert_eq!(st, 200, "{gone}");
        let (_, page) = svc.get("/api/v1/channels").await;
        let left: Vec<i64> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(left, vec![first]);
        assert!(
            db_ids(
                &s.db,
                &format!("SELECT id FROM posts WHERE channel_id = {second}")
            )
            .is_empty()
        );

        // The served OpenAPI document is the generated one.
        let (st, doc) = svc.get("/openapi.json").await;
        assert_eq!(st, 200);
        assert_eq!(
            doc["paths"].as_object().map(|p| p.len()),
            serde_json::to_value(tgsift::http::openapi()).expect("doc")["paths"]
                .as_object()
                .map(|p| p.len())
        );

        // Metrics, read by an independent parser.
        let r = svc
            .http
            .get(svc.url("/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("metrics");
        assert_eq!(r.status(), 200);
        let text = r.text().await.expect("text");
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("parse");
        let sum = |name: &str| -> f64 {
            scrape
                .samples
                .iter()
                .filter(|x| x.metric == name)
                .map(|x| match x.value {
                    prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    _ => 0.0,
                })
                .sum()
        };
        assert_eq!(sum("tgsift_flood_waits_total"), 2.0, "{text}");
        assert!(sum("tgsift_flood_sleep_seconds_total") >= 2.0, "{text}");
        assert_eq!(
            sum("tgsift_posts_ingested_total"),
            expected as f64,
            "{text}"
        );
        assert!(sum("tgsift_telegram_requests_total") > 0.0, "{text}");
        assert_eq!(sum("tgsift_channels"), 1.0, "{text}");
        assert!(
            sum("tgsift_tagging_attempts_total") >= with_text_all as f64,
            "{text}"
        );
        assert!(sum("tgsift_http_requests_total") > 20.0, "{text}");
        let flood = scrape
            .samples
            .iter()
            .find(|x| x.metric == "tgsift_flood_waits_total")
            .expect("flood sample");
        assert_eq!(flood.labels.get("account"), Some("alice"));
        assert_eq!(flood.labels.get("method"), Some("messages.getHistory"));
        assert!(
            scrape
                .samples
                .iter()
                .any(|x| x.metric == "tgsift_telegram_request_seconds"
                    && matches!(&x.value, prometheus_parse::Value::Histogram(h) if !h.is_empty())),
            "latency histogram: {text}"
        );
        assert!(
            scrape.samples.iter().any(|x| x.metric == "tgsift_http_requests_total"
                && x.labels.get("route") == Some("/api/v1/posts")
                && x.labels.get("status") == Some("404")),
            "requests are counted per route and status: {text}"
        );
        // Per route pattern, not per path (ids would explode the label set).
        assert!(
            text.contains(r#"tgsift_http_requests_total{route="/api/v1/posts/{id}",method="GET",status="404"} 1"#),
            "{text}"
        );
        // The dashboard's figures of the last hour agree with the counters.
        let (st, act) = svc.get("/api/v1/activity").await;
        assert_eq!(st, 200, "{act}");
        assert_eq!(act["floods"], 2, "{act}");
        assert!(
            act["flood_sleep_seconds"].as_f64().unwrap_or(0.0) >= 2.0,
            "{act}"
        );
        // Posts stored within the hour that are still there (a channel was removed above).
        let now = db_ids(&s.db, "SELECT id FROM posts").len() as i64;
        assert_eq!(act["posts_stored"].as_i64(), Some(now), "{act}");
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

#[tokio::test]
async fn a_public_address_without_a_token_is_refused_and_loopback_without_one_is_open() {
    within(60, async {
        let s = Setup::new(1, 20, |_| {}).await;
        let child = s.spawn_with(&["run", "--http", "0.0.0.0:0"], "60", &[]);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
            .await
            .expect("join");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("http.token") && err.contains("http.listen"),
            "{err}"
        );

        // An address another process already listens on: refused at startup, the address named.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let busy = taken.local_addr().expect("addr").to_string();
        let started = std::time::Instant::now();
        let child = s.spawn_with(&["run", "--http", &busy], "60", &[]);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
            .await
            .expect("join");
        assert_eq!(out.status.code(), Some(2), "a busy port is a startup error");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("cannot listen on {busy}")), "{err}");
        drop(taken);

        let addr = free_addr();
        let mut child = s.spawn_with(&["run", "--http", &addr], "60", &[]);
        let http = reqwest::Client::new();
        let ok = eventually(Duration::from_secs(20), || async {
            http.get(format!("http://{addr}/api/v1/accounts"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        let session: Option<Value> = match http
            .get(format!("http://{addr}/api/v1/session"))
            .send()
            .await
        {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        // Another site's page in a local browser cannot change anything; the dashboard's own page can.
        let retry = |origin: String| {
            http.post(format!("http://{addr}/api/v1/tagging/retry"))
                .header("origin", origin)
                .json(&json!({}))
                .send()
        };
        let foreign = retry("https://evil.example".into())
            .await
            .map(|r| r.status().as_u16());
        let own = retry(format!("http://{addr}"))
            .await
            .map(|r| r.status().as_u16());
        // A page whose domain was re-pointed at 127.0.0.1 (DNS rebinding) cannot even read.
        let port = addr.rsplit_once(':').map_or("", |(_, p)| p).to_string();
        let rebound = http
            .get(format!("http://{addr}/api/v1/accounts"))
            .header("host", format!("evil.example:{port}"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        sigterm(&child);
        let _ = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(10)))
            .await;
        assert!(ok, "no token on loopback: open");
        assert_eq!(
            session,
            Some(json!({"signed_in": true, "method": "open"})),
            "the dashboard needs no sign-in"
        );
        assert_eq!((foreign.ok(), own.ok()), (Some(403), Some(202)));
        assert_eq!(rebound.ok(), Some(403), "another host name is refused");
    })
    .await;
}

#[tokio::test]
async fn a_job_survives_kill_9_of_the_service_and_finishes_after_restart() {
    within(120, async {
        let s = Setup::new(1, 3_000, |_| {}).await;
        // First the channel is ingested (fast), then a slow service reparses it.
        let mut once = s.spawn(&["run", "--once"], "60");
        let st = tokio::task::spawn_blocking(move || once.wait().expect("wait"))
            .await
            .expect("join");
        assert!(st.success());
        let slow = [
            ("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "4"),
            ("TGSIFT_TELEGRAM__PACER_MAX_RATE", "4"),
            ("TGSIFT_TELEGRAM__MAX_IN_FLIGHT", "1"),
            ("TGSIFT_INGEST__POLL_INTERVAL", "3600"),
        ];
        let mut svc = Service::start(&s, &slow);
        svc.ready().await;
        let label = s.sim.channel_usernames()[0].clone();
        let (st, q) = svc
            .post("/api/v1/reparse", json!({"channel": label, "all": true}))
            .await;
        assert_eq!(st, 202, "{q}");
        let id = q["job_id"].as_i64().expect("id");
        assert!(
            eventually(Duration::from_secs(20), || async {
                let (_, j) = svc.get(&format!("/api/v1/jobs/{id}")).await;
                j["state"] == "running" && j["progress"]["fetched"].as_u64().unwrap_or(0) >= 100
            })
            .await,
            "the job runs and reports progress"
        );
        svc.kill9();
        let store = SqliteStore::open(&s.db).expect("store");
        let job = store.job(id).expect("read").expect("job");
        assert_eq!(
            (job.state.as_str(), job.attempts),
            ("running", 1),
            "left running by the dead worker"
        );

        let mut svc = Service::start(&s, &[("TGSIFT_INGEST__POLL_INTERVAL", "3600")]);
        svc.ready().await;
        let end = svc.job_end(id).await;
        assert_eq!(end["state"], "done", "{end}");
        assert_eq!(
            end["attempts"].as_u64(),
            Some(2),
            "the killed attempt counts once: {end}"
        );
        let top = s
            .sim
            .with_channel(&label, |c| c.ids().last().copied().unwrap_or(0))
            .expect("c");
        assert_eq!(
            end["result"]["to_id"].as_i64(),
            Some(i64::from(top)),
            "{end}"
        );
        assert_eq!(
            end["result"]["inserted"].as_i64(),
            Some(0),
            "nothing duplicated: {end}"
        );
        assert_eq!(s.stored(), s.truth());
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

#[tokio::test]
async fn a_running_job_is_cancelled_at_its_next_batch_and_a_failed_one_is_retried() {
    within(120, async {
        let s = Setup::new(2, 3_000, |_| {}).await;
        let names = s.sim.channel_usernames();
        let slow = [
            ("TGSIFT_TELEGRAM__PACER_INITIAL_RATE", "4"),
            ("TGSIFT_TELEGRAM__PACER_MAX_RATE", "4"),
            ("TGSIFT_TELEGRAM__MAX_IN_FLIGHT", "1"),
            ("TGSIFT_INGEST__POLL_INTERVAL", "3600"),
            ("TGSIFT_TAGGING__BACKEND", "off"),
        ];
        // Nothing is ingested by the service: both channels are paused; jobs still run.
        SqliteStore::open(&s.db)
            .expect("store")
            .read("pause", |c| {
                c.execute_batch("UPDATE channels SET active = 0")
            })
            .expect("pause");
        let mut svc = Service::start(&s, &slow);
        svc.ready().await;
        let (_, q) = svc
            .post("/api/v1/reparse", json!({"channel": names[0], "all": true}))
            .await;
        let id = q["job_id"].as_i64().expect("id");
        assert!(
            eventually(Duration::from_secs(20), || async {
                let (_, j) = svc.get(&format!("/api/v1/jobs/{id}")).await;
                j["progress"]["fetched"].as_u64().unwrap_or(0) > 0
            })
            .await
        );
        let (st, j) = svc
            .post(&format!("/api/v1/jobs/{id}/cancel"), json!({}))
            .await;
        assert_eq!(st, 200, "{j}");
        assert_eq!(
            (j["state"].as_str(), j["cancel_requested"].as_bool()),
            (Some("running"), Some(true))
        );
        let end = svc.job_end(id).await;
        assert_eq!(end["state"], "cancelled", "{end}");
        let stored = db_ids(&s.db, "SELECT message_id FROM posts").len();
        assert!(stored > 0 && stored < 2_900, "stopped part way: {stored}");

        // A channel that turned private fails its job at once (retrying cannot help)…
        s.sim.ban(&names[1], 0);
        let (_, q) = svc
            .post(
                "/api/v1/reparse",
                json!({"channel": names[1], "from_id": 1, "to_id": 100}),
            )
            .await;
        let id = q["job_id"].as_i64().expect("id");
        let end = svc.job_end(id).await;
        assert_eq!(end["state"], "failed", "{end}");
        assert_eq!(end["attempts"].as_u64(), Some(1), "{end}");
        assert!(
            end["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("CHANNEL_PRIVATE"),
            "{end}"
        );
        // …and, once readable again, a retry keeps its arguments and succeeds.
        s.sim.unban(&names[1], 0);
        let (st, q) = svc
            .post(&format!("/api/v1/jobs/{id}/retry"), json!({}))
            .await;
        assert_eq!((st, q["job_id"].as_i64()), (202, Some(id)), "{q}");
        let end = svc.job_end(id).await;
        assert_eq!(end["state"], "done", "{end}");
        assert_eq!(end["args"]["to_id"].as_i64(), Some(100));
        assert_eq!(end["result"]["to_id"].as_i64(), Some(100), "{end}");
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

#[tokio::test]
async fn channels_add_while_run_holds_the_lease_is_done_by_the_service() {
    within(90, async {
        let s = Setup::new(2, 200, |_| {}).await;
        let names = s.sim.channel_usernames();
        {
            let mut store = SqliteStore::open(&s.db).expect("store");
            let ch = store.find_channels(&names[1]).expect("find").remove(0);
            store.remove_channel(ch.id).expect("remove");
        }
        let mut svc = Service::start(&s, &[("TGSIFT_TAGGING__BACKEND", "off")]);
        svc.ready().await;
        let mut add = s.spawn(
            &["channels", "add", "alice", &names[1], "--backfill", "all"],
            "1",
        );
        let out = tokio::task::spawn_blocking(move || {
            let st = wait_exit(&mut add, Duration::from_secs(30));
            let _ = add.kill();
            (st, add)
        })
        .await
        .expect("join");
        assert_eq!(
            out.0.and_then(|s| s.code()),
            Some(0),
            "channels add succeeds beside the service"
        );
        let (_, jobs) = svc.get("/api/v1/jobs?state=done").await;
        assert_eq!(
            jobs["items"][0]["kind"], "channel_add",
            "the service ran it: {jobs}"
        );
        assert!(
            eventually(Duration::from_secs(30), || async {
                s.stored() == s.truth()
            })
            .await,
            "the new channel is ingested by the running service"
        );
        // Without waiting: queued, the command returns at once.
        let mut add = s.spawn(&["channels", "add", "alice", &names[0], "--no-wait"], "1");
        let st = tokio::task::spawn_blocking(move || wait_exit(&mut add, Duration::from_secs(10)))
            .await
            .expect("join");
        assert_eq!(st.and_then(|s| s.code()), Some(0));
        let (_, jobs) = svc.get("/api/v1/jobs").await;
        let id = jobs["items"][0]["id"].as_i64().expect("id");
        let end = svc.job_end(id).await;
        assert_eq!(
            (end["state"].as_str(), end["result"]["added"].as_bool()),
            (Some("done"), Some(false)),
            "{end}"
        );
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

#[tokio::test]
async fn post_channels_import_follows_the_accounts_channels_as_a_job() {
    within(90, async {
        let s = Setup::of(tgsift_sim::SimConfig::memberships(7, 30, 4, 3), false).await;
        let mut svc = Service::start(&s, &[("TGSIFT_TAGGING__BACKEND", "off")]);
        svc.ready().await;
        let (st, body) = svc
            .post("/api/v1/channels/import", json!({"account": "nobody"}))
            .await;
        assert_eq!(st, 404, "{body}");
        let (st, body) = svc
            .post(
                "/api/v1/channels/import",
                json!({"account": "alice", "filter": "(unclosed"}),
            )
            .await;
        assert_eq!(st, 422, "{body}");
        let (st, body) = svc
            .post(
                "/api/v1/channels/import",
                json!({"account": "alice", "groups": true, "backfill": 2}),
            )
            .await;
        assert_eq!(st, 202, "{body}");
        let end = svc.job_end(body["job_id"].as_i64().expect("job id")).await;
        assert_eq!(end["state"], "done", "{end}");
        assert_eq!(end["kind"], "channels_import", "{end}");
        assert_eq!(end["result"]["followed_count"], 34, "{end}");
        let (_, channels) = svc.get("/api/v1/channels?limit=500").await;
        let got: BTreeSet<String> = channels["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["title"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(got.len(), 34, "{channels}");
        assert_eq!(s.sim.log().count("contacts.resolveUsername"), 0);
        let store = SqliteStore::open(&s.db).expect("store");
        let ids: BTreeSet<i64> = store
            .channels()
            .expect("channels")
            .into_iter()
            .map(|c| c.tg_id)
            .collect();
        let want: BTreeSet<i64> = s.sim.memberships(0).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, want);
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

#[tokio::test]
async fn a_channel_turning_private_alerts_the_webhook_and_saved_messages_once() {
    within(90, async {
        let s = Setup::new(2, 100, |_| {}).await;
        let receiver = Hook::start().await;
        let (hook, got) = (receiver.url.clone(), Arc::clone(&receiver.got));
        let mut svc = Service::start(
            &s,
            &[
                ("TGSIFT_ALERTS__WEBHOOKS", &hook),
                ("TGSIFT_ALERTS__TELEGRAM", "true"),
                ("TGSIFT_TAGGING__BACKEND", "off"),
            ],
        );
        svc.ready().await;
        assert!(
            eventually(Duration::from_secs(30), || async {
                s.stored() == s.truth()
            })
            .await
        );
        let name = s.sim.channel_usernames()[1].clone();
        s.sim.ban(&name, 0);
        assert!(
            eventually(Duration::from_secs(30), || async {
                !got.lock().expect("lock").is_empty() && !s.sim.saved_messages(0).is_empty()
            })
            .await,
            "the alert reaches both sinks"
        );
        let hooks = got.lock().expect("lock").clone();
        assert_eq!(hooks.len(), 1, "{hooks:?}");
        assert_eq!(hooks[0]["kind"], "channel_deactivated");
        assert_eq!(hooks[0]["account"], "alice");
        assert_eq!(hooks[0]["details"]["channel"], name.as_str());
        assert!(
            hooks[0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("CHANNEL_PRIVATE")
        );
        let saved = s.sim.saved_messages(0);
        assert_eq!(saved.len(), 1, "{saved:?}");
        assert!(
            saved[0].text.contains("channel_deactivated") && saved[0].text.contains(&name),
            "{saved:?}"
        );
        // The channel stays failed across later polls: no second alert.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(got.lock().expect("lock").len(), 1);
        assert_eq!(s.sim.saved_messages(0).len(), 1);
        assert_eq!(svc.stop().await, Some(0));

        // `alerts test` reaches every sink from the CLI.
        let out = s.spawn_with(
            &["alerts", "test"],
            "60",
            &[
                ("TGSIFT_ALERTS__WEBHOOKS", &hook),
                ("TGSIFT_ALERTS__TELEGRAM", "true"),
            ],
        );
        let out = tokio::task::spawn_blocking(move || out.wait_with_output().expect("wait"))
            .await
            .expect("join");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            got.lock().expect("lock").last().expect("test alert")["kind"],
            "test"
        );
        assert_eq!(s.sim.saved_messages(0).len(), 2);
    })
    .await;
}

/// A webhook that can be taken down (it answers 503 and keeps nothing) and brought back.
struct Hook {
    url: String,
    got: Arc<Mutex<Vec<Value>>>,
    up: Arc<std::sync::atomic::AtomicBool>,
    /// The watches whose deliveries were refused while down.
    refused: Arc<Mutex<BTreeSet<String>>>,
}

impl Hook {
    async fn start() -> Hook {
        use std::sync::atomic::{AtomicBool, Ordering};
        let got = Arc::new(Mutex::new(Vec::new()));
        let up = Arc::new(AtomicBool::new(true));
        let refused = Arc::new(Mutex::new(BTreeSet::new()));
        let (sink, on, no) = (Arc::clone(&got), Arc::clone(&up), Arc::clone(&refused));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let (sink, on, no) = (Arc::clone(&sink), Arc::clone(&on), Arc::clone(&no));
                async move {
                    if !on.load(Ordering::SeqCst) {
                        let watch = v["watch"].as_str().unwrap_or("?").to_string();
                        no.lock().expect("lock").insert(watch);
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    sink.lock().expect("lock").push(v);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hook {
            url: format!("http://{addr}/hook"),
            got,
            up,
            refused,
        }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }

    fn refused(&self) -> BTreeSet<String> {
        self.refused.lock().expect("lock").clone()
    }

    /// (watch, message id) of every post delivered, in order.
    fn delivered(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for body in self.got.lock().expect("lock").iter() {
            for p in body["posts"].as_array().into_iter().flatten() {
                out.push((
                    body["watch"].as_str().unwrap_or("?").to_string(),
                    p["message_id"].as_i64().unwrap_or(-1),
                ));
            }
        }
        out
    }
}

#[tokio::test]
async fn tag_and_query_watches_deliver_each_matching_live_post_once_across_a_webhook_outage() {
    within(150, async {
        let s = Setup::new(1, 20, |_| {}).await;
        let hook = Hook::start().await;
        let channel = s.sim.channel_usernames()[0].clone();
        let sink = format!("webhook:{}", hook.url);
        // A tag watch from the CLI before the service runs; bad input is refused with exit 2.
        let (code, out, err) = s
            .output(&["watch", "add", "oil", "--tag", "нефть", "--sink", &sink])
            .await;
        assert_eq!(code, Some(0), "{out}{err}");
        for (args, says) in [
            (
                vec!["watch", "add", "oil", "--tag", "x", "--sink", &sink],
                "exists",
            ),
            (
                vec!["watch", "add", "w2", "--query", "!!", "--sink", &sink],
                "no word",
            ),
            (
                vec!["watch", "add", "w3", "--tag", "x", "--sink", "mail:me"],
                "is not one of",
            ),
            (
                vec!["watch", "add", "w4", "--channel", "@nope", "--sink", &sink],
                "no followed channel",
            ),
            (
                vec![
                    "watch", "add", "w5", "--tag", "x", "--sink", &sink, "--every", "1ч",
                ],
                "--every 1ч",
            ),
        ] {
            let (code, _, err) = s.output(&args).await;
            assert_eq!(code, Some(2), "{args:?}: {err}");
            assert!(err.contains(says), "{args:?}: {err}");
        }

        let mut svc = Service::synced(&s, &[]).await;
        // A query watch through the API.
        let (status, body) = svc
            .post(
                "/api/v1/watches",
                json!({"name": "rates", "query": "ключевая ставка", "sink": sink}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["query"], "ключевая ставка");
        let (status, body) = svc
            .post(
                "/api/v1/watches",
                json!({"name": "rates", "tag": "x", "sink": sink}),
            )
            .await;
        assert_eq!(status, 409, "{body}");

        let post = |text: &str| s.sim.append_post(&channel, text).expect("published");
        let a = post("Нефть дорожает третий день подряд\n#нефть");
        let b = post("Банк России сохранил ключевую ставку на прежнем уровне");
        let _c = post("В Москве солнечно и тепло, выходные обещают быть ясными");
        let d = post("Ключевая ставка и нефть: что дальше\n#нефть");
        let want = |pairs: &[(&str, i32)]| -> BTreeSet<(String, i64)> {
            pairs
                .iter()
                .map(|(w, id)| (w.to_string(), i64::from(*id)))
                .collect()
        };
        let first = want(&[("oil", a), ("oil", d), ("rates", b), ("rates", d)]);
        assert!(
            eventually(Duration::from_secs(40), || async {
                hook.delivered().len() >= first.len()
            })
            .await,
            "delivered {:?}",
            hook.delivered()
        );
        assert_eq!(hook.delivered().into_iter().collect::<BTreeSet<_>>(), first);
        let one = hook.got.lock().expect("lock")[0].clone();
        assert_eq!(one["kind"], "watch");
        let p = &one["posts"][0];
        assert!(
            p["link"].as_str().unwrap_or("").starts_with(&format!(
                "https://t.me/{}/",
                channel.trim_start_matches('@')
            )),
            "{one}"
        );
        assert!(!p["excerpt"].as_str().unwrap_or("").is_empty(), "{one}");

        // The webhook goes down: matches wait and are delivered when it is back.
        hook.set_up(false);
        let e = post("Нефть снова дешевеет\n#нефть");
        let f = post("Аналитики ждут снижения ключевой ставки");
        assert!(
            eventually(Duration::from_secs(40), || async {
                hook.refused().len() == 2
            })
            .await,
            "a delivery of each watch was tried while the webhook was down"
        );
        let (_, listed) = svc.get("/api/v1/watches").await;
        let waiting: Vec<(String, i64)> = listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|w| {
                (
                    w["name"].as_str().unwrap_or("?").to_string(),
                    w["pending"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        assert_eq!(waiting, [("oil".to_string(), 1), ("rates".to_string(), 1)]);
        hook.set_up(true);
        let all: BTreeSet<(String, i64)> = first
            .iter()
            .cloned()
            .chain(want(&[("oil", e), ("rates", f)]))
            .collect();
        assert!(
            eventually(Duration::from_secs(40), || async {
                hook.delivered().len() >= all.len()
            })
            .await,
            "delivered {:?}",
            hook.delivered()
        );
        // Nothing more comes: each match exactly once.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let delivered = hook.delivered();
        assert_eq!(delivered.len(), all.len(), "{delivered:?}");
        assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), all);

        let (status, _) = svc
            .call(reqwest::Method::DELETE, "/api/v1/watches/rates", None)
            .await;
        assert_eq!(status, 200);
        let (status, _) = svc
            .call(reqwest::Method::DELETE, "/api/v1/watches/rates", None)
            .await;
        assert_eq!(status, 404);
        assert_eq!(svc.stop().await, Some(0));

        // `watch list` and `watch test` from the CLI: the newest matching stored post goes out again,
        // marked as a test.
        let (code, out, err) = s.output(&["watch", "list"]).await;
        assert_eq!(code, Some(0), "{err}");
        assert!(
            out.contains("oil: tag нефть") && out.contains("delivered 3, waiting 0"),
            "{out}"
        );
        let (code, out, err) = s.output(&["watch", "test", "oil"]).await;
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("test delivery sent"), "{out}");
        let last = hook
            .got
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("test");
        assert_eq!(
            (last["test"].clone(), last["posts"][0]["message_id"].clone()),
            (json!(true), json!(e))
        );
    })
    .await;
}

#[tokio::test]
async fn a_digest_watch_batches_posts_into_one_saved_message_and_a_chat_that_refuses_keeps_them() {
    within(120, async {
        let s = Setup::new(2, 10, |_| {}).await;
        let names = s.sim.channel_usernames();
        let (watched, other) = (names[0].clone(), names[1].clone());
        for args in [
            vec![
                "watch",
                "add",
                "digest",
                "--channel",
                &watched,
                "--sink",
                "saved-messages",
                "--every",
                "4s",
            ],
            // A channel the account only reads: Telegram refuses its messages there.
            vec![
                "watch",
                "add",
                "to-chat",
                "--channel",
                &watched,
                "--sink",
                &format!("telegram:{other}"),
            ],
        ] {
            let (code, out, err) = s.output(&args).await;
            assert_eq!(code, Some(0), "{args:?}: {out}{err}");
        }
        let mut svc = Service::synced(&s, &[("TGSIFT_TAGGING__BACKEND", "off")]).await;
        let before = s.sim.saved_messages(0).len();
        let ids: Vec<i32> = (0..3)
            .map(|i| {
                s.sim
                    .append_post(&watched, &format!("Сводка номер {i}"))
                    .expect("published")
            })
            .collect();
        s.sim
            .append_post(&other, "не в этом канале")
            .expect("published");
        assert!(
            eventually(Duration::from_secs(30), || async {
                s.sim.saved_messages(0).len() > before
            })
            .await,
            "the digest arrives"
        );
        // Posts stored before the first digest was due arrive together; give a late one its period.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let digests: Vec<String> = s.sim.saved_messages(0)[before..]
            .iter()
            .map(|m| m.text.clone())
            .collect();
        let listed: Vec<i32> = ids
            .iter()
            .copied()
            .filter(|id| digests.iter().any(|d| d.contains(&format!("/{id}\n"))))
            .collect();
        assert_eq!(listed, ids, "{digests:?}");
        assert!(
            digests.len() < ids.len() && digests[0].starts_with("tgsift watch «digest»"),
            "batched: {digests:?}"
        );
        assert!(!digests.iter().any(|d| d.contains("не в этом канале")));
        let (_, watches) = svc.get("/api/v1/watches").await;
        let chat = watches["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|w| w["name"] == "to-chat")
            .cloned()
            .expect("to-chat");
        assert_eq!(chat["delivered"], 0, "{chat}");
        assert_eq!(chat["pending"], 3, "{chat}");
        assert!(
            chat["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("CHAT_WRITE_FORBIDDEN"),
            "{chat}"
        );
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

#[tokio::test]
async fn a_watch_writes_into_a_supergroup_once_and_never_matches_its_own_message() {
    within(90, async {
        let s = Setup::new(2, 10, |cfg| cfg.channels[1].megagroup = true).await;
        let names = s.sim.channel_usernames();
        let (news, group) = (names[0].clone(), names[1].clone());
        let sink = format!("telegram:{group}");
        let (code, out, err) = s
            .output(&["watch", "add", "oil", "--query", "нефть", "--sink", &sink])
            .await;
        assert_eq!(code, Some(0), "{out}{err}");
        let mut svc = Service::synced(&s, &[("TGSIFT_TAGGING__BACKEND", "off")]).await;
        let id = s
            .sim
            .append_post(&news, "Нефть дорожает")
            .expect("published");
        let sent = || {
            s.truth()
                .into_iter()
                .filter(|p| p.2.starts_with("tgsift watch «oil»"))
                .collect::<Vec<_>>()
        };
        assert!(
            eventually(Duration::from_secs(30), || async { !sent().is_empty() }).await,
            "the supergroup gets the match"
        );
        let link = format!("https://t.me/{}/{id}", news.trim_start_matches('@'));
        assert!(sent()[0].2.contains(&link), "{:?}", sent());
        // The group is followed too: its new message is stored, mentions «нефть», and is never
        // matched (and sent again) by the watch that wrote it.
        assert!(
            eventually(Duration::from_secs(30), || async {
                s.stored() == s.truth()
            })
            .await
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(sent().len(), 1, "{:?}", sent());
        let (_, listed) = svc.get("/api/v1/watches").await;
        let w = &listed["items"][0];
        assert_eq!(
            (w["delivered"].clone(), w["pending"].clone()),
            (json!(1), json!(0)),
            "{w}"
        );
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

#[tokio::test]
async fn run_once_delivers_what_its_posts_matched_and_never_the_history_before_the_watch() {
    within(90, async {
        let s = Setup::new(1, 15, |_| {}).await;
        let hook = Hook::start().await;
        let channel = s.sim.channel_usernames()[0].clone();
        let sink = format!("webhook:{}", hook.url);
        let (code, out, err) = s
            .output(&[
                "watch",
                "add",
                "all-of-it",
                "--channel",
                &channel,
                "--sink",
                &sink,
            ])
            .await;
        assert_eq!(code, Some(0), "{out}{err}");
        let fresh: BTreeSet<(String, i64)> = ["Первая новость после", "Вторая новость после"]
            .iter()
            .map(|t| {
                let id = s.sim.append_post(&channel, t).expect("published");
                ("all-of-it".to_string(), i64::from(id))
            })
            .collect();
        let (code, out, err) = s
            .output_with(&["run", "--once"], &[("TGSIFT_TAGGING__BACKEND", "off")])
            .await;
        assert_eq!(code, Some(0), "{out}{err}");
        assert_eq!(
            s.stored(),
            s.truth(),
            "the history and the two new posts are stored"
        );
        assert!(s.stored().len() > 10);
        let delivered = hook.delivered();
        assert_eq!(delivered.len(), 2, "{delivered:?}");
        assert_eq!(delivered.into_iter().collect::<BTreeSet<_>>(), fresh);
        // A second run finds nothing new to send.
        let (code, _, err) = s
            .output_with(&["run", "--once"], &[("TGSIFT_TAGGING__BACKEND", "off")])
            .await;
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(hook.delivered().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_signs_in_by_cookie_and_a_cookie_alone_cannot_change_anything() {
    within(90, async {
        let s = Setup::new(1, 30, |_| {}).await;
        let mut svc = Service::start(&s, &[]);
        svc.ready().await;
        let http = &svc.http;

        // The page and its assets need no sign-in (they hold no data) and allow only their own scripts.
        for (path, kind) in [
            ("/", "text/html"),
            ("/ui/app.js", "text/javascript"),
            ("/ui/style.css", "text/css"),
        ] {
            let r = http.get(svc.url(path)).send().await.expect("asset");
            assert_eq!(r.status(), 200, "{path}");
            let ct = r.headers()["content-type"].to_str().expect("ascii").to_string();
            assert!(ct.starts_with(kind), "{path}: {ct}");
            let csp = r.headers()["content-security-policy"].to_str().expect("ascii");
            assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(!r.text().await.expect("body").is_empty());
        }
        let r = http.get(svc.url("/api/v1/session")).send().await.expect("get");
        assert_eq!(r.status(), 401);

        // A wrong token gets no cookie; the right one gets an HttpOnly, SameSite=Strict session.
        let sign_in = |token: &str| {
            http.post(svc.url("/api/v1/session"))
                .json(&json!({ "token": token }))
                .send()
        };
        let r = sign_in("wrong").await.expect("sign in");
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("set-cookie").is_none());
        let r = sign_in(TOKEN).await.expect("sign in");
        assert_eq!(r.status(), 200);
        let set = r.headers()["set-cookie"].to_str().expect("ascii").to_string();
        assert!(
            set.contains("; HttpOnly") && set.contains("; SameSite=Strict") && set.contains("; Path=/"),
            "{set}"
        );
        let id = set
            .split(';')
            .next()
            .and_then(|kv| kv.strip_prefix("tgsift_session="))
            .expect("the session cookie")
            .to_string();
        assert!(id.len() >= 32 && !id.contains(TOKEN), "a session id, not the token");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body, json!({"signed_in": true, "method": "cookie"}));
        let cookie = format!("tgsift_session={id}");
        let with_cookie = |m: reqwest::Method, path: &str| {
            http.request(m, svc.url(path)).header("cookie", cookie.clone())
        };

        let r = with_cookie(reqwest::Method::GET, "/api/v1/session")
            .send()
            .await
            .expect("get");
        assert_eq!(r.json::<Value>().await.expect("json")["method"], "cookie");
        let (_, st) = svc.get("/api/v1/session").await;
        assert_eq!(st["method"], "bearer");
        let r = with_cookie(reqwest::Method::GET, "/api/v1/channels")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
        let channel = r.json::<Value>().await.expect("json")["items"][0]["id"]
            .as_i64()
            .expect("id");

        // By cookie, a change needs `X-Requested-With: tgsift` (a cross-site form cannot send it).
        let pause = format!("/api/v1/channels/{channel}/pause");
        let r = with_cookie(reqwest::Method::POST, &pause)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 403);
        assert_eq!(error_code(&r.json::<Value>().await.expect("json")), "csrf");
        let (_, page) = svc.get("/api/v1/channels").await;
        assert_eq!(page["items"][0]["state"], "active", "nothing changed");
        let r = with_cookie(reqwest::Method::POST, &pause)
            .header("x-requested-with", "tgsift")
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.expect("json")["state"], "paused");
        // Bearer clients are unchanged: no extra header.
        let (st, v) = svc
            .post(&format!("/api/v1/channels/{channel}/resume"), json!({}))
            .await;
        assert_eq!((st, v["state"].as_str()), (200, Some("active")), "{v}");
        let r = http
            .get(svc.url("/api/v1/channels"))
            .header("cookie", "tgsift_session=0123456789abcdef0123456789abcdef")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 401, "a made-up session");

        // Edit history and the last hour's figures.
        let expected = s.truth().len() as i64;
        assert!(
            eventually(Duration::from_secs(30), || async {
                svc.get("/api/v1/activity").await.1["posts_stored"].as_i64() == Some(expected)
            })
            .await,
            "every post was stored within the hour"
        );
        let (st, act) = svc.get("/api/v1/activity").await;
        assert_eq!(st, 200, "{act}");
        assert_eq!(act["window_seconds"], 3600);
        assert_eq!(act["floods"], 0, "{act}");
        assert_eq!(act["flood_windows"], json!([]));
        assert!(
            eventually(Duration::from_secs(10), || async {
                svc.get("/api/v1/activity").await.1["channel_lag"]
                    == json!([{"channel_id": channel, "messages": 0}])
            })
            .await,
            "the channel was polled and is caught up"
        );
        let post = *db_ids(&s.db, "SELECT id FROM posts WHERE text != '' LIMIT 1")
            .first()
            .expect("a post");
        let (st, v) = svc.get(&format!("/api/v1/posts/{post}/versions")).await;
        assert_eq!((st, v), (200, json!({"items": []})));
        SqliteStore::open(&s.db)
            .expect("store")
            .write("an earlier text", |tx| {
                tx.execute(
                    "INSERT INTO post_versions (post_id, text, edit_date, replaced_at) VALUES (?1, 'first words', NULL, 1700000000)",
                    [post],
                )
            })
            .expect("version");
        let (_, v) = svc.get(&format!("/api/v1/posts/{post}/versions")).await;
        assert_eq!(
            v,
            json!({"items": [{"text": "first words", "edit_date": null, "replaced_at": 1_700_000_000}]})
        );
        let (st, e) = svc.get("/api/v1/posts/999999/versions").await;
        assert_eq!((st, error_code(&e)), (404, "not_found"), "{e}");

        // A post's comments, as stored by the comments reader.
        let (st, v) = svc.get(&format!("/api/v1/posts/{post}/comments")).await;
        assert_eq!((st, v), (200, json!({"items": []})));
        SqliteStore::open(&s.db)
            .expect("store")
            .write("comments", |tx| {
                tx.execute_batch(&format!(
                    "INSERT INTO comments (post_id, message_id, reply_to, sender_kind, sender_id, author,
                                           date, edit_date, text, has_media, fetched_at, deleted_at)
                     VALUES ({post}, 40, NULL, 'user', 7001, NULL, 1700000000, NULL, 'first', 0, 1700000001, NULL),
                            ({post}, 41, 40, 'anonymous', NULL, 'Editor', 1700000010, NULL, 'answer', 1, 1700000011, NULL)"
                ))
            })
            .expect("comments");
        let (_, v) = svc.get(&format!("/api/v1/posts/{post}/comments")).await;
        assert_eq!(
            v,
            json!({"items": [
                {"message_id": 40, "sender": {"kind": "user", "id": 7001}, "date": 1_700_000_000,
                 "text": "first", "has_media": false},
                {"message_id": 41, "reply_to": 40, "sender": {"kind": "anonymous", "author": "Editor"},
                 "date": 1_700_000_010, "text": "answer", "has_media": true}
            ]})
        );
        let (st, e) = svc.get("/api/v1/posts/999999/comments").await;
        assert_eq!((st, error_code(&e)), (404, "not_found"), "{e}");

        // Signing out ends the session.
        let r = with_cookie(reqwest::Method::DELETE, "/api/v1/session")
            .header("x-requested-with", "tgsift")
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status(), 204);
        assert!(
            r.headers()["set-cookie"].to_str().expect("ascii").contains("Max-Age=0"),
            "the cookie is deleted"
        );
        let r = with_cookie(reqwest::Method::GET, "/api/v1/session")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 401);
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

/// `tgsift_http_requests_total` as `(route, method, status) → count`.
async fn request_counts(
    svc: &Service,
) -> std::collections::BTreeMap<(String, String, String), f64> {
    let r = svc
        .http
        .get(svc.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("text");
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse");
    scrape
        .samples
        .iter()
        .filter(|x| x.metric == "tgsift_http_requests_total")
        .map(|x| {
            let label = |k: &str| x.labels.get(k).unwrap_or("").to_string();
            let v = match x.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            };
            ((label("route"), label("method"), label("status")), v)
        })
        .collect()
}

#[tokio::test]
async fn every_answer_is_counted_and_wrong_tokens_are_answered_slowly() {
    within(90, async {
        let s = Setup::new(1, 20, |_| {}).await;
        let mut svc = Service::start(&s, &[]);
        svc.ready().await;
        let before = request_counts(&svc).await;

        // Refused before any route runs: no token, a wrong token — on a route and on no route.
        for _ in 0..2 {
            let r = svc
                .http
                .get(svc.url("/api/v1/posts"))
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 401);
        }
        let t0 = Instant::now();
        let r = svc
            .http
            .get(svc.url("/api/v1/posts"))
            .bearer_auth("wrong-token")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 401);
        assert!(
            t0.elapsed() >= Duration::from_millis(300),
            "a wrong token is answered after the penalty, not in {:?}",
            t0.elapsed()
        );
        let r = svc
            .http
            .get(svc.url("/no/such/route"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 401);
        // Unknown routes with the token: 404, all under one label whatever the path.
        for path in ["/api/v1/nope", "/x/1", "/x/2"] {
            let (st, e) = svc.get(path).await;
            assert_eq!((st, error_code(&e)), (404, "not_found"), "{path}: {e}");
        }
        // A method nobody defined is counted without its name (the label set stays bounded).
        let r = svc
            .http
            .request(
                reqwest::Method::from_bytes(b"BREW").expect("method"),
                svc.url("/api/v1/posts"),
            )
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("brew");
        assert_eq!(r.status(), 405);
        // A body that is not a JSON object is refused, naming what is expected.
        for body in [json!([10, true, null]), json!("limit"), json!(7)] {
            let (st, e) = svc.post("/api/v1/tagging/retry", body.clone()).await;
            assert_eq!((st, error_code(&e)), (422, "invalid"), "{body}: {e}");
            assert!(e.to_string().contains("must be a JSON object"), "{e}");
        }
        // A wrong token at sign-in waits too.
        let t0 = Instant::now();
        let r = svc
            .http
            .post(svc.url("/api/v1/session"))
            .json(&json!({"token": "wrong"}))
            .send()
            .await
            .expect("sign in");
        assert_eq!(r.status(), 401);
        assert!(
            t0.elapsed() >= Duration::from_millis(300),
            "{:?}",
            t0.elapsed()
        );

        let after = request_counts(&svc).await;
        let added = |route: &str, method: &str, status: &str| {
            let k = (route.to_string(), method.to_string(), status.to_string());
            after.get(&k).copied().unwrap_or(0.0) - before.get(&k).copied().unwrap_or(0.0)
        };
        assert_eq!(added("/api/v1/posts", "GET", "401"), 3.0, "{after:?}");
        assert_eq!(added("unmatched", "GET", "401"), 1.0, "{after:?}");
        assert_eq!(added("unmatched", "GET", "404"), 3.0, "{after:?}");
        assert_eq!(added("/api/v1/posts", "other", "405"), 1.0, "{after:?}");
        assert_eq!(
            added("/api/v1/tagging/retry", "POST", "422"),
            3.0,
            "{after:?}"
        );
        assert_eq!(added("/api/v1/session", "POST", "401"), 1.0, "{after:?}");
        assert_eq!(
            added("/metrics", "GET", "200"),
            1.0,
            "the first scrape: {after:?}"
        );
        let total = |m: &std::collections::BTreeMap<_, f64>| m.values().sum::<f64>();
        assert_eq!(
            total(&after) - total(&before),
            13.0,
            "every answer counted once, nothing else: {after:?}"
        );
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

#[tokio::test]
async fn a_client_whose_headers_never_finish_is_cut_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(60, async {
        let s = Setup::new(1, 20, |_| {}).await;
        let mut svc = Service::start(&s, &[("TGSIFT_HTTP__HEADER_TIMEOUT", "1")]);
        svc.ready().await;
        let addr = svc.base.trim_start_matches("http://").to_string();

        // One client stops in the middle of its headers, one sends a header byte every 100 ms
        // (each read is quick, the headers never end), one sends nothing at all.
        let cut_after = |trickle: Option<&'static [u8]>| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut conn = tokio::net::TcpStream::connect(&addr)
                    .await
                    .expect("connect");
                let t0 = Instant::now();
                if let Some(start) = trickle {
                    conn.write_all(start).await.expect("write");
                }
                let (mut rd, mut wr) = conn.into_split();
                let writer = tokio::spawn(async move {
                    if trickle.is_some() {
                        while wr.write_all(b"a").await.is_ok() {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    // Kept open (and silent) until the server closes.
                    std::future::pending::<()>().await;
                });
                let mut buf = [0u8; 1024];
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                writer.abort();
                t0.elapsed()
            })
        };
        let partial = cut_after(Some(
            b"GET /api/v1/posts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        ));
        let silent = cut_after(None);
        let partial = partial.await.expect("partial");
        let silent = silent.await.expect("silent");
        for (what, took) in [("slow headers", partial), ("silence", silent)] {
            assert!(
                took >= Duration::from_millis(900) && took < Duration::from_secs(4),
                "{what}: the connection was closed after {took:?}, not after the 1 s header timeout"
            );
        }
        // The server itself is fine.
        let (st, _) = svc.get("/api/v1/channels").await;
        assert_eq!(st, 200);
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}

/// Issue 31, item 6: with Telegram unreachable, `/readyz` says the service is degraded and why,
/// the channels say they wait for their account; the probes answer without a token, unless
/// `http.probe_token` asks for one.
#[tokio::test]
async fn readyz_is_degraded_while_telegram_is_unreachable_and_probes_need_no_token() {
    within(90, async {
        let s = Setup::new(2, 20, |_| {}).await;
        let mut svc = Service::start(&s, &[]);
        svc.ready().await;
        let plain = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let probe = |path: &'static str, token: Option<&'static str>| {
            let mut req = plain.get(svc.url(path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            async move {
                let r = req.send().await.expect("probe");
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        assert_eq!(probe("/healthz", None).await.0, 200, "no token needed");
        let (st, body) = probe("/readyz", None).await;
        assert_eq!(
            (st, body["status"].as_str()),
            (200, Some("ready")),
            "{body}"
        );

        // Telegram goes away: the account's breaker opens, and the probe says so.
        s.sim.outage(Duration::from_secs(120));
        assert!(
            eventually(Duration::from_secs(40), || async {
                probe("/readyz", None).await.1["status"] == "degraded"
            })
            .await,
            "readyz never said degraded"
        );
        let (st, body) = probe("/readyz", None).await;
        assert_eq!(st, 200, "degraded still serves: {body}");
        let reason = body["reasons"][0].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("account alice cannot reach Telegram since"),
            "{body}"
        );
        let (st, channels) = svc.get("/api/v1/channels").await;
        assert_eq!(st, 200);
        let states: Vec<(&str, bool)> = channels["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| {
                (
                    c["state"].as_str().unwrap_or_default(),
                    c["waiting_since"].as_i64().is_some(),
                )
            })
            .collect();
        assert_eq!(states, [("waiting", true), ("waiting", true)], "{channels}");
        assert_eq!(svc.stop().await, Some(0));

        // With http.probe_token the probes need it (or the API's token).
        let mut svc = Service::start(&s, &[("TGSIFT_HTTP__PROBE_TOKEN", "probe-secret")]);
        svc.ready().await;
        let plain = reqwest::Client::new();
        for (token, want) in [
            (None, 401),
            (Some("wrong"), 401),
            (Some("probe-secret"), 200),
            (Some(TOKEN), 200),
        ] {
            let mut req = plain.get(svc.url("/healthz"));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let st = req.send().await.expect("probe").status().as_u16();
            assert_eq!(st, want, "{token:?}");
        }
        assert_eq!(svc.stop().await, Some(0));
    })
    .await;
}
