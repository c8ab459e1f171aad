//! The HTTP token (`http.token`): how a given one is checked, and why a wrong one is answered slowly.
//!
//! A token is compared as SHA-256 digests in constant time, so the time an answer takes tells nothing
//! about how much of a guess was right, not even its length. A wrong token costs its sender
//! [`Guesses::PENALTY`], and wrong tokens are answered one at a time: however many connections a
//! guesser opens, it learns at most a few answers a second, while a right token is never delayed.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured token, kept as its digest.
pub(crate) struct Token {
    digest: [u8; 32],
}

impl Token {
    /// `http.token`; `None` when it is unset or empty (the API is then open on loopback).
    pub(crate) fn new(token: Option<&str>) -> Option<Self> {
        token.filter(|t| !t.is_empty()).map(|t| Token {
            digest: Sha256::digest(t.as_bytes()).into(),
        })
    }

    /// Whether `given` is the token, in time that depends on neither.
    pub(crate) fn matches(&self, given: &[u8]) -> bool {
        let given: [u8; 32] = Sha256::digest(given).into();
        given.ct_eq(&self.digest).into()
    }
}

/// The queue wrong tokens wait in before their 401.
#[derive(Clone, Default)]
pub(crate) struct Guesses {
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Guesses {
    /// How long one wrong token is held before its answer.
    pub(crate) const PENALTY: Duration = Duration::from_millis(300);

    /// Waits out one wrong token's penalty, behind every wrong token that came before it.
    pub(crate) async fn refuse(&self) {
        let _turn = self.gate.lock().await;
        tokio::time::sleep(Self::PENALTY).await;
    }
}
