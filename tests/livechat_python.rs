//! The public Python client `rocketchat-api` (PyPI) drives every livechat method it has
//! against rtbox, unchanged: login, agents/managers, appearance, visitor, room, messages
//! and their paging, rooms, inquiries. The venv is made under target/ on first use.
//! Without python3 the test is skipped locally; with `CI` set it fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

/// The pinned client version this test was written against.
const CLIENT: &str = "rocketchat-api==3.7.1";

fn venv_python() -> Option<PathBuf> {
    let have_python = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_python {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with venv is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: python3 (with venv) not installed");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rocketchat-api-venv");
    let python = dir.join("bin").join("python");
    let ready = Command::new(&python)
        .args(["-c", "import rocketchat_API"])
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        let out = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&dir)
            .output()
            .expect("python3 -m venv");
        assert!(
            out.status.success(),
            "venv: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                CLIENT,
            ])
            .output()
            .expect("pip install");
        assert!(
            out.status.success(),
            "pip install {CLIENT}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(python)
}

#[test]
fn rocketchat_api_python_client_works_unchanged() {
    let Some(python) = venv_python() else {
        return;
    };
    let s = Server::start();
    let admin = s.admin_token();
    s.create_user(&admin, "py-agent@example.com", PASSWORD, &[]);
    s.create_user(&admin, "py-manager@example.com", PASSWORD, &[]);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/rocketchat_livechat.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([
            &s.url(""),
            ADMIN_EMAIL,
            PASSWORD,
            "py-agent@example.com",
            "py-manager@example.com",
        ])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all methods ok"), "{stdout}");
}
