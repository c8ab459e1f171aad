//! The HTTP API of the running service: admin routes over [`crate::ops`], `/metrics` for Prometheus,
//! and health checks.
//!
//! - [`routes`]: the handlers, each a thin translation of a request into an [`Ops`] call, annotated so
//!   the OpenAPI document (`GET /openapi.json`) is generated from them.
//! - [`dashboard`]: the web dashboard's page, script and stylesheet, served at `/` and `/ui/…`.
//! - [`session`]: the dashboard's sign-in — an HttpOnly, SameSite=Strict session cookie traded for
//!   the token once, plus an anti-CSRF header on state-changing requests.
//! - [`token`]: the bearer token — compared in constant time, never logged, a wrong one answered
//!   slowly.
//! - this file: the server — address checks, connections (a header read timeout, graceful
//!   shutdown), auth by bearer token or session cookie, JSON errors (`{"error": {"code",
//!   "message"}}`), extractors that take only JSON objects and reject unknown fields, body limits,
//!   timeouts, and request counts by route and status (every answer, 401s and unknown routes too).
//!
//! Without `http.token` the server listens only on a loopback address (with a warning): anyone who can
//! reach it can administer tgsift — except another site's page in a local browser, whose state-changing
//! requests are refused.

pub(crate) mod dashboard;
pub(crate) mod routes;
pub(crate) mod session;
pub(crate) mod token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, HttpConfig};
use crate::metrics::{Families, Metrics};
use crate::ops::{Ops, OpsError};
use crate::task::TaskError;

/// Largest request body accepted (every body is a small JSON object).
pub(crate) const BODY_LIMIT: usize = 64 * 1024;
/// A request (reading its body included) that takes longer is answered 408.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown waits for the answers in flight (within the service's shutdown grace).
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(2);
/// `http.header_timeout` when it cannot be a duration (the configuration checks its range).
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the API listens, checked before the service starts: `None` when `http.listen` is unset.
/// A non-loopback address without `http.token` is a configuration error (anyone could administer it).
pub(crate) fn listen_addr(http: &HttpConfig) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(listen) = http.listen.as_deref() else {
        return Ok(None);
    };
    let addr: SocketAddr = listen.parse().map_err(|e| {
        ConfigError::Inconsistent(format!(
            "`http.listen` = {listen:?} is not an address: {e} (write IP:PORT, e.g. 127.0.0.1:8080)"
        ))
    })?;
    let has_token = http.token.as_deref().is_some_and(|t| !t.is_empty());
    if !has_token && !addr.ip().is_loopback() {
        return Err(ConfigError::Inconsistent(format!(
            "`http.listen` = {addr} is not a loopback address and `http.token` is not set: set a token \
             (TGSIFT_HTTP__TOKEN or [http] token) or listen on 127.0.0.1"
        )));
    }
    if !has_token {
        tracing::warn!(%addr, "the HTTP API has no token (http.token): it listens on loopback only, and anyone on this machine can use it");
    }
    Ok(Some(addr))
}

/// The HTTP layer's metric family: requests by route, method and status.
pub(crate) struct HttpFamilies {
    requests: Family<RouteLabels, Counter>,
}

impl Families for HttpFamilies {
    fn register(registry: &mut Registry) -> Self {
        let requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            Family::clone(&requests),
        );
        HttpFamilies { requests }
    }
}

/// One HTTP route and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern (`/api/v1/posts/{id}`), not the path.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: String,
}

/// What the HTTP layer asks of whoever runs the service, for `/readyz`.
pub trait Readiness: Send + Sync {
    /// Why the service is not ready: one line per task that failed for good or waits to restart.
    fn unhealthy(&self) -> Vec<String>;
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The admin operations.
    pub ops: Ops,
    /// The service's metrics.
    pub metrics: Arc<Metrics>,
    /// Requests by route, counted by the middleware.
    http_metrics: Arc<HttpFamilies>,
    /// What `/readyz` reports: the tasks that failed or wait to restart.
    pub supervisor: Arc<dyn Readiness>,
    token: Option<Arc<token::Token>>,
    /// `http.probe_token`: what the probes require, when set.
    probe_token: Option<Arc<token::Token>>,
    guesses: token::Guesses,
    sessions: session::Sessions,
    header_timeout: Duration,
}

impl AppState {
    /// The state of a server that answers with `ops`, counts into `metrics` and reports `supervisor`'s
    /// health.
    pub fn new(
        ops: Ops,
        metrics: Arc<Metrics>,
        supervisor: Arc<dyn Readiness>,
        http: &HttpConfig,
    ) -> Self {
        let sessions = session::Sessions::new(ops.store.clone());
        AppState {
            ops,
            http_metrics: metrics.of::<HttpFamilies>(),
            metrics,
            supervisor,
            token: token::Token::new(http.token.as_deref()).map(Arc::new),
            probe_token: token::Token::new(http.probe_token.as_deref()).map(Arc::new),
            guesses: token::Guesses::default(),
            sessions,
            header_timeout: Duration::try_from_secs_f64(http.header_timeout)
                .unwrap_or(DEFAULT_HEADER_TIMEOUT),
        }
    }
}

/// Binds the API's address before the service starts: a port already taken is a startup error
/// (exit 2, the address named), not a task that retries for ever beside a running service.
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ConfigError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ConfigError::Listen {
            addr,
            error: e.to_string(),
        })
}

/// Serves the API until `cancel` (the supervisor's `http` task) on `bound`, the listener bound at
/// startup, or — when the task is restarted — on `addr` bound again.
pub async fn serve(
    state: AppState,
    addr: SocketAddr,
    bound: Option<tokio::net::TcpListener>,
    cancel: CancellationToken,
) -> Result<(), TaskError> {
    let listener = match bound {
        Some(l) => l,
        None => tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            // A taken port does not free itself by retrying in a tight loop; the supervisor backs off.
            TaskError::retry(anyhow::anyhow!(
                "cannot listen on {addr} (http.listen): {e}"
            ))
        })?,
    };
    tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "HTTP API listening");
    // hyper's HTTP/1 connections rather than `axum::serve`, which sets no timer: without one a
    // client that never finishes its headers holds its connection (and a task) for ever.
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(state.header_timeout);
    let service = hyper_util::service::TowerToHyperService::new(app(state));
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    // Each connection's task; dropping the set ends those still running.
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted: the
                    // listener itself is fine, so wait a little (for fds to free up) and go on.
                    tracing::warn!(error = %e, "HTTP API: accepting a connection failed");
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        let conn = http1.serve_connection(hyper_util::rt::TokioIo::new(stream), service.clone());
        let conn = connections.watch(conn);
        tasks.spawn(async move {
            if let Err(e) = conn.await {
                // A header timeout, a malformed request or a client that went away: its business.
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    // Answers in flight are finished and idle connections closed at once; what is still open after
    // SHUTDOWN_DRAIN (a client in the middle of its headers, a long export) is dropped, so the
    // service stops within its grace period.
    if tokio::time::timeout(SHUTDOWN_DRAIN, connections.shutdown())
        .await
        .is_err()
    {
        tracing::info!(
            left = tasks.len(),
            "HTTP API: connections still open at shutdown dropped"
        );
    }
    Ok(())
}

/// The whole application: routes, auth, limits and metrics.
pub fn app(state: AppState) -> axum::Router {
    let (router, openapi) = routes::router().split_for_parts();
    let openapi = Arc::new(describe_self(openapi));
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = Arc::clone(&openapi);
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(dashboard::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Outermost, so every answer is counted: refused ones (401, 403), unknown routes, timeouts.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ))
        .with_state(state)
}

/// The OpenAPI document of every route (for tests and `GET /openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    describe_self(routes::router().split_for_parts().1)
}

/// Adds `GET /openapi.json` itself (served outside the annotated routes) and the error answers
/// every route shares.
fn describe_self(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    doc.paths.paths.insert(
        "/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .response(
                    "200",
                    utoipa::openapi::Response::new("OpenAPI 3.1 document"),
                ),
        ),
    );
    routes::document_errors(&mut doc);
    doc
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Lets a request in with the right bearer token or a signed-in session cookie (a state-changing
/// request by cookie also needs the anti-CSRF header); `/healthz`, the dashboard's static files and
/// The `Authorization: Bearer …` token a request carries, if any.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::as_bytes)
}

/// signing in need neither. Records how the request got in (for `GET /api/v1/session`).
async fn authorize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        // Open (loopback, no token): only requests addressed to loopback by name are served, so a
        // page whose domain was re-pointed at 127.0.0.1 cannot read or change anything.
        if !session::loopback_host(req.headers()) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "host",
                "without http.token only requests to 127.0.0.1, [::1] or localhost are served",
            )
            .into_response();
        }
        // Another site's page in a local browser must not change anything.
        if !is_safe(req.method()) && session::cross_site(req.headers()) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "a request from another site's page cannot change anything here",
            )
            .into_response();
        }
        req.extensions_mut().insert(session::AuthMethod::Open);
        return next.run(req).await;
    };
    let path = req.uri().path();
    // The probes: a load balancer or Kubernetes sends no token, and they reveal no data; with
    // `http.probe_token` they need that token (or the API's).
    if routes::is_probe(path) {
        let Some(probe) = &state.probe_token else {
            return next.run(req).await;
        };
        let given = bearer(req.headers());
        if given.is_some_and(|g| probe.matches(g) || token.matches(g)) {
            return next.run(req).await;
        }
        if given.is_some() {
            state.guesses.refuse().await;
        }
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the probes need `Authorization: Bearer <http.probe_token>`",
        )
        .into_response();
    }
    if (matches!(*req.method(), Method::GET | Method::HEAD) && dashboard::is_asset(path))
        || (req.method() == Method::POST && path == routes::SESSION_PATH)
    {
        return next.run(req).await;
    }
    let given = bearer(req.headers());
    if given.is_some_and(|g| token.matches(g)) {
        req.extensions_mut().insert(session::AuthMethod::Bearer);
        return next.run(req).await;
    }
    let signed_in = match session::cookie(req.headers()).filter(|_| given.is_none()) {
        Some(id) => match state.sessions.valid(id).await {
            Ok(v) => v,
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => false,
    };
    if signed_in {
        if !is_safe(req.method()) && !session::has_csrf_header(req.headers()) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                format!(
                    "a request signed in by cookie that changes something must send `{}: {}`",
                    session::CSRF_HEADER,
                    session::CSRF_VALUE
                ),
            )
            .into_response();
        }
        req.extensions_mut().insert(session::AuthMethod::Cookie);
        return next.run(req).await;
    }
    if given.is_some() {
        state.guesses.refuse().await;
    }
    let mut resp = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        if given.is_some() {
            "wrong bearer token"
        } else {
            "send `Authorization: Bearer <http.token>`, or sign in on the dashboard (/)"
        },
    )
    .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// Whether a request method only reads.
fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The `route` label of requests to paths no route serves.
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// Counts requests per route pattern (not per path: ids would explode the label set; every unknown
/// path is [`UNMATCHED_ROUTE`]), method (methods HTTP does not define are `other`) and status.
async fn count_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, |p| p.as_str())
        .to_string();
    let method = match *req.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS
        | Method::CONNECT
        | Method::TRACE => req.method().as_str(),
        _ => "other",
    }
    .to_string();
    let resp = next.run(req).await;
    state
        .http_metrics
        .requests
        .get_or_create(&RouteLabels {
            route,
            method,
            status: resp.status().as_u16().to_string(),
        })
        .inc();
    resp
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// A stable code: `bad_request`, `unauthorized`, `not_found`, `conflict`, `invalid`, `internal`…
    pub code: String,
    /// A sentence for a person.
    pub message: String,
}

/// An error answer: a status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request cannot be read.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "HTTP request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<tgsift_store::StoreError> for ApiError {
    fn from(e: tgsift_store::StoreError) -> Self {
        ApiError::from(OpsError::from(e))
    }
}

impl From<OpsError> for ApiError {
    fn from(e: OpsError) -> Self {
        let (status, code) = match &e {
            OpsError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            OpsError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            OpsError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            OpsError::Store(_) | OpsError::Other(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError::new(status, code, format!("{e:#}"))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            // Well-formed JSON that does not fit: an unknown field, a wrong type, a missing field.
            JsonRejection::JsonDataError(e) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text())
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the body is larger than {BODY_LIMIT} bytes"),
                )
            }
            other => ApiError::bad_request(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(format!("query string: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(format!("path: {}", r.body_text()))
    }
}

/// A JSON body whose errors answer in the API's error shape.
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Read as a value first: serde would fill a struct from an array too, field by position.
        let axum::Json(mut v) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        integral(&mut v);
        let kind = match &v {
            serde_json::Value::Object(_) => {
                return T::deserialize(v).map(ApiJson).map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid",
                        format!("body: {e}"),
                    )
                });
            }
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Null => "null",
        };
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("the body must be a JSON object (`{{\"field\": value, …}}`), not {kind}"),
        ))
    }
}

/// Makes every number with an integral value (`5.0`, `1e3`) an integer, as JSON Schema counts it,
/// so an integer field takes it.
fn integral(v: &mut serde_json::Value) {
    /// Integers up to this are exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT)
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral),
        _ => {}
    }
}

/// A query string whose errors (an unknown parameter included) answer in the API's error shape.
pub(crate) struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// A path parameter whose errors answer in the API's error shape.
pub(crate) struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}
