//! Operations: health check, Prometheus metrics, graceful shutdown, unknown routes.

mod common;
use common::*;

#[test]
fn healthz_answers_ok_when_the_database_is_writable() {
    let s = Server::start();
    let r = s.get("/healthz").call();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "ok");
}

#[test]
fn metrics_are_prometheus_text_counting_http_requests() {
    let s = Server::start();
    s.get("/healthz").call().expect(200);
    s.get("/api/v1/me").call();
    // Routes served without the router (the hot channel routes) are counted under
    // their patterns too, per route family.
    let admin = s.admin_token();
    s.create_channel(
        &admin,
        serde_json::json!({"name": "m/*", "custom_publish": true}),
    );
    let key = s.create_key(&admin, "m", "admin").key;
    s.publish_with_key(&key, "m/one", serde_json::json!({"payload": 1}))
        .expect(201);
    s.get("/v1.1/instances/demo/channels/m/one/history")
        .header("X-API-KEY", &key)
        .call()
        .expect(200);
    let r = s.get("/metrics").call();
    for route in [
        "route=\"/api/v1/channels/{name:.+}/publish\",method=\"POST\",status=\"201\"",
        "route=\"/v1.1/instances/{instance}/channels/{name:.+}/history\",method=\"GET\",status=\"200\"",
    ] {
        assert!(r.text.contains(route), "{route} in {}", r.text);
    }
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"),
        "{:?}",
        r.headers
    );
    assert!(r.text.contains("rtbox_http_requests_total"), "{}", r.text);
    assert!(r.text.contains("route=\"/healthz\""), "{}", r.text);
    assert!(r.text.contains("status=\"401\""), "{}", r.text);
    assert!(
        r.text.contains("# TYPE rtbox_http_requests_total counter"),
        "{}",
        r.text
    );
}

#[test]
fn sigterm_shuts_down_gracefully_with_exit_code_0() {
    let mut s = Server::start();
    s.get("/healthz").call().expect(200);
    let status = s.terminate();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        s.stderr_text()
    );
    assert!(
        s.stderr_text().contains("rtbox stopped"),
        "{}",
        s.stderr_text()
    );
}

#[test]
fn sigint_shuts_down_gracefully_too() {
    let mut s = Server::start();
    let status = s.interrupt();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn data_written_before_a_restart_is_still_there_after_it() {
    let mut s = Server::start();
    let admin = s.admin_token();
    let key = s.create_key(&admin, "survivor", "publish");
    s.restart();
    // The session and the key both live in SQLite.
    let keys = s.get("/api/v1/keys").bearer_auth(&admin).call().expect(200);
    assert!(keys["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["id"] == key.id));
    s.kill9();
    s.start_again();
    s.get("/api/v1/me")
        .header("X-API-KEY", &key.key)
        .call()
        .expect(200);
}

#[test]
fn unknown_routes_get_a_json_404() {
    let s = Server::start();
    let r = s.get("/api/v1/no-such-thing").call();
    assert_eq!(r.status, 404);
    assert_eq!(r.json, json!({"detail": "Not found."}));
}
