//! `rtbox restore FILE`, `rtbox backup DIR --keep N` and scheduled backups from `serve`:
//! a backup taken under load comes back exactly, a running server is never pulled out
//! from under, and a damaged or foreign file is refused before anything is touched.

mod common;
use common::*;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn texts(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .map(|m| {
            m["payload"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn publish(s: &Server, key: &str, text: &str) {
    s.publish_with_key(key, "journal", json!({"payload": {"text": text}}))
        .expect(201);
}

#[test]
fn a_backup_taken_during_writes_is_restored_exactly_and_the_old_database_kept_aside() {
    let mut s = Server::start();
    let admin = s.admin_token();
    let key = s.create_key(&admin, "backend", "admin").key;
    s.create_channel(&admin, json!({"name": "journal"}));
    publish(&s, &key, "before backup");

    // Writers keep committing (API keys and messages) while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (url, admin, key, stop, writes) = (
            s.url(""),
            admin.clone(),
            key.clone(),
            stop.clone(),
            writes.clone(),
        );
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(format!("{url}/api/v1/keys"))
                    .bearer_auth(&admin)
                    .json(&json!({"name": format!("load {i}"), "role": "publish"}))
                    .send()
                    .expect("create key");
                assert!(r.status().is_success());
                let r = http
                    .post(format!("{url}/api/v1/channels/journal/publish"))
                    .header("X-API-KEY", &key)
                    .json(&json!({"payload": {"text": format!("load {i}")}}))
                    .send()
                    .expect("publish");
                assert!(r.status().is_success());
                writes.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    while writes.load(Ordering::Relaxed) < 10 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let backups = tempfile::TempDir::new().unwrap();
    let backup = backups.path().join("during.db");
    let out = run_cli(s.data_dir(), &["backup", backup.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", stderr_of(&out));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let keys_in_backup = count(&backup, "api_keys");
    let messages_in_backup = count(&backup, "messages");
    assert!(keys_in_backup >= 10 && messages_in_backup >= 10);

    // After the backup: more writes, which the restore must roll back.
    publish(&s, &key, "after backup");
    let history_now = s.full_history(&key, "journal");
    assert_eq!(texts(&history_now).last().unwrap(), "after backup");

    let status = s.terminate();
    assert!(status.success());
    let out = run_cli(s.data_dir(), &["restore", backup.to_str().unwrap()], "");
    assert!(out.status.success(), "restore failed: {}", stderr_of(&out));
    let said = stdout_of(&out);
    assert!(said.contains("previous database moved to"), "{said}");
    assert!(said.contains("restored"), "{said}");

    // The previous database sits next to the new one, complete with the later writes.
    let aside: Vec<_> = std::fs::read_dir(s.data_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("rtbox.db.pre-restore-")
                && !p.to_string_lossy().ends_with("-wal")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        count(&aside[0], "messages"),
        history_now.len() as i64,
        "the set-aside database holds every write"
    );

    s.start_again();
    let history = s.full_history(&key, "journal");
    assert_eq!(history.len() as i64, messages_in_backup);
    assert!(!texts(&history).contains(&"after backup".to_string()));
    assert_eq!(texts(&history)[0], "before backup");
    let ids: Vec<i64> = history.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let token = s.login(ADMIN_EMAIL, PASSWORD);
    let keys = s.get("/api/v1/keys").bearer_auth(token).call().expect(200);
    let listed = keys["objects"]
        .as_array()
        .map(|a| a.len() as i64)
        .unwrap_or(-1);
    assert_eq!(listed, keys_in_backup, "{keys}");
    publish(&s, &key, "after restore");
    assert_eq!(
        texts(&s.full_history(&key, "journal")).last().unwrap(),
        "after restore"
    );
}

#[test]
fn restore_is_refused_while_a_server_holds_the_database() {
    let s = Server::start();
    let admin = s.admin_token();
    let backups = tempfile::TempDir::new().unwrap();
    let backup = backups.path().join("b.db");
    assert!(
        run_cli(s.data_dir(), &["backup", backup.to_str().unwrap()], "")
            .status
            .success()
    );
    s.create_key(&admin, "made after the backup", "publish");
    let before = std::fs::metadata(s.db_path()).unwrap();

    let out = run_cli(s.data_dir(), &["restore", backup.to_str().unwrap()], "");
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("a server is running"), "{err}");
    assert!(err.contains("rtbox serve pid"), "{err}");
    assert!(err.contains("stop it first"), "{err}");
    // Nothing moved: same file, server still answering with its data.
    let after = std::fs::metadata(s.db_path()).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(before.ino(), after.ino());
    assert_eq!(s.get("/healthz").call().status, 200);
    let names: Vec<String> = std::fs::read_dir(s.data_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("pre-restore")),
        "{names:?}"
    );

    // A second server on the same data dir is refused the same way.
    let second = Server::builder().data_dir(s.data_dir()).try_start();
    let err = second.err().expect("a second serve must not start");
    assert!(err.contains("a server is running"), "{err}");
}

#[test]
fn damaged_foreign_and_newer_files_are_refused_and_nothing_is_touched() {
    let mut s = Server::start();
    let admin = s.admin_token();
    s.create_key(&admin, "precious", "publish");
    s.terminate();
    let db = s.db_path();
    let original = std::fs::read(&db).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let good = dir.path().join("good.db");
    assert!(
        run_cli(s.data_dir(), &["backup", good.to_str().unwrap()], "")
            .status
            .success()
    );
    let good_bytes = std::fs::read(&good).unwrap();

    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "text.db",
            b"this is not a database\n".repeat(200),
            "is not an rtbox database",
        ),
        ("empty.db", Vec::new(), "is not an rtbox database"),
        (
            "truncated.db",
            good_bytes[..good_bytes.len() / 2].to_vec(),
            "integrity_check",
        ),
    ];
    // Garbage over the middle of every b-tree page after the first: the header still
    // opens, the pages do not check out.
    let mut scribbled = good_bytes.clone();
    let page = u16::from_be_bytes([good_bytes[16], good_bytes[17]]) as usize;
    for p in 1..scribbled.len() / page {
        for b in &mut scribbled[p * page + 8..p * page + 64] {
            *b = 0xA5;
        }
    }
    cases.push(("scribbled.db", scribbled, "integrity_check"));
    for (name, bytes, _) in &cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    // An SQLite file that is not rtbox's, and one from a newer rtbox.
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes(x); INSERT INTO notes VALUES (1);")
        .unwrap();
    let newer = dir.path().join("newer.db");
    std::fs::write(&newer, &good_bytes).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 9999)
        .unwrap();
    let mut all: Vec<(String, &str)> = cases.iter().map(|(n, _, e)| (n.to_string(), *e)).collect();
    all.push(("foreign.db".into(), "is not an rtbox database"));
    all.push(("newer.db".into(), "newer than this rtbox supports"));
    all.push(("missing.db".into(), "No such file"));

    for (name, expected) in all {
        let path = dir.path().join(&name);
        let out = run_cli(s.data_dir(), &["restore", path.to_str().unwrap()], "");
        assert!(!out.status.success(), "{name} was accepted");
        let err = stderr_of(&out);
        assert!(err.contains(expected), "{name}: {err}");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            original,
            "{name} touched the db"
        );
    }
    let names: Vec<String> = std::fs::read_dir(s.data_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("pre-restore") || n.contains("restoring")),
        "{names:?}"
    );

    // The good copy still restores into an empty data dir (no previous database).
    let fresh = tempfile::TempDir::new().unwrap();
    let out = run_cli(fresh.path(), &["restore", good.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stdout_of(&out).contains("previous database"));
    assert_eq!(count(&fresh.path().join("rtbox.db"), "api_keys"), 1);
    // Restores in quick succession each keep their own copy of what they replaced.
    for _ in 0..2 {
        let out = run_cli(fresh.path(), &["restore", good.to_str().unwrap()], "");
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    let aside = std::fs::read_dir(fresh.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".pre-restore-"))
        .count();
    assert_eq!(aside, 2);
}

#[test]
fn backup_into_a_directory_rotates_to_the_newest_n() {
    let s = Server::start();
    let admin = s.admin_token();
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let d = dir.path().to_str().unwrap();
    let mut written = Vec::new();
    for i in 0..4 {
        s.create_key(&admin, &format!("k{i}"), "publish");
        let out = run_cli(s.data_dir(), &["backup", d, "--keep", "2"], "");
        assert!(out.status.success(), "{}", stderr_of(&out));
        let said = stdout_of(&out);
        let file = said
            .lines()
            .find_map(|l| l.strip_prefix("backup written to "))
            .and_then(|l| l.split(" (").next())
            .unwrap()
            .to_string();
        if i >= 2 {
            assert!(said.contains("deleted old backup"), "{said}");
        }
        written.push(file);
    }
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".db"))
        .collect();
    left.sort();
    assert_eq!(left, written[2..].to_vec());
    assert_eq!(count(Path::new(&written[3]), "api_keys"), 4);
    assert!(dir.path().join("notes.txt").exists());

    // --keep makes a missing path a directory; on an existing file it is refused.
    let made = dir.path().join("made-by-keep");
    let out = run_cli(
        s.data_dir(),
        &["backup", made.to_str().unwrap(), "--keep", "1"],
        "",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_dir(&made).unwrap().count(), 1);
    let file = dir.path().join("notes.txt");
    let out = run_cli(
        s.data_dir(),
        &["backup", file.to_str().unwrap(), "--keep", "2"],
        "",
    );
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("is a file"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    // 0 keeps nothing and is refused.
    let out = run_cli(s.data_dir(), &["backup", d, "--keep", "0"], "");
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("at least 1"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn serve_makes_scheduled_backups_and_keeps_the_newest() {
    let dir = tempfile::TempDir::new().unwrap();
    let backups = dir.path().join("backups");
    let mut s = Server::start_with(
        &[
            "--backup-dir",
            backups.to_str().unwrap(),
            "--backup-interval",
            "1",
            "--backup-keep",
            "2",
        ],
        &[],
    );
    let admin = s.admin_token();
    s.create_key(&admin, "scheduled", "publish");
    let list = || -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&backups)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|e| e == "db"));
        v.sort();
        v
    };
    // First backup at once (none yet), then one a second; rotation keeps two.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 4 && Instant::now() < deadline {
        for p in list() {
            seen.insert(p);
        }
        // The new backup is complete before the oldest goes: keep + 1 at most, briefly.
        assert!(list().len() <= 3, "{:?}", list());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen.len() >= 4, "scheduled backups: {seen:?}");
    let metrics = s.get("/metrics").call().text;
    assert!(
        metrics.contains("rtbox_backups_total{result=\"ok\"}"),
        "{metrics}"
    );
    assert!(s.terminate().success());
    let left = list();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(count(left.last().unwrap(), "api_keys"), 1);

    // Settings are checked: an interval without a dir, and a bad duration.
    let refused = Server::builder()
        .args(&["--backup-interval", "1h"])
        .try_start()
        .err()
        .unwrap();
    assert!(refused.contains("backup_dir"), "{refused}");
    let refused = Server::builder()
        .args(&["--backup-dir", "/tmp/x", "--backup-interval", "soon"])
        .try_start()
        .err()
        .unwrap();
    assert!(refused.contains("backup_interval"), "{refused}");
}
