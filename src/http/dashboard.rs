//! The web dashboard: one HTML page, a stylesheet and a script, compiled into the binary (no build
//! step, nothing fetched from elsewhere). They hold no data — every figure comes from the JSON API —
//! so they are served without sign-in; the page asks for the token when the API answers 401.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE_CSS: &str = include_str!("dashboard/style.css");

/// Only this origin's script and styles run; the page cannot be framed (clickjacking).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether `path` is one of the dashboard's static files (served without sign-in).
pub(crate) fn is_asset(path: &str) -> bool {
    matches!(path, "/" | "/ui/app.js" | "/ui/style.css")
}

/// The dashboard's routes: `/` and `/ui/…`.
pub(crate) fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| asset(INDEX_HTML, "text/html; charset=utf-8")),
        )
        .route(
            "/ui/app.js",
            axum::routing::get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/ui/style.css",
            axum::routing::get(|| asset(STYLE_CSS, "text/css; charset=utf-8")),
        )
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Small files: always revalidated, so a new binary's page is never mixed with an old script.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}
