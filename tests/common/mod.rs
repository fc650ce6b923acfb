//! Shared integration-test harness: boots the real `rtbox` binary on an ephemeral port
//! with a fresh data dir, and gives tests the verbs a user story needs (create an admin,
//! log in, make API keys, call the API, open WebSockets, restart, crash the server).
//!
//! ```ignore
//! mod common;
//! use common::*;
//!
//! let s = Server::start();
//! let admin = s.admin_token();
//! let key = s.create_key(&admin, "backend", "publish").key;
//! let r = s.get("/api/v1/me").header("X-API-KEY", &key).call();
//! assert_eq!(r.status, 200);
//! ```
//!
//! Every helper that talks HTTP on its own (`login`, `create_key`, …) runs its blocking
//! request on a separate thread, so the helpers work in `#[test]` and `#[tokio::test]`
//! alike. Tests that make requests themselves use `s.get(..)`/`s.post(..)` (blocking
//! reqwest) in plain tests and `reqwest::Client` + `s.url(..)` (or [`AsyncCall`]) in
//! async ones.
#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub mod js;
pub use js::*;

pub use reqwest::StatusCode;
pub use serde_json::{json, Value};

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rtbox");

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery";

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// An `rtbox` command with a clean environment (no `RTBOX_*` from the developer's shell)
/// and `--data-dir DIR` set.
pub fn rtbox(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("RTBOX_") {
            cmd.env_remove(&k);
        }
    }
    cmd.arg("--data-dir").arg(data_dir);
    cmd
}

/// Runs `rtbox --data-dir DIR ARGS…` to completion, feeding `stdin`.
pub fn run_cli(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = rtbox(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rtbox");
    if let Some(mut input) = child.stdin.take() {
        // The command may exit before reading (e.g. a usage error); ignore a broken pipe.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("wait for rtbox")
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `f` on a fresh OS thread (no async runtime there), so blocking reqwest works
/// even when called from inside `#[tokio::test]`.
fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

// ---- responses -----------------------------------------------------------------------

/// A fully read HTTP response: status, headers, raw text and the body as JSON
/// (`Value::Null` when it is not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// `json["detail"]` as a string ("" when absent).
    pub fn detail(&self) -> String {
        self.json["detail"].as_str().unwrap_or_default().to_string()
    }

    /// Panics with the body when the status is not `expected`; returns the JSON body.
    pub fn expect(self, expected: u16) -> Value {
        assert_eq!(
            self.status, expected,
            "expected HTTP {expected}, got {}: {}",
            self.status, self.text
        );
        self.json
    }

    fn parse(status: u16, headers: reqwest::header::HeaderMap, text: String) -> Resp {
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }
}

/// `.call()` on a blocking request: send it and read the whole response.
pub trait Call {
    fn call(self) -> Resp;
}

impl Call for reqwest::blocking::RequestBuilder {
    fn call(self) -> Resp {
        let resp = self
            .send()
            .expect("HTTP request failed (is the server up?)");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().unwrap_or_default();
        Resp::parse(status, headers, text)
    }
}

/// `.call().await` on an async request.
pub trait AsyncCall {
    fn call(self) -> impl std::future::Future<Output = Resp> + Send;
}

impl AsyncCall for reqwest::RequestBuilder {
    async fn call(self) -> Resp {
        let resp = self
            .send()
            .await
            .expect("HTTP request failed (is the server up?)");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Resp::parse(status, headers, text)
    }
}

// ---- the server ----------------------------------------------------------------------

/// How to start a server: extra flags and environment, files to place in the data dir.
#[derive(Default)]
pub struct ServerBuilder {
    args: Vec<String>,
    envs: Vec<(String, String)>,
    files: Vec<(String, String)>,
    data_dir: Option<PathBuf>,
    /// Do not add `--bind 127.0.0.1:0` (the test sets the address through env or toml).
    no_bind_flag: bool,
}

impl ServerBuilder {
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.envs.push((k.into(), v.into()));
        self
    }

    /// Writes `name` (e.g. `rtbox.toml`) into the data dir before starting.
    pub fn file(mut self, name: &str, contents: &str) -> Self {
        self.files.push((name.into(), contents.into()));
        self
    }

    /// Leaves the listen address to env/toml/default instead of `--bind 127.0.0.1:0`.
    pub fn no_bind_flag(mut self) -> Self {
        self.no_bind_flag = true;
        self
    }

    /// Uses an existing data dir (the caller keeps it alive) instead of a fresh temp dir.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    pub fn start(self) -> Server {
        match self.try_start() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts the server; `Err` holds its exit status and output when it does not come up.
    pub fn try_start(self) -> Result<Server, String> {
        let (tmp, dir) = match &self.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::TempDir::new().expect("temp dir");
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        for (name, contents) in &self.files {
            std::fs::write(dir.join(name), contents).expect("write data-dir file");
        }
        let mut server = Server {
            _tmp: tmp,
            data_dir: dir,
            args: self.args,
            envs: self.envs,
            no_bind_flag: self.no_bind_flag,
            child: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            setup_token: None,
            stdout: Arc::new(Mutex::new(Vec::new())),
            stderr: Arc::new(Mutex::new(String::new())),
            admin: OnceLock::new(),
        };
        server.spawn(None)?;
        Ok(server)
    }
}

/// A running `rtbox serve` child process; killed on drop.
pub struct Server {
    _tmp: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    no_bind_flag: bool,
    child: Option<Child>,
    /// The address the server listens on.
    pub addr: SocketAddr,
    /// The one-time setup token printed at the last start (None once an admin exists).
    pub setup_token: Option<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    admin: OnceLock<String>,
}

impl Server {
    /// A server with every default, on an ephemeral port and a fresh data dir.
    pub fn start() -> Server {
        Server::builder().start()
    }

    /// A server with extra `serve` flags and environment variables:
    /// `Server::start_with(&["--login-per-ip-per-minute", "3"], &[("RTBOX_LOG", "debug")])`.
    pub fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut b = Server::builder().args(args);
        for (k, v) in envs {
            b = b.env(k, v);
        }
        b.start()
    }

    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    fn spawn(&mut self, port: Option<u16>) -> Result<(), String> {
        let mut cmd = rtbox(&self.data_dir);
        cmd.arg("serve");
        let user_sets_bind = self.no_bind_flag
            || self
                .args
                .iter()
                .any(|a| a == "--bind" || a.starts_with("--bind="));
        if !user_sets_bind {
            cmd.arg("--bind")
                .arg(format!("127.0.0.1:{}", port.unwrap_or(0)));
        }
        cmd.args(&self.args);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot spawn {BIN}: {e}"))?;

        // Drain stderr (logs) forever so the child never blocks on a full pipe.
        self.stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let sink = self.stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = sink.lock() {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        // Read stdout line by line; report the listening address and setup token.
        self.stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        if let Some(out) = child.stdout.take() {
            let sink = self.stdout.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut s) = sink.lock() {
                        s.push(line.clone());
                    }
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let mut setup_token = None;
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    if let Some(i) = line.find("/admin/#/setup?token=") {
                        let t = &line[i + "/admin/#/setup?token=".len()..];
                        setup_token = Some(t.trim().to_string());
                    }
                    if let Some(rest) = line.strip_prefix("rtbox listening on http://") {
                        match rest.trim().parse::<SocketAddr>() {
                            Ok(a) => break a,
                            Err(e) => return Err(format!("cannot parse {line:?}: {e}")),
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = wait_for_exit(&mut child, Duration::from_secs(5));
                    std::thread::sleep(Duration::from_millis(50));
                    return Err(format!(
                        "rtbox serve exited before listening ({status:?}); stderr:\n{}",
                        self.stderr_text()
                    ));
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "rtbox serve did not print its address within {START_TIMEOUT:?}; stderr:\n{}",
                    self.stderr_text()
                ));
            }
        };
        self.addr = addr;
        self.setup_token = setup_token;
        self.child = Some(child);
        Ok(())
    }

    // ---- where things are --------------------------------------------------------

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("rtbox.db")
    }

    /// `http://ADDR` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `ws://ADDR` + path.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Everything the server printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Everything the server logged on stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until the server's log contains `needle` (logs are written asynchronously).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stderr_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    // ---- blocking HTTP -----------------------------------------------------------

    pub fn http(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client")
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http().get(self.url(path))
    }

    pub fn post(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http().post(self.url(path))
    }

    pub fn put(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http().put(self.url(path))
    }

    pub fn patch(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http().patch(self.url(path))
    }

    pub fn delete(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http().delete(self.url(path))
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        self.http().request(method, self.url(path))
    }

    /// An async client (for `#[tokio::test]`); build URLs with [`Server::url`].
    pub fn async_http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client")
    }

    /// Runs a blocking request on its own thread (safe inside async tests).
    fn call_off_runtime(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: Vec<(String, String)>,
        body: Option<Value>,
    ) -> Resp {
        let url = self.url(path);
        off_runtime(move || {
            let mut rb = reqwest::blocking::Client::new().request(method, url);
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            rb.call()
        })
    }

    // ---- users and credentials ---------------------------------------------------

    /// `rtbox admin create EMAIL --password-stdin` on this server's data dir.
    pub fn cli_create_admin(&self, email: &str, password: &str) -> Output {
        run_cli(
            &self.data_dir,
            &["admin", "create", email, "--password-stdin"],
            &format!("{password}\n"),
        )
    }

    /// `POST /api/v1/setup` with the printed setup token → the new admin's session token.
    pub fn setup_admin(&self, email: &str, password: &str) -> Resp {
        let token = self
            .setup_token
            .clone()
            .expect("no setup token was printed");
        self.call_off_runtime(
            reqwest::Method::POST,
            "/api/v1/setup",
            vec![],
            Some(json!({"token": token, "email": email, "password": password})),
        )
    }

    /// `POST /api/v1/auth/login` → the full response.
    pub fn try_login(&self, email: &str, password: &str) -> Resp {
        self.call_off_runtime(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            vec![],
            Some(json!({"email": email, "password": password})),
        )
    }

    /// Logs in and returns the session token (panics unless 200).
    pub fn login(&self, email: &str, password: &str) -> String {
        let body = self.try_login(email, password).expect(200);
        body["token"]
            .as_str()
            .expect("token in login response")
            .to_string()
    }

    /// A session token of the instance's first admin (`admin@example.com`), created on
    /// first use through the setup link (or the CLI when there is none).
    pub fn admin_token(&self) -> String {
        self.admin
            .get_or_init(|| {
                if self.setup_token.is_some() {
                    let body = self.setup_admin(ADMIN_EMAIL, PASSWORD).expect(201);
                    body["token"].as_str().expect("token").to_string()
                } else {
                    let out = self.cli_create_admin(ADMIN_EMAIL, PASSWORD);
                    assert!(out.status.success(), "admin create: {}", stderr_of(&out));
                    self.login(ADMIN_EMAIL, PASSWORD)
                }
            })
            .clone()
    }

    /// Admin creates a user with `roles` (`POST /api/v1/users`) → the user object.
    pub fn create_user(
        &self,
        admin_token: &str,
        email: &str,
        password: &str,
        roles: &[&str],
    ) -> Value {
        self.call_off_runtime(
            reqwest::Method::POST,
            "/api/v1/users",
            vec![("Authorization".into(), format!("Bearer {admin_token}"))],
            Some(json!({"email": email, "password": password, "name": email, "roles": roles})),
        )
        .expect(201)
    }

    /// A logged-in user holding exactly `role` (`{role}@example.com`) → session token.
    pub fn user_token(&self, role: &str) -> String {
        let admin = self.admin_token();
        let email = format!("{role}@example.com");
        self.create_user(&admin, &email, PASSWORD, &[role]);
        self.login(&email, PASSWORD)
    }

    /// Admin creates an API key (`POST /api/v1/keys {name, role}`).
    pub fn create_key(&self, admin_token: &str, name: &str, role: &str) -> ApiKey {
        let body = self
            .call_off_runtime(
                reqwest::Method::POST,
                "/api/v1/keys",
                vec![("Authorization".into(), format!("Bearer {admin_token}"))],
                Some(json!({"name": name, "role": role})),
            )
            .expect(201);
        ApiKey {
            id: body["id"].as_i64().expect("key id"),
            key: body["key"].as_str().expect("key secret").to_string(),
        }
    }

    /// A client JWT minted by rtbox for a backend holding `api_key` (`POST /api/v1/tokens`).
    pub fn mint_client_token(&self, api_key: &str, claims: Value) -> String {
        let body = self
            .call_off_runtime(
                reqwest::Method::POST,
                "/api/v1/tokens",
                vec![("X-API-KEY".into(), api_key.to_string())],
                Some(claims),
            )
            .expect(201);
        body["token"].as_str().expect("token").to_string()
    }

    // ---- lifecycle ---------------------------------------------------------------

    /// Sends SIGTERM and waits (up to 15 s) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM")
    }

    /// Sends SIGINT and waits for the exit status.
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal("INT")
    }

    fn signal(&mut self, sig: &str) -> ExitStatus {
        let mut child = self.child.take().expect("server is not running");
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} failed");
        match wait_for_exit(&mut child, Duration::from_secs(15)) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not exit within 15 s of SIG{sig}");
            }
        }
    }

    /// `kill -9`: the process dies at once, with no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL on Unix
            let _ = child.wait();
        }
    }

    /// Stops the server gracefully (if running) and starts it again on the same data
    /// dir, flags and port, so URLs stay valid.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.terminate();
            assert!(status.success(), "server exited with {status} on SIGTERM");
        }
        self.start_again();
    }

    /// Starts the (stopped or killed) server again on the same data dir and port.
    pub fn start_again(&mut self) {
        let port = self.addr.port();
        if let Err(first) = self.spawn(Some(port)) {
            // The old port may have been taken meanwhile; any port will do.
            self.spawn(None)
                .unwrap_or_else(|e| panic!("restart failed: {first}\nthen: {e}"));
        }
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: i64,
    pub key: String,
}

// ---- WebSockets ----------------------------------------------------------------------

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
pub use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Connects a WebSocket (panics when the handshake fails).
pub async fn ws_connect(url: &str) -> Ws {
    match ws_try_connect(url).await {
        Ok(ws) => ws,
        Err(e) => panic!("WebSocket connect to {url} failed: {e}"),
    }
}

/// Connects a WebSocket; the handshake error (e.g. an HTTP 401/403) is returned.
pub async fn ws_try_connect(url: &str) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    tokio_tungstenite::connect_async(url)
        .await
        .map(|(ws, _)| ws)
}

/// Sends one JSON text frame.
pub async fn ws_send_json(ws: &mut Ws, v: &Value) {
    use futures_util::SinkExt;
    ws.send(WsMessage::text(v.to_string()))
        .await
        .expect("WebSocket send");
}

/// The next JSON text frame within `timeout`, skipping pings/pongs; `None` on timeout,
/// close or end of stream.
pub async fn ws_recv_json(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match next {
            Ok(WsMessage::Text(t)) => {
                return Some(
                    serde_json::from_str(t.as_str()).unwrap_or(Value::String(t.to_string())),
                )
            }
            Ok(WsMessage::Ping(_)) | Ok(WsMessage::Pong(_)) | Ok(WsMessage::Frame(_)) => continue,
            Ok(WsMessage::Binary(_)) => continue,
            Ok(WsMessage::Close(_)) | Err(_) => return None,
        }
    }
}

/// Waits for the next frame whose `action` is `action`, skipping others.
pub async fn ws_recv_action(ws: &mut Ws, action: &str, timeout: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws_recv_json(ws, left).await?;
        if frame["action"] == action {
            return Some(frame);
        }
    }
}

/// Waits for the close frame and returns its code (`None` if the stream ended without one).
pub async fn ws_close_code(ws: &mut Ws, timeout: Duration) -> Option<u16> {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match next {
            Ok(WsMessage::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Connects a WebSocket offering `protocol` as `Sec-WebSocket-Protocol` (how the Xano SDK
/// sends its token); returns the socket and the protocol the server echoed, if any.
pub async fn ws_connect_with_protocol(url: &str, protocol: &str) -> (Ws, Option<String>) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().expect("WebSocket request");
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        protocol.parse().expect("protocol header value"),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_or_else(|e| panic!("WebSocket connect to {url} failed: {e}"));
    let echoed = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (ws, echoed)
}

/// Sends `join` for `channel` (with extra `options`/`payload` fields) and waits for the
/// server's `join` confirmation; panics on an `error` frame. Returns the confirmation.
pub async fn ws_join(ws: &mut Ws, channel: &str, options: Value, payload: Value) -> Value {
    let mut opts = json!({ "channel": channel });
    if let (Some(o), Some(extra)) = (opts.as_object_mut(), options.as_object()) {
        o.extend(extra.clone());
    }
    ws_send_json(
        ws,
        &json!({"action": "join", "options": opts, "payload": payload}),
    )
    .await;
    let frame = ws_recv_json(ws, Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("no reply to join {channel}"));
    assert_eq!(frame["action"], "join", "join {channel} refused: {frame}");
    frame
}

// ---- channels ------------------------------------------------------------------------

impl Server {
    /// Admin creates a channel (`POST /api/v1/channels`) → the channel object.
    pub fn create_channel(&self, admin_token: &str, body: Value) -> Value {
        self.call_off_runtime(
            reqwest::Method::POST,
            "/api/v1/channels",
            vec![("Authorization".into(), format!("Bearer {admin_token}"))],
            Some(body),
        )
        .expect(201)
    }

    /// Publishes `payload` to `channel` with an API key → the full response.
    pub fn publish_with_key(&self, key: &str, channel: &str, body: Value) -> Resp {
        self.call_off_runtime(
            reqwest::Method::POST,
            &format!("/api/v1/channels/{channel}/publish"),
            vec![("X-API-KEY".into(), key.to_string())],
            Some(body),
        )
    }

    /// Reads a channel's whole history in ascending order (following `next` links).
    pub fn full_history(&self, key: &str, channel: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = format!("/api/v1/channels/{channel}/history?page_size=100");
        loop {
            let page = self
                .call_off_runtime(
                    reqwest::Method::GET,
                    &path,
                    vec![("X-API-KEY".into(), key.to_string())],
                    None,
                )
                .expect(200);
            out.extend(page["objects"].as_array().cloned().unwrap_or_default());
            match page["next"].as_str() {
                Some(next) => path = next.to_string(),
                None => return out,
            }
        }
    }
}
