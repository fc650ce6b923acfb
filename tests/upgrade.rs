//! The upgrade path: a database written by an earlier rtbox (tests/fixtures/schema-3.db,
//! see its README) is migrated by this binary to its newest schema and keeps every user,
//! key, channel, message and trigger. Nothing here names the newest version: it is
//! whatever this binary brings.

mod common;
use common::*;

use std::path::{Path, PathBuf};

const FIXTURE_PASSWORD: &str = "fixture password 1";
const FIXTURE_KEY: &str = "rtk_j5zKFAHjolsIg0c9lwl6kmxPi4Pi1GdKWy_U7XkB2qI";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-3.db")
}

fn schema_version(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// Everything the fixture holds is there and works on the upgraded server.
fn assert_fixture_data_works(s: &Server) {
    assert!(s.setup_token.is_none(), "the fixture has its admin already");
    let token = s.login("fixture@example.com", FIXTURE_PASSWORD);
    let me = s.get("/api/v1/me").bearer_auth(&token).call().expect(200);
    assert_eq!(me["name"], "Fixture Admin", "{me}");

    let channel = s
        .get("/api/v1/channels/fixture-chat")
        .header("X-API-KEY", FIXTURE_KEY)
        .call()
        .expect(200);
    assert_eq!(channel["description"], "made by the schema-3 binary");
    assert_eq!(channel["other_permissions"], "subscribe");
    assert_eq!(channel["history"]["max_messages"], 1000);

    let history = s.full_history(FIXTURE_KEY, "fixture-chat");
    let payloads: Vec<Value> = history.iter().map(|m| m["payload"].clone()).collect();
    let expected: Vec<Value> = (1..=5)
        .map(|n| json!({"text": format!("message {n}"), "n": n}))
        .collect();
    assert_eq!(payloads, expected);
    let ids: Vec<i64> = history.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);

    let triggers = s
        .get("/api/v1/triggers")
        .bearer_auth(&token)
        .call()
        .expect(200);
    let list = triggers["objects"]
        .as_array()
        .or_else(|| triggers.as_array())
        .cloned()
        .unwrap_or_default();
    assert!(
        list.iter()
            .any(|t| t["name"] == "uppercase" && t["channel"] == "fixture-chat"),
        "{triggers}"
    );

    // New writes continue the old history (through the fixture's trigger).
    let r = s.publish_with_key(
        FIXTURE_KEY,
        "fixture-chat",
        json!({"payload": {"text": "after upgrade"}}),
    );
    let msg = r.expect(201);
    assert_eq!(msg["id"], 6, "{msg}");
    assert_eq!(s.full_history(FIXTURE_KEY, "fixture-chat").len(), 6);
}

#[test]
fn the_fixture_is_what_its_readme_says() {
    // Read a copy: opening the file in place would leave -wal/-shm files in the tree.
    let dir = tempfile::TempDir::new().unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::copy(fixture(), &copy).unwrap();
    assert_eq!(schema_version(&copy), 3);
    assert!(
        rtbox::store::migrate::latest_version() >= 3,
        "this binary cannot be older than the fixture"
    );
}

#[test]
fn migrate_upgrades_a_schema_3_database_to_the_newest_and_keeps_its_data() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("rtbox.db");
    std::fs::copy(fixture(), &db).unwrap();
    let newest = rtbox::store::migrate::latest_version();

    let out = run_cli(dir.path(), &["migrate"], "");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains(&format!("schema version {newest}")),
        "{}",
        stdout_of(&out)
    );
    assert_eq!(schema_version(&db), newest);
    let check: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");

    let s = Server::builder().data_dir(dir.path()).start();
    assert_fixture_data_works(&s);
}

#[test]
fn serve_upgrades_an_old_database_at_start_and_a_restored_old_backup_too() {
    // Straight to serve, as a package upgrade does (the unit restarts the new binary).
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::copy(fixture(), dir.path().join("rtbox.db")).unwrap();
    let s = Server::builder().data_dir(dir.path()).start();
    assert_fixture_data_works(&s);
    assert_eq!(
        schema_version(&dir.path().join("rtbox.db")),
        rtbox::store::migrate::latest_version()
    );
    drop(s);

    // A backup made by the old release restores onto the new one and is migrated.
    let fresh = tempfile::TempDir::new().unwrap();
    let backups = tempfile::TempDir::new().unwrap();
    let old_backup = backups.path().join("from-the-old-release.db");
    std::fs::copy(fixture(), &old_backup).unwrap();
    let out = run_cli(fresh.path(), &["restore", old_backup.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("schema version 3"),
        "{}",
        stdout_of(&out)
    );
    let s = Server::builder().data_dir(fresh.path()).start();
    assert_fixture_data_works(&s);
}
