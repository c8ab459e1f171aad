//! The opt-in LLM tagger: an OpenAI-compatible chat-completions client with fallback models.
//!
//! One tagging attempt walks `model` and then `fallback_models` in order. Each model gets up to
//! `max_retries` retries with an exponential delay (starting at `retry_delay`, doubling, capped at
//! [`MAX_DELAY`]); a server's `Retry-After` (seconds or HTTP date, capped at [`MAX_DELAY`]) replaces
//! the computed delay. [`classify`] says what each HTTP answer means:
//!
//! | answer                                                                 | decision                          |
//! |------------------------------------------------------------------------|-----------------------------------|
//! | connection error, timeout, 408, 409, 429, 500, 504, other 5xx         | [`Decision::Retry`]               |
//! | plain 502 / 503 (e.g. llama.cpp loading a model)                       | [`Decision::Retry`]               |
//! | 429 whose error code/type is `insufficient_quota`                      | [`Decision::GiveUp`]              |
//! | 404 (model not found)                                                  | [`Decision::NextModel`]           |
//! | OpenRouter 502 / 503 naming a provider or "no endpoints found"         | [`Decision::NextModel`]           |
//! | 400 `context_length_exceeded` (code or message)                        | [`Decision::NextModel`]           |
//! | 400 / 403 moderation or "flagged"                                      | [`Decision::NextModel`]           |
//! | 401, 402, permission 403, any other 400 or 4xx                         | [`Decision::GiveUp`]              |
//! | 200 with an `error` object                                             | by its `code`, as the rows above  |
//!
//! On top of that, a successful answer whose content is empty or not the JSON asked for is retried
//! once and then moves to the next model, a `content_filter` finish reason or a refusal moves to the
//! next model, and a model whose retries are used up moves to the next model. When every model has
//! been tried the error is [`TagError::NextModel`] (or [`TagError::GiveUp`] as soon as one answer
//! means give up), with a reason listing what happened per model. The API key never appears in
//! errors or logs, and neither does the post's text.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::{Tag, TagContext, TagError, TagFuture, Tagger};

/// Cap of both the backoff delay and a server's `Retry-After`, so one post never stalls a worker long.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(60);

/// Fewest tags a usable answer must contain.
const MIN_TAGS: usize = 3;
/// Most tags kept from an answer.
const MAX_TAGS: usize = 7;
/// Longest tag kept, in characters (longer ones are sentences, not tags).
const MAX_TAG_CHARS: usize = 60;
/// Longest post text sent, in characters, to stay clear of small context windows.
const MAX_POST_CHARS: usize = 12_000;
/// Longest server message quoted in an error reason, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

/// The instructions sent as the system message.
const SYSTEM_PROMPT: &str = "You tag posts from Telegram channels. Reply with only a JSON object of \
the form {\"tags\": [\"...\", \"...\"]} holding 3 to 7 short topical tags (one to three words each, \
lower case, no '#') in the language of the post, most relevant first. No explanations.";

/// How the LLM tagger talks to its endpoint; built from `[tagging]` by [`LlmConfig::from_config`].
#[derive(Clone)]
pub struct LlmConfig {
    /// OpenAI-compatible base URL, e.g. `https://openrouter.ai/api/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// Bearer token, if the endpoint needs one. Never printed.
    pub api_key: Option<String>,
    /// Model asked first.
    pub model: String,
    /// Models tried after it, in order.
    pub fallback_models: Vec<String>,
    /// Connect timeout of one request.
    pub connect_timeout: Duration,
    /// Read timeout of one request (each read; resets when bytes arrive).
    pub read_timeout: Duration,
    /// Retries of one model within one attempt.
    pub max_retries: u32,
    /// First delay between those retries; it doubles each time.
    pub retry_delay: Duration,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("fallback_models", &self.fallback_models)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_delay", &self.retry_delay)
            .finish()
    }
}

impl LlmConfig {
    /// Takes the LLM settings out of the validated `[tagging]` section.
    pub fn from_config(t: &crate::config::TaggingConfig) -> Self {
        LlmConfig {
            base_url: t.llm_base_url.clone(),
            api_key: t.llm_api_key.clone().filter(|k| !k.trim().is_empty()),
            model: t.llm_model.clone(),
            fallback_models: t.llm_fallback_models.clone(),
            connect_timeout: seconds(t.llm_connect_timeout, Duration::from_secs(5)),
            read_timeout: seconds(t.llm_read_timeout, Duration::from_secs(60)),
            max_retries: t.max_retries,
            retry_delay: seconds(t.retry_delay, Duration::from_secs(2)),
        }
    }
}

/// Seconds as a `Duration`, falling back to `default` for values a `Duration` cannot hold.
fn seconds(secs: f64, default: Duration) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(default)
}

/// What one answer of the endpoint means for the tagger; see the table in the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Transient: retry the same model (honouring `Retry-After`); next model once retries are used up.
    Retry,
    /// This model cannot do it: move to the next fallback model now.
    NextModel,
    /// Retrying cannot help (auth, payment, quota, bad request): give up on the LLM for this attempt.
    GiveUp,
}

/// Classifies a non-success HTTP answer (or a 2xx whose body carries an `error` object).
pub(crate) fn classify(status: u16, body: &str) -> Decision {
    let info = ErrorInfo::parse(body);
    if (200..300).contains(&status) {
        return match info.numeric_code.filter(|c| (400..600).contains(c)) {
            Some(code) => classify_status(code, &info),
            None => classify_code(&info),
        };
    }
    classify_status(status, &info)
}

/// The decision table by HTTP status.
fn classify_status(status: u16, info: &ErrorInfo) -> Decision {
    match status {
        429 if info.is_quota() => Decision::GiveUp,
        408 | 409 | 429 | 500 | 504 => Decision::Retry,
        502 | 503 if info.is_provider_unavailable() => Decision::NextModel,
        502 | 503 => Decision::Retry,
        404 => Decision::NextModel,
        400 if info.is_context_length() => Decision::NextModel,
        400 | 403 if info.is_moderation() => Decision::NextModel,
        400..=403 => Decision::GiveUp,
        s if s >= 500 => Decision::Retry,
        _ => Decision::GiveUp,
    }
}

/// The decision for an error object without a usable HTTP-like code (a 200 carrying `error`).
fn classify_code(info: &ErrorInfo) -> Decision {
    if info.is_quota() || info.is_auth() {
        Decision::GiveUp
    } else if info.is_context_length()
        || info.is_moderation()
        || info.is_model_not_found()
        || info.is_provider_unavailable()
    {
        Decision::NextModel
    } else if info.has("invalid_request") {
        Decision::GiveUp
    } else {
        // An upstream failure reported in a 200 (rate limit, overload, server error, unknown):
        // retried like a plain 502, then the next model.
        Decision::Retry
    }
}

/// The parts of an error body the decision table looks at (lower-cased).
#[derive(Debug, Default)]
struct ErrorInfo {
    /// `error.code` when it is a number (OpenRouter and llama.cpp use HTTP codes).
    numeric_code: Option<u16>,
    /// `error.code` when it is a string, and `error.type`.
    codes: Vec<String>,
    /// `error.message` (or `error` itself when it is a string), lower-cased.
    message: String,
    /// The message as sent, for error reasons.
    raw_message: Option<String>,
    /// Whether `error.metadata.provider_name` is present (OpenRouter).
    has_provider: bool,
}

impl ErrorInfo {
    /// Reads `{"error": {...}}` or `{"error": "..."}`; a body that is not JSON becomes the message.
    fn parse(body: &str) -> Self {
        let mut info = ErrorInfo::default();
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            let text = body.trim();
            if !text.is_empty() {
                info.message = text.to_lowercase();
                info.raw_message = Some(text.to_string());
            }
            return info;
        };
        match value.get("error") {
            Some(Value::String(s)) => {
                info.message = s.to_lowercase();
                info.raw_message = Some(s.clone());
            }
            Some(Value::Object(err)) => {
                match err.get("code") {
                    Some(Value::Number(n)) => {
                        info.numeric_code = n.as_u64().and_then(|c| u16::try_from(c).ok());
                    }
                    Some(Value::String(s)) => match s.parse::<u16>() {
                        Ok(c) => info.numeric_code = Some(c),
                        Err(_) => info.codes.push(s.to_lowercase()),
                    },
                    _ => {}
                }
                for key in ["type", "status"] {
                    if let Some(s) = err.get(key).and_then(Value::as_str) {
                        info.codes.push(s.to_lowercase());
                    }
                }
                if let Some(s) = err.get("message").and_then(Value::as_str) {
                    info.message = s.to_lowercase();
                    info.raw_message = Some(s.to_string());
                }
                info.has_provider = err
                    .get("metadata")
                    .and_then(|m| m.get("provider_name"))
                    .is_some_and(|p| !p.is_null());
            }
            _ => {}
        }
        info
    }

    /// Whether a code/type or the message contains `needle`.
    fn has(&self, needle: &str) -> bool {
        self.codes.iter().any(|c| c.contains(needle)) || self.message.contains(needle)
    }

    /// The account is out of credit (OpenAI's `insufficient_quota`).
    fn is_quota(&self) -> bool {
        self.has("insufficient_quota") || self.message.contains("exceeded your current quota")
    }

    /// The post does not fit the model's context window.
    fn is_context_length(&self) -> bool {
        [
            "context_length_exceeded",
            "context length",
            "context window",
            "maximum context",
            "exceed_context_size",
            "context size",
        ]
        .iter()
        .any(|n| self.has(n))
    }

    /// The input or output was refused by moderation.
    fn is_moderation(&self) -> bool {
        ["moderation", "flagged", "content_filter", "content_policy"]
            .iter()
            .any(|n| self.has(n))
    }

    /// OpenRouter's "model or provider unavailable" (as opposed to a plain 502/503).
    fn is_provider_unavailable(&self) -> bool {
        self.has_provider
            || [
                "no endpoints found",
                "provider returned error",
                "no allowed providers",
            ]
            .iter()
            .any(|n| self.has(n))
    }

    /// The model does not exist on this endpoint.
    fn is_model_not_found(&self) -> bool {
        self.has("model_not_found") || (self.message.contains("model") && self.has("not found"))
    }

    /// The key is wrong or lacks permission.
    fn is_auth(&self) -> bool {
        [
            "invalid_api_key",
            "unauthorized",
            "authentication",
            "permission",
        ]
        .iter()
        .any(|n| self.has(n))
    }

    /// A short description for error reasons: the message (shortened), else the code.
    fn describe(&self) -> String {
        match (&self.raw_message, self.codes.first()) {
            (Some(m), _) if !m.trim().is_empty() => m.trim().to_string(),
            (_, Some(code)) => code.clone(),
            _ => String::new(),
        }
    }
}

/// `s` cut to [`MAX_MESSAGE_CHARS`] characters on one line.
fn shorten(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_MESSAGE_CHARS {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}…")
    }
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date, capped at [`MAX_DELAY`].
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<f64>() {
        Duration::try_from_secs_f64(secs).ok()?
    } else {
        static PARSER: jiff::fmt::rfc2822::DateTimeParser =
            jiff::fmt::rfc2822::DateTimeParser::new();
        let at = PARSER.parse_timestamp(value).ok()?;
        let millis = at
            .as_millisecond()
            .saturating_sub(jiff::Timestamp::now().as_millisecond());
        Duration::from_millis(u64::try_from(millis).unwrap_or(0))
    };
    Some(delay.min(MAX_DELAY))
}

/// What went wrong with one request, and what it means.
#[derive(Debug)]
struct Failure {
    /// What to do about it.
    kind: FailKind,
    /// A short label for logs: the HTTP status, `timeout`, `connect`, …
    status: String,
    /// What happened, in full; [`LlmTagger::scrub`] it before it leaves the module.
    reason: String,
    /// The server's `Retry-After`, capped.
    retry_after: Option<Duration>,
}

/// [`Decision`] plus the case of unusable content, which is retried only once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailKind {
    /// Retry the same model.
    Retry,
    /// The answer was empty or not the JSON asked for: retry once, then the next model.
    BadOutput,
    /// Move to the next model.
    NextModel,
    /// Give up on the LLM for this attempt.
    GiveUp,
}

impl From<Decision> for FailKind {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Retry => FailKind::Retry,
            Decision::NextModel => FailKind::NextModel,
            Decision::GiveUp => FailKind::GiveUp,
        }
    }
}

impl Failure {
    /// A failure with no `Retry-After`.
    fn new(kind: FailKind, status: impl Into<String>, reason: impl Into<String>) -> Self {
        Failure {
            kind,
            status: status.into(),
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// An HTTP error answer (or a 2xx carrying `error`), classified by [`classify`].
    fn from_http(status: u16, body: &str, retry_after: Option<Duration>) -> Self {
        let info = ErrorInfo::parse(body);
        let detail = info.describe();
        let code = match info.numeric_code {
            Some(c) if (200..300).contains(&status) => format!(" (error code {c})"),
            _ => String::new(),
        };
        let reason = if detail.is_empty() {
            format!("HTTP {status}{code}")
        } else {
            format!("HTTP {status}{code}: {detail}")
        };
        Failure {
            kind: classify(status, body).into(),
            status: status.to_string(),
            reason,
            retry_after,
        }
    }

    /// A request that got no complete answer (connect error, timeout, broken body).
    fn from_transport(err: &reqwest::Error) -> Self {
        let status = if err.is_timeout() {
            "timeout"
        } else if err.is_connect() {
            "connect"
        } else {
            "transport"
        };
        let kind = if err.is_builder() {
            FailKind::GiveUp
        } else {
            FailKind::Retry
        };
        // The chain of causes without reqwest's own line, which repeats the URL (a base URL may
        // carry credentials).
        let mut reason = format!("{status} error");
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        Failure::new(kind, status, reason)
    }
}

/// Tags posts with an OpenAI-compatible chat-completions endpoint, falling back through models.
#[derive(Debug)]
pub struct LlmTagger {
    /// The settings it was built with.
    cfg: LlmConfig,
    /// `{base_url}/chat/completions`.
    url: reqwest::Url,
    /// The HTTP client, with split connect/read timeouts.
    client: reqwest::Client,
}

impl LlmTagger {
    /// Builds the HTTP client; fails on an empty model or a base URL that is not a URL.
    pub fn new(cfg: LlmConfig) -> Result<Self, String> {
        if cfg.model.trim().is_empty() {
            return Err("tagging.llm_model is empty".to_string());
        }
        let url = format!("{}/chat/completions", cfg.base_url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&url)
            .map_err(|e| format!("tagging.llm_base_url {:?} is not a URL: {e}", cfg.base_url))?;
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .user_agent(concat!("tgsift/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the LLM HTTP client: {e}"))?;
        Ok(LlmTagger { cfg, url, client })
    }

    /// `model` then `fallback_models`, without repeats.
    fn models(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        std::iter::once(&self.cfg.model)
            .chain(&self.cfg.fallback_models)
            .map(|m| m.trim())
            .filter(|m| !m.is_empty() && seen.insert(*m))
            .collect()
    }

    /// `s` shortened, with the API key and an echoed post text replaced: for anything that leaves
    /// this module.
    fn scrub(&self, s: &str, text: &str) -> String {
        let mut s = match &self.cfg.api_key {
            Some(key) if key.len() >= 4 && s.contains(key.as_str()) => {
                s.replace(key.as_str(), "<redacted>")
            }
            _ => s.to_string(),
        };
        let sent = truncate_chars(text.trim(), MAX_POST_CHARS);
        if sent.len() >= 8 && s.contains(sent) {
            s = s.replace(sent, "<post text>");
        }
        shorten(&s)
    }

    /// One tagging attempt: every model in turn until one answers with tags.
    async fn tag_text(&self, text: &str) -> Result<Vec<Tag>, TagError> {
        let models = self.models();
        let mut report: Vec<String> = Vec::new();
        for (i, model) in models.iter().enumerate() {
            let (result, retries) = self.run_model(model, text).await;
            let failure = match result {
                Ok(tags) => {
                    if i > 0 {
                        info!(model, "LLM fallback model tagged the post");
                    }
                    return Ok(tags);
                }
                Err(f) => f,
            };
            let reason = self.scrub(&failure.reason, text);
            let mut line = format!("{model}: {reason}");
            if retries > 0 {
                line.push_str(&format!(
                    " (after {retries} {})",
                    if retries == 1 { "retry" } else { "retries" }
                ));
            }
            report.push(line);
            if failure.kind == FailKind::GiveUp {
                warn!(model, status = %failure.status, %reason, "LLM tagging gave up");
                return Err(TagError::GiveUp {
                    reason: report.join("; "),
                });
            }
            match models.get(i + 1) {
                Some(next) => {
                    warn!(model, status = %failure.status, %reason, next_model = next, "LLM model failed; trying the next model");
                }
                None => {
                    warn!(model, status = %failure.status, %reason, "LLM model failed; no models left");
                }
            }
        }
        Err(TagError::NextModel {
            reason: format!("all LLM models failed: {}", report.join("; ")),
        })
    }

    /// Asks one model, with retries; returns the outcome and how many retries were made.
    async fn run_model(&self, model: &str, text: &str) -> (Result<Vec<Tag>, Failure>, u32) {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.cfg.retry_delay)
            .with_factor(2.0)
            .with_max_delay(self.cfg.retry_delay.max(MAX_DELAY))
            .with_max_times(usize::try_from(self.cfg.max_retries).unwrap_or(usize::MAX));
        let mut retries = 0u32;
        let mut bad_output_retried = false;
        let result = (|| self.request(model, text))
            .retry(backoff)
            .when(|f: &Failure| match f.kind {
                FailKind::Retry => true,
                FailKind::BadOutput => !std::mem::replace(&mut bad_output_retried, true),
                FailKind::NextModel | FailKind::GiveUp => false,
            })
            // Only replace a delay the backoff still has: returning `Some` after it is exhausted
            // would retry for ever.
            .adjust(|f: &Failure, delay| delay.map(|d| f.retry_after.unwrap_or(d)))
            .notify(|f: &Failure, delay| {
                retries += 1;
                warn!(
                    model,
                    status = %f.status,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    reason = %self.scrub(&f.reason, text),
                    "LLM request failed; retrying the same model"
                );
            })
            .await;
        (result, retries)
    }

    /// One HTTP request to one model, its answer parsed into tags.
    async fn request(&self, model: &str, text: &str) -> Result<Vec<Tag>, Failure> {
        let body = json!({
            "model": model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": truncate_chars(text, MAX_POST_CHARS)},
            ],
            "temperature": 0,
            "response_format": {"type": "json_object"},
        });
        let mut req = self.client.post(self.url.clone()).json(&body);
        if let Some(key) = &self.cfg.api_key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| Failure::from_transport(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = resp.text().await.map_err(|e| Failure::from_transport(&e))?;
        if !(200..300).contains(&status) {
            return Err(Failure::from_http(status, &body, retry_after));
        }
        parse_completion(status, &body).map_err(|mut f| {
            f.retry_after = retry_after;
            f
        })
    }
}

impl Tagger for LlmTagger {
    fn name(&self) -> String {
        format!("llm:{}", self.cfg.model)
    }

    fn tag<'a>(&'a self, text: &'a str, _ctx: TagContext<'a>) -> TagFuture<'a> {
        Box::pin(self.tag_text(text))
    }
}

/// The first `max` characters of `s`.
fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Turns a 2xx chat-completions body into tags, or says why it cannot.
fn parse_completion(status: u16, body: &str) -> Result<Vec<Tag>, Failure> {
    let bad = |reason: &str| Failure::new(FailKind::BadOutput, status.to_string(), reason);
    let value: Value =
        serde_json::from_str(body).map_err(|_| bad("the response body is not JSON"))?;
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(Failure::from_http(status, body, None));
    }
    let choice = value
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| bad("the response has no choices"))?;
    if choice.get("finish_reason").and_then(Value::as_str) == Some("content_filter") {
        return Err(Failure::new(
            FailKind::NextModel,
            status.to_string(),
            "refused by moderation (finish_reason content_filter)",
        ));
    }
    let message = choice.get("message");
    if message
        .and_then(|m| m.get("refusal"))
        .and_then(Value::as_str)
        .is_some_and(|r| !r.trim().is_empty())
    {
        return Err(Failure::new(
            FailKind::NextModel,
            status.to_string(),
            "the model refused to answer",
        ));
    }
    let content = match message.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.clone(),
        // Content given as parts: [{"type": "text", "text": "..."}].
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    if content.trim().is_empty() {
        return Err(bad("the model answered with empty content"));
    }
    let object = extract_json_object(&content)
        .ok_or_else(|| bad("the model's answer holds no JSON object"))?;
    let tags = tags_from_object(&object);
    if tags.len() < MIN_TAGS {
        return Err(bad(&format!(
            "the model's answer holds {} usable tags, fewer than {MIN_TAGS}",
            tags.len()
        )));
    }
    Ok(tags)
}

/// The first JSON object in `s`: the whole text, or a `{...}` inside fences or prose.
fn extract_json_object(s: &str) -> Option<Value> {
    let trimmed = s.trim();
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed) {
        return Some(v);
    }
    let bytes = trimmed.as_bytes();
    for (start, _) in trimmed.match_indices('{') {
        let Some(end) = matching_brace(bytes, start) else {
            continue;
        };
        if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&trimmed[start..=end]) {
            return Some(v);
        }
    }
    None
}

/// The index of the `}` closing the `{` at `start`, skipping braces inside JSON strings.
fn matching_brace(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The tags of `{"tags": [...]}` (or of the object's first array): normalised, de-duplicated,
/// at most [`MAX_TAGS`], scored 1.0, 0.9, … by rank.
fn tags_from_object(object: &Value) -> Vec<Tag> {
    let list = object.get("tags").and_then(Value::as_array).or_else(|| {
        object
            .as_object()
            .and_then(|o| o.values().find_map(Value::as_array))
    });
    let Some(list) = list else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut tags = Vec::new();
    for item in list {
        let raw = match item {
            Value::String(s) => s.as_str(),
            Value::Object(o) => match o
                .get("tag")
                .or_else(|| o.get("name"))
                .and_then(Value::as_str)
            {
                Some(s) => s,
                None => continue,
            },
            _ => continue,
        };
        let Some(tag) = normalize_tag(raw) else {
            continue;
        };
        if seen.insert(tag.clone()) {
            tags.push(tag);
        }
        if tags.len() == MAX_TAGS {
            break;
        }
    }
    tags.into_iter()
        .enumerate()
        .map(|(rank, tag)| Tag {
            tag,
            score: 1.0 - 0.1 * rank as f64,
        })
        .collect()
}

/// A tag trimmed, without `#` or surrounding punctuation, lower-cased, on one line; `None` if unusable.
fn normalize_tag(raw: &str) -> Option<String> {
    let tag = raw
        .trim()
        .trim_start_matches('#')
        .trim_matches(|c: char| {
            c.is_whitespace() || matches!(c, '"' | '\'' | '.' | ',' | ';' | ':')
        })
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!tag.is_empty() && tag.chars().count() <= MAX_TAG_CHARS).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai_error(code: &str, kind: &str, message: &str) -> String {
        json!({"error": {"message": message, "type": kind, "code": code}}).to_string()
    }

    #[test]
    fn transient_statuses_are_retried() {
        for status in [408, 409, 429, 500, 502, 503, 504, 520] {
            assert_eq!(classify(status, ""), Decision::Retry, "status {status}");
        }
        let loading =
            r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#;
        assert_eq!(classify(503, loading), Decision::Retry);
        let rate = openai_error("rate_limit_exceeded", "requests", "Rate limit reached");
        assert_eq!(classify(429, &rate), Decision::Retry);
        assert_eq!(classify(502, "<html>Bad Gateway</html>"), Decision::Retry);
    }

    #[test]
    fn quota_gives_up() {
        let body = openai_error(
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.",
        );
        assert_eq!(classify(429, &body), Decision::GiveUp);
        let only_type = r#"{"error":{"type":"insufficient_quota","message":"no"}}"#;
        assert_eq!(classify(429, only_type), Decision::GiveUp);
    }

    #[test]
    fn unavailable_models_move_on() {
        assert_eq!(classify(404, ""), Decision::NextModel);
        let ollama = r#"{"error":"model \"llama9\" not found, try pulling it first"}"#;
        assert_eq!(classify(404, ollama), Decision::NextModel);
        let provider = r#"{"error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"Together","raw":"x"}}}"#;
        assert_eq!(classify(502, provider), Decision::NextModel);
        let metadata_only =
            r#"{"error":{"code":503,"message":"busy","metadata":{"provider_name":"Fireworks"}}}"#;
        assert_eq!(classify(503, metadata_only), Decision::NextModel);
        let no_endpoints = r#"{"error":{"code":503,"message":"No endpoints found for foo/bar."}}"#;
        assert_eq!(classify(503, no_endpoints), Decision::NextModel);
    }

    #[test]
    fn context_length_and_moderation_move_on() {
        let ctx = openai_error(
            "context_length_exceeded",
            "invalid_request_error",
            "This model's maximum context length is 8192 tokens.",
        );
        assert_eq!(classify(400, &ctx), Decision::NextModel);
        let by_message = r#"{"error":{"message":"This model's maximum context length is 4096 tokens","type":"invalid_request_error"}}"#;
        assert_eq!(classify(400, by_message), Decision::NextModel);
        let llama = r#"{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}}"#;
        assert_eq!(classify(400, llama), Decision::NextModel);
        let flagged = r#"{"error":{"code":403,"message":"Your chosen model requires moderation and your input was flagged","metadata":{"reasons":["x"]}}}"#;
        assert_eq!(classify(403, flagged), Decision::NextModel);
        let filter = openai_error("content_filter", "invalid_request_error", "filtered");
        assert_eq!(classify(400, &filter), Decision::NextModel);
    }

    #[test]
    fn auth_payment_and_bad_requests_give_up() {
        assert_eq!(classify(401, ""), Decision::GiveUp);
        let key = openai_error(
            "invalid_api_key",
            "invalid_request_error",
            "Incorrect API key",
        );
        assert_eq!(classify(401, &key), Decision::GiveUp);
        assert_eq!(
            classify(
                402,
                r#"{"error":{"code":402,"message":"Insufficient credits"}}"#
            ),
            Decision::GiveUp
        );
        let perm = r#"{"error":{"message":"You do not have permission to use this model"}}"#;
        assert_eq!(classify(403, perm), Decision::GiveUp);
        let bad = openai_error(
            "invalid_value",
            "invalid_request_error",
            "temperature is invalid",
        );
        assert_eq!(classify(400, &bad), Decision::GiveUp);
        assert_eq!(classify(422, "{}"), Decision::GiveUp);
    }

    #[test]
    fn error_objects_in_200_are_classified_by_code() {
        let numeric = r#"{"error":{"code":429,"message":"Rate limited"}}"#;
        assert_eq!(classify(200, numeric), Decision::Retry);
        let missing = r#"{"error":{"code":404,"message":"No such model"}}"#;
        assert_eq!(classify(200, missing), Decision::NextModel);
        let auth = r#"{"error":{"code":401,"message":"No auth credentials found"}}"#;
        assert_eq!(classify(200, auth), Decision::GiveUp);
        let quota = openai_error("insufficient_quota", "insufficient_quota", "quota");
        assert_eq!(classify(200, &quota), Decision::GiveUp);
        let ctx = openai_error(
            "context_length_exceeded",
            "invalid_request_error",
            "too long",
        );
        assert_eq!(classify(200, &ctx), Decision::NextModel);
        let upstream = r#"{"error":{"message":"upstream hiccup"}}"#;
        assert_eq!(classify(200, upstream), Decision::Retry);
        let provider = r#"{"error":{"code":502,"message":"x","metadata":{"provider_name":"A"}}}"#;
        assert_eq!(classify(200, provider), Decision::NextModel);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("3600"), Some(MAX_DELAY));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let header = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .expect("printable");
        let parsed = parse_retry_after(&header).expect("an HTTP date");
        assert!(
            parsed > Duration::from_secs(25) && parsed <= Duration::from_secs(30),
            "{parsed:?}"
        );
    }

    fn completion(content: &str) -> String {
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
            .to_string()
    }

    #[test]
    fn tags_are_normalised_ranked_and_capped() {
        let body = completion(
            r##"{"tags": [" Rust ", "#Async", "rust", "Tokio  Runtime", "", "a", "b", "c", "d", "e"]}"##,
        );
        let tags = parse_completion(200, &body).expect("tags");
        let names: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(
            names,
            ["rust", "async", "tokio runtime", "a", "b", "c", "d"]
        );
        assert_eq!(tags[0].score, 1.0);
        assert!(tags.windows(2).all(|w| w[0].score > w[1].score));
    }

    #[test]
    fn fenced_and_chatty_json_is_extracted() {
        let fenced = completion("```json\n{\"tags\": [\"политика\", \"выборы\", \"Москва\"]}\n```");
        let tags = parse_completion(200, &fenced).expect("tags");
        assert_eq!(tags[2].tag, "москва");
        let chatty = completion(
            "Sure! Here you go: {\"tags\": [\"a {b}\", \"c\", \"d\"]} Hope it helps {not json}",
        );
        assert_eq!(parse_completion(200, &chatty).expect("tags").len(), 3);
    }

    #[test]
    fn unusable_content_is_bad_output() {
        for content in [
            "",
            "no json here",
            r#"{"tags": ["one", "two"]}"#,
            r#"{"tags": "x"}"#,
        ] {
            let f = parse_completion(200, &completion(content)).expect_err(content);
            assert_eq!(f.kind, FailKind::BadOutput, "{content}");
        }
        let f = parse_completion(200, "not json").expect_err("not json");
        assert_eq!(f.kind, FailKind::BadOutput);
        let null_content = json!({"choices": [{"message": {"content": null}}]}).to_string();
        assert_eq!(
            parse_completion(200, &null_content).expect_err("null").kind,
            FailKind::BadOutput
        );
    }

    #[test]
    fn refusals_move_on() {
        let filtered =
            json!({"choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]});
        let f = parse_completion(200, &filtered.to_string()).expect_err("filtered");
        assert_eq!(f.kind, FailKind::NextModel);
        let refused =
            json!({"choices": [{"message": {"content": null, "refusal": "I can't help"}}]});
        let f = parse_completion(200, &refused.to_string()).expect_err("refused");
        assert_eq!(f.kind, FailKind::NextModel);
    }

    #[test]
    fn debug_redacts_the_key() {
        let cfg = LlmConfig {
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: Some("sk-secret-123".into()),
            model: "m".into(),
            fallback_models: vec![],
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            max_retries: 0,
            retry_delay: Duration::ZERO,
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sk-secret-123"), "{shown}");
        assert!(shown.contains("<redacted>"));
        let tagger = LlmTagger::new(cfg).expect("tagger");
        assert!(!format!("{tagger:?}").contains("sk-secret-123"));
        assert_eq!(tagger.name(), "llm:m");
        assert_eq!(
            tagger.scrub("bad key sk-secret-123 given for:\n the post", "the post"),
            "bad key <redacted> given for: <post text>"
        );
    }
}
