//! Bad input never gets a 500: malformed JSON, missing fields, wrong types, unknown
//! fields, bad paths and queries, and oversized bodies all get a clear 4xx JSON error.

mod common;
use common::*;

use reqwest::Method;

fn assert_json_4xx(r: &Resp, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: got {} {}",
        r.status,
        r.text
    );
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{what}: not JSON: {:?}",
        r.headers
    );
    assert!(
        r.json.is_object() && !r.json.as_object().unwrap().is_empty(),
        "{what}: {}",
        r.text
    );
}

#[test]
fn malformed_bodies_get_clear_400s() {
    let s = Server::start();
    let admin = s.admin_token();

    let r = s
        .post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .call();
    assert_eq!(r.status, 400);
    assert!(r.detail().starts_with("JSON parse error - "), "{}", r.text);

    let r = s
        .post("/api/v1/auth/login")
        .json(&json!({"email": ADMIN_EMAIL}))
        .call();
    assert_eq!(r.status, 400);
    assert_eq!(r.json, json!({"password": "This field is required."}));

    let r = s
        .post("/api/v1/auth/login")
        .json(&json!({"email": 5, "password": PASSWORD}))
        .call();
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("invalid type"), "{}", r.text);

    let r = s
        .post("/api/v1/users")
        .bearer_auth(&admin)
        .json(&json!({"email": "a@example.com", "password": PASSWORD, "roles": "agent"}))
        .call();
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("invalid type"), "{}", r.text);

    let r = s
        .post("/api/v1/users")
        .bearer_auth(&admin)
        .json(&json!({"email": "a@example.com", "password": PASSWORD, "is_root": true}))
        .call();
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("is_root"), "{}", r.text);

    // A body that is not JSON at all, with and without a JSON content type.
    let r = s
        .post("/api/v1/keys")
        .bearer_auth(&admin)
        .body("name=x&role=publish")
        .call();
    assert_json_4xx(&r, "form body");
    let r = s
        .post("/api/v1/keys")
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0x00])
        .call();
    assert_json_4xx(&r, "binary body");
    let r = s
        .post("/api/v1/keys")
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .call();
    assert_json_4xx(&r, "empty body");
    let r = s
        .post("/api/v1/keys")
        .bearer_auth(&admin)
        .json(&json!([1, 2, 3]))
        .call();
    assert_json_4xx(&r, "array body");
    let r = s
        .post("/api/v1/keys")
        .bearer_auth(&admin)
        .json(&json!(null))
        .call();
    assert_json_4xx(&r, "null body");
}

#[test]
fn bad_paths_and_queries_get_clear_errors() {
    let s = Server::start();
    let admin = s.admin_token();
    let r = s
        .get("/api/v1/users/not-a-number")
        .bearer_auth(&admin)
        .call();
    assert_eq!(r.status, 404);
    assert_eq!(r.json, json!({"detail": "Not found."}));
    let r = s
        .get("/api/v1/users/99999999999999999999999")
        .bearer_auth(&admin)
        .call();
    assert_eq!(r.status, 404);
    let r = s.get("/api/v1/users?offset=abc").bearer_auth(&admin).call();
    assert_eq!(r.status, 400);
    assert!(
        r.detail().starts_with("Invalid query parameters"),
        "{}",
        r.text
    );
    let r = s
        .get("/api/v1/users?page_size=-5&offset=-3")
        .bearer_auth(&admin)
        .call();
    assert_eq!(r.status, 200, "negative values are clamped: {}", r.text);
    let r = s
        .request(Method::PATCH, "/api/v1/keys")
        .bearer_auth(&admin)
        .call();
    assert_eq!(r.status, 405);
    assert_eq!(r.json, json!({"detail": "Method \"PATCH\" not allowed."}));
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));
}

#[test]
fn oversized_bodies_get_413() {
    let s = Server::start_with(&["--max-payload-bytes", "1000"], &[]);
    let admin = s.admin_token();
    // Limit for JSON bodies is 2 x 1000 + 16 KiB.
    let big = json!({"email": "x".repeat(30_000), "password": PASSWORD});

    let r = s.post("/api/v1/auth/login").json(&big).call();
    assert_eq!(r.status, 413, "{}", r.text);
    assert!(r.detail().contains("larger than"), "{}", r.text);

    let r = s
        .post("/api/v1/users")
        .bearer_auth(&admin)
        .json(&big)
        .call();
    assert_eq!(r.status, 413, "{}", r.text);

    // Without Content-Length (chunked), the limit still holds.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(big.to_string().into_bytes()));
    let r = s
        .post("/api/v1/keys")
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(body)
        .call();
    assert_eq!(r.status, 413, "{}", r.text);

    let r = s
        .post("/api/v1/login")
        .json(&json!({"user": "x".repeat(30_000), "password": "p"}))
        .call();
    assert!(
        (400..500).contains(&r.status),
        "rocket login: {} {}",
        r.status,
        r.text
    );

    // The server is fine afterwards.
    s.get("/healthz").call().expect(200);
}

#[test]
fn no_garbage_makes_any_route_answer_500() {
    let s = Server::start();
    let admin = s.admin_token();
    let key = s.create_key(&admin, "k", "admin").key;
    let routes = [
        (Method::POST, "/api/v1/auth/login"),
        (Method::POST, "/api/v1/login"),
        (Method::POST, "/api/v1/setup"),
        (Method::POST, "/api/v1/users"),
        (Method::PATCH, "/api/v1/users/1"),
        (Method::POST, "/api/v1/keys"),
        (Method::POST, "/api/v1/tokens"),
    ];
    let bodies: [&[u8]; 7] = [
        b"",
        b"{",
        b"[]",
        b"\"text\"",
        b"{\"email\": {\"nested\": true}, \"password\": [1], \"name\": 7, \"roles\": {}}",
        b"{\"sub\": null, \"ttl_seconds\": \"ten\", \"channels\": {}}",
        &[0xc3, 0x28, 0x7b, 0x7d],
    ];
    for (method, path) in routes {
        for body in bodies {
            let r = s
                .request(method.clone(), path)
                .header("X-API-KEY", &key)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .call();
            let what = format!("{method} {path} {:?}", String::from_utf8_lossy(body));
            assert!(r.status < 500, "{what}: {} {}", r.status, r.text);
            assert_json_4xx(&r, &what);
        }
    }
    s.get("/healthz").call().expect(200);
}

#[tokio::test]
async fn payloads_that_would_not_read_back_are_refused_and_not_stored() {
    let s = Server::start();
    let admin = s.admin_token();
    s.create_channel(
        &admin,
        serde_json::json!({"name": "raw", "custom_publish": true, "other_permissions": "publish"}),
    );
    let key = s.create_key(&admin, "raw", "admin").key;
    let http = s.async_http();
    for body in [
        r#"{"payload": {"text": "a\udc00b"}}"#,
        r#"{"payload": [1e999]}"#,
        r#"{"payload": {"\ud800": 1}}"#,
    ] {
        let r = http
            .post(s.url("/api/v1/channels/raw/publish"))
            .header("X-API-KEY", &key)
            .header("content-type", "application/json")
            .body(body)
            .call()
            .await;
        assert_json_4xx(&r, body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.json["payload"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Invalid JSON"),
            "{body}: {}",
            r.text
        );
    }
    // Over the socket: an error frame, and the socket stays usable.
    let mut ws = ws_connect(&s.ws_url("/ws")).await;
    let frame =
        r#"{"action": "message", "options": {"channel": "raw", "ref": 1}, "payload": "\udc00"}"#;
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(frame.into()))
        .await
        .expect("send");
    let err = ws_recv_action(&mut ws, "error", std::time::Duration::from_secs(5))
        .await
        .expect("error frame");
    assert_eq!(err["payload"]["code"], "bad_request", "{err}");
    assert_eq!(err["options"]["ref"], 1);
    // A valid message still goes through, and history has only it.
    let ok = http
        .post(s.url("/api/v1/channels/raw/publish"))
        .header("X-API-KEY", &key)
        .header("content-type", "application/json")
        .body(r#"{"payload": "\u00e9 \ud83d\ude00"}"#)
        .call()
        .await
        .expect(201);
    assert_eq!(ok["payload"], "\u{e9} \u{1f600}");
    let history = s.full_history(&key, "raw");
    assert_eq!(history.len(), 1, "{history:?}");
}
