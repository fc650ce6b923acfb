//! The trigger tests' async view of the shared harness (`tests/common`): a booted server
//! with an admin session, and small helpers for the calls these tests repeat.

#![allow(dead_code)]

use serde_json::{json, Value};

use crate::common;

pub struct Server {
    inner: common::Server,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
}

impl Server {
    pub async fn start(extra: &[&str]) -> Server {
        let inner = common::Server::start_with(extra, &[("RTBOX_LOG", "warn")]);
        let token = inner.admin_token();
        Server {
            base: inner.url(""),
            http: inner.async_http(),
            token,
            inner,
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
        self.inner.ws_url(&format!("/ws?{query}"))
    }
}
