//! `rtbox backup FILE`: a consistent online copy while the server keeps writing.

mod common;
use common::*;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn a_backup_taken_while_the_server_writes_opens_and_passes_integrity_check() {
    let s = Server::start();
    let admin = s.admin_token();

    // Two writers hammer the database: API keys and health probes (each is a commit).
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (url, admin, stop, writes) = (s.url(""), admin.clone(), stop.clone(), writes.clone());
        writers.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = if w == 0 {
                    http.post(format!("{url}/api/v1/keys"))
                        .bearer_auth(&admin)
                        .json(&json!({"name": format!("key {i}"), "role": "publish"}))
                        .send()
                } else {
                    http.get(format!("{url}/healthz")).send()
                };
                let status = r.expect("request").status();
                assert!(status.is_success(), "write failed: {status}");
                writes.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    while writes.load(Ordering::Relaxed) < 20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let backups = tempfile::TempDir::new().unwrap();
    let mut copies = Vec::new();
    for n in 0..3 {
        let file = backups.path().join(format!("copy-{n}.db"));
        let out = run_cli(s.data_dir(), &["backup", file.to_str().unwrap()], "");
        assert!(out.status.success(), "backup failed: {}", stderr_of(&out));
        assert!(
            stdout_of(&out).contains("integrity_check: ok"),
            "{}",
            stdout_of(&out)
        );
        copies.push(file);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer thread");
    }
    let during = writes.load(Ordering::Relaxed);

    let mut previous = 0;
    for file in &copies {
        let conn = rusqlite::Connection::open(file).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, rtbox::store::migrate::latest_version());
        let keys: i64 = conn
            .query_row("SELECT count(*) FROM api_keys", [], |r| r.get(0))
            .unwrap();
        assert!(keys >= previous, "later copies hold at least as much");
        previous = keys;
        let users: i64 = conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(users, 1);
    }
    assert!(during > 20);
    assert!(previous > 0, "the copies saw the writes");

    // A copy is a working instance: put it in a new data dir and log in.
    let restored = tempfile::TempDir::new().unwrap();
    std::fs::copy(&copies[2], restored.path().join("rtbox.db")).unwrap();
    let r = Server::builder().data_dir(restored.path()).start();
    assert!(
        r.setup_token.is_none(),
        "the restored instance already has its admin"
    );
    r.login(ADMIN_EMAIL, PASSWORD);
}

#[test]
fn backup_refuses_to_overwrite_and_explains_a_missing_database() {
    let s = Server::start();
    let dir = tempfile::TempDir::new().unwrap();
    let existing = dir.path().join("exists.db");
    std::fs::write(&existing, b"precious").unwrap();
    let out = run_cli(s.data_dir(), &["backup", existing.to_str().unwrap()], "");
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("already exists"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"precious");

    let empty = tempfile::TempDir::new().unwrap();
    let out = run_cli(
        empty.path(),
        &["backup", dir.path().join("x.db").to_str().unwrap()],
        "",
    );
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("no database at"),
        "{}",
        stderr_of(&out)
    );
}
