//! The `rtbox` command line: version, migrate, admin create / reset-password, serve --help.

mod common;
use common::*;

use std::path::Path;

fn schema_version(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn latest_schema_version() -> i64 {
    rtbox::store::migrate::latest_version()
}

#[test]
fn version_prints_the_version_and_schema() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = run_cli(dir.path(), &["version"], "");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.starts_with(&format!("rtbox {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("schema version {}", latest_schema_version())),
        "{text}"
    );
    // `version` touches nothing on disk.
    assert!(!dir.path().join("rtbox.db").exists());
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("rtbox.db");
    let latest = latest_schema_version();
    assert!(latest >= 1);

    let first = run_cli(dir.path(), &["migrate"], "");
    assert!(first.status.success(), "{}", stderr_of(&first));
    assert!(
        stdout_of(&first).contains(&format!("schema version {latest}")),
        "{}",
        stdout_of(&first)
    );
    assert_eq!(schema_version(&db), latest);

    let second = run_cli(dir.path(), &["migrate"], "");
    assert!(second.status.success(), "{}", stderr_of(&second));
    assert!(stdout_of(&second).contains(&format!("schema version {latest}")));
    assert_eq!(schema_version(&db), latest);

    // The database is in WAL mode with every table of the first migration.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    for table in ["users", "sessions", "api_keys", "settings"] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "table {table} missing");
    }
}

#[test]
fn a_database_from_a_newer_binary_is_refused_with_a_clear_message() {
    let dir = tempfile::TempDir::new().unwrap();
    assert!(run_cli(dir.path(), &["migrate"], "").status.success());
    let db = dir.path().join("rtbox.db");
    let newer = latest_schema_version() + 1;
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", newer).unwrap();
    }

    let out = run_cli(dir.path(), &["migrate"], "");
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("schema version {newer} is newer")),
        "{err}"
    );
    assert!(err.contains("upgrade rtbox"), "{err}");

    // serve refuses too, and leaves the database untouched.
    let refused = Server::builder().data_dir(dir.path()).try_start();
    let Err(message) = refused else {
        panic!("serve started on a newer schema")
    };
    assert!(message.contains("is newer than this binary"), "{message}");
    assert_eq!(schema_version(&db), newer);
}

#[test]
fn admin_create_makes_an_admin_who_can_log_in() {
    let s = Server::start();
    assert!(
        s.setup_token.is_some(),
        "a fresh instance prints a setup link"
    );
    let out = s.cli_create_admin("Ops@Example.com", PASSWORD);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("admin ops@example.com created"),
        "{}",
        stdout_of(&out)
    );

    let body = s.try_login("ops@example.com", PASSWORD).expect(200);
    assert_eq!(body["user"]["roles"], json!(["admin"]));
    assert_eq!(body["user"]["email"], "ops@example.com");
}

#[test]
fn admin_create_refuses_duplicates_bad_emails_and_weak_passwords() {
    let dir = tempfile::TempDir::new().unwrap();
    let ok = run_cli(
        dir.path(),
        &["admin", "create", "a@example.com", "--password-stdin"],
        "long enough pw\n",
    );
    assert!(ok.status.success(), "{}", stderr_of(&ok));

    let dup = run_cli(
        dir.path(),
        &["admin", "create", "A@example.com", "--password-stdin"],
        "long enough pw\n",
    );
    assert!(!dup.status.success());
    assert!(
        stderr_of(&dup).contains("already exists"),
        "{}",
        stderr_of(&dup)
    );
    assert!(
        stderr_of(&dup).contains("reset-password"),
        "{}",
        stderr_of(&dup)
    );

    let bad = run_cli(
        dir.path(),
        &["admin", "create", "not-an-email", "--password-stdin"],
        "long enough pw\n",
    );
    assert!(!bad.status.success());
    assert!(
        stderr_of(&bad).contains("not an email address"),
        "{}",
        stderr_of(&bad)
    );

    let weak = run_cli(
        dir.path(),
        &["admin", "create", "b@example.com", "--password-stdin"],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(
        stderr_of(&weak).contains("at least 8 characters"),
        "{}",
        stderr_of(&weak)
    );

    // Without --password-stdin and without a terminal, it says how to pass the password.
    let no_tty = run_cli(dir.path(), &["admin", "create", "c@example.com"], "");
    assert!(!no_tty.status.success());
    assert!(
        stderr_of(&no_tty).contains("--password-stdin"),
        "{}",
        stderr_of(&no_tty)
    );
}

#[test]
fn admin_reset_password_changes_it_and_signs_out_every_session() {
    let s = Server::start();
    let old_session = s.admin_token();
    s.get("/api/v1/me")
        .bearer_auth(&old_session)
        .call()
        .expect(200);

    let out = run_cli(
        s.data_dir(),
        &["admin", "reset-password", ADMIN_EMAIL, "--password-stdin"],
        "a brand new password\n",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("1 session(s) signed out"),
        "{}",
        stdout_of(&out)
    );

    // The running server sees the change at once.
    let r = s.get("/api/v1/me").bearer_auth(&old_session).call();
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(s.try_login(ADMIN_EMAIL, PASSWORD).status, 401);
    s.login(ADMIN_EMAIL, "a brand new password");

    let unknown = run_cli(
        s.data_dir(),
        &[
            "admin",
            "reset-password",
            "nobody@example.com",
            "--password-stdin",
        ],
        "whatever123\n",
    );
    assert!(!unknown.status.success());
    assert!(stderr_of(&unknown).contains("no user with email nobody@example.com"));
}

#[test]
fn serve_help_lists_every_setting_with_its_env_var() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = run_cli(dir.path(), &["serve", "--help"], "");
    assert!(out.status.success());
    let help = stdout_of(&out);
    let settings = [
        "bind",
        "public-url",
        "log",
        "log-format",
        "sync",
        "workers",
        "max-payload-bytes",
        "max-frame-bytes",
        "max-subscriptions",
        "publish-rate",
        "rest-publish-rate-per-key",
        "rest-publish-rate-per-ip",
        "max-connections-per-ip",
        "ws-queue-messages",
        "ws-queue-bytes",
        "ws-ping-seconds",
        "login-per-ip-per-minute",
        "login-per-account-per-minute",
        "session-ttl-seconds",
        "setup-token-ttl-seconds",
        "trigger-timeout-ms",
        "trigger-max-operations",
        "allow-private-outbound",
        "outbound-allow",
        "prune-interval-seconds",
        "shutdown-timeout-seconds",
        "data-dir",
    ];
    for name in settings {
        assert!(
            help.contains(&format!("--{name}")),
            "--{name} missing from:\n{help}"
        );
        let env = format!("RTBOX_{}", name.to_uppercase().replace('-', "_"));
        assert!(help.contains(&env), "{env} missing from:\n{help}");
    }
    assert!(
        help.contains("127.0.0.1:8080"),
        "default bind missing:\n{help}"
    );
    assert!(
        help.contains("rtbox_data"),
        "default data dir missing:\n{help}"
    );
}

#[test]
fn top_level_help_names_every_subcommand() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = run_cli(dir.path(), &["--help"], "");
    assert!(out.status.success());
    let help = stdout_of(&out);
    for sub in ["serve", "admin", "backup", "migrate", "version"] {
        assert!(help.contains(sub), "{sub} missing:\n{help}");
    }
    let admin = stdout_of(&run_cli(dir.path(), &["admin", "--help"], ""));
    assert!(
        admin.contains("create") && admin.contains("reset-password"),
        "{admin}"
    );
}
