//! `rtbox doctor` on good and broken installations, and `rtbox healthcheck` (the probe
//! the container image runs).

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

fn doctor(data_dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["doctor"];
    args.extend_from_slice(extra);
    run_cli(data_dir, &args, "")
}

fn line_for<'a>(report: &'a str, status: &str, topic: &str) -> Option<&'a str> {
    let prefix = format!("{status}  {topic}:");
    report.lines().find(|l| l.starts_with(&prefix))
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A data dir with a database made by a real server that has since stopped.
fn stopped_install() -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
    let mut s = Server::builder().data_dir(dir.path()).start();
    s.admin_token();
    assert!(s.terminate().success());
    dir
}

#[test]
fn a_healthy_install_passes_every_check() {
    let dir = stopped_install();
    let out = doctor(
        dir.path(),
        &[
            "--public-url",
            "https://rt.example.com",
            "--bind",
            "127.0.0.1:8080",
            "--max-connections-per-ip",
            "100",
        ],
    );
    let report = stdout_of(&out);
    assert!(out.status.success(), "{report}\n{}", stderr_of(&out));
    for topic in [
        "settings",
        "data dir",
        "database",
        "server",
        "public URL",
        "open files",
    ] {
        assert!(
            line_for(&report, "ok  ", topic).is_some(),
            "{topic}:\n{report}"
        );
    }
    assert!(report.contains("schema version"), "{report}");
    assert!(
        report.contains("doctor: 0 problem(s), 0 warning(s)"),
        "{report}"
    );
}

#[test]
fn doctor_sees_a_running_server_and_its_open_file_limit() {
    let s = Server::start_with(&["--max-connections-per-ip", "100"], &[]);
    let out = doctor(s.data_dir(), &["--max-connections-per-ip", "100"]);
    let report = stdout_of(&out);
    assert!(out.status.success(), "{report}");
    let server = line_for(&report, "ok  ", "server").expect(&report);
    assert!(
        server.contains(&format!("pid {}", s.pid().unwrap())),
        "{server}"
    );
    let files = line_for(&report, "ok  ", "open files").expect(&report);
    assert!(files.contains("the running server may open"), "{files}");

    // A server that may not open enough files for its settings is a problem.
    let out = doctor(s.data_dir(), &["--max-connections-per-ip", "100000000"]);
    let report = stdout_of(&out);
    assert!(!out.status.success(), "{report}");
    assert!(
        line_for(&report, "FAIL", "open files").is_some(),
        "{report}"
    );
    assert!(report.contains("LimitNOFILE"), "{report}");
}

#[test]
fn a_corrupt_database_is_a_problem_with_a_restore_hint() {
    let dir = stopped_install();
    let db = dir.path().join("rtbox.db");
    // Fold the WAL into the main file first, or SQLite would read the good pages there.
    rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    for p in 1..bytes.len() / page {
        for b in &mut bytes[p * page + 8..p * page + 64] {
            *b = 0x5A;
        }
    }
    std::fs::write(&db, bytes).unwrap();
    let out = doctor(dir.path(), &[]);
    let report = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let fail = line_for(&report, "FAIL", "database").expect(&report);
    assert!(
        fail.contains("integrity_check") || fail.contains("cannot be read"),
        "{fail}"
    );
    assert!(report.contains("rtbox --data-dir"), "{report}");
    assert!(report.contains("restore FILE"), "{report}");
    assert!(stderr_of(&out).contains("problem(s) found"));
}

#[test]
fn invalid_settings_newer_schema_and_loose_permissions_are_reported() {
    let dir = stopped_install();
    // An invalid rtbox.toml: the settings fail, named with the file.
    std::fs::write(dir.path().join("rtbox.toml"), "max_payload_bytes = 0\n").unwrap();
    let out = doctor(dir.path(), &[]);
    let report = stdout_of(&out);
    assert!(!out.status.success());
    let fail = line_for(&report, "FAIL", "settings").expect(&report);
    assert!(fail.contains("max_payload_bytes"), "{fail}");
    std::fs::remove_file(dir.path().join("rtbox.toml")).unwrap();

    // An explicit --config that does not exist.
    let out = doctor(dir.path(), &["--config", "/nonexistent/rtbox.toml"]);
    let report = stdout_of(&out);
    assert!(!out.status.success());
    assert!(
        line_for(&report, "FAIL", "settings")
            .is_some_and(|l| l.contains("/nonexistent/rtbox.toml")),
        "{report}"
    );

    // A database from a newer rtbox.
    rusqlite::Connection::open(dir.path().join("rtbox.db"))
        .unwrap()
        .pragma_update(None, "user_version", 9999)
        .unwrap();
    let out = doctor(dir.path(), &[]);
    let report = stdout_of(&out);
    assert!(!out.status.success());
    assert!(
        line_for(&report, "FAIL", "database").is_some_and(|l| l.contains("newer")),
        "{report}"
    );

    // An older schema is a warning (serve migrates it), not a problem.
    rusqlite::Connection::open(dir.path().join("rtbox.db"))
        .unwrap()
        .pragma_update(None, "user_version", 1)
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = doctor(
        dir.path(),
        &["--bind", "0.0.0.0:8080", "--max-connections-per-ip", "10"],
    );
    let report = stdout_of(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        line_for(&report, "WARN", "database").is_some_and(|l| l.contains("schema version 1")),
        "{report}"
    );
    assert!(report.contains("chmod 0750"), "{report}");
    // Listening for other machines without a public URL: links would say 127.0.0.1.
    assert!(
        line_for(&report, "WARN", "public URL").is_some_and(|l| l.contains("127.0.0.1")),
        "{report}"
    );
    assert!(report.contains("set public_url"), "{report}");
    // Plain http to a remote name is a warning too.
    let out = doctor(
        dir.path(),
        &[
            "--bind",
            "0.0.0.0:8080",
            "--public-url",
            "http://rt.example.com",
        ],
    );
    assert!(
        line_for(&stdout_of(&out), "WARN", "public URL").is_some_and(|l| l.contains("plain http")),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn a_data_dir_that_is_missing_a_file_or_owned_by_someone_else_is_explained() {
    let tmp = tempfile::TempDir::new().unwrap();
    // Missing: a warning (serve creates it), with the command for a service install.
    let missing = tmp.path().join("not-yet");
    let out = doctor(&missing, &[]);
    let report = stdout_of(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        line_for(&report, "WARN", "data dir").is_some_and(|l| l.contains("does not exist")),
        "{report}"
    );
    assert!(report.contains("install -d -m 0750"), "{report}");

    // A file where the directory should be: a problem.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = doctor(&file, &[]);
    let report = stdout_of(&out);
    assert!(!out.status.success());
    assert!(
        line_for(&report, "FAIL", "data dir").is_some_and(|l| l.contains("not a directory")),
        "{report}"
    );

    if !is_root() {
        println!("skipped the ownership check: it needs root to chown");
        return;
    }
    // The database owned by another user than the data dir (a root shell ran an admin
    // command): the service could not write it.
    let dir = stopped_install();
    let db = dir.path().join("rtbox.db");
    std::os::unix::fs::chown(&db, Some(65534), Some(65534)).unwrap();
    let out = doctor(dir.path(), &[]);
    let report = stdout_of(&out);
    assert!(!out.status.success(), "{report}");
    let fail = line_for(&report, "FAIL", "data dir").expect(&report);
    assert!(fail.contains("rtbox.db belongs to"), "{fail}");
    assert!(report.contains("chown"), "{report}");
}

#[test]
fn healthcheck_answers_for_a_running_server_and_fails_without_one() {
    let s = Server::start();
    let port = s.addr.port().to_string();
    // From the settings (as in the image: RTBOX_BIND=0.0.0.0:PORT is probed on loopback).
    let out = rtbox(s.data_dir())
        .args(["healthcheck"])
        .env("RTBOX_BIND", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("healthy"), "{}", stdout_of(&out));
    let url = s.url("/healthz");
    let out = run_cli(s.data_dir(), &["healthcheck", "--url", &url], "");
    assert!(out.status.success(), "{}", stderr_of(&out));

    // Nothing listening: non-zero, with the URL in the message.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/healthz", free.local_addr().unwrap());
    drop(free);
    let out = run_cli(
        s.data_dir(),
        &["healthcheck", "--url", &dead, "--timeout", "2"],
        "",
    );
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains(&dead), "{}", stderr_of(&out));
    // A non-200 answer is unhealthy too.
    let out = run_cli(s.data_dir(), &["healthcheck", "--url", &s.url("/nope")], "");
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("404"), "{}", stderr_of(&out));
}

#[test]
fn help_names_the_operations_commands_and_their_settings() {
    let dir = tempfile::TempDir::new().unwrap();
    let help = stdout_of(&run_cli(dir.path(), &["--help"], ""));
    for sub in ["restore", "doctor", "healthcheck", "backup"] {
        assert!(help.contains(sub), "{sub} missing:\n{help}");
    }
    assert!(
        help.contains("--config") && help.contains("RTBOX_CONFIG"),
        "{help}"
    );
    let serve = stdout_of(&run_cli(dir.path(), &["serve", "--help"], ""));
    for (flag, env) in [
        ("--backup-dir", "RTBOX_BACKUP_DIR"),
        ("--backup-interval", "RTBOX_BACKUP_INTERVAL"),
        ("--backup-keep", "RTBOX_BACKUP_KEEP"),
    ] {
        assert!(
            serve.contains(flag) && serve.contains(env),
            "{flag}:\n{serve}"
        );
    }
    let backup = stdout_of(&run_cli(dir.path(), &["backup", "--help"], ""));
    assert!(backup.contains("--keep"), "{backup}");
    // Bad input to the new commands is a usage error, not a crash.
    let out = run_cli(dir.path(), &["restore"], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let out = run_cli(dir.path(), &["backup", "x", "--keep", "many"], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let out = run_cli(dir.path(), &["healthcheck", "--timeout", "-1"], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
}
