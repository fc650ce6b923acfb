//! The livechat tests' view of the shared harness: a booted server with an admin, and the
//! verbs a livechat story needs (an agent goes online, a visitor registers and writes,
//! sockets for both sides).

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{self, ws_connect, ws_join, ws_recv_json, AsyncCall, Resp, Ws, PASSWORD};

pub struct Lc {
    pub s: common::Server,
    pub admin: String,
    pub http: reqwest::Client,
}

#[derive(Debug, Clone)]
pub struct Staff {
    pub token: String,
    pub id: String,
    pub email: String,
}

pub const WAIT: Duration = Duration::from_secs(5);

impl Lc {
    pub async fn start() -> Lc {
        Lc::start_with(&[]).await
    }

    pub async fn start_with(args: &[&str]) -> Lc {
        let s = common::Server::start_with(args, &[("RTBOX_LOG", "warn")]);
        let admin = s.admin_token();
        Lc {
            http: s.async_http(),
            admin,
            s,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        call_at(&self.http, &self.s, method, path, auth, body).await
    }

    pub async fn raw(&self, method: &str, path: &str, auth: Option<&str>, body: &str) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(method, self.s.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = auth {
            rb = rb.bearer_auth(token);
        }
        rb.call().await
    }

    pub async fn get(&self, path: &str, auth: Option<&str>) -> Resp {
        self.call("GET", path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> Resp {
        self.call("POST", path, auth, Some(body)).await
    }

    /// A dashboard user with `roles`, logged in.
    pub async fn user(&self, name: &str, roles: &[&str]) -> Staff {
        let email = format!("{name}@example.com");
        let user = self.s.create_user(&self.admin, &email, PASSWORD, roles);
        let token = self.s.login(&email, PASSWORD);
        Staff {
            token,
            id: user["id"].as_i64().expect("user id").to_string(),
            email,
        }
    }

    pub async fn agent(&self, name: &str) -> Staff {
        self.user(name, &["agent"]).await
    }

    /// An agent that is online.
    pub async fn online_agent(&self, name: &str) -> Staff {
        let a = self.agent(name).await;
        self.status(&a, "online").await;
        a
    }

    pub async fn status(&self, a: &Staff, status: &str) {
        self.post(
            "/api/v1/livechat/agent.status",
            Some(&a.token),
            json!({"status": status}),
        )
        .await
        .expect(200);
    }

    pub async fn setting(&self, id: &str, value: Value) {
        self.post(
            &format!("/api/v1/settings/{id}"),
            Some(&self.admin),
            json!({"value": value}),
        )
        .await
        .expect(200);
    }

    pub async fn visitor(&self, token: &str, name: Option<&str>) -> Value {
        let mut v = json!({"token": token});
        if let Some(n) = name {
            v["name"] = json!(n);
        }
        self.post("/api/v1/livechat/visitor", None, json!({"visitor": v}))
            .await
            .expect(200)["visitor"]
            .clone()
    }

    /// The visitor's open room (opened and routed when new).
    pub async fn room(&self, token: &str) -> Value {
        self.get(&format!("/api/v1/livechat/room?token={token}"), None)
            .await
            .expect(200)["room"]
            .clone()
    }

    pub async fn room_id(&self, token: &str) -> String {
        self.room(token).await["_id"]
            .as_str()
            .expect("rid")
            .to_string()
    }

    pub async fn say(&self, token: &str, rid: &str, msg: &str) -> Resp {
        self.post(
            "/api/v1/livechat/message",
            None,
            json!({"token": token, "rid": rid, "msg": msg}),
        )
        .await
    }

    pub async fn reply(&self, a: &Staff, rid: &str, msg: &str) -> Resp {
        self.post(
            "/api/v1/chat.sendMessage",
            Some(&a.token),
            json!({"message": {"rid": rid, "msg": msg}}),
        )
        .await
    }

    pub async fn event(&self, token: &str, event: &str, data: Value) -> Resp {
        self.post(
            "/api/v1/livechat/visitor.event",
            None,
            json!({"token": token, "event": event, "data": data}),
        )
        .await
    }

    pub async fn room_info(&self, rid: &str) -> Value {
        self.get(
            &format!("/api/v1/livechat/room.info?rid={rid}"),
            Some(&self.admin),
        )
        .await
        .expect(200)["room"]
            .clone()
    }

    pub async fn history(&self, token: &str, rid: &str) -> Vec<Value> {
        self.get(
            &format!("/api/v1/livechat/messages.history/{rid}?token={token}"),
            None,
        )
        .await
        .expect(200)["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn visitor_ws(&self, token: &str) -> Ws {
        ws_connect(&self.s.ws_url(&format!("/ws?visitor_token={token}"))).await
    }

    pub async fn staff_ws(&self, a: &Staff) -> Ws {
        ws_connect(&self.s.ws_url(&format!("/ws?token={}", a.token))).await
    }
}

/// One JSON call to server `s` with an optional bearer token.
pub async fn call_at(
    http: &reqwest::Client,
    s: &common::Server,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = http.request(method, s.url(path));
    if let Some(token) = auth {
        rb = rb.bearer_auth(token);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.call().await
}

/// Joins and checks the confirmation.
pub async fn join(ws: &mut Ws, channel: &str) {
    ws_join(ws, channel, json!({}), json!({})).await;
}

/// The next frame matching `pred` within `WAIT` (other frames are skipped).
pub async fn next_where(ws: &mut Ws, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws_recv_json(ws, left).await {
            Some(f) if pred(&f) => return f,
            Some(_) => continue,
            None => panic!("no frame: {what}"),
        }
    }
}

/// No frame matching `pred` arrives within `wait`.
pub async fn none_where(ws: &mut Ws, wait: Duration, pred: impl Fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws_recv_json(ws, left).await {
            Some(f) if pred(&f) => panic!("unexpected frame {f}"),
            Some(_) => continue,
            None => return,
        }
    }
}

/// A livechat event frame on `channel` of `type`.
pub fn is_event(channel: &str, kind: &str) -> impl Fn(&Value) -> bool {
    let (channel, kind) = (channel.to_string(), kind.to_string());
    move |f: &Value| {
        f["action"] == "event"
            && f["options"]["channel"] == channel.as_str()
            && f["payload"]["type"] == kind.as_str()
    }
}

/// A room message frame from `sender`.
pub fn is_message(rid: &str, sender: &str) -> impl Fn(&Value) -> bool {
    let (channel, sender) = (format!("livechat/{rid}"), sender.to_string());
    move |f: &Value| {
        f["action"] == "message"
            && f["options"]["channel"] == channel.as_str()
            && f["payload"]["sender"] == sender.as_str()
    }
}

/// Asserts a Rocket.Chat error: status and `error` (and `errorType` when given).
pub fn assert_rc_error(r: &Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "status of {}", r.text);
    assert_eq!(r.json["success"], false, "{}", r.text);
    let got = r.json["error"].as_str().unwrap_or_default();
    assert!(
        got == error || got.ends_with(&format!("[{error}]")) || r.json["errorType"] == error,
        "expected error {error}, got {}",
        r.text
    );
}
