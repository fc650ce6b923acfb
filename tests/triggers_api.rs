//! `/api/v1/triggers` against the real binary: CRUD with Xano-shaped objects, role
//! checks, validation and syntax errors, the test runner and the run log.

mod common;
mod triggers_support;

use serde_json::{json, Value};
use triggers_support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_filters_and_validation() {
    let s = Server::start(&[]).await;
    let created = s
        .trigger(json!({
            "name": "censor", "description": "stars out bad words", "channel": "Chat/*",
            "tag": ["moderation"], "actions": {"message": true, "join": true},
            "script": "payload"
        }))
        .await;
    for field in [
        "id",
        "guid",
        "name",
        "description",
        "channel",
        "active",
        "tag",
        "actions",
        "script",
        "created_at",
        "updated_at",
    ] {
        assert!(created.get(field).is_some(), "missing {field} in {created}");
    }
    assert_eq!(created["channel"], "chat/*");
    assert_eq!(created["active"], true);
    assert_eq!(
        created["actions"],
        json!({"message": true, "join": true, "leave": false})
    );
    let id = created["id"].as_i64().unwrap();

    s.trigger(json!({"name": "all", "channel": "*", "script": "()", "tag": ["audit"]}))
        .await;
    s.trigger(json!({"name": "news", "channel": "news", "script": "()"}))
        .await;

    let list = s.admin("GET", "/api/v1/triggers", None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["objects"].as_array().unwrap().len(), 3);
    let names = |r: &Value| -> Vec<String> {
        r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    let by_channel = s
        .admin("GET", "/api/v1/triggers?channel=chat/42", None)
        .await;
    assert_eq!(names(&by_channel.body), vec!["censor", "all"]);
    let by_tag = s.admin("GET", "/api/v1/triggers?tag=audit", None).await;
    assert_eq!(names(&by_tag.body), vec!["all"]);

    let patched = s
        .admin(
            "PATCH",
            &format!("/api/v1/triggers/{id}"),
            Some(json!({"active": false, "script": "#{x: 1}", "id": 999})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["id"], id);
    assert_eq!(patched.body["name"], "censor");
    let got = s
        .admin("GET", &format!("/api/v1/triggers/{id}"), None)
        .await;
    assert_eq!(got.body["script"], "#{x: 1}");

    // Validation: one field per error, Syncano style.
    let cases = [
        (json!({"channel": "a", "script": "1"}), "name"),
        (
            json!({"name": "x", "channel": "bad channel!", "script": "1"}),
            "channel",
        ),
        (
            json!({"name": "x", "channel": "a", "script": "1", "actions": {"connect": true}}),
            "actions",
        ),
        (
            json!({"name": "x", "channel": "a", "script": "1", "active": "yes"}),
            "active",
        ),
        (
            json!({"name": "x", "channel": "a", "script": "1", "tag": "t"}),
            "tag",
        ),
        (
            json!({"name": "x", "channel": "a", "script": "1", "color": "red"}),
            "color",
        ),
    ];
    for (body, field) in cases {
        let r = s
            .admin("POST", "/api/v1/triggers", Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body} -> {:?}", r.body);
        assert!(r.body.get(field).is_some(), "{body} -> {:?}", r.body);
    }

    // Syntax errors name line and column, on create and on update.
    let r = s
        .admin(
            "POST",
            "/api/v1/triggers",
            Some(json!({"name": "x", "channel": "a", "script": "let a = 1;\nlet b = ;"})),
        )
        .await;
    assert_eq!(r.status, 400);
    let msg = r.body["script"].as_str().unwrap();
    assert!(msg.starts_with("Syntax error at line 2, column 9"), "{msg}");
    let r = s
        .admin(
            "PATCH",
            &format!("/api/v1/triggers/{id}"),
            Some(json!({"script": "fn ("})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["script"].as_str().unwrap().contains("line 1"),
        "{:?}",
        r.body
    );

    // Malformed and oversized bodies, unknown ids.
    let raw = s
        .http
        .post(format!("{}/api/v1/triggers", s.base))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: Value = raw.json().await.unwrap();
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .starts_with("JSON parse error"));
    let huge = "x".repeat(400 * 1024);
    let r = s
        .admin(
            "POST",
            "/api/v1/triggers",
            Some(json!({"name": "x", "channel": "a", "script": huge})),
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        s.admin("GET", "/api/v1/triggers/4242", None).await.status,
        404
    );
    assert_eq!(
        s.admin(
            "PATCH",
            "/api/v1/triggers/4242",
            Some(json!({"active": true}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        s.admin("DELETE", "/api/v1/triggers/4242", None)
            .await
            .status,
        404
    );
    assert_eq!(
        s.admin("GET", "/api/v1/triggers/4242/runs", None)
            .await
            .status,
        404
    );

    assert_eq!(
        s.admin("DELETE", &format!("/api/v1/triggers/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        s.admin("GET", &format!("/api/v1/triggers/{id}"), None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_manage_triggers() {
    let s = Server::start(&[]).await;
    let t = s
        .trigger(json!({"name": "t", "channel": "a", "script": "1"}))
        .await;
    let id = t["id"].as_i64().unwrap();
    let publish_key = s.key("publish").await;
    let admin_key = s.key("admin").await;
    let routes = [
        ("GET", "/api/v1/triggers".to_string(), None),
        (
            "POST",
            "/api/v1/triggers".to_string(),
            Some(json!({"name": "n", "channel": "a", "script": "1"})),
        ),
        ("GET", format!("/api/v1/triggers/{id}"), None),
        (
            "PATCH",
            format!("/api/v1/triggers/{id}"),
            Some(json!({"active": false})),
        ),
        (
            "POST",
            format!("/api/v1/triggers/{id}/test"),
            Some(json!({})),
        ),
        ("GET", format!("/api/v1/triggers/{id}/runs"), None),
        ("DELETE", format!("/api/v1/triggers/{id}"), None),
    ];
    for (method, path, body) in &routes {
        let anon = s.call(method, path, None, body.clone()).await;
        assert_eq!(anon.status, 401, "{method} {path}");
        assert_eq!(
            anon.body["detail"],
            "Authentication credentials were not provided."
        );
        let publisher = s.call(method, path, Some(&publish_key), body.clone()).await;
        assert_eq!(publisher.status, 403, "{method} {path}");
    }
    // Admin API keys manage triggers like admin users.
    let r = s
        .call("GET", "/api/v1/triggers", Some(&admin_key), None)
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_runner_is_a_dry_run() {
    let s = Server::start(&[]).await;
    let t = s
        .trigger(json!({
            "name": "dry", "channel": "orders/*", "active": false,
            "script": r#"
                log("got " + payload.qty);
                kv_set("seen", (kv_get("seen") ?? 0) + 1);
                publish("audit", #{ qty: payload.qty });
                event("alerts", #{ who: client.socketId });
                if payload.qty > 10 { reject("too many") }
                #{ qty: payload.qty, seen: kv_get("seen"), channel: channel, room: room }
            "#
        }))
        .await;
    let id = t["id"].as_i64().unwrap();
    let path = format!("/api/v1/triggers/{id}/test");
    let r = s
        .admin(
            "POST",
            &path,
            Some(json!({"payload": {"qty": 2}, "room": "R", "client": {"socketId": "abc"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let b = &r.body;
    assert_eq!(b["outcome"], "ok");
    assert_eq!(
        b["output"],
        json!({"qty": 2, "seen": 1, "channel": "orders/test", "room": "r"})
    );
    assert_eq!(b["logs"], json!(["got 2"]));
    assert_eq!(
        b["effects"][0],
        json!({"type": "publish", "trigger_id": id, "channel": "audit", "room": null, "payload": {"qty": 2}})
    );
    assert_eq!(b["effects"][1]["type"], "event");
    assert_eq!(b["effects"][1]["data"], json!({"who": "abc"}));
    assert!(b["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(b["error"], Value::Null);
    // kv_set stayed in the overlay: a second dry run sees the same starting value.
    let again = s
        .admin("POST", &path, Some(json!({"payload": {"qty": 2}})))
        .await;
    assert_eq!(again.body["output"]["seen"], 1);
    // Nothing was published by the dry run.
    let history = s.admin("GET", "/api/v1/channels/audit/history", None).await;
    assert!(
        history.status == 404
            || history.body["objects"]
                .as_array()
                .is_some_and(|a| a.is_empty()),
        "{:?}",
        history.body
    );

    let rejected = s
        .admin(
            "POST",
            &path,
            Some(json!({"payload": {"qty": 50}, "channel": "orders/9"})),
        )
        .await;
    assert_eq!(rejected.body["outcome"], "rejected");
    assert_eq!(rejected.body["reason"], "too many");
    assert_eq!(rejected.body["channel"], "orders/9");

    let failing = s
        .admin("POST", &path, Some(json!({"payload": "not a map"})))
        .await;
    assert_eq!(failing.body["outcome"], "error");
    assert!(failing.body["error"].as_str().is_some());

    let bad = s
        .admin("POST", &path, Some(json!({"action": "dance"})))
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.get("action").is_some());

    // Test runs leave no trace in the run log.
    let runs = s
        .admin("GET", &format!("/api/v1/triggers/{id}/runs"), None)
        .await;
    assert_eq!(runs.body["objects"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_endpoint_lists_recent_executions() {
    let s = Server::start(&["--trigger-max-operations", "5000"]).await;
    let r = s
        .admin("POST", "/api/v1/channels", Some(json!({"name": "metered"})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let t = s
        .trigger(json!({
            "name": "meter", "channel": "metered",
            "script": r#"log("n=" + payload.n); if payload.n == 2 { reject("two") } if payload.n == 3 { loop {} } payload"#
        }))
        .await;
    let id = t["id"].as_i64().unwrap();
    for n in 1..=3 {
        s.admin(
            "POST",
            "/api/v1/channels/metered/publish",
            Some(json!({"payload": {"n": n}})),
        )
        .await;
    }
    let mut runs = Value::Null;
    for _ in 0..100 {
        runs = s
            .admin("GET", &format!("/api/v1/triggers/{id}/runs"), None)
            .await
            .body;
        if runs["objects"].as_array().is_some_and(|a| a.len() >= 3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let objects = runs["objects"].as_array().expect("runs");
    assert_eq!(objects.len(), 3, "{runs}");
    // Newest first.
    let (third, second, first) = (&objects[0], &objects[1], &objects[2]);
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["logs"], json!(["n=1"]));
    assert_eq!(first["action"], "message");
    assert_eq!(first["channel"], "metered");
    assert!(first["time"].as_str().is_some());
    assert!(first["duration_ms"].as_f64().is_some());
    assert_eq!(second["outcome"], "rejected");
    assert_eq!(second["error"], "two");
    assert_eq!(third["outcome"], "error");
    assert!(
        third["error"]
            .as_str()
            .unwrap()
            .contains("operation limit exceeded (5000 operations)"),
        "{third}"
    );

    let limited = s
        .admin("GET", &format!("/api/v1/triggers/{id}/runs?limit=1"), None)
        .await;
    assert_eq!(limited.body["objects"].as_array().unwrap().len(), 1);

    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("rtbox_trigger_runs_total"),
        "metrics lack trigger runs"
    );
    assert!(metrics.contains("rtbox_trigger_duration_seconds"));
}
