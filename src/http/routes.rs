//! The routes of the HTTP API. Each handler reads its request, calls one [`crate::ops::Ops`] operation
//! and shapes the answer; work that needs Telegram or may take long is queued as a job and answered
//! `202 {"status": "queued", "job_id": N}` at once.
//!
//! Lists are paginated with an opaque cursor: pass the `next_cursor` of a page to get the next one
//! (absent on the last page).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tgsift_store::{JobRow, PostFilter, PostRow, TaggingStatus};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::{self, AuthMethod};
use super::{ApiError, ApiJson, ApiPath, ApiQuery, AppState, ErrorBody};
use crate::ingest::metrics::{ChannelLabel, IngestFamilies};
use crate::ops::{AccountView, ChannelView, FloodWindow, JobSpec, PostVersion, TaggingStats};
use crate::tagging::worker::Outcome;
use crate::telegram::metrics::ClientMetrics;

/// Page size when `limit` is not given.
const DEFAULT_LIMIT: usize = 50;
/// Largest page.
const MAX_LIMIT: usize = 500;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tgsift",
        description = "Administer a running tgsift service: tagging, posts, channels, admin jobs, accounts. \
                       Every route but /healthz and POST /api/v1/session needs `Authorization: Bearer <http.token>` \
                       when a token is set, or the dashboard's session cookie (with `X-Requested-With: tgsift` \
                       on requests that change something)."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route, with its OpenAPI description.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(tagging_stats))
        .routes(routes!(tagging_retry))
        .routes(routes!(regenerate))
        .routes(routes!(list_posts))
        .routes(routes!(export_posts))
        .routes(routes!(get_post))
        .routes(routes!(list_channels, add_channel))
        .routes(routes!(import_channels))
        .routes(routes!(pause_channel))
        .routes(routes!(resume_channel))
        .routes(routes!(delete_channel))
        .routes(routes!(reparse))
        .routes(routes!(retag))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(retry_job))
        .routes(routes!(cancel_job))
        .routes(routes!(list_accounts))
        .routes(routes!(post_versions))
        .routes(routes!(post_comments))
        .routes(routes!(list_watches, add_watch))
        .routes(routes!(delete_watch))
        .routes(routes!(test_watch))
        .routes(routes!(activity))
        .routes(routes!(sign_in, session_state, sign_out))
}

/// Where the dashboard signs in and out.
pub(crate) const SESSION_PATH: &str = "/api/v1/session";

type ApiResult<T> = Result<T, ApiError>;

/// The answer to work that was queued.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Queued {
    /// Always `queued`.
    pub status: &'static str,
    /// Follow it at `GET /api/v1/jobs/{job_id}`.
    pub job_id: i64,
}

async fn enqueue(state: &AppState, spec: JobSpec) -> ApiResult<Response> {
    let job = state.ops.enqueue(spec).await?;
    let mut resp = (
        StatusCode::ACCEPTED,
        axum::Json(Queued {
            status: "queued",
            job_id: job.id,
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", job.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The states `GET /api/v1/jobs?state=` takes.
const JOB_STATES: [&str; 5] = ["queued", "running", "done", "failed", "cancelled"];

/// A whole number as the documented patterns write it: an optional `-` and 1 to 18 digits (so it
/// always fits an i64; Rust's own parser would also take `+5` or 40 leading zeros).
fn int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// What [`int`] accepts, as a pattern.
const INT_PATTERN: &str = "-?[0-9]{1,18}";

/// Schemas of query values that the derive cannot describe: what the handlers accept, exactly.
mod schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{RefOr, Schema};

    fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    /// `since`/`until`: a calendar date or unix seconds.
    pub(super) fn date_or_seconds() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))))
            .item(string().pattern(Some(format!("^{}$", super::INT_PATTERN))))
            .description(Some("`YYYY-MM-DD` (UTC) or unix seconds"))
            .into()
    }

    fn one_of(values: &[&str]) -> RefOr<Schema> {
        string().enum_values(Some(values.iter().copied())).into()
    }

    /// A tagging status.
    pub(super) fn tagging_status() -> RefOr<Schema> {
        one_of(&tgsift_store::TaggingStatus::ALL.map(tgsift_store::TaggingStatus::as_str))
    }

    /// A media filter: `any` or a kind.
    pub(super) fn media_filter() -> RefOr<Schema> {
        let mut names = vec!["any"];
        names.extend(tgsift_store::MediaKind::ALL.map(tgsift_store::MediaKind::as_str));
        one_of(&names)
    }

    /// A job state.
    pub(super) fn job_state() -> RefOr<Schema> {
        one_of(&super::JOB_STATES)
    }

    /// The export's formats.
    pub(super) fn export_format() -> RefOr<Schema> {
        one_of(&["jsonl", "csv"])
    }

    /// A channel's backfill: a string (`all`, `500`, `since:2024-01-31`), a number of posts, or null.
    pub(super) fn backfill() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(string())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(u32::MAX)),
            )
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }

    /// The cursor of `/api/v1/posts`: `DATE.ID` (lists) or `0.OFFSET` (searches).
    pub(super) fn posts_cursor() -> RefOr<Schema> {
        string()
            .pattern(Some(format!("^{}\\.[0-9]{{1,18}}$", super::INT_PATTERN)))
            .into()
    }

    /// The cursor of `/api/v1/jobs` and `/api/v1/channels`: the last id of the previous page.
    pub(super) fn id_cursor() -> RefOr<Schema> {
        string()
            .pattern(Some(format!("^{}$", super::INT_PATTERN)))
            .into()
    }
}

/// Adds the error answers every route shares to the document: 401 to those that need the token,
/// 400 to those that read parameters or a body (unreadable: an unknown parameter, a wrong type,
/// malformed JSON), 422 to those with query parameters or a body (well-formed but invalid), and
/// 413 and 415 to those that take a body.
pub(crate) fn document_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let params = op.parameters.as_deref().unwrap_or_default();
            let query = params
                .iter()
                .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query)));
            let body = op.request_body.is_some();
            // An operation with `security(())` is public; the others inherit the bearer token.
            let public = op.security.is_some();
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.into())
                    .or_insert_with(|| error(description).into());
            };
            if !public {
                add(
                    "401",
                    "No token, or a wrong one (answered after a short delay)",
                );
            }
            if !params.is_empty() || body {
                add(
                    "400",
                    "The request cannot be read: an unknown query parameter, a value of the wrong type, malformed JSON",
                );
            }
            if query || body {
                add(
                    "422",
                    "Well-formed but invalid: a value out of range, an unknown field",
                );
            }
            if body {
                add("413", "The body is larger than 64 KiB");
                add(
                    "415",
                    "The body is not sent as `Content-Type: application/json`",
                );
            }
        }
    }
}

fn limit(limit: Option<usize>) -> ApiResult<usize> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("limit = {n}: give 1 to {MAX_LIMIT}"),
        )),
    }
}

// The `limit` parameters document their range as `#[param(minimum = 1, maximum = 500)]`.
const _: () = assert!(MAX_LIMIT == 500);

fn bad_cursor(cursor: &str) -> ApiError {
    ApiError::bad_request(format!(
        "cursor {cursor:?} is not one this API gave out: pass `next_cursor` of the previous page"
    ))
}

/// 422 for a `status` that is not a tagging status, naming the ones there are.
/// `media=`, read: `any` or a kind.
fn media_filter(media: Option<&str>) -> ApiResult<Option<tgsift_store::MediaFilter>> {
    media
        .map(|m| {
            tgsift_store::MediaFilter::parse(m).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!("media: {e}"),
                )
            })
        })
        .transpose()
}

fn bad_status(status: &str) -> ApiError {
    let [rest @ .., last] = TaggingStatus::ALL.map(TaggingStatus::as_str);
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        format!("status = {status:?}: give {} or {last}", rest.join(", ")),
    )
}

/// Whether `path` is a probe (`/healthz`, `/readyz`): answered without the API's token.
pub(crate) fn is_probe(path: &str) -> bool {
    path == "/healthz" || path == "/readyz"
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The process is alive", body = Object, example = json!({"status": "ok"}))))]
async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers and every service task is alive (503 otherwise). An account
/// that cannot reach Telegram (its circuit breaker is open) makes it `degraded`, still 200: the
/// API and dashboard serve, but that account's channels fetch nothing.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready, or degraded with the reasons", body = Object,
         example = json!({"status": "degraded", "reasons": ["account alice cannot reach Telegram since 2026-12-07T10:41:00Z (circuit breaker open)"]})),
        (status = 503, description = "Not ready, with the reasons", body = Object,
         example = json!({"status": "unavailable", "reasons": ["jobs: restarting after: database is locked"]}))))]
async fn readyz(State(state): State<AppState>) -> Response {
    let mut reasons = state.supervisor.unhealthy();
    let mut degraded = Vec::new();
    if let Err(e) = state.ops.check_database().await {
        reasons.push(format!("database: {e}"));
    } else {
        match state.ops.unreachable_accounts().await {
            Ok(accounts) => degraded = accounts,
            Err(e) => reasons.push(format!("database: {e}")),
        }
    }
    if reasons.is_empty() && degraded.is_empty() {
        axum::Json(serde_json::json!({"status": "ready"})).into_response()
    } else if reasons.is_empty() {
        let reasons: Vec<String> = degraded
            .iter()
            .map(|(account, since_ms)| {
                let since = jiff::Timestamp::from_millisecond(*since_ms)
                    .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_else(|_| since_ms.to_string());
                format!(
                    "account {account} cannot reach Telegram since {since} (circuit breaker open)"
                )
            })
            .collect();
        axum::Json(serde_json::json!({"status": "degraded", "reasons": reasons})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable", "reasons": reasons})),
        )
            .into_response()
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Metrics in the OpenMetrics text format", body = String,
               content_type = "application/openmetrics-text")))]
async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let m = std::sync::Arc::clone(&state.metrics);
    let text = state.ops.render_metrics(m).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `?account=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AccountQuery {
    /// Only this account's posts.
    account: Option<String>,
}

/// Tagging figures: posts per status, with tags, needing a retry — what `tags stats --json` prints.
#[utoipa::path(get, path = "/api/v1/tagging/stats", tag = "tagging", params(AccountQuery),
    responses((status = 200, body = TaggingStats), (status = 401, body = ErrorBody)))]
async fn tagging_stats(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> ApiResult<axum::Json<TaggingStats>> {
    Ok(axum::Json(state.ops.tagging_stats(q.account).await?))
}

/// Body of `POST /api/v1/tagging/retry`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryBody {
    /// At most this many posts (default 50).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub limit: Option<usize>,
    /// Also posts that failed for good.
    #[serde(default)]
    pub force: bool,
    /// Only this account's posts.
    #[serde(default)]
    pub account: Option<String>,
}

/// Queues a retry of failed tagging: `retrying` posts (and with `force` also `failed` ones) become due.
#[utoipa::path(post, path = "/api/v1/tagging/retry", tag = "tagging", request_body = RetryBody,
    responses((status = 202, body = Queued), (status = 422, body = ErrorBody)))]
async fn tagging_retry(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<RetryBody>,
) -> ApiResult<Response> {
    enqueue(
        &state,
        JobSpec::TaggingRetry {
            limit: b.limit.unwrap_or(DEFAULT_LIMIT),
            force: b.force,
            account: b.account,
        },
    )
    .await
}

/// One tag of a post.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TagView {
    /// The tag.
    pub tag: String,
    /// Its weight in the post, 0–1.
    pub score: f64,
    /// Which tagger gave it.
    pub source: String,
}

/// A post's new tags.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Regenerated {
    /// The post.
    pub post_id: i64,
    /// Its tags, best first.
    pub tags: Vec<TagView>,
}

/// Tags one post again now (its tags are replaced).
#[utoipa::path(post, path = "/api/v1/posts/{id}/tags/regenerate", tag = "tagging",
    params(("id" = i64, Path, description = "Post row id")),
    responses((status = 200, body = Regenerated), (status = 404, body = ErrorBody),
              (status = 409, description = "Tagging is off, or the post changed meanwhile", body = ErrorBody),
              (status = 502, description = "The tagger failed", body = ErrorBody)))]
async fn regenerate(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<Regenerated>> {
    match state.ops.regenerate(id).await? {
        Outcome::Tagged { tags, source } => Ok(axum::Json(Regenerated {
            post_id: id,
            tags: tags
                .into_iter()
                .map(|t| TagView {
                    tag: t.tag,
                    score: t.score,
                    source: source.clone(),
                })
                .collect(),
        })),
        Outcome::Failed { status, error } => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "tagging_failed",
            format!("tagging post {id} failed (now {status}): {error}"),
        )),
        Outcome::Stale => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("post {id} changed while it was being tagged (edited or re-queued); try again"),
        )),
    }
}

/// A stored post with its tags and tagging state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostView {
    /// Post row id.
    pub id: i64,
    /// Channel (`@name` or id).
    pub channel: String,
    /// Message id in the channel.
    pub message_id: i32,
    /// Date (unix seconds).
    pub date: i64,
    /// The same date in ISO 8601 UTC, as `posts export` writes it.
    pub date_iso: String,
    /// Last edit (unix seconds).
    pub edit_date: Option<i64>,
    /// Text.
    pub text: String,
    /// `pending`, `retrying`, `success`, `failed`, `skipped`.
    #[schema(value_type = String)]
    pub tagging_status: TaggingStatus,
    /// Tagging attempts so far.
    pub tagging_attempts: i64,
    /// The last tagging error.
    pub tagging_error: Option<String>,
    /// When a `retrying` post is due again (unix seconds).
    pub next_tagging_at: Option<i64>,
    /// When the post was deleted in its channel (unix seconds); it is kept.
    pub deleted_at: Option<i64>,
    /// With `q`: the words around the matches, matches in `[…]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// With `q`: relevance (higher is better).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Tags, best first.
    pub tags: Vec<TagView>,
    /// Its media; `null` without media (or for a post fetched before tgsift kept media details).
    pub media: Option<MediaView>,
    /// One post (`GET /api/v1/posts/{id}`): its file's download, when a `media.download` rule
    /// wants it (`path` is under `media.dir`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<tgsift_store::FileState>,
}

/// A post's media as Telegram described it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MediaView {
    /// `photo`, `video`, `video_note`, `animation`, `audio`, `voice`, `sticker`, `document`, `poll`,
    /// `web_page`, `geo`, `contact` or `other`.
    #[schema(value_type = String)]
    pub kind: tgsift_store::MediaKind,
    /// MIME type.
    pub mime: Option<String>,
    /// Bytes (a photo: its largest size).
    pub size: Option<i64>,
    /// The file's name, where the sender gave one.
    pub file_name: Option<String>,
    /// Pixels.
    pub width: Option<i32>,
    /// Pixels.
    pub height: Option<i32>,
    /// Seconds.
    pub duration: Option<i32>,
    /// A link preview's URL, a poll's question, a contact's or place's name.
    pub title: Option<String>,
}

impl From<tgsift_store::Media> for MediaView {
    fn from(m: tgsift_store::Media) -> Self {
        MediaView {
            kind: m.kind,
            mime: m.mime,
            size: m.size,
            file_name: m.file_name,
            width: m.width,
            height: m.height,
            duration: m.duration,
            title: m.title,
        }
    }
}

impl From<PostRow> for PostView {
    fn from(p: PostRow) -> Self {
        PostView {
            id: p.id,
            channel: p.channel,
            message_id: p.message_id,
            date: p.date,
            date_iso: crate::ops::export::iso(p.date),
            edit_date: p.edit_date,
            text: p.text,
            tagging_status: p.tagging_status,
            tagging_attempts: p.tagging_attempts,
            tagging_error: p.tagging_error,
            next_tagging_at: p.next_tagging_at,
            deleted_at: p.deleted_at,
            snippet: None,
            score: None,
            tags: p
                .tags
                .into_iter()
                .map(|(tag, score, source)| TagView { tag, score, source })
                .collect(),
            media: p.media.map(MediaView::from),
            file: None,
        }
    }
}

/// A page of posts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostPage {
    /// Newest first.
    pub items: Vec<PostView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/posts` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PostsQuery {
    /// `@name`, numeric channel id or `#row`.
    channel: Option<String>,
    /// Only posts with this tag.
    tag: Option<String>,
    /// Only posts in this tagging status.
    #[param(schema_with = schema::tagging_status)]
    status: Option<String>,
    /// Only posts dated on or after this: `YYYY-MM-DD` or unix seconds.
    #[param(schema_with = schema::date_or_seconds)]
    since: Option<String>,
    /// Also posts deleted in their channel (kept, marked with `deleted_at`).
    #[serde(default)]
    include_deleted: bool,
    /// Only posts with media of this kind (`any`: with any media).
    #[param(schema_with = schema::media_filter)]
    media: Option<String>,
    /// Full-text search: every word must occur, in any inflection (`"quoted words"` as a phrase);
    /// results are ranked by relevance and carry a `snippet`. With `q`, `tag` and `status` do not apply.
    /// It needs a letter or a digit of any script: a query of only punctuation is answered 422.
    q: Option<String>,
    /// Page size (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = schema::posts_cursor)]
    cursor: Option<String>,
}

fn since(s: &str) -> ApiResult<i64> {
    if let Some(n) = int(s) {
        return Ok(n);
    }
    // Only `YYYY-MM-DD`, as documented (jiff would also take `+002024-01-01` or `20240101`).
    let shape = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    Some(s)
        .filter(|_| shape)
        .and_then(|s| s.parse::<jiff::civil::Date>().ok())
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_second())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("since = {s:?}: give YYYY-MM-DD or unix seconds"),
            )
        })
}

/// A posts cursor, `INT.ID` ([`schema::posts_cursor`]).
fn cursor_pair(c: &str) -> Option<(i64, i64)> {
    let (a, b) = c.split_once('.')?;
    Some((int(a)?, int(b).filter(|_| !b.starts_with('-'))?))
}

/// Largest result offset a search pages to.
const MAX_SEARCH_OFFSET: usize = 10_000;

async fn search(state: &AppState, q: PostsQuery, text: String) -> ApiResult<axum::Json<PostPage>> {
    let n = limit(q.limit)?;
    if tgsift_store::match_expression(&text).is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("q = {text:?} has no words to search for"),
        ));
    }
    let since = q.since.as_deref().map(since).transpose()?;
    // A search's cursor is `0.OFFSET`, in the shape of a list's `DATE.ID`, so either is a
    // well-formed cursor for both.
    let offset = match q.cursor.as_deref() {
        None => 0,
        Some(c) => cursor_pair(c).ok_or_else(|| bad_cursor(c))?.1,
    };
    let channel_ids = match &q.channel {
        Some(c) => Some(vec![state.ops.channel(c).await?.id]),
        None => None,
    };
    // Every parameter checked: past the last offset a search pages to, the page is empty.
    if offset > MAX_SEARCH_OFFSET as i64 {
        return Ok(axum::Json(PostPage {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
    let offset = offset as usize;
    let query = tgsift_store::SearchQuery {
        text,
        channel_ids,
        since,
        post_ids: None,
        include_deleted: q.include_deleted,
        limit: offset + n + 1,
        highlight: ("[".into(), "]".into()),
    };
    let hits = state.ops.search(query).await?;
    let more = hits.len() > offset + n;
    let mut items = Vec::with_capacity(n);
    for h in hits.into_iter().skip(offset).take(n) {
        let mut v = PostView::from(state.ops.post(h.id).await?);
        v.snippet = Some(h.snippet);
        v.score = Some(h.score);
        items.push(v);
    }
    let next_cursor =
        (more && offset + n <= MAX_SEARCH_OFFSET).then(|| format!("0.{}", offset + n));
    Ok(axum::Json(PostPage { items, next_cursor }))
}

/// Posts, newest first, filtered by channel, tag, tagging status and date — or, with `q`, the posts
/// that match a full-text search, best first.
#[utoipa::path(get, path = "/api/v1/posts", tag = "posts", params(PostsQuery),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn list_posts(
    State(state): State<AppState>,
    ApiQuery(mut q): ApiQuery<PostsQuery>,
) -> ApiResult<axum::Json<PostPage>> {
    // Checked in both modes, although a search does not filter by it.
    let status = q
        .status
        .as_deref()
        .map(|s| s.parse::<TaggingStatus>().map_err(|_| bad_status(s)))
        .transpose()?;
    let media = media_filter(q.media.as_deref())?;
    if let Some(text) = q.q.take() {
        return search(&state, q, text).await;
    }
    let n = limit(q.limit)?;
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(cursor_pair(c).ok_or_else(|| bad_cursor(c))?),
    };
    if let Some(c) = &q.channel {
        // A channel nobody follows is a 404, not an empty page.
        state.ops.channel(c).await?;
    }
    let filter = PostFilter {
        channel: q.channel,
        tag: q.tag,
        status,
        since: q.since.as_deref().map(since).transpose()?,
        include_deleted: q.include_deleted,
        media,
        limit: n + 1,
        before,
    };
    let mut rows = state.ops.posts(filter).await?;
    let next_cursor = (rows.len() > n).then(|| {
        rows.truncate(n);
        rows.last()
            .map(|p| format!("{}.{}", p.date, p.id))
            .unwrap_or_default()
    });
    Ok(axum::Json(PostPage {
        items: rows.into_iter().map(PostView::from).collect(),
        next_cursor,
    }))
}

/// `GET /api/v1/posts/export` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `jsonl` (default) or `csv`.
    #[param(schema_with = schema::export_format)]
    format: Option<String>,
    /// Channels, comma-separated (`@name`, numeric id or `#row`); default all.
    channel: Option<String>,
    /// Only posts dated on or after this: `YYYY-MM-DD` or unix seconds.
    #[param(schema_with = schema::date_or_seconds)]
    since: Option<String>,
    /// Only posts dated before this: `YYYY-MM-DD` or unix seconds.
    #[param(schema_with = schema::date_or_seconds)]
    until: Option<String>,
    /// Only posts with this tag.
    tag: Option<String>,
    /// Only posts in this tagging status.
    #[param(schema_with = schema::tagging_status)]
    status: Option<String>,
    /// Also posts deleted in their channel.
    #[serde(default)]
    include_deleted: bool,
    /// Only posts with a row id above this (incremental exports: the last `post_id` you have).
    after_id: Option<i64>,
    /// Only posts with media of this kind (`any`: with any media).
    #[param(schema_with = schema::media_filter)]
    media: Option<String>,
}

/// Every matching post, streamed in post-id order (constant memory): JSON lines or CSV with a header,
/// the columns of `tgsift posts export`.
#[utoipa::path(get, path = "/api/v1/posts/export", tag = "posts", params(ExportQuery),
    responses((status = 200, description = "JSON lines (`format=jsonl`) or CSV with a header (`format=csv`)",
               content((String = "application/x-ndjson"), (String = "text/csv"))),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn export_posts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    use crate::ops::export::Format;
    let (format, content_type) = match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => (Format::Jsonl, "application/x-ndjson"),
        "csv" => (Format::Csv, "text/csv; charset=utf-8"),
        other => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("format = {other:?}: give jsonl or csv"),
            ));
        }
    };
    let channel_ids = match &q.channel {
        None => None,
        Some(list) => {
            let mut ids = Vec::new();
            for c in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                ids.push(state.ops.channel(c).await?.id);
            }
            Some(ids)
        }
    };
    let status = q
        .status
        .as_deref()
        .map(|s| s.parse::<TaggingStatus>().map_err(|_| bad_status(s)))
        .transpose()?;
    let filter = tgsift_store::ExportFilter {
        channel_ids,
        since: q.since.as_deref().map(since).transpose()?,
        until: q.until.as_deref().map(since).transpose()?,
        tag: q.tag,
        status,
        include_deleted: q.include_deleted,
        after_id: q.after_id,
        media: media_filter(q.media.as_deref())?,
    };
    // The export runs on a read connection of its own and hands the body over in chunks; a client
    // that goes away stops it (its next write fails).
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(16);
    let ops = state.ops.clone();
    tokio::spawn(async move {
        let err_tx = tx.clone();
        let to = crate::ops::posts::ExportTo::Writer(Box::new(ChunkWriter(tx)));
        if let Err(e) = ops.export(filter, format, to).await {
            tracing::warn!(error = %e, "an HTTP export stopped");
            let _ = err_tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// A `Write` that sends what is written as body chunks (from a blocking thread).
struct ChunkWriter(tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>);

impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(axum::body::Bytes::copy_from_slice(buf)))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One post with its tags.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "posts",
    params(("id" = i64, Path, description = "Post row id")),
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody)))]
async fn get_post(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<PostView>> {
    let mut view: PostView = state.ops.post(id).await?.into();
    view.file = state.ops.file_of_post(id).await?;
    Ok(axum::Json(view))
}

/// `?limit=&cursor=` of a list paged by id.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Page size (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = schema::id_cursor)]
    cursor: Option<String>,
}

/// `?limit=&cursor=` of a list paged by name.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct NamePageQuery {
    /// Page size (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// A page of channels.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelPage {
    /// By row id.
    pub items: Vec<ChannelView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Splits `items` (sorted by `key`) into the page of `limit` after `after` (`cursor` as parsed by
/// `parse`).
fn page<T, K: PartialOrd + ToString>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    (limit_given, cursor): (Option<usize>, Option<&str>),
    parse: impl Fn(&str) -> Option<K>,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let n = limit(limit_given)?;
    let after = match cursor {
        None => None,
        Some(c) => Some(parse(c).ok_or_else(|| bad_cursor(c))?),
    };
    let mut out: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_ref().is_none_or(|a| key(i) > *a))
        .take(n + 1)
        .collect();
    let next = (out.len() > n).then(|| {
        out.truncate(n);
        out.last().map(|i| key(i).to_string()).unwrap_or_default()
    });
    Ok((out, next))
}

/// Followed channels with their state (`active`, `parked`, `paused`, `failed`) and post counts.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", params(PageQuery),
    responses((status = 200, body = ChannelPage)))]
async fn list_channels(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<ChannelPage>> {
    let mut all = state.ops.channels().await?;
    all.sort_by_key(|c| c.id);
    let (items, next_cursor) = page(all, |c| c.id, (q.limit, q.cursor.as_deref()), int)?;
    Ok(axum::Json(ChannelPage { items, next_cursor }))
}

/// Body of `POST /api/v1/channels`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddChannelBody {
    /// The account that follows it.
    pub account: String,
    /// `@name`, a t.me link or a numeric id.
    pub channel: String,
    /// `all`, a number of posts (`500` or `"500"`) or `since:YYYY-MM-DD`; default `ingest.backfill`.
    #[serde(default)]
    #[schema(schema_with = schema::backfill)]
    pub backfill: Option<serde_json::Value>,
    /// Join the channel first, so its posts are pushed (live mode) instead of polled.
    #[serde(default)]
    pub join: bool,
    /// Read the comments under its posts too (its linked discussion group).
    #[serde(default)]
    pub comments: bool,
}

/// A body's `backfill` as a job takes it: `"all"`, a number (`500` or `"500"`) or `"since:…"`.
fn backfill_arg(v: Option<serde_json::Value>) -> ApiResult<Option<String>> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("backfill = {other}: give \"all\", a number or \"since:YYYY-MM-DD\""),
        )),
    }
}

/// Queues following a channel: resolved and checked on Telegram by the job, then ingested by the service.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = AddChannelBody,
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_channel(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<AddChannelBody>,
) -> ApiResult<Response> {
    let backfill = backfill_arg(b.backfill)?;
    // An unknown account is a 404 now, not a failed job later.
    state.ops.account(&b.account).await?;
    enqueue(
        &state,
        JobSpec::ChannelAdd {
            account: b.account,
            channel: b.channel,
            backfill,
            join: b.join,
            comments: b.comments,
            resolved: None,
        },
    )
    .await
}

/// Body of `POST /api/v1/channels/import`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportChannelsBody {
    /// The account whose channels are followed.
    pub account: String,
    /// Only channels whose title or @username matches this regular expression.
    #[serde(default)]
    pub filter: Option<String>,
    /// Leave out channels whose title or @username matches this regular expression.
    #[serde(default)]
    pub exclude: Option<String>,
    /// `all`, a number of posts (`500` or `"500"`) or `since:YYYY-MM-DD` for each channel
    /// followed; default `ingest.backfill`.
    #[serde(default)]
    #[schema(schema_with = schema::backfill)]
    pub backfill: Option<serde_json::Value>,
    /// Supergroups too, not only broadcast channels.
    #[serde(default)]
    pub groups: bool,
    /// Only list (in the job's result) what would be followed and what is skipped, and why.
    #[serde(default)]
    pub dry_run: bool,
}

/// Queues a dialogs import: the job pages the account's dialogs and follows every channel it is a
/// member of (no username is resolved), going on from where an earlier attempt stopped.
#[utoipa::path(post, path = "/api/v1/channels/import", tag = "channels", request_body = ImportChannelsBody,
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_channels(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<ImportChannelsBody>,
) -> ApiResult<Response> {
    let backfill = backfill_arg(b.backfill)?;
    state.ops.account(&b.account).await?;
    enqueue(
        &state,
        JobSpec::ChannelsImport {
            account: b.account,
            filter: b.filter,
            exclude: b.exclude,
            backfill,
            groups: b.groups,
            dry_run: b.dry_run,
        },
    )
    .await
}

/// Stops polling a channel (its posts stay).
#[utoipa::path(post, path = "/api/v1/channels/{id}/pause", tag = "channels",
    params(("id" = i64, Path, description = "Channel row id")),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody)))]
async fn pause_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<ChannelView>> {
    Ok(axum::Json(state.ops.set_channel_active(id, false).await?))
}

/// Polls a channel again, clearing its error and park.
#[utoipa::path(post, path = "/api/v1/channels/{id}/resume", tag = "channels",
    params(("id" = i64, Path, description = "Channel row id")),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody)))]
async fn resume_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<ChannelView>> {
    Ok(axum::Json(state.ops.set_channel_active(id, true).await?))
}

/// Stops following a channel and deletes its posts.
#[utoipa::path(delete, path = "/api/v1/channels/{id}", tag = "channels",
    params(("id" = i64, Path, description = "Channel row id")),
    responses((status = 200, body = ChannelView, description = "The channel as it was"), (status = 404, body = ErrorBody)))]
async fn delete_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<ChannelView>> {
    Ok(axum::Json(state.ops.remove_channel(id).await?))
}

/// Body of `POST /api/v1/reparse`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReparseBody {
    /// `@name`, numeric id or `#row`.
    pub channel: String,
    /// First message id (with `to_id`).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub from_id: Option<i32>,
    /// Last message id (with `from_id`), not below it.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub to_id: Option<i32>,
    /// The whole history instead of a range.
    #[serde(default)]
    pub all: bool,
}

/// Queues fetching a range of a channel again (upserting: safe to repeat).
#[utoipa::path(post, path = "/api/v1/reparse", tag = "channels", request_body = ReparseBody,
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reparse(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<ReparseBody>,
) -> ApiResult<Response> {
    state.ops.channel(&b.channel).await?;
    enqueue(
        &state,
        JobSpec::Reparse {
            channel: b.channel,
            from_id: b.from_id,
            to_id: b.to_id,
            all: b.all,
        },
    )
    .await
}

/// Body of `POST /api/v1/retag`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetagBody {
    /// `@name`, numeric id or `#row`; every channel when absent.
    #[serde(default)]
    pub channel: Option<String>,
    /// First message id.
    #[serde(default)]
    pub from_id: Option<i32>,
    /// Last message id, not below `from_id`.
    #[serde(default)]
    pub to_id: Option<i32>,
}

/// Queues tagging posts again (their tags are replaced): a channel or all, a range of ids or all.
#[utoipa::path(post, path = "/api/v1/retag", tag = "tagging", request_body = RetagBody,
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn retag(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<RetagBody>,
) -> ApiResult<Response> {
    if let Some(c) = &b.channel {
        state.ops.channel(c).await?;
    }
    enqueue(
        &state,
        JobSpec::Retag {
            channel: b.channel,
            from_id: b.from_id,
            to_id: b.to_id,
        },
    )
    .await
}

/// `GET /api/v1/jobs` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct JobsQuery {
    /// Only jobs in this state: `queued`, `running`, `done`, `failed`, `cancelled`.
    #[param(schema_with = schema::job_state)]
    state: Option<String>,
    /// Page size (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = schema::id_cursor)]
    cursor: Option<String>,
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobPage {
    /// Newest first.
    pub items: Vec<JobRow>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Admin jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobsQuery),
    responses((status = 200, body = JobPage), (status = 400, body = ErrorBody)))]
async fn list_jobs(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> ApiResult<axum::Json<JobPage>> {
    let n = limit(q.limit)?;
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(int(c).ok_or_else(|| bad_cursor(c))?),
    };
    if let Some(s) = q.state.as_deref().filter(|s| !JOB_STATES.contains(s)) {
        let [rest @ .., last] = JOB_STATES;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("state = {s:?}: give {} or {last}", rest.join(", ")),
        ));
    }
    let mut items = state.ops.jobs(q.state, before, n + 1).await?;
    let next_cursor = (items.len() > n).then(|| {
        items.truncate(n);
        items.last().map(|j| j.id.to_string()).unwrap_or_default()
    });
    Ok(axum::Json(JobPage { items, next_cursor }))
}

/// One job: its state, attempts, progress, result or last error.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobRow), (status = 404, body = ErrorBody)))]
async fn get_job(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<JobRow>> {
    Ok(axum::Json(state.ops.job(id).await?))
}

/// Queues a failed or cancelled job again, with its arguments and a fresh set of attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody),
              (status = 409, description = "The job is queued, running or done", body = ErrorBody)))]
async fn retry_job(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    let job = state.ops.retry_job(id).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Queued {
            status: "queued",
            job_id: job.id,
        }),
    )
        .into_response())
}

/// Cancels a job: a queued one (waiting for a retry included) at once, a running one at its next
/// batch; a failed one is put aside as cancelled, its error kept.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses((status = 200, body = JobRow), (status = 404, body = ErrorBody),
              (status = 409, description = "The job is done", body = ErrorBody)))]
async fn cancel_job(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<JobRow>> {
    Ok(axum::Json(state.ops.cancel_job(id).await?))
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountPage {
    /// By name.
    pub items: Vec<AccountView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Accounts with their login, lease and circuit-breaker state (phones masked).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(NamePageQuery),
    responses((status = 200, body = AccountPage)))]
async fn list_accounts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<NamePageQuery>,
) -> ApiResult<axum::Json<AccountPage>> {
    let mut all = state.ops.accounts().await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let (items, next_cursor) = page(
        all,
        |a| a.name.clone(),
        (q.limit, q.cursor.as_deref()),
        |c| Some(c.to_string()).filter(|c| !c.is_empty()),
    )?;
    Ok(axum::Json(AccountPage { items, next_cursor }))
}

/// The earlier texts of an edited post.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionPage {
    /// Oldest first; the post's current text is not among them.
    pub items: Vec<PostVersion>,
}

/// What a post said before each edit, oldest first.
#[utoipa::path(get, path = "/api/v1/posts/{id}/versions", tag = "posts",
    params(("id" = i64, Path, description = "Post row id")),
    responses((status = 200, body = VersionPage), (status = 404, body = ErrorBody)))]
async fn post_versions(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<VersionPage>> {
    Ok(axum::Json(VersionPage {
        items: state.ops.post_versions(id).await?,
    }))
}

/// The comments under a post.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CommentPage {
    /// Oldest first, deleted ones kept (with `deleted_at`); empty when the post's comments are not
    /// read (`channels add --comments`, `ingest.comments`) or it has none.
    pub items: Vec<tgsift_store::CommentRow>,
}

/// The comments under a post, from its channel's discussion group.
#[utoipa::path(get, path = "/api/v1/posts/{id}/comments", tag = "posts",
    params(("id" = i64, Path, description = "Post row id")),
    responses((status = 200, body = CommentPage), (status = 404, body = ErrorBody)))]
async fn post_comments(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::Json<CommentPage>> {
    state.ops.post(id).await?;
    Ok(axum::Json(CommentPage {
        items: state.ops.comments_of(id).await?,
    }))
}

/// The watches, by name, with what each delivered and what waits.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WatchList {
    /// Every watch.
    pub items: Vec<tgsift_store::WatchRow>,
}

/// The watches with their delivery figures.
#[utoipa::path(get, path = "/api/v1/watches", tag = "watches",
    responses((status = 200, body = WatchList)))]
async fn list_watches(State(state): State<AppState>) -> ApiResult<axum::Json<WatchList>> {
    Ok(axum::Json(WatchList {
        items: state.ops.watches().await?,
    }))
}

/// Creates a watch: posts with a tag, matching a search and/or of some channels, published or edited
/// from now on, are each delivered once to the sink.
#[utoipa::path(post, path = "/api/v1/watches", tag = "watches", request_body = crate::ops::WatchSpec,
    responses((status = 201, body = tgsift_store::WatchRow), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_watch(
    State(state): State<AppState>,
    ApiJson(spec): ApiJson<crate::ops::WatchSpec>,
) -> ApiResult<Response> {
    let w = state.ops.add_watch(spec).await?;
    Ok((StatusCode::CREATED, axum::Json(w)).into_response())
}

/// Removes a watch (its undelivered matches are dropped).
#[utoipa::path(delete, path = "/api/v1/watches/{name}", tag = "watches",
    params(("name" = String, Path, description = "The watch's name")),
    responses((status = 200, body = tgsift_store::WatchRow, description = "The watch as it was"),
              (status = 404, body = ErrorBody)))]
async fn delete_watch(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<axum::Json<tgsift_store::WatchRow>> {
    Ok(axum::Json(state.ops.remove_watch(&name).await?))
}

/// Body of `POST /api/v1/watches/{name}/test`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchTestBody {
    /// Only list the posts it matches; send nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The newest stored posts a watch matches, and one test delivery of the newest through its sink.
#[utoipa::path(post, path = "/api/v1/watches/{name}/test", tag = "watches", request_body = WatchTestBody,
    params(("name" = String, Path, description = "The watch's name")),
    responses((status = 200, body = crate::ops::WatchTest), (status = 404, body = ErrorBody)))]
async fn test_watch(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<WatchTestBody>,
) -> ApiResult<axum::Json<crate::ops::WatchTest>> {
    Ok(axum::Json(state.ops.test_watch(&name, !b.dry_run).await?))
}

/// How far a polled channel is behind.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChannelLag {
    /// Channel row id.
    pub channel_id: i64,
    /// Its newest message id minus its checkpoint, as of its last poll by this service.
    pub messages: i64,
}

/// Ingest and flood figures of the last hour.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Activity {
    /// The window (seconds).
    pub window_seconds: i64,
    /// Posts stored in the window (by any process on this database).
    pub posts_stored: i64,
    /// FLOOD_WAITs this service received in the window.
    pub floods: u64,
    /// Seconds this service slept for FLOOD_WAITs in the window.
    pub flood_sleep_seconds: f64,
    /// Since when the flood figures count (unix seconds): an hour ago, or the service's start.
    pub floods_since: i64,
    /// FLOOD_WAIT windows open now, per account and method.
    pub flood_windows: Vec<FloodWindow>,
    /// Channel lag as of each channel's last poll by this service (channels not polled yet are absent).
    pub channel_lag: Vec<ChannelLag>,
    /// Media downloads now: files by state and the bytes on disk.
    pub media_files: tgsift_store::DownloadStats,
    /// `media.quota`, bytes (0 while `media.download` wants nothing).
    pub media_quota: i64,
}

/// Ingest and flood figures of the last hour, open flood windows and channel lag: the dashboard's
/// overview.
#[utoipa::path(get, path = "/api/v1/activity", tag = "health",
    responses((status = 200, body = Activity)))]
async fn activity(State(state): State<AppState>) -> ApiResult<axum::Json<Activity>> {
    const WINDOW: i64 = 3600;
    let now = tgsift_store::unix_now();
    let (posts_stored, flood_windows) = state.ops.recent_activity(now - WINDOW).await?;
    let client = state.metrics.of::<ClientMetrics>();
    let (floods, floods_since) = client.floods_last_hour.sum();
    let (flood_sleep_seconds, _) = client.flood_sleep_last_hour.sum();
    let ingest = state.metrics.of::<IngestFamilies>();
    let channel_lag = state
        .ops
        .channel_rows()
        .await?
        .into_iter()
        .filter_map(|c| {
            let label = ChannelLabel {
                channel: c.label(),
                account: c.account,
            };
            let lag = ingest.channel_lag.get(&label)?.get();
            Some(ChannelLag {
                channel_id: c.id,
                messages: lag,
            })
        })
        .collect();
    let media_files = state.ops.download_stats().await?;
    let media = &state.ops.config.media;
    let media_quota = if media.download.is_empty() {
        0
    } else {
        media.quota_bytes()
    };
    Ok(axum::Json(Activity {
        window_seconds: WINDOW,
        posts_stored,
        media_files,
        media_quota,
        floods: floods.round() as u64,
        // A sliding sum of floats can end a hair below zero (`-0.0`); tenths are what anyone reads.
        flood_sleep_seconds: if flood_sleep_seconds > 0.05 {
            (flood_sleep_seconds * 10.0).round() / 10.0
        } else {
            0.0
        },
        floods_since,
        flood_windows,
        channel_lag,
    }))
}

/// Body of `POST /api/v1/session`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInBody {
    /// The HTTP token (`http.token`).
    pub token: String,
}

/// Whether (and how) the caller is signed in.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionState {
    /// Always true in an answer (a caller that is not gets 401).
    pub signed_in: bool,
    /// `cookie` (the dashboard's session), `bearer` (a token per request) or `open` (no token is
    /// configured).
    pub method: String,
}

/// Signs a browser in: trades the HTTP token for an HttpOnly, SameSite=Strict session cookie. Requests
/// signed in by the cookie that change something must also send `X-Requested-With: tgsift`.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", security(()), request_body = SignInBody,
    responses((status = 200, body = SessionState, headers(("set-cookie" = String, description = "The session cookie"))),
              (status = 401, description = "Wrong token", body = ErrorBody)))]
async fn sign_in(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(b): ApiJson<SignInBody>,
) -> ApiResult<Response> {
    let Some(token) = &state.token else {
        return Ok(axum::Json(SessionState {
            signed_in: true,
            method: AuthMethod::Open.as_str().into(),
        })
        .into_response());
    };
    if !token.matches(b.token.as_bytes()) {
        state.guesses.refuse().await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong token: give the service's `http.token`",
        ));
    }
    let id = state.sessions.create().await?;
    let mut resp = axum::Json(SessionState {
        signed_in: true,
        method: AuthMethod::Cookie.as_str().into(),
    })
    .into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(&id, &headers));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Whether the caller is signed in, and how (the dashboard asks this first).
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionState), (status = 401, body = ErrorBody)))]
async fn session_state(method: Option<axum::Extension<AuthMethod>>) -> axum::Json<SessionState> {
    axum::Json(SessionState {
        signed_in: true,
        method: method.map_or(AuthMethod::Open, |m| m.0).as_str().into(),
    })
}

/// Signs a browser out: its session ends and the cookie is deleted.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody)))]
async fn sign_out(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(id) = session::cookie(&headers)
        && let Err(e) = state.sessions.remove(id).await
    {
        return ApiError::from(e).into_response();
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session::clear_cookie())],
    )
        .into_response()
}
