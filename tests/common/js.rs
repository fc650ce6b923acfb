//! Node.js and headless Chromium for the tests that drive real public clients (the Xano
//! SDK) and real browsers (widget, admin UI). `npm ci --prefix tests/js` runs when a
//! needed package is missing. Outside CI a missing tool skips the test; with `CI` set it
//! fails the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium (`apt-get install chromium`); no browser download works here.
pub const CHROMIUM: &str = "/usr/bin/chromium";

pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Where browser tests write screenshots (failures and the pages a person should look at).
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn missing(what: &str) -> bool {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is required in CI (.ci/run installs it)"
    );
    eprintln!("skipping: {what} not installed");
    false
}

/// `true` when node is installed and `tests/js/node_modules/PACKAGE` exists (after an
/// `npm ci` if needed). Serialized across test binaries by npm's own lock-free install
/// being idempotent; a failed install panics.
pub fn node_ready(package: &str) -> bool {
    if !have("node") || !have("npm") {
        return missing("node and npm");
    }
    let dir = js_dir();
    if !dir.join("node_modules").join(package).exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .output()
            .expect("run npm ci");
        assert!(
            out.status.success(),
            "npm ci --prefix tests/js failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    true
}

/// `true` when node, `playwright-core` and Debian's Chromium are all there.
pub fn browser_ready() -> bool {
    if !Path::new(CHROMIUM).exists() {
        return missing("chromium (/usr/bin/chromium)");
    }
    node_ready("playwright-core")
}

/// Runs `node tests/js/SCRIPT ARGS…` with `envs`, killing it after `timeout`.
/// Returns its output; the caller asserts on the exit status and the printed lines.
pub fn run_node(script: &str, args: &[&str], envs: &[(&str, &str)], timeout: Duration) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(js_dir().join(script))
        .args(args)
        .env("RTBOX_SCREENSHOT_DIR", screenshot_dir())
        .env("RTBOX_CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn node");
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("waiting for node: {e}"),
        }
    }
    child.wait_with_output().expect("node output")
}

/// Asserts a `run_node` output succeeded, printing both streams otherwise.
pub fn assert_node_ok(out: &Output) {
    assert!(
        out.status.success(),
        "node failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
