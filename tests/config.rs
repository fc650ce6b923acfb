//! Configuration: flag > env `RTBOX_*` > `rtbox.toml` in the data dir > default, and
//! invalid values stop the server with a message that names the setting.

mod common;
use common::*;

/// Three distinct free ports (held together while picked, so they differ).
fn free_ports() -> (u16, u16, u16) {
    let l: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let p = |i: usize| l[i].local_addr().unwrap().port();
    (p(0), p(1), p(2))
}

#[test]
fn the_bind_address_comes_from_flag_then_env_then_toml() {
    let (toml_port, env_port, flag_port) = free_ports();
    let toml = format!("bind = \"127.0.0.1:{toml_port}\"\n");

    let s = Server::builder()
        .no_bind_flag()
        .file("rtbox.toml", &toml)
        .start();
    assert_eq!(s.addr.port(), toml_port, "rtbox.toml beats the default");
    drop(s);

    let s = Server::builder()
        .no_bind_flag()
        .file("rtbox.toml", &toml)
        .env("RTBOX_BIND", &format!("127.0.0.1:{env_port}"))
        .start();
    assert_eq!(s.addr.port(), env_port, "env beats rtbox.toml");
    drop(s);

    let s = Server::builder()
        .file("rtbox.toml", &toml)
        .env("RTBOX_BIND", &format!("127.0.0.1:{env_port}"))
        .args(&["--bind", &format!("127.0.0.1:{flag_port}")])
        .start();
    assert_eq!(s.addr.port(), flag_port, "flag beats env");
    s.get("/healthz").call().expect(200);
}

/// The JSON body limit follows `max_payload_bytes` (2x + 16 KiB): a 40 KB body is
/// refused with 413 under a 1000-byte setting and accepted under a 20000-byte one.
fn body_is_too_large(s: &Server, admin: &str) -> bool {
    let big_name = "x".repeat(40_000);
    let r = s
        .post("/api/v1/keys")
        .bearer_auth(admin)
        .json(&json!({"name": big_name, "role": "publish"}))
        .call();
    match r.status {
        413 => true,
        400 => false, // parsed, then refused as a too-long name
        other => panic!("unexpected {other}: {}", r.text),
    }
}

#[test]
fn max_payload_bytes_follows_the_same_precedence() {
    let toml = "max_payload_bytes = 1000\n";
    let s = Server::builder().file("rtbox.toml", toml).start();
    assert!(
        body_is_too_large(&s, &s.admin_token()),
        "toml value applies"
    );
    drop(s);

    let s = Server::builder()
        .file("rtbox.toml", toml)
        .env("RTBOX_MAX_PAYLOAD_BYTES", "20000")
        .start();
    assert!(!body_is_too_large(&s, &s.admin_token()), "env beats toml");
    drop(s);

    let s = Server::builder()
        .file("rtbox.toml", toml)
        .env("RTBOX_MAX_PAYLOAD_BYTES", "20000")
        .args(&["--max-payload-bytes", "1000"])
        .start();
    assert!(body_is_too_large(&s, &s.admin_token()), "flag beats env");
}

#[test]
fn public_url_is_used_in_the_setup_link() {
    let s = Server::start_with(&["--public-url", "https://rt.example.com/"], &[]);
    let lines = s.stdout_lines().join("\n");
    assert!(
        lines.contains("https://rt.example.com/admin/#/setup?token="),
        "{lines}"
    );
}

#[test]
fn the_data_dir_comes_from_env_when_no_flag_is_given() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut cmd = std::process::Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("RTBOX_") {
            cmd.env_remove(&k);
        }
    }
    let out = cmd
        .env("RTBOX_DATA_DIR", dir.path().join("from-env"))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(dir.path().join("from-env").join("rtbox.db").exists());
}

fn refused(builder: ServerBuilder) -> String {
    match builder.try_start() {
        Ok(_) => panic!("the server started with an invalid configuration"),
        Err(message) => message,
    }
}

#[test]
fn invalid_settings_stop_the_server_with_a_message_naming_them() {
    let m = refused(Server::builder().args(&["--bind", "localhost"]));
    assert!(
        m.contains("invalid setting bind") && m.contains("0.0.0.0:8080"),
        "{m}"
    );

    let m = refused(Server::builder().env("RTBOX_MAX_PAYLOAD_BYTES", "0"));
    assert!(
        m.contains("max_payload_bytes") && m.contains("greater than 0"),
        "{m}"
    );

    let m = refused(Server::builder().env("RTBOX_SESSION_TTL_SECONDS", "soon"));
    assert!(
        m.contains("session-ttl-seconds") && m.contains("soon"),
        "{m}"
    );

    let m = refused(Server::builder().args(&["--sync", "sometimes"]));
    assert!(
        m.contains("sometimes") && m.contains("normal") && m.contains("full"),
        "{m}"
    );

    let m = refused(Server::builder().args(&["--public-url", "ftp://x"]));
    assert!(m.contains("public_url") && m.contains("http"), "{m}");

    let m = refused(Server::builder().args(&["--log", "info,==bad"]));
    assert!(m.contains("invalid setting log"), "{m}");

    let m = refused(Server::builder().args(&["--max-frame-bytes", "10"]));
    assert!(m.contains("max_frame_bytes") && m.contains("1024"), "{m}");
}

#[test]
fn an_invalid_rtbox_toml_names_the_file_and_the_problem() {
    let m = refused(Server::builder().file("rtbox.toml", "bnd = \"127.0.0.1:1\"\n"));
    assert!(m.contains("rtbox.toml") && m.contains("bnd"), "{m}");

    let m = refused(Server::builder().file("rtbox.toml", "max_payload_bytes = \"big\"\n"));
    assert!(
        m.contains("rtbox.toml") && m.contains("max_payload_bytes"),
        "{m}"
    );

    let m = refused(Server::builder().file("rtbox.toml", "this is not toml"));
    assert!(m.contains("rtbox.toml"), "{m}");
}

#[test]
fn invalid_configuration_exits_non_zero() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = run_cli(dir.path(), &["serve", "--workers", "0"], "");
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("invalid setting workers: must be greater than 0"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn the_sample_config_is_valid_when_uncommented() {
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rtbox.toml.example"))
            .unwrap();
    // Turn every `# key = value` line into `key = value` (comments after values stay).
    let uncommented: String = sample
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split('=').next().is_some_and(|k| {
                let k = k.trim();
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            }) && l.contains('=')
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(uncommented.lines().count() >= 24, "{uncommented}");
    let parsed: rtbox::config::ServeOptions = toml::from_str(&uncommented)
        .unwrap_or_else(|e| panic!("rtbox.toml.example does not parse: {e}\n{uncommented}"));
    let settings = parsed
        .resolve("/tmp/rtbox-sample".into())
        .expect("sample values are valid");
    assert_eq!(settings.max_payload_bytes, 65_536);
    assert_eq!(settings.outbound_allow.len(), 2);
}
