//! `rtbox healthcheck`: asks a running server's `/healthz` — the probe a container
//! runtime can run inside an image that has no curl.

use std::time::Duration;

use crate::config::Settings;

/// The URL of the local server's health endpoint, from its bind address (an unspecified
/// address such as 0.0.0.0 is probed on loopback).
pub fn local_url(settings: &Settings) -> String {
    let bind = settings.bind;
    let host = if bind.ip().is_unspecified() {
        if bind.is_ipv6() {
            "[::1]".to_string()
        } else {
            "127.0.0.1".to_string()
        }
    } else if bind.is_ipv6() {
        format!("[{}]", bind.ip())
    } else {
        bind.ip().to_string()
    };
    format!("http://{host}:{}/healthz", bind.port())
}

/// `Ok(body)` when the server answers 200; `Err` says what went wrong.
pub fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let resp = client.get(url).send().map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{url} answered {status}: {body}"))
    }
}
