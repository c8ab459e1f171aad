//! [`TaskError`]: how a long-running task (an account's ingest, the alert sender, the job runner,
//! the HTTP server) says it failed, and whether starting it again can help.
//!
//! The tasks return it and the runtime's supervisor acts on it; it lives below both, so a feature
//! never imports the wiring that runs it.

use tgsift_store::StoreError;

/// Why a supervised task ended with an error, and whether starting it again can help.
#[derive(Debug)]
pub struct TaskError {
    /// Restarting cannot help (the database is gone or unusable): the whole service stops.
    pub fatal: bool,
    /// What happened, with its causes.
    pub error: anyhow::Error,
}

impl TaskError {
    /// A failure worth another try after a backoff.
    pub fn retry(error: impl Into<anyhow::Error>) -> Self {
        TaskError {
            fatal: false,
            error: error.into(),
        }
    }
}

impl From<StoreError> for TaskError {
    fn from(e: StoreError) -> Self {
        TaskError {
            fatal: e.is_fatal(),
            error: e.into(),
        }
    }
}
