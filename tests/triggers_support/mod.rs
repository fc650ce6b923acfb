//! A minimal harness for the trigger tests until the shared `tests/common` lands: boots
//! the real binary on a random port with its own data dir, an admin and its session.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";

pub struct Server {
    child: Child,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
}

impl Server {
    pub async fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_str().expect("utf-8 path").to_string();
        let mut create = Command::new(env!("CARGO_BIN_EXE_rtbox"))
            .args([
                "--data-dir",
                &data,
                "admin",
                "create",
                ADMIN_EMAIL,
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn admin create");
        create
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())
            .expect("write password");
        assert!(
            create.wait().expect("admin create").success(),
            "admin create failed"
        );

        let mut child = Command::new(env!("CARGO_BIN_EXE_rtbox"))
            .args(["--data-dir", &data, "serve", "--bind", "127.0.0.1:0"])
            .args(extra)
            .env("RTBOX_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("rtbox listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not print its address");
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login json");
        let token = login["token"].as_str().expect("token").to_string();
        Server {
            child,
            base,
            token,
            http,
            _dir: dir,
        }
    }

    /// A request with `auth` as the bearer credential (`None`: anonymous).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp { status, body }
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call(method, path, Some(&self.token.clone()), body)
            .await
    }

    /// An API key with `role` (`admin` or `publish`).
    pub async fn key(&self, role: &str) -> String {
        let r = self
            .admin(
                "POST",
                "/api/v1/keys",
                Some(json!({"name": format!("{role} key"), "role": role})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["key"].as_str().expect("key").to_string()
    }

    pub async fn trigger(&self, body: Value) -> Value {
        let r = self.admin("POST", "/api/v1/triggers", Some(body)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("{}/ws?{query}", self.base.replacen("http://", "ws://", 1))
    }
}
