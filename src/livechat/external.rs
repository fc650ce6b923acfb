//! The external service of a `use-external-service` trigger action: a POST through the
//! outbound guard (SPEC §8: allow list, private addresses denied by default), a timeout in
//! milliseconds, and a `{"contents": [{msg, order}]}` answer, shown in `order`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::triggers::outbound::{HttpClient, Request};

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceOutcome {
    /// The messages to show, already in `order`.
    Contents(Vec<Value>),
    Timeout(String),
    /// Non-200, a body that is not `{contents: [...]}`, or a refused address.
    Invalid(String),
}

impl ServiceOutcome {
    pub fn messages(&self) -> Vec<String> {
        match self {
            ServiceOutcome::Contents(c) => c
                .iter()
                .filter_map(|m| m["msg"].as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The Rocket.Chat body of the call/test endpoints (without `success`/`triggerId`).
    pub fn response_body(&self, fallback: &str) -> (bool, Value) {
        match self {
            ServiceOutcome::Contents(contents) => (
                true,
                json!({"response": {"statusCode": 200, "contents": contents}}),
            ),
            ServiceOutcome::Timeout(why) => (
                false,
                json!({"error": "error-timeout", "response": why, "fallbackMessage": fallback}),
            ),
            ServiceOutcome::Invalid(why) => (
                false,
                json!({"error": "error-invalid-webhook-response", "response": why, "fallbackMessage": fallback}),
            ),
        }
    }
}

/// Longest wait a trigger may ask for.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

pub async fn call(
    http: Arc<HttpClient>,
    url: String,
    timeout_ms: u64,
    secret: String,
    metadata: Value,
    visitor_token: String,
) -> ServiceOutcome {
    let body = json!({"metadata": metadata, "visitorToken": visitor_token}).to_string();
    let timeout = Duration::from_millis(timeout_ms.clamp(1, MAX_TIMEOUT_MS));
    let request = Request {
        method: "POST".into(),
        url,
        body: Some((body.into_bytes(), Some("application/json"))),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Accept".into(), "application/json".into()),
            ("X-RocketChat-Livechat-Token".into(), secret),
        ],
        timeout,
    };
    // The outbound client blocks; keep it off the async threads.
    let result = tokio::task::spawn_blocking(move || http.send(request)).await;
    let response = match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) if e.contains("timed out") => return ServiceOutcome::Timeout(e),
        Ok(Err(e)) => return ServiceOutcome::Invalid(e),
        Err(e) => return ServiceOutcome::Invalid(format!("request task failed: {e}")),
    };
    if response.status != 200 {
        return ServiceOutcome::Invalid(format!("the service answered HTTP {}", response.status));
    }
    let parsed: Value = match serde_json::from_slice(&response.body) {
        Ok(v) => v,
        Err(e) => return ServiceOutcome::Invalid(format!("the answer is not JSON: {e}")),
    };
    let Some(items) = parsed.get("contents").and_then(Value::as_array) else {
        return ServiceOutcome::Invalid("the answer has no \"contents\" array".into());
    };
    let mut contents = Vec::with_capacity(items.len());
    for item in items.iter().take(20) {
        let (Some(msg), order) = (item.get("msg").and_then(Value::as_str), item.get("order"))
        else {
            return ServiceOutcome::Invalid(
                "every item of \"contents\" needs a \"msg\" string".into(),
            );
        };
        if msg.trim().is_empty() {
            continue;
        }
        let order = order.and_then(Value::as_f64).unwrap_or(f64::MAX);
        contents.push((
            order,
            json!({"msg": msg, "order": item.get("order").cloned().unwrap_or(Value::Null)}),
        ));
    }
    if contents.is_empty() {
        return ServiceOutcome::Invalid("\"contents\" holds no message".into());
    }
    contents.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    ServiceOutcome::Contents(contents.into_iter().map(|(_, v)| v).collect())
}
