//! [`WebSessionStore`] on both backends: the dashboard's sessions expire, end on sign-out and are
//! bounded in number.

use super::{on_postgres, on_sqlite};
use crate::prelude::*;

fn sessions_expire_are_removed_and_are_bounded<S: WebSessionStore + ?Sized>(s: &mut S) {
    s.create_web_session(b"a", 100, 200, 2).expect("a");
    assert!(s.web_session_valid(b"a", 150).expect("read"));
    assert!(!s.web_session_valid(b"a", 200).expect("read"), "expired");
    assert!(!s.web_session_valid(b"x", 150).expect("read"), "unknown");
    s.create_web_session(b"b", 101, 201, 2).expect("b");
    assert!(
        s.web_session_valid(b"a", 150).expect("read"),
        "within the bound"
    );
    s.create_web_session(b"c", 102, 202, 2).expect("c");
    assert!(
        !s.web_session_valid(b"a", 150).expect("read"),
        "past the bound the oldest goes"
    );
    assert!(s.web_session_valid(b"b", 150).expect("read"));
    assert!(s.web_session_valid(b"c", 150).expect("read"));
    s.remove_web_session(b"c").expect("remove");
    assert!(!s.web_session_valid(b"c", 150).expect("read"), "signed out");
    s.remove_web_session(b"c").expect("unknown: ignored");
    assert!(s.web_session_valid(b"b", 150).expect("read"));
}

fn a_session_recorded_again_takes_its_new_expiry<S: WebSessionStore + ?Sized>(s: &mut S) {
    let digest = [0u8, 255, 7, 0];
    s.create_web_session(&digest, 100, 200, 3).expect("first");
    s.create_web_session(&digest, 150, 500, 3).expect("again");
    assert!(s.web_session_valid(&digest, 400).expect("read"));
    assert!(!s.web_session_valid(&digest, 500).expect("read"));
    assert!(
        !s.web_session_valid(&digest[..3], 150).expect("read"),
        "the whole digest must match"
    );
    // An expired session is dropped and does not count against the bound.
    s.create_web_session(b"old", 150, 160, 3).expect("old");
    s.create_web_session(b"new", 170, 600, 2).expect("new");
    assert!(s.web_session_valid(&digest, 180).expect("read"));
    assert!(s.web_session_valid(b"new", 180).expect("read"));
    // A bound of one keeps only the session just made.
    s.create_web_session(b"only", 180, 300, 1).expect("only");
    assert!(s.web_session_valid(b"only", 190).expect("read"));
    assert!(!s.web_session_valid(&digest, 190).expect("read"));
    assert!(!s.web_session_valid(b"new", 190).expect("read"));
}

both! {
    web_sessions_expire_are_removed_and_bounded => sessions_expire_are_removed_and_are_bounded,
    web_session_recorded_again => a_session_recorded_again_takes_its_new_expiry,
}
