//! The binary's promises at the edge: clear messages and exit code 2 for bad input, nothing stored lost.

use std::path::Path;
use std::process::{Command, Output};

fn tgsift(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tgsift"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("TGSIFT_CONFIG")
        .output()
        .expect("run tgsift")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_config_file_exits_2_naming_it() {
    let d = tempfile::tempdir().expect("tempdir");
    let o = tgsift(d.path(), &["--config", "absent.toml", "config", "show"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("absent.toml"), "{}", stderr(&o));
}

#[test]
fn malformed_toml_and_unknown_key_exit_2() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("bad.toml"), "[telegram\n").expect("write");
    let o = tgsift(d.path(), &["--config", "bad.toml", "migrate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not valid TOML"), "{}", stderr(&o));
    std::fs::write(
        d.path().join("tgsift.toml"),
        "[storage]\ndatabse = \"x.db\"\n",
    )
    .expect("write");
    let o = tgsift(d.path(), &["migrate"]);
    assert_eq!(o.status.code(), Some(2), "./tgsift.toml is read by default");
    assert!(stderr(&o).contains("storage.databse"), "{}", stderr(&o));
    assert!(
        !d.path().join("tgsift.db").exists(),
        "nothing is created on a config error"
    );
}

#[test]
fn database_that_is_not_sqlite_exits_2_untouched() {
    let d = tempfile::tempdir().expect("tempdir");
    let text = "notes, not a database\n".repeat(20);
    std::fs::write(d.path().join("notes.db"), &text).expect("write");
    let o = tgsift(d.path(), &["--db", "notes.db", "migrate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not an SQLite database"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("notes.db")).expect("read"),
        text
    );
}

#[test]
fn database_in_unwritable_place_exits_2() {
    let d = tempfile::tempdir().expect("tempdir");
    // /proc refuses new files even to root, so this holds wherever the tests run.
    let o = tgsift(d.path(), &["--db", "/proc/tgsift-test.db", "migrate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/proc/tgsift-test.db"),
        "{}",
        stderr(&o)
    );
    let o = tgsift(d.path(), &["--db", "no/such/folder/x.db", "migrate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

#[test]
fn migrate_twice_reports_up_to_date() {
    let d = tempfile::tempdir().expect("tempdir");
    let first = tgsift(d.path(), &["--db", "t.db", "migrate"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("migrated from version 0"));
    let second = tgsift(d.path(), &["--db", "t.db", "migrate"]);
    assert_eq!(second.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let d = tempfile::tempdir().expect("tempdir");
    assert_eq!(tgsift(d.path(), &["frobnicate"]).status.code(), Some(2));
    assert_eq!(tgsift(d.path(), &["--version"]).status.code(), Some(0));
}

#[test]
fn config_show_redacts_env_secrets() {
    let d = tempfile::tempdir().expect("tempdir");
    let hash = "00112233445566778899aabbccddeeff";
    let o = Command::new(env!("CARGO_BIN_EXE_tgsift"))
        .args(["config", "show"])
        .current_dir(d.path())
        .env("TG_API_HASH", hash)
        .env("TG_API_ID", "77")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("api_id = 77  # env TG_API_ID"), "{out}");
    assert!(!out.contains(hash) && !stderr(&o).contains(hash));
}

#[test]
fn sim_serve_refuses_a_bad_live_rate_or_share_with_exit_2() {
    let d = tempfile::tempdir().expect("tempdir");
    let o = tgsift(d.path(), &["sim", "serve", "--live-rate", "fast"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("--live-rate") && e.contains("posts per second"),
        "{e}"
    );
    let o = tgsift(
        d.path(),
        &["sim", "serve", "--live-rate", "5", "--live-edits", "2"],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("--live-edits") && e.contains("probability"),
        "{e}"
    );
}

#[test]
fn sim_serve_announces_live_posts_and_strict_keys() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let d = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tgsift"))
        .args([
            "sim",
            "serve",
            "--posts",
            "100",
            "--live-rate",
            "50",
            "--strict-keys",
        ])
        .current_dir(d.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
        let done = line.contains("serving until Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(
        text.contains("live: 50 new posts/s over 3 channels"),
        "{text}"
    );
    assert!(text.contains("strict keys"), "{text}");
    assert!(text.contains("serving until Ctrl-C"), "{text}");
}

#[test]
fn sim_serve_writes_a_session_per_account_and_announces_latency() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let d = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tgsift"))
        .args([
            "sim",
            "serve",
            "--posts",
            "50",
            "--accounts",
            "3",
            "--sessions-out",
            "s",
            "--authorized",
            "--latency-ms",
            "100",
            "--latency-jitter-ms",
            "20",
        ])
        .current_dir(d.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let out = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        let done = line.contains("serving until Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(text.contains("3 session files written to s"), "{text}");
    assert!(
        text.contains("latency: 100 ms round trip (+ up to 20 ms)"),
        "{text}"
    );
    for n in 0..3 {
        let s = tgsift::telegram::session::SqliteSession::open(
            &d.path().join(format!("s/sim{n}.session")),
        )
        .expect("session");
        assert!(s.auth_key().is_some());
    }
    let o = tgsift(d.path(), &["sim", "serve", "--accounts", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_reader_that_closed_the_pipe_ends_the_command_quietly_with_exit_0() {
    // As `tgsift config keys | head -0`: the reading end is gone before the first line is written.
    let d = tempfile::tempdir().expect("tempdir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    for args in [
        &["config", "keys"][..],
        &["config", "show"][..],
        &["--help"][..],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_tgsift"))
            .args(args)
            .current_dir(d.path())
            .env_remove("RUST_LOG")
            .env_remove("TGSIFT_CONFIG")
            .stdout(writer.try_clone().expect("clone the pipe"))
            .output()
            .expect("run tgsift");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

/// Issue 31, item 14: an SQLite file that is not a tgsift database is refused untouched (exit 2),
/// instead of being given tgsift's tables and switched to WAL.
#[test]
fn a_foreign_database_or_a_session_file_as_db_is_refused_untouched() {
    let d = tempfile::tempdir().expect("tempdir");
    let foreign = d.path().join("notes.db");
    {
        let c = rusqlite::Connection::open(&foreign).expect("create");
        c.execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO notes (body) VALUES ('keep me');",
        )
        .expect("fill");
    }
    let before = std::fs::read(&foreign).expect("read");
    let o = tgsift(d.path(), &["--db", "notes.db", "channels", "list"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("notes.db is an SQLite database of another program (tables notes)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&foreign).expect("read"), before, "untouched");
    assert!(!d.path().join("notes.db-wal").exists());

    let session = d.path().join("alice.session");
    drop(tgsift::telegram::session::SqliteSession::create(&session).expect("session"));
    let before = std::fs::read(&session).expect("read");
    let o = tgsift(d.path(), &["--db", "alice.session", "migrate"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("alice.session is a tgsift session file") && err.contains("account import"),
        "{err}"
    );
    assert!(err.len() < 600, "one clear line, not the schema: {err}");
    assert_eq!(std::fs::read(&session).expect("read"), before, "untouched");

    // A session file cut short is a bad input file too (exit 2), named as damaged.
    let cut = d.path().join("cut.session");
    std::fs::write(&cut, &before[..before.len() / 2]).expect("truncate");
    let o = tgsift(
        d.path(),
        &[
            "--db",
            "t.db",
            "account",
            "import",
            "bob",
            "--session",
            "cut.session",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("session file cut.session is damaged"),
        "{}",
        stderr(&o)
    );
}

/// Issue 31, item 9: `--limit 0` is refused (it used to print one row); `status` on an empty
/// database says there are no posts instead of "tagging: 0 posts: ".
#[test]
fn a_zero_limit_is_refused_and_an_empty_status_reads_well() {
    let d = tempfile::tempdir().expect("tempdir");
    for args in [
        &["posts", "list", "--limit", "0"][..],
        &["posts", "search", "word", "--limit", "0"],
        &["tags", "top", "--limit", "0"],
        &["stats", "--top", "0"],
    ] {
        let o = tgsift(d.path(), &[&["--db", "t.db"][..], args].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("0 is not in 1.."), "{}", stderr(&o));
    }
    let o = tgsift(d.path(), &["--db", "t.db", "status"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("tagging: no posts yet"), "{out}");
}
