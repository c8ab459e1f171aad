//! Sign-in for the dashboard: a browser trades the HTTP token once (`POST /api/v1/session`) for a
//! session cookie, so the token never sits in the page's JavaScript or storage.
//!
//! The cookie is `HttpOnly` (scripts cannot read it) and `SameSite=Strict` (other sites' pages do not
//! send it); on top of that, a state-changing request authenticated by the cookie must carry
//! [`CSRF_HEADER`], which a cross-site form cannot send. Sessions live in the database (table
//! `web_sessions`), so a restart of the service keeps everyone signed in. Only the SHA-256 of a session
//! id is stored, so neither the database nor a lookup's timing gives a valid id away.

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngCore;
use sha2::{Digest, Sha256};

use tgsift_store::{AsyncStore, StoreError, unix_now};

/// Name of the session cookie.
pub(crate) const COOKIE: &str = "tgsift_session";
/// The header (with value [`CSRF_VALUE`]) that state-changing requests signed in by cookie must send.
pub(crate) const CSRF_HEADER: &str = "x-requested-with";
/// The value of [`CSRF_HEADER`].
pub(crate) const CSRF_VALUE: &str = "tgsift";
/// How long a session lasts (seconds).
pub(crate) const LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// Sessions kept at most; the oldest is dropped beyond this (sign-ins are rare, so this is a leak guard).
const MAX_SESSIONS: usize = 1_000;

/// How a request was let in, for `GET /api/v1/session`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// No token is configured (loopback only): everyone is let in.
    Open,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The session cookie.
    Cookie,
}

impl AuthMethod {
    /// `open`, `bearer` or `cookie`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Open => "open",
            AuthMethod::Bearer => "bearer",
            AuthMethod::Cookie => "cookie",
        }
    }
}

/// The signed-in browser sessions, stored in the database by the SHA-256 of their ids.
#[derive(Clone)]
pub(crate) struct Sessions(AsyncStore);

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// The sessions kept in `store`.
    pub(crate) fn new(store: AsyncStore) -> Self {
        Sessions(store)
    }

    /// Starts a session; returns its id (the cookie's value).
    pub(crate) async fn create(&self) -> Result<String, StoreError> {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let (d, now) = (digest(&id), unix_now());
        self.0
            .with("record a dashboard session", move |s| {
                s.create_web_session(&d, now, now + LIFETIME_SECS, MAX_SESSIONS)
            })
            .await?;
        Ok(id)
    }

    /// Whether `id` is a live session.
    pub(crate) async fn valid(&self, id: &str) -> Result<bool, StoreError> {
        let d = digest(id);
        self.0
            .read("look up a dashboard session", move |s| {
                s.web_session_valid(&d, unix_now())
            })
            .await
    }

    /// Ends a session (signing out).
    pub(crate) async fn remove(&self, id: &str) -> Result<(), StoreError> {
        let d = digest(id);
        self.0
            .with("end a dashboard session", move |s| s.remove_web_session(&d))
            .await
    }
}

/// The session id the request's `Cookie` header carries, if any.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether the request carries the anti-CSRF header.
pub(crate) fn has_csrf_header(headers: &HeaderMap) -> bool {
    headers
        .get(CSRF_HEADER)
        .is_some_and(|v| v.as_bytes() == CSRF_VALUE.as_bytes())
}

/// Whether a browser says the request comes from another site's page: `Sec-Fetch-Site: cross-site`, or
/// an `Origin` whose host and port are not the `Host` asked for. Clients that are not browsers send
/// neither and are let through.
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    origin_host.is_none() || origin_host != host
}

/// Whether the `Host` a request was sent to names this machine's loopback (`localhost`, `127.x.x.x`,
/// `[::1]`, any port), or is absent. A service without a token listens on loopback only, so any other
/// name is a page whose domain was pointed at 127.0.0.1 (DNS rebinding) to reach the open API.
pub(crate) fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The `Set-Cookie` value that stores session `id` (`Secure` when a proxy says the client used HTTPS).
pub(crate) fn set_cookie(id: &str, headers: &HeaderMap) -> HeaderValue {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let value = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={LIFETIME_SECS}{}",
        if secure { "; Secure" } else { "" }
    );
    // The id is hex: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that deletes the session cookie.
pub(crate) fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("tgsift_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_is_valid_until_removed_survives_a_restart_and_only_its_own_id_matches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let run = async {
            let s = Sessions::new(AsyncStore::open(path.clone()).await.expect("open"));
            let id = s.create().await.expect("create");
            assert_eq!(id.len(), 64);
            assert!(s.valid(&id).await.expect("read"));
            assert!(!s.valid("0000").await.expect("read"));
            assert!(!s.valid(&id[..63]).await.expect("read"));
            drop(s);
            // A restarted service (a new store on the same file) still knows the session.
            let s = Sessions::new(AsyncStore::open(path.clone()).await.expect("reopen"));
            assert!(s.valid(&id).await.expect("read"), "kept across a restart");
            s.remove(&id).await.expect("remove");
            assert!(!s.valid(&id).await.expect("read"));
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), run)
            .await
            .expect("timeout");
    }

    #[test]
    fn a_request_from_another_sites_page_is_told_apart() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(!cross_site(&h(&[("host", "127.0.0.1:8080")])), "curl");
        assert!(!cross_site(&h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(cross_site(&h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(cross_site(&h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
        assert!(cross_site(&h(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn only_loopback_names_are_taken_for_this_machine() {
        let h = |v: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_static(v));
            m
        };
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.2",
            "localhost:80",
            "LOCALHOST",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(loopback_host(&h(ok)), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "10.0.0.1:8080",
            "localhost.evil.example",
            "[::2]:80",
        ] {
            assert!(!loopback_host(&h(bad)), "{bad}");
        }
        assert!(loopback_host(&HeaderMap::new()), "no Host (HTTP/1.0)");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tgsift_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("tgsift_session="));
        assert_eq!(cookie(&h), None);
        let v = set_cookie("abc", &HeaderMap::new());
        assert_eq!(
            v.to_str().ok(),
            Some("tgsift_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=604800")
        );
    }
}
