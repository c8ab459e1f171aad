//! The web dashboard driven by a real headless Chromium (over WebDriver, `chromedriver`) against
//! `tgsift run --http` on the simulator: sign in, channels, pause/resume, search, a post's tags
//! regenerated, a failed job retried and cancelled — and screenshots of every page at desktop and phone
//! width under `target/screenshots/`.
//!
//! Without Chromium and chromedriver the test says it was skipped; under CI (`CI` set) it fails instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::setup::{Setup, sigterm, wait_exit};
use crate::common::{db_ids, eventually, urlencode, within};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tgsift_store::SqliteStore;

const TOKEN: &str = "dash-token-7c1e";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Whether the browser is here; outside CI a missing browser skips the test (said clearly), under CI
/// it fails it.
fn browser_present() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        let msg = format!(
            "dashboard browser test SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install -y chromium chromium-driver)"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "{msg}, and CI must run it"
        );
        // Straight to stderr: the test harness would swallow an `eprintln!` of a passing test.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{msg}");
    }
    present
}

/// A process killed when dropped.
struct Proc(Option<Child>);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `tgsift run --http` with a token and the embedded tagger, and a bearer-token API client for the
/// test's own checks.
struct Service {
    proc: Proc,
    base: String,
    http: reqwest::Client,
}

impl Service {
    async fn start(s: &Setup) -> Service {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = s.spawn_with(
            &["run", "--http", &addr],
            "1",
            &[
                ("TGSIFT_HTTP__TOKEN", TOKEN),
                ("TGSIFT_TAGGING__BACKEND", "embedded"),
            ],
        );
        let svc = Service {
            proc: Proc(Some(child)),
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        };
        assert!(
            eventually(Duration::from_secs(20), || async {
                svc.http
                    .get(format!("{}/readyz", svc.base))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            })
            .await,
            "the service never got ready"
        );
        svc
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let v: Value = resp.json().await.expect("json");
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn stop(mut self) {
        if let Some(mut child) = self.proc.0.take() {
            sigterm(&child);
            tokio::task::spawn_blocking(move || {
                let st = wait_exit(&mut child, Duration::from_secs(10));
                let _ = child.kill();
                assert_eq!(st.and_then(|s| s.code()), Some(0), "clean exit");
            })
            .await
            .expect("join");
        }
    }
}

/// chromedriver on a free port and a headless Chromium session through it.
async fn browser(profile: &Path) -> (Proc, Client) {
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chromedriver");
    let driver = Proc(Some(driver));
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(10), || async {
            http.get(format!("{url}/status"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await,
        "chromedriver never answered"
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a Chromium session");
    (driver, client)
}

/// The page, as the test sees it.
struct Page<'a> {
    c: &'a Client,
    base: &'a str,
    shots: PathBuf,
}

impl Page<'_> {
    async fn open(&self, hash: &str) {
        self.c
            .goto(&format!("{}/{hash}", self.base))
            .await
            .expect("goto");
    }

    /// Runs `f(document.querySelector(css))` in the page; `null` when nothing matches.
    async fn js(&self, css: &str, f: &str) -> Value {
        let script =
            format!("const e = document.querySelector(arguments[0]); return e ? ({f})(e) : null;");
        self.c
            .execute(&script, vec![json!(css)])
            .await
            .unwrap_or(Value::Null)
    }

    async fn text(&self, css: &str) -> Option<String> {
        self.js(css, "e => e.textContent")
            .await
            .as_str()
            .map(String::from)
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.js(css, &format!("e => e.getAttribute({name:?})"))
            .await
            .as_str()
            .map(String::from)
    }

    /// Waits until `css` matches a visible element, then clicks it as a user would.
    async fn click(&self, css: &str) {
        let ok = eventually(Duration::from_secs(15), || async {
            match self.c.find(Locator::Css(css)).await {
                Ok(e) => e.is_displayed().await.unwrap_or(false) && e.click().await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
        assert!(ok, "nothing to click at {css}");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.c.find(Locator::Css(css)).await.expect(css);
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    /// Waits until the text of `css` satisfies `cond`; returns it.
    async fn wait_text(&self, css: &str, cond: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let t = self.text(css).await;
            if let Some(t) = t.as_deref().filter(|t| cond(t)) {
                return t.to_string();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{css} never showed what was expected; last: {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_attr(&self, css: &str, name: &str, value: &str) {
        let ok = eventually(Duration::from_secs(20), || async {
            self.attr(css, name).await.as_deref() == Some(value)
        })
        .await;
        assert!(
            ok,
            "{css} never had {name}={value:?} (has {:?})",
            self.attr(css, name).await
        );
    }

    /// Screenshots of the current page at desktop and phone width, as `<name>-desktop.png` and
    /// `<name>-phone.png`.
    async fn shoot(&self, name: &str, ready_css: &str) {
        for (label, (w, h)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.c.set_window_size(w, h).await.expect("resize");
            self.wait_text(ready_css, |_| true).await;
            self.c
                .execute(
                    "window.scrollTo(0, 0); document.getElementById('notice').hidden = true",
                    vec![],
                )
                .await
                .expect("scroll");
            let png = self.c.screenshot().await.expect("screenshot");
            assert!(png.starts_with(b"\x89PNG"), "a PNG");
            std::fs::write(self.shots.join(format!("{name}-{label}.png")), png).expect("write png");
        }
        self.c
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .expect("resize");
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// A long Russian word of a stored post, and the post.
fn russian_word(db: &Path) -> (String, i64) {
    let rows: Vec<(String, i64)> = SqliteStore::open(db)
        .expect("store")
        .read("posts", |c| {
            let mut st = c.prepare("SELECT text, id FROM posts WHERE text != '' ORDER BY id")?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })
        .expect("posts");
    rows.iter()
        .find_map(|(t, id)| {
            t.split(|ch: char| !ch.is_alphabetic())
                .find(|w| {
                    w.chars().count() >= 7
                        && w.chars()
                            .all(|c| matches!(c, 'а'..='я' | 'А'..='Я' | 'ё' | 'Ё'))
                })
                .map(|w| (w.to_lowercase(), *id))
        })
        .expect("a post with a Russian word")
}

#[tokio::test]
async fn an_operator_watches_and_steers_the_service_from_a_browser() {
    if !browser_present() {
        return;
    }
    within(150, async {
        let s = Setup::new(3, 40, |_| {}).await;
        let names = s.sim.channel_usernames();
        // The third channel is not followed, and the account cannot read it: adding it fails.
        let private = names[2].clone();
        SqliteStore::open(&s.db)
            .expect("store")
            .read("unfollow", |c| {
                c.execute(
                    "DELETE FROM channels WHERE username = ?1",
                    [private.trim_start_matches('@')],
                )
            })
            .expect("unfollow");
        s.sim.ban(&private, 0);
        let svc = Service::start(&s).await;
        let profile = tempfile::tempdir().expect("profile dir");
        let (_driver, c) = browser(profile.path()).await;
        let page = Page {
            c: &c,
            base: &svc.base,
            shots: screenshot_dir(),
        };

        // Sign in: a wrong token is refused, the right one opens the overview.
        page.open("").await;
        assert!(
            eventually(Duration::from_secs(10), || async {
                page.js("#sign-in", "e => e.hidden").await == json!(false)
            })
            .await,
            "the sign-in form shows"
        );
        page.type_into("#token", "not-the-token").await;
        page.click("#sign-in-form button").await;
        page.wait_text("#sign-in-error", |t| t == "Wrong token.")
            .await;
        page.type_into("#token", TOKEN).await;
        page.click("#sign-in-form button").await;
        page.wait_text("#channels", |t| {
            names[..2].iter().all(|n| t.contains(n.as_str()))
        })
        .await;
        assert_eq!(page.attr("#nav", "hidden").await, None, "the menu shows");
        let cookie = c
            .get_named_cookie("tgsift_session")
            .await
            .expect("session cookie");
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
        assert_ne!(
            cookie.value(),
            TOKEN,
            "the cookie is a session, not the token"
        );

        // Everything ingested and tagged (checked through the API), then the overview shows it.
        let expected = s
            .truth()
            .iter()
            .filter(|p| format!("@{}", p.0) != private && p.0 != private)
            .count() as u64;
        assert!(
            eventually(Duration::from_secs(60), || async {
                let st = svc.get("/api/v1/tagging/stats").await;
                st["total"].as_u64() == Some(expected)
                    && st["by_status"]["pending"].as_i64().unwrap_or(0) == 0
            })
            .await,
            "ingest and tagging finish"
        );
        let channels = svc.get("/api/v1/channels").await;
        let first = &channels["items"][0];
        let id = first["id"].as_i64().expect("id");
        let row = format!("tr[data-channel='{id}']");
        page.wait_attr(&row, "data-state", "active").await;
        page.wait_text("#posts-stored .value", |t| t == expected.to_string())
            .await;
        let posts = first["posts"].to_string();
        page.wait_text(&format!("{row} td[data-label='Posts']"), |t| t == posts)
            .await;
        page.shoot("overview", "#channels").await;

        // Pause and resume one channel.
        page.click(&format!("{row} button[data-action='pause']"))
            .await;
        page.wait_attr(&row, "data-state", "paused").await;
        assert_eq!(
            svc.get("/api/v1/channels").await["items"][0]["state"],
            "paused"
        );
        page.click(&format!("{row} button[data-action='resume']"))
            .await;
        page.wait_attr(&row, "data-state", "active").await;
        assert_eq!(
            svc.get("/api/v1/channels").await["items"][0]["state"],
            "active"
        );

        // Search a Russian word: the post that has it is found.
        let (word, post_id) = russian_word(&s.db);
        page.click("nav a[data-page='posts']").await;
        page.wait_text("#posts", |t| !t.is_empty()).await;
        page.type_into("#f-q", &word).await;
        page.click("#post-filters button[type='submit']").await;
        let found = format!("#posts li[data-post='{post_id}']");
        page.wait_text(&found, |_| true).await;
        let hits = svc
            .get(&format!("/api/v1/posts?q={}&limit=30", urlencode(&word)))
            .await;
        let shown = page
            .c
            .find_all(Locator::Css("#posts li[data-post]"))
            .await
            .expect("hits")
            .len();
        assert_eq!(shown, hits["items"].as_array().expect("items").len());
        page.shoot("posts", "#posts").await;

        // Open the post (it was edited once: its earlier text is kept; it has two comments, one a
        // reply) and regenerate its tags.
        SqliteStore::open(&s.db)
            .expect("store")
            .read("an earlier text and comments", |c| {
                c.execute(
                    "INSERT INTO post_versions (post_id, text, edit_date, replaced_at)
                     VALUES (?1, 'what it said first (test)', NULL, 1700000000)",
                    [post_id],
                )?;
                c.execute(
                    "INSERT INTO comments (post_id, message_id, reply_to, sender_kind, sender_id,
                                           author, date, text, fetched_at)
                     VALUES (?1, 70, NULL, 'user', 7001, NULL, 1700000100, 'a comment (test)', 1700000101),
                            (?1, 71, 70, 'anonymous', NULL, 'Editor', 1700000200, 'an answer (test)', 1700000201)",
                    [post_id],
                )
            })
            .expect("version");
        page.click(&format!("{found} a.post-link")).await;
        page.wait_text("#post-text", |t| t.to_lowercase().contains(&word))
            .await;
        page.wait_text("#versions", |t| t.contains("what it said first (test)"))
            .await;
        page.wait_text("#comments", |t| {
            t.contains("a comment (test)") && t.contains("#71 → #70") && t.contains("admin Editor")
        })
        .await;
        page.click("#regenerate").await;
        page.wait_text("#notice", |t| t.starts_with("tags regenerated"))
            .await;
        let after = svc.get(&format!("/api/v1/posts/{post_id}")).await;
        assert_eq!(after["tagging_status"], "success", "{after}");
        let first_tag = after["tags"][0]["tag"].as_str().expect("a tag").to_string();
        page.wait_text("#post-tags", |t| t.contains(&first_tag))
            .await;
        page.shoot("post", "#post-tags").await;

        // A tag leads to the posts with it; the channel filter narrows to one channel.
        page.click("#post-tags a.tag").await;
        let with_tag = svc
            .get(&format!("/api/v1/posts?tag={}&limit=30", urlencode(&first_tag)))
            .await;
        let ids = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["id"].to_string())
                .collect()
        };
        let shown_ids = || async {
            page.c
                .execute(
                    "return [...document.querySelectorAll('#posts li[data-post]')].map(e => e.dataset.post)",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
                .unwrap_or_default()
        };
        let want = ids(&with_tag);
        assert!(!want.is_empty());
        assert!(
            eventually(Duration::from_secs(10), || async { shown_ids().await == want }).await,
            "the posts with tag {first_tag}: {want:?}, shown {:?}",
            shown_ids().await
        );
        page.type_into("#f-tag", "").await;
        page.c
            .find(Locator::Css("#f-channel"))
            .await
            .expect("channel filter")
            .select_by_value(&format!("#{id}"))
            .await
            .expect("pick a channel");
        page.click("#post-filters button[type='submit']").await;
        let in_channel = svc
            .get(&format!("/api/v1/posts?channel=%23{id}&limit=30"))
            .await;
        let want = ids(&in_channel);
        assert!(
            eventually(Duration::from_secs(10), || async { shown_ids().await == want }).await,
            "the posts of channel #{id}"
        );
        // "More" shows the rest of the channel's posts.
        let all = ids(
            &svc.get(&format!("/api/v1/posts?channel=%23{id}&limit=500"))
                .await,
        );
        assert!(all.len() > want.len(), "more than a page: {}", all.len());
        page.click("#more").await;
        assert!(
            eventually(Duration::from_secs(10), || async { shown_ids().await == all }).await,
            "every post of channel #{id} after More"
        );
        // A refresh keeps what the user is typing and the posts they scrolled to.
        page.type_into("#f-tag", "half-typed").await;
        let stamp = page.text("#refreshed").await;
        page.wait_text("#refreshed", |t| Some(t) != stamp.as_deref())
            .await;
        assert_eq!(
            page.js("#f-tag", "e => e.value").await,
            json!("half-typed"),
            "the input survived a refresh"
        );
        assert_eq!(shown_ids().await, all, "the list survived a refresh");

        // Tagging: a post whose tagging failed for good is listed with its error; "retry failed" queues
        // it at once and it gets tagged.
        let other = *db_ids(
            &s.db,
            &format!("SELECT id FROM posts WHERE text != '' AND id != {post_id} LIMIT 1"),
        )
        .first()
        .expect("another post");
        SqliteStore::open(&s.db)
            .expect("store")
            .read("fail one post's tagging", |c| {
                c.execute(
                    "UPDATE posts SET tagging_status = 'failed', tagging_attempts = 5,
                            tagging_error = 'the tagger gave up (test)' WHERE id = ?1",
                    [other],
                )
            })
            .expect("fail");
        let stats = svc.get("/api/v1/tagging/stats").await;
        assert_eq!(stats["by_status"]["failed"], 1, "{stats}");
        page.click("nav a[data-page='tagging']").await;
        for status in ["success", "skipped", "failed"] {
            let n = stats["by_status"][status].as_i64().unwrap_or(0).to_string();
            page.wait_text(&format!("#status-{status} .value"), |t| t == n)
                .await;
        }
        page.wait_text("#tagging-failed", |t| {
            t.contains("the tagger gave up (test)") && t.contains('5')
        })
        .await;
        page.shoot("tagging", "#tagging-failed").await;
        page.click("#retry-failed").await;
        let notice = page
            .wait_text("#notice", |t| t.starts_with("retry queued as job"))
            .await;
        let retry_job: i64 = notice
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("job id");
        let job = svc.get(&format!("/api/v1/jobs/{retry_job}")).await;
        assert_eq!(
            (job["kind"].as_str(), job["args"]["force"].as_bool()),
            (Some("tagging_retry"), Some(true))
        );
        assert!(
            eventually(Duration::from_secs(20), || async {
                svc.get(&format!("/api/v1/posts/{other}")).await["tagging_status"] == "success"
            })
            .await,
            "the failed post was tagged again"
        );
        page.wait_text("#tagging-failed", |t| t.contains("nothing here"))
            .await;

        // A job that fails (a channel the account cannot read), retried and then cancelled.
        let q = svc
            .call(
                reqwest::Method::POST,
                "/api/v1/channels",
                Some(json!({"account": "alice", "channel": private})),
            )
            .await;
        let job = q["job_id"].as_i64().expect("job id");
        page.click("nav a[data-page='jobs']").await;
        let jrow = format!("tr[data-job='{job}']");
        page.wait_attr(&jrow, "data-state", "failed").await;
        page.wait_text(&format!("{jrow} td[data-label='Last error']"), |t| {
            t.contains("CHANNEL_PRIVATE")
        })
        .await;
        page.wait_text(&format!("{jrow} td[data-label='Arguments']"), |t| {
            t.contains(private.as_str())
        })
        .await;
        page.shoot("jobs", "#jobs").await;
        let calls = |method: &str| {
            s.sim
                .log()
                .requests()
                .iter()
                .filter(|r| r.method == method)
                .count()
        };
        let (resolves, reads) = (
            calls("contacts.resolveUsername"),
            calls("messages.getHistory"),
        );
        page.click(&format!("{jrow} button[data-action='retry']"))
            .await;
        page.wait_text("#notice", |t| t == format!("job {job} queued again"))
            .await;
        assert!(
            eventually(Duration::from_secs(20), || async {
                let j = svc.get(&format!("/api/v1/jobs/{job}")).await;
                j["state"] == "failed" && calls("messages.getHistory") > reads
            })
            .await,
            "the retried job ran again and failed again"
        );
        assert_eq!(
            calls("contacts.resolveUsername"),
            resolves,
            "the retry reused the channel the first attempt resolved"
        );
        page.wait_attr(&jrow, "data-state", "failed").await;
        page.click(&format!("{jrow} button[data-action='cancel']"))
            .await;
        page.wait_attr(&jrow, "data-state", "cancelled").await;
        let j = svc.get(&format!("/api/v1/jobs/{job}")).await;
        assert_eq!(j["state"], "cancelled", "{j}");
        assert_eq!(
            j["args"]["channel"],
            json!(private),
            "its arguments are kept"
        );
        assert!(
            j["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("CHANNEL_PRIVATE"),
            "{j}"
        );
        assert!(
            page.js(&format!("{jrow} button[data-action='cancel']"), "e => true")
                .await
                .is_null(),
            "a cancelled job offers no Cancel"
        );

        // Watches: one added from the form is listed with its rule, tested through its sink (the
        // account's Saved Messages) and removed.
        page.click("nav a[data-page='watches']").await;
        page.wait_text("#watches", |t| t.contains("No watches yet")).await;
        page.type_into("#w-name", "ui-oil").await;
        page.type_into("#w-rule", "нефть").await;
        page.type_into("#w-sink", "saved-messages").await;
        page.click("#w-add").await;
        page.wait_text("#notice", |t| t == "watch ui-oil added").await;
        let wrow = "tr[data-watch='ui-oil']";
        page.wait_text(&format!("{wrow} td[data-label='Looks for']"), |t| {
            t == "tag нефть"
        })
        .await;
        let listed = svc.get("/api/v1/watches").await;
        assert_eq!(
            (listed["items"][0]["name"].clone(), listed["items"][0]["sink"].clone()),
            (json!("ui-oil"), json!("saved-messages"))
        );
        page.shoot("watches", "#watches").await;
        let saved = s.sim.saved_messages(0).len();
        page.click(&format!("{wrow} button[data-action='test']"))
            .await;
        page.wait_text("#notice", |t| t.starts_with("test sent")).await;
        let inbox = s.sim.saved_messages(0);
        assert_eq!(inbox.len(), saved + 1);
        assert!(
            inbox[saved].text.starts_with("tgsift watch «ui-oil» (test)"),
            "{inbox:?}"
        );
        page.click(&format!("{wrow} button[data-action='remove']"))
            .await;
        page.wait_text("#notice", |t| t == "watch ui-oil removed").await;
        page.wait_text("#watches", |t| t.contains("No watches yet")).await;

        // Signing out ends the session: the API refuses the old cookie.
        page.click("#sign-out").await;
        assert!(
            eventually(Duration::from_secs(10), || async {
                page.js("#nav", "e => e.hidden").await == json!(true)
            })
            .await,
            "signed out, the menu hides"
        );
        // Hidden for the eye too: the menu's own `display: flex` once kept it on screen.
        assert_eq!(
            page.js("#nav", "e => getComputedStyle(e).display").await,
            json!("none"),
            "the menu is not drawn after sign-out"
        );
        let r = svc
            .http
            .get(format!("{}/api/v1/session", svc.base))
            .header("cookie", format!("tgsift_session={}", cookie.value()))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401);

        c.close().await.expect("close the browser");
        svc.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_import_button_follows_every_channel_the_account_is_in() {
    if !browser_present() {
        return;
    }
    within(90, async {
        let s = Setup::of(tgsift_sim::SimConfig::memberships(7, 6, 2, 3), false).await;
        let svc = Service::start(&s).await;
        let profile = tempfile::tempdir().expect("profile dir");
        let (_driver, c) = browser(profile.path()).await;
        let page = Page {
            c: &c,
            base: &svc.base,
            shots: screenshot_dir(),
        };
        page.open("").await;
        assert!(
            eventually(Duration::from_secs(10), || async {
                page.js("#sign-in", "e => e.hidden").await == json!(false)
            })
            .await,
            "the sign-in form shows"
        );
        page.type_into("#token", TOKEN).await;
        page.click("#sign-in-form button").await;
        page.wait_text("#accounts", |t| t.contains("alice")).await;
        page.click("button[data-action=import][data-account=alice]")
            .await;
        page.wait_text("#notice", |t| t.contains("queued as job"))
            .await;
        let want: std::collections::BTreeSet<i64> = s
            .sim
            .memberships(0)
            .into_iter()
            .filter(|(_, group)| !group)
            .map(|(id, _)| id)
            .collect();
        assert!(
            eventually(Duration::from_secs(30), || async {
                db_ids(&s.db, "SELECT tg_id FROM channels") == want
            })
            .await,
            "the six broadcast channels are followed (the groups are not, without `groups`)"
        );
        page.wait_text("#channels", |t| t.contains("Private channel #3"))
            .await;
        assert_eq!(s.sim.log().count("contacts.resolveUsername"), 0);
        svc.stop().await;
    })
    .await;
}
