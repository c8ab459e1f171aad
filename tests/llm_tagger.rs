//! The LLM tagger against a scripted OpenAI-compatible server on loopback: real HTTP, real timeouts,
//! and the retry / next-model / give-up decisions observed from the requests the server received.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tgsift::tagging::llm::{LlmConfig, LlmTagger};
use tgsift::tagging::{Tag, TagContext, TagError, Tagger};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "sk-test-secret-4242";
const POST: &str = "Rust 1.90 ships with faster builds; Tokio adds a new runtime metric.";

/// One scripted answer of the server.
enum Reply {
    /// An HTTP response.
    Http {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Read the request, then say nothing for this long and close.
    Stall(Duration),
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    model: String,
    authorization: Option<String>,
    body: Value,
}

/// A tiny HTTP/1.1 server answering from a queue of scripted replies (one per connection).
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, script.clone(), recorded.clone()));
            }
        });
        Server { addr, seen }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn models(&self) -> Vec<String> {
        self.requests().into_iter().map(|s| s.model).collect()
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_string();
    let mut content_length = 0usize;
    let mut authorization = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + content_length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body: Value =
        serde_json::from_slice(&buf[head_end..head_end + content_length]).unwrap_or(Value::Null);
    let model = body["model"].as_str().unwrap_or_default().to_string();
    seen.lock().expect("lock").push(Seen {
        path,
        model,
        authorization,
        body,
    });
    let reply = script.lock().expect("lock").pop_front();
    let (status, headers, body) = match reply {
        Some(Reply::Http {
            status,
            headers,
            body,
        }) => (status, headers, body),
        Some(Reply::Stall(how_long)) => {
            tokio::time::sleep(how_long).await;
            return;
        }
        None => (
            599,
            Vec::new(),
            r#"{"error":{"message":"script exhausted"}}"#.to_string(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn http(status: u16, body: impl Into<String>) -> Reply {
    Reply::Http {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}

/// A chat-completions answer whose message content is `content`.
fn answer(content: &str) -> Reply {
    http(
        200,
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        })
        .to_string(),
    )
}

fn good() -> Reply {
    answer(r#"{"tags": ["Rust", "Tokio", "Compilers", "rust", "Performance"]}"#)
}

fn error_body(code: Value, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

fn config(server: &Server, fallbacks: &[&str]) -> LlmConfig {
    LlmConfig {
        base_url: server.base_url(),
        api_key: Some(KEY.to_string()),
        model: "model-a".to_string(),
        fallback_models: fallbacks.iter().map(|m| m.to_string()).collect(),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        max_retries: 3,
        retry_delay: Duration::from_millis(10),
    }
}

async fn tag_with(cfg: LlmConfig) -> Result<Vec<Tag>, TagError> {
    let tagger = LlmTagger::new(cfg).expect("tagger");
    tagger.tag(POST, TagContext::default()).await
}

/// Runs a test body under a deadline, so a hung retry loop fails instead of hanging.
async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("test timed out")
}

fn assert_good_tags(tags: &[Tag]) {
    let names: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(names, ["rust", "tokio", "compilers", "performance"]);
    assert!((3..=7).contains(&tags.len()));
    assert!(tags.windows(2).all(|w| w[0].score > w[1].score), "{tags:?}");
}

fn reason(err: &TagError) -> &str {
    match err {
        TagError::Retry { reason, .. }
        | TagError::NextModel { reason }
        | TagError::GiveUp { reason } => reason,
    }
}

#[tokio::test]
async fn success_on_the_first_try() {
    within(async {
        let server = Server::start(vec![good()]).await;
        let tagger = LlmTagger::new(config(&server, &["model-b"])).expect("tagger");
        assert_eq!(tagger.name(), "llm:model-a");
        let tags = tagger.tag(POST, TagContext::default()).await.expect("tags");
        assert_good_tags(&tags);
        assert!(tags.iter().all(|t| t.tag == t.tag.to_lowercase()));

        let seen = server.requests();
        assert_eq!(seen.len(), 1);
        let req = &seen[0];
        assert_eq!(req.path, "/v1/chat/completions");
        assert_eq!(req.model, "model-a");
        assert_eq!(
            req.authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(req.body["temperature"], json!(0));
        assert_eq!(req.body["response_format"], json!({"type": "json_object"}));
        assert_eq!(req.body["messages"][0]["role"], "system");
        assert_eq!(req.body["messages"][1]["role"], "user");
        assert_eq!(req.body["messages"][1]["content"], POST);
    })
    .await;
}

#[tokio::test]
async fn no_authorization_header_without_a_key() {
    within(async {
        let server = Server::start(vec![good()]).await;
        let mut cfg = config(&server, &[]);
        cfg.api_key = None;
        assert_good_tags(&tag_with(cfg).await.expect("tags"));
        assert_eq!(server.requests()[0].authorization, None);
    })
    .await;
}

#[tokio::test]
async fn server_errors_are_retried_on_the_same_model() {
    within(async {
        let loading =
            r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#;
        let server = Server::start(vec![http(500, "oops"), http(503, loading), good()]).await;
        let tags = tag_with(config(&server, &["model-b"])).await.expect("tags");
        assert_good_tags(&tags);
        assert_eq!(server.models(), ["model-a", "model-a", "model-a"]);
    })
    .await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    within(async {
        let limited = Reply::Http {
            status: 429,
            headers: vec![("Retry-After", "1".to_string())],
            body: error_body(json!("rate_limit_exceeded"), "Rate limit reached"),
        };
        let server = Server::start(vec![limited, good()]).await;
        let started = Instant::now();
        let tags = tag_with(config(&server, &[])).await.expect("tags");
        let elapsed = started.elapsed();
        assert_good_tags(&tags);
        assert!(
            elapsed >= Duration::from_secs(1),
            "retried after {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "retried after {elapsed:?}"
        );
        assert_eq!(server.models(), ["model-a", "model-a"]);
    })
    .await;
}

#[tokio::test]
async fn insufficient_quota_gives_up_without_retry() {
    within(async {
        let quota = json!({"error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }});
        let server = Server::start(vec![http(429, quota.to_string()), good()]).await;
        let err = tag_with(config(&server, &["model-b"])).await.expect_err("quota");
        assert!(matches!(err, TagError::GiveUp { .. }), "{err:?}");
        assert!(reason(&err).contains("model-a") && reason(&err).contains("429"), "{err}");
        assert_eq!(server.models(), ["model-a"]);
    })
    .await;
}

#[tokio::test]
async fn not_found_walks_the_fallback_models_in_order() {
    within(async {
        let missing = error_body(json!("model_not_found"), "The model does not exist");
        let server =
            Server::start(vec![http(404, missing.clone()), http(404, missing), good()]).await;
        let tags = tag_with(config(&server, &["model-b", "model-c"]))
            .await
            .expect("tags");
        assert_good_tags(&tags);
        assert_eq!(server.models(), ["model-a", "model-b", "model-c"]);
    })
    .await;
}

#[tokio::test]
async fn openrouter_provider_error_moves_to_the_next_model() {
    within(async {
        let provider = json!({"error": {
            "code": 502,
            "message": "Provider returned error",
            "metadata": {"provider_name": "SomeProvider", "raw": "upstream failed"},
        }});
        let server = Server::start(vec![http(502, provider.to_string()), good()]).await;
        let tags = tag_with(config(&server, &["model-b"])).await.expect("tags");
        assert_good_tags(&tags);
        assert_eq!(server.models(), ["model-a", "model-b"]);
    })
    .await;
}

#[tokio::test]
async fn plain_bad_gateway_is_retried_then_moves_on() {
    within(async {
        let server = Server::start(vec![
            http(502, "<html>Bad Gateway</html>"),
            http(502, "<html>Bad Gateway</html>"),
            good(),
        ])
        .await;
        let mut cfg = config(&server, &["model-b"]);
        cfg.max_retries = 1;
        let tags = tag_with(cfg).await.expect("tags");
        assert_good_tags(&tags);
        assert_eq!(server.models(), ["model-a", "model-a", "model-b"]);
    })
    .await;
}

#[tokio::test]
async fn context_length_exceeded_moves_to_the_next_model() {
    within(async {
        let too_long = json!({"error": {
            "message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }});
        let server = Server::start(vec![http(400, too_long.to_string()), good()]).await;
        let tags = tag_with(config(&server, &["model-b"])).await.expect("tags");
        assert_good_tags(&tags);
        assert_eq!(server.models(), ["model-a", "model-b"]);
    })
    .await;
}

#[tokio::test]
async fn unauthorized_gives_up_after_one_request_and_hides_the_key() {
    within(async {
        let message = format!("Incorrect API key provided: {KEY}.");
        let server = Server::start(vec![
            http(401, error_body(json!("invalid_api_key"), &message)),
            good(),
        ])
        .await;
        let err = tag_with(config(&server, &["model-b"]))
            .await
            .expect_err("401");
        assert!(matches!(err, TagError::GiveUp { .. }), "{err:?}");
        assert!(reason(&err).contains("401"), "{err}");
        assert!(!reason(&err).contains(KEY), "{err}");
        assert!(!format!("{err:?}").contains(KEY));
        assert_eq!(server.requests().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn other_bad_requests_give_up() {
    within(async {
        let bad = error_body(json!("invalid_value"), "temperature must be a number");
        let server = Server::start(vec![http(400, bad), good()]).await;
        let err = tag_with(config(&server, &["model-b"]))
            .await
            .expect_err("400");
        assert!(matches!(err, TagError::GiveUp { .. }), "{err:?}");
        assert_eq!(server.models(), ["model-a"]);
    })
    .await;
}

#[tokio::test]
async fn errors_inside_a_200_are_errors() {
    within(async {
        let transient = error_body(json!(500), "Internal error mid-generation");
        let provider =
            json!({"error": {"code": 502, "message": "x", "metadata": {"provider_name": "P"}}});
        let server = Server::start(vec![
            http(200, transient),
            http(200, provider.to_string()),
            good(),
        ])
        .await;
        let tags = tag_with(config(&server, &["model-b"])).await.expect("tags");
        assert_good_tags(&tags);
        // Code 500: retried on the same model; provider error: next model.
        assert_eq!(server.models(), ["model-a", "model-a", "model-b"]);
    })
    .await;
}

#[tokio::test]
async fn errors_inside_a_200_can_give_up() {
    within(async {
        let auth = error_body(json!(401), "No auth credentials found");
        let server = Server::start(vec![http(200, auth), good()]).await;
        let err = tag_with(config(&server, &["model-b"]))
            .await
            .expect_err("401 in 200");
        assert!(matches!(err, TagError::GiveUp { .. }), "{err:?}");
        assert_eq!(server.models(), ["model-a"]);
    })
    .await;
}

#[tokio::test]
async fn unparsable_content_is_retried_once() {
    within(async {
        let server =
            Server::start(vec![answer("Sorry, I cannot produce JSON today."), good()]).await;
        let tags = tag_with(config(&server, &["model-b"])).await.expect("tags");
        assert_good_tags(&tags);
        assert_eq!(server.models(), ["model-a", "model-a"]);
    })
    .await;
}

#[tokio::test]
async fn unparsable_content_twice_moves_to_the_next_model() {
    within(async {
        let server = Server::start(vec![
            answer(""),
            answer("{\"tags\": [\"only one\"]}"),
            answer("```json\n{\"tags\": [\"Rust\", \"Tokio\", \"Compilers\", \"rust\", \"Performance\"]}\n```"),
        ])
        .await;
        // max_retries 3, but unusable content gets exactly one retry per model.
        let tags = tag_with(config(&server, &["model-b"])).await.expect("tags");
        assert_good_tags(&tags);
        assert_eq!(server.models(), ["model-a", "model-a", "model-b"]);
    })
    .await;
}

#[tokio::test]
async fn all_models_failing_lists_each_model() {
    within(async {
        let mut script = vec![http(404, error_body(json!(404), "No such model"))];
        script.extend((0..3).map(|_| http(500, "boom")));
        let server = Server::start(script).await;
        let mut cfg = config(&server, &["model-b"]);
        cfg.max_retries = 2;
        let err = tag_with(cfg).await.expect_err("all fail");
        assert!(matches!(err, TagError::NextModel { .. }), "{err:?}");
        let why = reason(&err);
        assert!(why.contains("model-a: HTTP 404"), "{why}");
        assert!(why.contains("model-b: HTTP 500"), "{why}");
        assert!(why.contains("after 2 retries"), "{why}");
        assert!(!why.contains(KEY));
        assert_eq!(
            server.models(),
            ["model-a", "model-b", "model-b", "model-b"]
        );
    })
    .await;
}

#[tokio::test]
async fn read_timeout_is_retried() {
    within(async {
        let server = Server::start(vec![Reply::Stall(Duration::from_secs(5)), good()]).await;
        let mut cfg = config(&server, &["model-b"]);
        cfg.read_timeout = Duration::from_millis(300);
        let started = Instant::now();
        let tags = tag_with(cfg).await.expect("tags");
        let elapsed = started.elapsed();
        assert_good_tags(&tags);
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(
            elapsed < Duration::from_secs(4),
            "waited for the stall: {elapsed:?}"
        );
        assert_eq!(server.models(), ["model-a", "model-a"]);
    })
    .await;
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let cfg = LlmConfig {
            base_url: format!("http://{addr}/v1"),
            api_key: Some(KEY.to_string()),
            model: "model-a".to_string(),
            fallback_models: Vec::new(),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            max_retries: 2,
            retry_delay: Duration::from_millis(10),
        };
        let err = tag_with(cfg).await.expect_err("refused");
        assert!(matches!(err, TagError::NextModel { .. }), "{err:?}");
        assert!(
            reason(&err).contains("model-a") && reason(&err).contains("after 2 retries"),
            "{err}"
        );
    })
    .await;
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn retries_and_fallbacks_are_logged_without_key_or_text() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The process's subscriber, not this thread's: the tests of this binary run side by side, and
    // a thread's own subscriber misses events whose callsite another thread reached first. The
    // other tests' warnings land here too, and none may carry the key or a post's text either.
    tracing::subscriber::set_global_default(subscriber).expect("the only test that sets one");
    within(async {
        let echo = error_body(json!(500), &format!("failed for key {KEY} on: {POST}"));
        let missing = error_body(json!(404), &format!("no such model for {KEY}"));
        let server = Server::start(vec![http(500, echo), http(404, missing), good()]).await;
        assert_good_tags(&tag_with(config(&server, &["model-b"])).await.expect("tags"));
        assert_eq!(server.models(), ["model-a", "model-a", "model-b"]);
    })
    .await;
    let text = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(text.contains("WARN"), "{text}");
    assert!(
        text.contains("model=\"model-a\"") || text.contains("model=model-a"),
        "{text}"
    );
    assert!(
        text.contains("status=500") && text.contains("delay_ms=10"),
        "{text}"
    );
    assert!(
        text.contains("status=404") && text.contains("next_model"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains("Rust 1.90 ships"), "{text}");
}
