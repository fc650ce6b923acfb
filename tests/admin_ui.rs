//! The admin UI (`/admin/`): driven in headless Chromium (tests/js/admin_ui_test.js)
//! against the real binary, plus the HTTP contract it relies on: `GET /api/v1/stats`,
//! the first-load size budget, and the caching and security headers of its files.

mod common;

use std::time::Duration;

use common::*;

/// First load (index, CSS, every module the app can load), gzipped, must stay under this.
const FIRST_LOAD_BUDGET: usize = 150 * 1024;

#[test]
fn admin_ui_in_chromium() {
    if !browser_ready() {
        return;
    }
    // Loopback outbound is allowed so the livechat trigger's external-service test can
    // reach the script's local HTTP service.
    let s = Server::start_with(&["--allow-private-outbound"], &[]);
    let link = s
        .stdout_lines()
        .iter()
        .find(|l| l.contains("/admin/#/setup?token="))
        .map(|l| l.trim().to_string())
        .expect("the server printed a setup link");
    let out = run_node(
        "admin_ui_test.js",
        &[&s.url(""), link.trim()],
        &[],
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert_node_ok(&out);
    assert!(stdout.contains("RESULT "), "the script finished");
}

#[test]
fn stats_needs_an_admin_and_has_its_shape() {
    let s = Server::start();
    let anon = s.get("/api/v1/stats").call();
    assert_eq!(anon.status, 401, "{}", anon.text);
    assert_eq!(
        anon.detail(),
        "Authentication credentials were not provided."
    );

    let agent = s.user_token("agent");
    let r = s.get("/api/v1/stats").bearer_auth(&agent).call();
    assert_eq!(r.status, 403, "{}", r.text);
    let admin = s.admin_token();
    let publish_key = s.create_key(&admin, "backend", "publish").key;
    let r = s
        .get("/api/v1/stats")
        .header("X-API-KEY", &publish_key)
        .call();
    assert_eq!(r.status, 403, "a publish key is not an admin: {}", r.text);
    let r = s
        .get("/api/v1/stats")
        .header("X-API-KEY", "rtk_nonsense")
        .call();
    assert_eq!(r.status, 403);
    assert_eq!(r.detail(), "No such API Key.");

    let before = s
        .get("/api/v1/stats")
        .bearer_auth(&admin)
        .call()
        .expect(200);
    s.post("/api/v1/channels")
        .bearer_auth(&admin)
        .json(&json!({"name": "stats-demo"}))
        .call()
        .expect(201);
    for i in 0..3 {
        s.post("/api/v1/channels/stats-demo/publish")
            .bearer_auth(&admin)
            .json(&json!({"payload": {"n": i, "html": "<b>x</b>"}}))
            .call()
            .expect(201);
    }
    // The sampler ticks once a second; give it two ticks after the publishes.
    std::thread::sleep(Duration::from_millis(2200));
    let body = s
        .get("/api/v1/stats")
        .bearer_auth(&admin)
        .call()
        .expect(200);
    for key in [
        "connections",
        "subscriptions",
        "channels",
        "messages_in_per_second",
        "messages_out_per_second",
        "messages_in_total",
        "trigger_runs_total",
        "trigger_errors_total",
        "livechat_queue",
        "livechat_open_chats",
        "database_size_bytes",
        "uptime_seconds",
    ] {
        assert!(body[key].is_number(), "{key} is a number in {body}");
    }
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        body["channels"].as_u64().unwrap(),
        before["channels"].as_u64().unwrap() + 1,
        "the new channel is counted"
    );
    assert!(body["messages_in_total"].as_u64().unwrap() >= 3, "{body}");
    assert!(body["database_size_bytes"].as_u64().unwrap() > 0);
    let series_in = body["series"]["messages_in"].as_array().expect("series");
    assert!(!series_in.is_empty() && series_in.len() <= 120);
    assert!(
        // Rates are per elapsed second (ticks are ~1 s apart), so 3 publishes sum to ~3.
        series_in.iter().map(|v| v.as_f64().unwrap()).sum::<f64>() > 2.5,
        "the per-second series holds the publishes: {series_in:?}"
    );
    let feed = body["feed"].as_array().expect("feed");
    assert_eq!(feed[0]["channel"], "stats-demo");
    assert_eq!(feed[0]["kind"], "message");
    assert!(feed[0]["summary"].as_str().unwrap().contains("\"n\":2"));
    assert_eq!(
        s.get("/api/v1/stats?feed=0")
            .bearer_auth(&admin)
            .call()
            .expect(200)["feed"],
        json!([])
    );
    // The dashboard's counters are teed off the metrics recorder: /metrics still sees them.
    let metrics = s.get("/metrics").call();
    assert!(
        metrics.text.contains("rtbox_messages_published_total"),
        "{}",
        metrics.text
    );
    let bad = s.get("/api/v1/stats?feed=lots").bearer_auth(&admin).call();
    assert_eq!(bad.status, 400, "{}", bad.text);
    let post = s.post("/api/v1/stats").bearer_auth(&admin).call();
    assert_eq!(post.status, 405);
}

#[test]
fn stats_counts_live_connections_and_subscriptions() {
    let s = Server::start();
    let admin = s.admin_token();
    s.post("/api/v1/channels")
        .bearer_auth(&admin)
        .json(&json!({"name": "live", "other_permissions": "subscribe"}))
        .call()
        .expect(201);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        let (mut ws, _) = tokio_tungstenite::connect_async(s.ws_url("/ws"))
            .await
            .expect("ws");
        ws.send(tokio_tungstenite::tungstenite::Message::text(
            r#"{"action":"join","options":{"channel":"live"}}"#,
        ))
        .await
        .unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        let body = s
            .async_http()
            .get(s.url("/api/v1/stats"))
            .bearer_auth(&admin)
            .call()
            .await
            .expect(200);
        assert_eq!(body["connections"], 1, "{body}");
        assert_eq!(body["subscriptions"], 1, "{body}");
        ws.close(None).await.ok();
    });
}

#[test]
fn the_dashboard_session_opens_a_websocket() {
    let s = Server::start();
    let admin = s.admin_token();
    s.post("/api/v1/channels")
        .bearer_auth(&admin)
        .json(&json!({"name": "private", "other_permissions": "none", "group_permissions": "none"}))
        .call()
        .expect(201);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let join = r#"{"action":"join","options":{"channel":"private","ref":"j"}}"#;
        // The session as the offered subprotocol (what the admin console sends).
        let mut req = s.ws_url("/ws").into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", admin.parse().unwrap());
        let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.expect("ws");
        assert_eq!(
            resp.headers()["sec-websocket-protocol"],
            admin.as_str(),
            "the offered protocol is echoed"
        );
        ws.send(join.into()).await.unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
        assert_eq!(
            v["action"], "join",
            "an admin session may join a closed channel: {v}"
        );

        // A revoked or made-up session is an auth failure (1008), not anonymous access.
        let mut req = s.ws_url("/ws").into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "rts_madeup".parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
        let mut closed_with = None;
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            if let tokio_tungstenite::tungstenite::Message::Close(Some(c)) = m {
                closed_with = Some(u16::from(c.code));
                break;
            }
        }
        assert_eq!(closed_with, Some(1008));
    });
}

/// Bytes on the wire for `path` when the browser accepts gzip (the server compresses).
fn wire_len(s: &Server, path: &str) -> usize {
    let r = // (reqwest is built without gzip support: the body stays compressed)
    reqwest::blocking::Client::new()
        .get(s.url(path))
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    assert!(
        r.headers().contains_key("content-security-policy"),
        "{path} has the CSP"
    );
    r.bytes().unwrap().len()
}

/// Every file of the admin UI, relative to web/admin.
fn admin_files() -> Vec<String> {
    fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{prefix}{name}/"), out);
            } else {
                out.push(format!("{prefix}{name}"));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/admin"),
        "",
        &mut out,
    );
    out.sort();
    out
}

#[test]
fn admin_files_fit_the_budget_and_carry_cache_and_security_headers() {
    let s = Server::start();
    let index = s.get("/admin/").call();
    assert_eq!(index.status, 200);
    let csp = index.header("content-security-policy").expect("CSP");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(part), "CSP has {part}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(index.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        index.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(index.header("cache-control").as_deref(), Some("no-cache"));
    assert!(
        !index.text.contains("<script>") && !index.text.contains(" style="),
        "no inline script or style in index.html"
    );

    // index.html revalidates with its ETag.
    let etag = index.header("etag").expect("etag");
    let again = s.get("/admin/").header("If-None-Match", &etag).call();
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty());
    assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
    assert!(again.header("content-security-policy").is_some());
    let head = s.request(reqwest::Method::HEAD, "/admin/").call();
    assert_eq!(head.status, 200, "HEAD /admin/ works");

    // Assets live under a fingerprint and are cached for a year.
    let prefix = index
        .text
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split("app.js").next())
        .expect("app.js URL in index.html")
        .to_string();
    assert!(
        prefix.starts_with("/admin/a/") && prefix.len() > "/admin/a/".len() + 8,
        "{prefix}"
    );
    let app = s.get(&format!("{prefix}app.js")).call();
    assert_eq!(app.status, 200);
    assert!(app.header("content-type").unwrap().contains("javascript"));
    assert_eq!(
        app.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    let app_etag = app.header("etag").expect("asset etag");
    let not_modified = s
        .get(&format!("{prefix}app.js"))
        .header("If-None-Match", &app_etag)
        .call();
    assert_eq!(not_modified.status, 304);
    // A stale fingerprint still gets the file, but only with revalidation.
    let stale = s.get("/admin/a/0000000000000000/app.js").call();
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("cache-control").as_deref(), Some("no-cache"));
    // Traversal and unknown files are 404; client-side routes get the app.
    assert_eq!(s.get("/admin/a/x/../../../Cargo.toml").call().status, 404);
    assert_eq!(s.get("/admin/nope.js").call().status, 404);
    let route = s.get("/admin/channels").call();
    assert_eq!(route.status, 200);
    assert!(route.text.contains("app.js"));

    // Compressed on the wire when asked.
    let gz = // (reqwest is built without gzip support: the body stays compressed)
    reqwest::blocking::Client::new()
        .get(s.url(&format!("{prefix}app.css")))
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(
        gz.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );

    // The budget: index.html plus every file the app may load, as sent gzipped.
    let mut total = wire_len(&s, "/admin/");
    let mut listed = Vec::new();
    for file in admin_files() {
        if file == "index.html" {
            continue;
        }
        let n = wire_len(&s, &format!("{prefix}{file}"));
        listed.push(format!("{file}: {n} B"));
        total += n;
    }
    println!("admin UI gzipped: {total} bytes\n{}", listed.join("\n"));
    assert!(
        total <= FIRST_LOAD_BUDGET,
        "admin UI is {total} bytes gzipped, over the {FIRST_LOAD_BUDGET} budget:\n{}",
        listed.join("\n")
    );
}

#[test]
fn admin_scripts_never_write_html_from_strings() {
    // The UI builds DOM with h()/textContent only; innerHTML, outerHTML,
    // insertAdjacentHTML, document.write and inline style attributes are not used.
    for file in admin_files() {
        if !file.ends_with(".js") {
            continue;
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("web/admin")
            .join(&file);
        let text = std::fs::read_to_string(&path).unwrap();
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "setAttribute(\"style\"",
            "eval(",
            "new Function",
        ] {
            assert!(!text.contains(banned), "{file} uses {banned}");
        }
    }
}

#[test]
fn channel_list_search_pages_and_keeps_the_term_in_links() {
    let s = Server::start();
    let admin = s.admin_token();
    for i in 0..5 {
        s.post("/api/v1/channels")
            .bearer_auth(&admin)
            .json(&json!({"name": format!("team-{i}"), "description": "Team room"}))
            .call()
            .expect(201);
    }
    s.post("/api/v1/channels")
        .bearer_auth(&admin)
        .json(&json!({"name": "billing", "description": "Invoices for the TEAM"}))
        .call()
        .expect(201);
    let page = s
        .get("/api/v1/channels?search=TEAM-&page_size=2")
        .bearer_auth(&admin)
        .call()
        .expect(200);
    let names: Vec<&str> = page["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team-0", "team-1"]);
    let next = page["next"].as_str().expect("a next link");
    assert!(
        next.contains("search=team%2D") || next.contains("search=team-"),
        "{next}"
    );
    let page2 = s.get(next).bearer_auth(&admin).call().expect(200);
    assert_eq!(page2["objects"][0]["name"], "team-2");
    // The description matches too, case-insensitively.
    let by_description = s
        .get("/api/v1/channels?search=invoices")
        .bearer_auth(&admin)
        .call()
        .expect(200);
    assert_eq!(by_description["objects"].as_array().unwrap().len(), 1);
    assert_eq!(by_description["objects"][0]["name"], "billing");
    let none = s
        .get("/api/v1/channels?search=nothing-like-it")
        .bearer_auth(&admin)
        .call()
        .expect(200);
    assert_eq!(none["objects"], json!([]));
    assert_eq!(none["next"], Value::Null);
    let bad = s
        .get("/api/v1/channels?offset=minus")
        .bearer_auth(&admin)
        .call();
    assert_eq!(bad.status, 400);
}
