//! `rtbox doctor`: checks an installation the way an operator would before asking for
//! help — settings, data dir, database, running server, public URL, open-file limit —
//! and says what to fix. Problems (`Fail`) make the command exit non-zero; warnings
//! do not.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::restore::integrity_report;
use super::{limits, lock};
use crate::config::{self, ServeOptions, Settings, DB_FILE};
use crate::store::migrate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub status: Status,
    pub topic: &'static str,
    pub message: String,
    /// What to do about it (warnings and problems).
    pub fix: Option<String>,
}

fn ok(topic: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        status: Status::Ok,
        topic,
        message: message.into(),
        fix: None,
    }
}

fn warn(topic: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        status: Status::Warn,
        topic,
        message: message.into(),
        fix: Some(fix.into()),
    }
}

fn fail(topic: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        status: Status::Fail,
        topic,
        message: message.into(),
        fix: Some(fix.into()),
    }
}

/// Runs every check. `options` are the flags and environment `serve` would see.
pub fn run(data_dir: &Path, config_file: Option<&Path>, options: ServeOptions) -> Vec<Finding> {
    let mut out = Vec::new();
    let settings = check_settings(data_dir, config_file, options, &mut out);
    check_data_dir(data_dir, &mut out);
    check_database(&data_dir.join(DB_FILE), data_dir, &mut out);
    let server_pid = check_server(data_dir, &mut out);
    if let Some(settings) = &settings {
        check_public_url(settings, &mut out);
        check_open_files(settings, server_pid, &mut out);
        check_backup_dir(settings, &mut out);
    }
    out
}

fn check_settings(
    data_dir: &Path,
    config_file: Option<&Path>,
    options: ServeOptions,
    out: &mut Vec<Finding>,
) -> Option<Settings> {
    let source = match config_file {
        Some(p) => p.display().to_string(),
        None => {
            let p = data_dir.join(config::CONFIG_FILE);
            if p.exists() {
                p.display().to_string()
            } else {
                "defaults, environment and flags; no rtbox.toml".to_string()
            }
        }
    };
    let resolved = config::load_config_layer(config_file, data_dir)
        .and_then(|file| options.merged_with(file).resolve(data_dir.to_path_buf()));
    match resolved {
        Ok(s) => {
            out.push(ok(
                "settings",
                format!("valid ({source}); serve listens on {}", s.bind),
            ));
            Some(s)
        }
        Err(e) => {
            out.push(fail(
                "settings",
                e.to_string(),
                "correct the setting named above (`rtbox serve --help` lists every setting and its format)",
            ));
            None
        }
    }
}

fn user_name(uid: u32) -> String {
    // Name lookup through /etc/passwd keeps this free of NSS calls; fall back to the number.
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?;
                (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

fn check_data_dir(dir: &Path, out: &mut Vec<Finding>) {
    let topic = "data dir";
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.push(warn(
                topic,
                format!("{} does not exist yet", dir.display()),
                format!(
                    "`rtbox serve` creates it; for a service create it owned by the service user: install -d -m 0750 -o rtbox -g rtbox {}",
                    dir.display()
                ),
            ));
            return;
        }
        Err(e) => {
            out.push(fail(
                topic,
                format!("{}: {e}", dir.display()),
                "check the path and the permissions of its parent directories",
            ));
            return;
        }
    };
    if !meta.is_dir() {
        out.push(fail(
            topic,
            format!("{} is not a directory", dir.display()),
            "point --data-dir (RTBOX_DATA_DIR) at a directory",
        ));
        return;
    }
    let owner = user_name(meta.uid());
    let mode = meta.permissions().mode() & 0o7777;
    let probe = dir.join(format!(".rtbox-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"probe") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            out.push(ok(
                topic,
                format!(
                    "{} is writable (owner {owner}, mode {mode:04o})",
                    dir.display()
                ),
            ));
        }
        Err(e) => out.push(fail(
            topic,
            format!(
                "{} is not writable by {} ({e}); owner {owner}, mode {mode:04o}",
                dir.display(),
                user_name(current_uid())
            ),
            format!(
                "run rtbox as the user that owns it (sudo -u {owner} rtbox …), or: chown -R rtbox:rtbox {}",
                dir.display()
            ),
        )),
    }
    if mode & 0o007 != 0 {
        out.push(warn(
            topic,
            format!(
                "{} is open to every user on the machine (mode {mode:04o}); the database holds messages and secrets",
                dir.display()
            ),
            format!("chmod 0750 {}", dir.display()),
        ));
    }
    for name in [DB_FILE, "rtbox.db-wal", "rtbox.db-shm", lock::LOCK_FILE] {
        let path = dir.join(name);
        if let Ok(m) = std::fs::metadata(&path) {
            if m.uid() != meta.uid() {
                out.push(fail(
                    topic,
                    format!(
                        "{} belongs to {}, the data dir to {owner}: the server may be unable to write it",
                        path.display(),
                        user_name(m.uid())
                    ),
                    format!(
                        "chown {owner}: {} (and run admin commands as {owner}: sudo -u {owner} rtbox …)",
                        path.display()
                    ),
                ));
            }
        }
    }
}

fn check_database(db: &Path, data_dir: &Path, out: &mut Vec<Finding>) {
    let topic = "database";
    if !db.exists() {
        out.push(warn(
            topic,
            format!("no database at {} yet", db.display()),
            "`rtbox serve` creates it at first start (or restore a backup: rtbox restore FILE)",
        ));
        return;
    }
    let conn = match Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(c) => c,
        Err(e) => {
            out.push(fail(
                topic,
                format!("cannot open {}: {e}", db.display()),
                "check its permissions; if it is damaged, restore a backup: rtbox restore FILE",
            ));
            return;
        }
    };
    let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
    match integrity_report(&conn) {
        Ok(r) if r == "ok" => {}
        Ok(report) => {
            out.push(fail(
                topic,
                format!("{} fails PRAGMA integrity_check: {report}", db.display()),
                format!("stop the server and restore the newest good backup: rtbox --data-dir {} restore FILE", data_dir.display()),
            ));
            return;
        }
        Err(e) => {
            out.push(fail(
                topic,
                format!("{} cannot be read: {e}", db.display()),
                format!("stop the server and restore the newest good backup: rtbox --data-dir {} restore FILE", data_dir.display()),
            ));
            return;
        }
    }
    let latest = migrate::latest_version();
    match migrate::current_version(&conn) {
        Ok(v) if v == latest => out.push(ok(
            topic,
            format!(
                "{} passes integrity_check; schema version {v} (current)",
                db.display()
            ),
        )),
        Ok(v) if v < latest => out.push(warn(
            topic,
            format!(
                "{} passes integrity_check; schema version {v}, this rtbox brings {latest}",
                db.display()
            ),
            "`rtbox serve` migrates it at start (or run `rtbox migrate` now); take a backup first",
        )),
        Ok(v) => out.push(fail(
            topic,
            format!("schema version {v} is newer than this rtbox supports ({latest})"),
            "install the rtbox version that wrote it, or restore an older backup",
        )),
        Err(e) => out.push(fail(
            topic,
            format!("cannot read the schema version: {e}"),
            "restore a backup: rtbox restore FILE",
        )),
    }
}

fn check_server(data_dir: &Path, out: &mut Vec<Finding>) -> Option<u32> {
    match lock::holder(data_dir) {
        Some(holder) => {
            out.push(ok("server", format!("running ({holder})")));
            lock::holder_pid(data_dir)
        }
        None => {
            out.push(ok("server", "not running on this data dir"));
            None
        }
    }
}

fn check_public_url(s: &Settings, out: &mut Vec<Finding>) {
    let topic = "public URL";
    let loopback_bind = s.bind.ip().is_loopback();
    if !s.public_url_explicit {
        if loopback_bind {
            out.push(ok(
                topic,
                format!("{} (listening on loopback only)", s.public_url),
            ));
        } else {
            out.push(warn(
                topic,
                format!(
                    "not set: links (setup link, widget snippet) will say {} although clients reach this machine by another name",
                    s.public_url
                ),
                "set public_url = \"https://rt.example.com\" in the config file (or RTBOX_PUBLIC_URL)",
            ));
        }
        return;
    }
    let Ok(url) = url::Url::parse(&s.public_url) else {
        return; // resolve() already validated it
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let loopback_host = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback_host && !loopback_bind {
        out.push(warn(
            topic,
            format!("{} points at this machine's loopback, but the server listens on {} for other machines", s.public_url, s.bind),
            "set public_url to the name clients use (e.g. https://rt.example.com)",
        ));
    } else if url.scheme() == "http" && !loopback_host {
        out.push(warn(
            topic,
            format!("{} is plain http: passwords and tokens cross the network unencrypted", s.public_url),
            "put rtbox behind a TLS reverse proxy (Caddy, nginx) and set public_url to its https:// address",
        ));
    } else if url.query().is_some() || url.fragment().is_some() {
        out.push(warn(
            topic,
            format!(
                "{} has a query or fragment; links are built by appending paths",
                s.public_url
            ),
            "use a base URL such as https://rt.example.com",
        ));
    } else {
        out.push(ok(topic, s.public_url.clone()));
    }
}

fn check_open_files(s: &Settings, server_pid: Option<u32>, out: &mut Vec<Finding>) {
    let topic = "open files";
    let needed = limits::needed(s.max_connections_per_ip);
    if let Some(limit) = server_pid.and_then(limits::nofile_of) {
        if limit < needed {
            out.push(fail(
                topic,
                format!("the running server may open {limit} files; max_connections_per_ip={} needs {needed}", s.max_connections_per_ip),
                "raise LimitNOFILE in the systemd unit (systemctl edit rtbox) or `ulimit -n` before serve, or lower max_connections_per_ip",
            ));
        } else {
            out.push(ok(
                topic,
                format!("the running server may open {limit} files (needs {needed})"),
            ));
        }
        return;
    }
    match limits::nofile() {
        // serve raises its soft limit to the hard limit, so the hard one is what it gets.
        Ok((_, hard)) if hard < needed => out.push(warn(
            topic,
            format!("a server started from here could open {hard} files; max_connections_per_ip={} needs {needed}", s.max_connections_per_ip),
            "the systemd unit sets LimitNOFILE=1048576; elsewhere raise the hard limit (ulimit -Hn, /etc/security/limits.conf) or lower max_connections_per_ip",
        )),
        Ok((_, hard)) => out.push(ok(
            topic,
            format!("a server started from here could open {hard} files (needs {needed})"),
        )),
        Err(e) => out.push(warn(topic, format!("cannot read the limit: {e}"), "check `ulimit -n`")),
    }
}

fn check_backup_dir(s: &Settings, out: &mut Vec<Finding>) {
    let Some(schedule) = &s.backup else {
        return;
    };
    let topic = "backups";
    let dir: &PathBuf = &schedule.dir;
    let probe = dir.join(format!(".rtbox-doctor-{}", std::process::id()));
    match std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&probe, b"probe")) {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            let count = super::backup::list_backups(dir).map(|b| b.len()).unwrap_or(0);
            out.push(ok(
                topic,
                format!(
                    "{} is writable; {count} backup(s) there, every {}s, keeping {}",
                    dir.display(),
                    schedule.interval.as_secs(),
                    schedule.keep
                ),
            ));
        }
        Err(e) => out.push(fail(
            topic,
            format!("{} is not writable: {e}", dir.display()),
            "create it for the service user; under systemd it must also be in ReadWritePaths= (or inside /var/lib/rtbox)",
        )),
    }
}

/// `(problems, warnings)` in `findings`.
pub fn tally(findings: &[Finding]) -> (usize, usize) {
    let fails = findings.iter().filter(|f| f.status == Status::Fail).count();
    let warns = findings.iter().filter(|f| f.status == Status::Warn).count();
    (fails, warns)
}
