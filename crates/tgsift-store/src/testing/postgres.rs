//! PostgreSQL for tests: a schema of the test's own in the database `TGSIFT_TEST_PG` names.
//!
//! Without `TGSIFT_TEST_PG` a PostgreSQL test prints that it was skipped and why, and passes — except
//! under CI (`CI` set), where the database is part of the machine and a missing setting is a failure.

use std::io::Write as _;
use std::str::FromStr;
use std::sync::Once;

use crate::postgres::{PgError, PgStore};

/// The variable that names the test database, e.g. `postgres://postgres@127.0.0.1:5432/test`.
pub const TEST_PG_ENV: &str = "TGSIFT_TEST_PG";

/// The test database's URL, or `None` (after saying why on stderr) when PostgreSQL tests are skipped.
///
/// # Panics
/// Under CI without `TGSIFT_TEST_PG`: CI has PostgreSQL, so skipping there would hide a failure.
pub fn test_url(test: &str) -> Option<String> {
    match std::env::var(TEST_PG_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{test}: {TEST_PG_ENV} is not set under CI; .ci/run sets it to the CI database")
        }
        _ => {
            // Once per test binary, past the test harness's capture, so a plain `cargo test` shows it.
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: the PostgreSQL tests (first: {test}) are skipped: set \
                     {TEST_PG_ENV}=postgres://USER@HOST:PORT/DB to run them (CI runs them against \
                     postgres://postgres@127.0.0.1:5432/test)"
                );
            });
            None
        }
    }
}

/// The schema a test works in: `tgsift_test_<test>`.
pub fn schema_of(test: &str) -> String {
    format!("tgsift_test_{test}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A configuration for the test database whose `search_path` is the test's schema, as it is (for a
/// second connection to a schema [`fresh_config`] made).
pub fn schema_config(test: &str) -> Option<tokio_postgres::Config> {
    let url = test_url(test)?;
    let mut config = match tokio_postgres::Config::from_str(&url) {
        Ok(config) => config,
        Err(e) => panic!("{TEST_PG_ENV}={url:?} is not a PostgreSQL URL: {e}"),
    };
    config.options(format!("-c search_path={}", schema_of(test)));
    Some(config)
}

/// A configuration for the test database whose `search_path` is the schema `tgsift_test_<test>`,
/// dropped and made anew, so every test starts from an empty database and reruns start clean.
pub async fn fresh_config(test: &str) -> Option<tokio_postgres::Config> {
    let config = schema_config(test)?;
    let schema = schema_of(test);
    let (client, connection) = match config.connect(tokio_postgres::NoTls).await {
        Ok(pair) => pair,
        Err(e) => panic!("{test}: cannot connect to the database {TEST_PG_ENV} names: {e}"),
    };
    let driver = tokio::spawn(connection);
    let reset = format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};");
    if let Err(e) = client.batch_execute(&reset).await {
        panic!("{test}: cannot make schema {schema}: {e}");
    }
    drop(client);
    let _ = driver.await;
    Some(config)
}

/// A migrated [`PgStore`] in a fresh schema (see [`fresh_config`]); `None` when skipped.
pub async fn fresh_store(test: &str) -> Option<Result<PgStore, PgError>> {
    let config = fresh_config(test).await?;
    Some(PgStore::open_config(config).await)
}

/// The URL of the test database with `search_path` set to the test's schema, made anew — for a
/// `tgsift` process (`--db URL`, `db copy --to URL`); `None` when skipped.
pub async fn fresh_url(test: &str) -> Option<String> {
    fresh_config(test).await?;
    let url = test_url(test)?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{url}{separator}options=-c%20search_path%3D{}",
        schema_of(test)
    ))
}
