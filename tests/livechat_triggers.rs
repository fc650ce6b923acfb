//! Livechat triggers: Rocket.Chat's REST API (schema, coercion, check order, error
//! bodies) and the server-side evaluation on visitor events and timers — time-on-site
//! across page loads, page-url after navigate, AND-ed conditions, runOnce across
//! connections, external services (ok / timeout / non-200 / bad body) and the queue sender.

mod common;
mod livechat_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use livechat_support::*;

fn trigger(name: &str, conditions: Value, actions: Value) -> Value {
    json!({"name": name, "description": format!("{name} description"), "enabled": true,
           "runOnce": false, "conditions": conditions, "actions": actions})
}

fn say(msg: &str) -> Value {
    json!([{"name": "send-message", "params": {"sender": "custom", "name": "Bot", "msg": msg}}])
}

async fn create(lc: &Lc, body: Value) -> String {
    lc.post("/api/v1/livechat/triggers", Some(&lc.admin), body.clone())
        .await
        .expect(200);
    let list = lc
        .get("/api/v1/livechat/triggers?count=100", Some(&lc.admin))
        .await
        .expect(200);
    list["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == body["name"])
        .expect("created trigger listed")["_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The trigger messages stored in the visitor's open room.
async fn trigger_messages(lc: &Lc, token: &str) -> Vec<Value> {
    let config = lc
        .get(&format!("/api/v1/livechat/config?token={token}"), None)
        .await
        .expect(200);
    let Some(rid) = config["config"]["room"]["_id"].as_str() else {
        return Vec::new();
    };
    let mut msgs: Vec<Value> = lc
        .history(token, rid)
        .await
        .into_iter()
        .filter(|m| m["sender"] == "trigger")
        .collect();
    msgs.reverse();
    msgs
}

/// Trigger messages once at least `n` are there (external services answer later).
async fn wait_trigger_messages(lc: &Lc, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let msgs = trigger_messages(lc, token).await;
        if msgs.len() >= n {
            return msgs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    trigger_messages(lc, token).await
}

#[tokio::test]
async fn trigger_rest_api_matches_rocket_chat() {
    let lc = Lc::start().await;
    let agent = lc.agent("agent-only").await;
    let manager = lc.user("mia", &["manager"]).await;
    let valid = trigger(
        "api-trigger",
        json!([{"name": "chat-opened-by-visitor", "value": 0}]),
        json!([{"name": "send-message", "params": {"sender": "queue", "msg": "hello world"}}]),
    );
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("description");

    // auth → rate limit → validation → permission.
    let r = lc
        .post("/api/v1/livechat/triggers", None, missing.clone())
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json,
        json!({"success": false, "status": "error", "message": "You must be logged in to do this.", "error": "You must be logged in to do this."})
    );
    let r = lc
        .post(
            "/api/v1/livechat/triggers",
            Some(&agent.token),
            missing.clone(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json,
        json!({"success": false, "error": "must have required property 'description' [invalid-params]", "errorType": "invalid-params"})
    );
    let r = lc
        .post(
            "/api/v1/livechat/triggers",
            Some(&agent.token),
            valid.clone(),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json,
        json!({"success": false, "error": "User does not have the permissions required for this action [error-unauthorized]"})
    );
    let r = lc
        .post(
            "/api/v1/livechat/triggers",
            Some(&manager.token),
            valid.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({"success": true}));

    // Validation table (with ajv's coercion: "true" is a boolean, 5 is a string).
    let cases: Vec<(Value, &str)> = vec![
        (json!([1, 2]), "must be object"),
        (
            {
                let mut v = valid.clone();
                v["extra"] = json!(1);
                v
            },
            "must NOT have additional properties",
        ),
        (
            {
                let mut v = valid.clone();
                v["conditions"] = json!([]);
                v
            },
            "must NOT have fewer than 1 items",
        ),
        (
            {
                let mut v = valid.clone();
                v["conditions"] = json!([{"name": "moon-phase", "value": 1}]);
                v
            },
            "must be equal to one of the allowed values",
        ),
        (
            {
                let mut v = valid.clone();
                v["conditions"] = json!([{"name": "page-url"}]);
                v
            },
            "must have required property 'value'",
        ),
        (
            {
                let mut v = valid.clone();
                v["actions"] =
                    json!([{"name": "send-message", "params": {"sender": "robot", "msg": "x"}}]);
                v
            },
            "must be equal to one of the allowed values",
        ),
        (
            {
                let mut v = valid.clone();
                v["actions"] = json!([{"name": "send-message", "params": {"sender": "queue"}}]);
                v
            },
            "must have required property 'msg'",
        ),
        (
            {
                let mut v = valid.clone();
                v["enabled"] = json!("maybe");
                v
            },
            "must be boolean",
        ),
        (
            {
                let mut v = valid.clone();
                v["actions"] = json!("send-message");
                v
            },
            "must be array",
        ),
        (
            {
                let mut v = valid.clone();
                v["conditions"] = json!([{"name": "page-url", "value": "(["}]);
                v
            },
            "page-url value is not a valid regular expression",
        ),
    ];
    for (body, expected) in cases {
        let r = lc
            .post("/api/v1/livechat/triggers", Some(&lc.admin), body.clone())
            .await;
        assert_eq!(r.status, 400, "{body} → {}", r.text);
        assert_eq!(r.json["errorType"], "invalid-params");
        assert!(
            r.json["error"].as_str().unwrap().starts_with(expected),
            "{body} → {}",
            r.text
        );
        assert!(r.json["error"]
            .as_str()
            .unwrap()
            .ends_with("[invalid-params]"));
    }
    let mut coerced = valid.clone();
    coerced["name"] = json!("b-coerced");
    coerced["enabled"] = json!("false");
    coerced["runOnce"] = json!("true");
    lc.post("/api/v1/livechat/triggers", Some(&lc.admin), coerced)
        .await
        .expect(200);

    let list = lc
        .get("/api/v1/livechat/triggers", Some(&lc.admin))
        .await
        .expect(200);
    assert_eq!(list["total"], 2);
    assert_eq!(list["count"], 2);
    assert_eq!(list["offset"], 0);
    let names: Vec<&str> = list["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["api-trigger", "b-coerced"],
        "default sort {{name: 1}}"
    );
    let second = &list["triggers"][1];
    assert_eq!(second["enabled"], false);
    assert_eq!(second["runOnce"], true);
    let desc = lc
        .get(
            "/api/v1/livechat/triggers?sort=%7B%22name%22%3A-1%7D&count=1&offset=0",
            Some(&lc.admin),
        )
        .await
        .expect(200);
    assert_eq!(desc["triggers"][0]["name"], "b-coerced");
    assert_eq!(desc["count"], 1);
    assert_eq!(desc["total"], 2);
    let r = lc
        .get("/api/v1/livechat/triggers?sort=notjson", Some(&lc.admin))
        .await;
    assert_rc_error(&r, 400, "invalid-params");
    let r = lc
        .get("/api/v1/livechat/triggers", Some(&agent.token))
        .await;
    assert_eq!(r.status, 403);

    let id = list["triggers"][0]["_id"].as_str().unwrap().to_string();
    let one = lc
        .get(&format!("/api/v1/livechat/triggers/{id}"), Some(&lc.admin))
        .await
        .expect(200);
    assert_eq!(one["trigger"]["_id"], id.as_str());
    assert_eq!(
        one["trigger"]["conditions"][0]["name"],
        "chat-opened-by-visitor"
    );
    let none = lc
        .get("/api/v1/livechat/triggers/doesnotexist", Some(&lc.admin))
        .await
        .expect(200);
    assert_eq!(none["trigger"], Value::Null);

    // Update through `_id`.
    let mut update = valid.clone();
    update["_id"] = json!(id);
    update["description"] = json!("changed");
    lc.post("/api/v1/livechat/triggers", Some(&lc.admin), update)
        .await
        .expect(200);
    let one = lc
        .get(&format!("/api/v1/livechat/triggers/{id}"), Some(&lc.admin))
        .await
        .expect(200);
    assert_eq!(one["trigger"]["description"], "changed");
    assert_eq!(
        lc.get("/api/v1/livechat/triggers", Some(&lc.admin))
            .await
            .expect(200)["total"],
        2
    );

    let r = lc
        .call(
            "DELETE",
            &format!("/api/v1/livechat/triggers/{id}"),
            Some(&agent.token),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    let r = lc
        .call(
            "DELETE",
            &format!("/api/v1/livechat/triggers/{id}"),
            Some(&lc.admin),
            None,
        )
        .await;
    assert_eq!(r.json, json!({"success": true}));
    assert_eq!(
        lc.get("/api/v1/livechat/triggers", Some(&lc.admin))
            .await
            .expect(200)["total"],
        1
    );
    // The widget config shows enabled triggers only.
    let config = lc.get("/api/v1/livechat/config", None).await.expect(200);
    assert_eq!(config["config"]["triggers"], json!([]));
}

#[tokio::test]
async fn time_on_site_counts_across_page_loads() {
    let lc = Lc::start().await;
    create(
        &lc,
        trigger(
            "three-seconds",
            json!([{"name": "time-on-site", "value": 3}]),
            say("Need a hand?"),
        ),
    )
    .await;
    let v = lc.visitor("tos-token-0001", None).await;
    let vid = v["_id"].as_str().unwrap();
    // First page load.
    let mut page1 = lc.visitor_ws("tos-token-0001").await;
    join(&mut page1, &format!("livechat-visitor/{vid}")).await;
    ws_send_json(&mut page1, &json!({"action": "visitor_event", "payload": {"event": "visit", "data": {"href": "https://shop.example/"}}})).await;
    next_where(&mut page1, "ack", |f| f["action"] == "ack").await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    drop(page1);
    // Second page load of the same visit, 1.8 s later: the clock keeps running.
    let mut page2 = lc.visitor_ws("tos-token-0001").await;
    join(&mut page2, &format!("livechat-visitor/{vid}")).await;
    ws_send_json(&mut page2, &json!({"action": "visitor_event", "payload": {"event": "visit", "data": {"href": "https://shop.example/shoes"}}})).await;
    next_where(&mut page2, "ack", |f| f["action"] == "ack").await;
    let opened = next_where(
        &mut page2,
        "room opened by the trigger",
        is_event(&format!("livechat-visitor/{vid}"), "room-opened"),
    )
    .await;
    let rid = opened["payload"]["room"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(opened["payload"]["room"]["status"], "pending");
    join(&mut page2, &format!("livechat/{rid}")).await;
    let mut replay = lc.visitor_ws("tos-token-0001").await;
    ws_join(
        &mut replay,
        &format!("livechat/{rid}"),
        json!({"last_id": 0}),
        json!({}),
    )
    .await;
    let msg = next_where(&mut replay, "trigger message", is_message(&rid, "trigger")).await;
    assert_eq!(msg["payload"]["msg"], "Need a hand?");
    assert_eq!(msg["payload"]["u"]["name"], "Bot");
    // Fired 3 s after the visit started — not 3 s after the second page load.
    let ctx = lc
        .get(
            &format!("/api/v1/livechat/room.context?rid={rid}"),
            Some(&lc.admin),
        )
        .await
        .expect(200);
    let started =
        chrono::DateTime::parse_from_rfc3339(ctx["visit"]["startedAt"].as_str().unwrap()).unwrap();
    let fired =
        chrono::DateTime::parse_from_rfc3339(msg["payload"]["ts"].as_str().unwrap()).unwrap();
    let after = (fired - started).num_milliseconds();
    assert!(
        (2900..4500).contains(&after),
        "fired {after} ms after the visit started"
    );
    assert_eq!(ctx["visit"]["pages"].as_array().unwrap().len(), 2);
    // Not again in the same visit.
    lc.event(
        "tos-token-0001",
        "navigate",
        json!({"href": "https://shop.example/more"}),
    )
    .await
    .expect(200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(trigger_messages(&lc, "tos-token-0001").await.len(), 1);
}

#[tokio::test]
async fn page_url_and_conditions_that_must_all_hold() {
    let lc = Lc::start().await;
    let pricing = create(
        &lc,
        trigger(
            "pricing",
            json!([{"name": "page-url", "value": "/pricing"}]),
            say("Questions about plans?"),
        ),
    )
    .await;
    let checkout = create(&lc, trigger("checkout", json!([{"name": "page-url", "value": "checkout$"}, {"name": "chat-opened-by-visitor", "value": null}]), say("Checkout help"))).await;
    let registered = create(
        &lc,
        trigger(
            "welcome",
            json!([{"name": "after-guest-registration", "value": null}]),
            say("Thanks for telling us who you are"),
        ),
    )
    .await;
    lc.visitor("url-token-0001", None).await;
    let r = lc
        .event(
            "url-token-0001",
            "visit",
            json!({"href": "https://shop.example/"}),
        )
        .await
        .expect(200);
    assert_eq!(r["fired"], json!([]));
    let r = lc
        .event(
            "url-token-0001",
            "navigate",
            json!({"href": "https://shop.example/pricing?plan=pro"}),
        )
        .await
        .expect(200);
    assert_eq!(r["fired"], json!([pricing]));
    let r = lc
        .event(
            "url-token-0001",
            "navigate",
            json!({"href": "https://shop.example/checkout"}),
        )
        .await
        .expect(200);
    assert_eq!(r["fired"], json!([]), "chat not opened yet");
    let r = lc
        .event("url-token-0001", "chat-opened", json!({}))
        .await
        .expect(200);
    assert_eq!(r["fired"], json!([checkout]));
    let r = lc
        .event(
            "url-token-0001",
            "registered",
            json!({"name": "Rui", "email": "rui@example.com"}),
        )
        .await
        .expect(200);
    assert_eq!(r["fired"], json!([registered]));
    let v = lc
        .get("/api/v1/livechat/visitor/url-token-0001", None)
        .await
        .expect(200);
    assert_eq!(v["visitor"]["name"], "Rui");
    let texts: Vec<String> = trigger_messages(&lc, "url-token-0001")
        .await
        .iter()
        .map(|m| m["msg"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        [
            "Questions about plans?",
            "Checkout help",
            "Thanks for telling us who you are"
        ]
    );
    // The agent sees what the visitor was told (the room is pending, visible to managers).
    let rooms = lc
        .get("/api/v1/livechat/rooms?status=pending", Some(&lc.admin))
        .await
        .expect(200);
    assert_eq!(rooms["total"], 1);
}

#[tokio::test]
async fn run_once_holds_across_connections_and_visits() {
    let lc = Lc::start().await;
    let mut once = trigger(
        "once",
        json!([{"name": "chat-opened-by-visitor", "value": null}]),
        say("First time here?"),
    );
    once["runOnce"] = json!(true);
    let once = create(&lc, once).await;
    let every = create(
        &lc,
        trigger(
            "every-visit",
            json!([{"name": "chat-opened-by-visitor", "value": null}]),
            say("Hello again"),
        ),
    )
    .await;
    lc.setting("Livechat_visit_timeout_seconds", json!(1)).await;
    lc.visitor("once-token-0001", None).await;
    // Two devices with the same token.
    let mut phone = lc.visitor_ws("once-token-0001").await;
    let mut laptop = lc.visitor_ws("once-token-0001").await;
    let frame = json!({"action": "visitor_event", "payload": {"event": "chat-opened"}});
    ws_send_json(&mut phone, &frame).await;
    let a = next_where(&mut phone, "ack", |f| f["action"] == "ack").await;
    ws_send_json(&mut laptop, &frame).await;
    let b = next_where(&mut laptop, "ack", |f| f["action"] == "ack").await;
    let mut fired: Vec<Value> = a["payload"]["fired"].as_array().unwrap().clone();
    fired.extend(b["payload"]["fired"].as_array().unwrap().iter().cloned());
    fired.sort_by_key(|v| v.to_string());
    let mut expected = vec![json!(once), json!(every)];
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(
        fired, expected,
        "each fired exactly once in the first visit"
    );
    // A new visit (after the 1 s idle timeout): the non-runOnce one fires again, runOnce never.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ws_send_json(&mut laptop, &frame).await;
    let c = next_where(&mut laptop, "ack", |f| f["action"] == "ack").await;
    assert_eq!(c["payload"]["fired"], json!([every]));
}

// ---- external services ------------------------------------------------------------------

#[derive(Default)]
struct Seen {
    requests: Vec<(String, String, String)>, // (path, livechat token header, body)
}

/// A tiny HTTP service on a loopback port: `/ok` answers contents out of order, `/slow`
/// answers after 1.5 s, `/fail` is a 500, `/bad` is not the expected shape.
fn service() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let s = s.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (mut len, mut token) = (0usize, String::new());
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    let lower = h.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("x-rocketchat-livechat-token:") {
                        token = h.split_once(':').unwrap().1.trim().to_string();
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).ok();
                s.lock().unwrap().requests.push((
                    path.clone(),
                    token,
                    String::from_utf8_lossy(&body).into(),
                ));
                let (status, reply) = match path.as_str() {
                    "/ok" => (
                        "200 OK",
                        r#"{"contents":[{"msg":"second","order":2},{"msg":"first","order":1}]}"#
                            .to_string(),
                    ),
                    "/slow" => {
                        std::thread::sleep(Duration::from_millis(1500));
                        (
                            "200 OK",
                            r#"{"contents":[{"msg":"too late","order":1}]}"#.to_string(),
                        )
                    }
                    "/fail" => (
                        "500 Internal Server Error",
                        r#"{"error":"boom"}"#.to_string(),
                    ),
                    _ => ("200 OK", r#"{"nothing":"here"}"#.to_string()),
                };
                let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}", reply.len());
            });
        }
    });
    (base, seen)
}

fn external(url: &str, timeout: u64) -> Value {
    json!([{"name": "use-external-service", "params": {"serviceUrl": url, "serviceTimeout": timeout, "serviceFallbackMessage": "Sorry, try again later", "sender": "custom", "name": "Assistant"}}])
}

#[tokio::test]
async fn external_service_ok_timeout_non_200_and_bad_body() {
    let (base, seen) = service();
    let lc = Lc::start_with(&["--allow-private-outbound"]).await;
    let secret = lc
        .get("/api/v1/settings/Livechat_secret_token", Some(&lc.admin))
        .await
        .expect(200)["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!secret.is_empty());
    let mut ids = Vec::new();
    for (i, (path, timeout)) in [
        ("/ok", 2000),
        ("/slow", 300),
        ("/fail", 2000),
        ("/bad", 2000),
    ]
    .iter()
    .enumerate()
    {
        let url = format!("{base}{path}");
        let page = format!("/case{i}");
        let id = create(
            &lc,
            trigger(
                &format!("svc{i}"),
                json!([{"name": "page-url", "value": page}]),
                external(&url, *timeout),
            ),
        )
        .await;
        ids.push(id);
    }
    for i in 0..4 {
        let token = format!("svc-token-000{i}");
        lc.visitor(&token, None).await;
        lc.event(
            &token,
            "visit",
            json!({"href": format!("https://shop.example/case{i}")}),
        )
        .await
        .expect(200);
    }
    let shown = |v: Vec<Value>| {
        v.iter()
            .map(|m| m["msg"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shown(wait_trigger_messages(&lc, "svc-token-0000", 2).await),
        ["first", "second"],
        "contents in order"
    );
    let first = &trigger_messages(&lc, "svc-token-0000").await[0];
    assert_eq!(first["u"]["name"], "Assistant");
    for i in 1..4 {
        assert_eq!(
            shown(wait_trigger_messages(&lc, &format!("svc-token-000{i}"), 1).await),
            ["Sorry, try again later"],
            "case {i}"
        );
    }
    {
        let seen = seen.lock().unwrap();
        let ok = seen
            .requests
            .iter()
            .find(|r| r.0 == "/ok")
            .expect("service called");
        assert_eq!(ok.1, secret, "X-RocketChat-Livechat-Token");
        let body: Value = serde_json::from_str(&ok.2).unwrap();
        assert_eq!(body["visitorToken"], "svc-token-0000");
        assert_eq!(body["metadata"], json!([]));
    }

    // The call endpoint (visitor) answers what the service said.
    let r = lc
        .post(
            &format!("/api/v1/livechat/triggers/{}/external-service/call", ids[0]),
            None,
            json!({"token": "svc-token-0000", "extraData": [{"key": "plan", "value": "pro"}]}),
        )
        .await
        .expect(200);
    assert_eq!(r["triggerId"], ids[0].as_str());
    assert_eq!(r["response"]["statusCode"], 200);
    assert_eq!(r["response"]["contents"][0]["msg"], "first");
    let r = lc
        .post(
            &format!("/api/v1/livechat/triggers/{}/external-service/call", ids[1]),
            None,
            json!({"token": "svc-token-0001"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["success"], false);
    assert_eq!(r.json["error"], "error-timeout");
    assert_eq!(r.json["fallbackMessage"], "Sorry, try again later");
    assert_eq!(r.json["triggerId"], ids[1].as_str());
    for id in [&ids[2], &ids[3]] {
        let r = lc
            .post(
                &format!("/api/v1/livechat/triggers/{id}/external-service/call"),
                None,
                json!({"token": "svc-token-0002"}),
            )
            .await;
        assert_eq!(
            r.json["error"], "error-invalid-webhook-response",
            "{}",
            r.text
        );
    }
    let r = lc
        .post(
            &format!("/api/v1/livechat/triggers/{}/external-service/call", ids[0]),
            None,
            json!({"token": "nobody-knows-me"}),
        )
        .await;
    assert_rc_error(&r, 400, "invalid-token");
    // Test endpoint (manager).
    let r = lc
        .post(
            "/api/v1/livechat/triggers/external-service/test",
            Some(&lc.admin),
            json!({"webhookUrl": format!("{base}/ok"), "timeout": 2000, "fallbackMessage": "x"}),
        )
        .await
        .expect(200);
    assert_eq!(r["triggerId"], "test-trigger");
    assert_eq!(r["response"]["contents"][1]["msg"], "second");
    let r = lc
        .post(
            "/api/v1/livechat/triggers/external-service/test",
            None,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 401);
    // The call endpoint is limited to 10 per minute per visitor.
    let mut limited = false;
    for _ in 0..12 {
        let r = lc
            .post(
                &format!("/api/v1/livechat/triggers/{}/external-service/call", ids[0]),
                None,
                json!({"token": "svc-token-0003"}),
            )
            .await;
        if r.status == 429 {
            assert!(r.json["error"]
                .as_str()
                .unwrap()
                .ends_with("[error-too-many-requests]"));
            limited = true;
            break;
        }
    }
    assert!(limited, "the call endpoint is rate-limited");
}

#[tokio::test]
async fn external_services_go_through_the_outbound_guard() {
    let (base, seen) = service();
    let lc = Lc::start().await; // private addresses denied by default
    create(
        &lc,
        trigger(
            "guarded",
            json!([{"name": "chat-opened-by-visitor", "value": null}]),
            external(&format!("{base}/ok"), 1000),
        ),
    )
    .await;
    lc.visitor("guard-token-001", None).await;
    lc.event("guard-token-001", "chat-opened", json!({}))
        .await
        .expect(200);
    let texts: Vec<String> = wait_trigger_messages(&lc, "guard-token-001", 1)
        .await
        .iter()
        .map(|m| m["msg"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["Sorry, try again later"]);
    assert!(
        seen.lock().unwrap().requests.is_empty(),
        "loopback was never contacted"
    );
}

#[tokio::test]
async fn queue_sender_speaks_as_the_next_agent_who_then_gets_the_chat() {
    let lc = Lc::start().await;
    let bob = lc.online_agent("bob").await;
    // Bob already serves one chat, so Carl is the next available agent.
    lc.visitor("busy-token-0001", None).await;
    let busy = lc.room("busy-token-0001").await;
    assert_eq!(busy["servedBy"]["_id"], bob.id.as_str());
    let carl = lc.online_agent("carl").await;
    create(&lc, trigger("queue-hello", json!([{"name": "chat-opened-by-visitor", "value": null}]),
        json!([{"name": "send-message", "params": {"sender": "queue", "msg": "Hi, I'm here to help"}}]))).await;
    lc.visitor("queue-token-001", Some("Quinn")).await;
    let mut carl_ws = lc.staff_ws(&carl).await;
    join(&mut carl_ws, &format!("livechat-agent/{}", carl.id)).await;
    lc.event("queue-token-001", "chat-opened", json!({}))
        .await
        .expect(200);
    let msgs = trigger_messages(&lc, "queue-token-001").await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0]["u"]["_id"],
        carl.id.as_str(),
        "spoke as the next agent"
    );
    let room = lc.room("queue-token-001").await;
    assert_eq!(room["status"], "pending");
    assert!(room.get("servedBy").is_none());
    // The visitor answers: Carl gets the chat.
    let rid = room["_id"].as_str().unwrap();
    lc.say("queue-token-001", rid, "yes please")
        .await
        .expect(200);
    let assigned = next_where(
        &mut carl_ws,
        "room assigned to carl",
        is_event(&format!("livechat-agent/{}", carl.id), "room-assigned"),
    )
    .await;
    assert_eq!(assigned["payload"]["room"]["_id"], rid);
    let info = lc.room_info(rid).await;
    assert_eq!(info["status"], "open");
    assert_eq!(info["servedBy"]["_id"], carl.id.as_str());
}
