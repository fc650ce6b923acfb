//! Triggers end to end through the channels pipeline: REST publish and WebSocket frames
//! run the same message triggers; join refusal; leave hook on disconnect; chaining;
//! trigger publishes arriving on another channel.

mod common;
mod triggers_support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use triggers_support::Server;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &Server, key: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(s.ws_url(&format!("api_key={key}")))
        .await
        .expect("ws connect");
    ws
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(WsMessage::Text(frame.to_string().into()))
        .await
        .expect("ws send");
}

/// The next frame matching `want`, skipping others (pings, presence, acks…).
async fn expect_frame(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("timed out waiting for a frame")
            .expect("socket closed")
            .expect("ws error");
        if let WsMessage::Text(text) = next {
            let v: Value = serde_json::from_str(&text).expect("frame json");
            if want(&v) {
                return v;
            }
        }
    }
}

async fn join(ws: &mut Ws, channel: &str) -> Value {
    send(
        ws,
        json!({"action": "join", "options": {"channel": channel}}),
    )
    .await;
    expect_frame(ws, |f| {
        (f["action"] == "join" || f["action"] == "error") && f["options"]["channel"] == channel
    })
    .await
}

async fn channel(s: &Server, name: &str) {
    let r = s
        .admin("POST", "/api/v1/channels", Some(json!({"name": name})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

async fn publish(s: &Server, name: &str, payload: Value) -> triggers_support::Resp {
    s.admin(
        "POST",
        &format!("/api/v1/channels/{name}/publish"),
        Some(json!({"payload": payload})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_triggers_rewrite_rest_and_websocket_publishes() {
    let s = Server::start(&[]).await;
    channel(&s, "shout").await;
    s.trigger(json!({"name": "upper", "channel": "shout",
        "script": "#{ text: payload.text.to_upper(), via: options.channel, authenticated: client.authenticated }"}))
        .await;

    let r = publish(&s, "shout", json!({"text": "hi"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.body["payload"],
        json!({"text": "HI", "via": "shout", "authenticated": true})
    );

    let key = s.key("admin").await;
    let mut ws = connect(&s, &key).await;
    assert_eq!(join(&mut ws, "shout").await["action"], "join");
    send(&mut ws, json!({"action": "message", "options": {"channel": "shout", "ref": "1"}, "payload": {"text": "ws"}})).await;
    // The ack and the echoed message may arrive in either order.
    let (mut msg, mut ack) = (None, None);
    while msg.is_none() || ack.is_none() {
        let f = expect_frame(&mut ws, |f| {
            matches!(f["action"].as_str(), Some("message" | "ack" | "error"))
        })
        .await;
        assert_ne!(f["action"], "error", "{f}");
        if f["action"] == "ack" {
            ack = Some(f);
        } else {
            msg = Some(f);
        }
    }
    let (msg, ack) = (msg.unwrap(), ack.unwrap());
    assert_eq!(msg["payload"]["text"], "WS");
    assert_eq!(ack["options"]["ref"], "1");

    let history = s
        .admin("GET", "/api/v1/channels/shout/history?ordering=asc", None)
        .await;
    let stored: Vec<Value> = history.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"]["text"].clone())
        .collect();
    assert_eq!(
        stored,
        vec![json!("HI"), json!("WS")],
        "the rewritten payload is what is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_and_failures_reach_the_sender() {
    let s = Server::start(&[]).await;
    channel(&s, "guarded").await;
    s.trigger(json!({"name": "guard", "channel": "guarded", "script": r#"
        if payload.bad == true { reject("No bad words here.") }
        if payload.crash == true { let x = 1 / 0; }
        payload
    "#}))
        .await;
    let r = publish(&s, "guarded", json!({"bad": true})).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"detail": "No bad words here.", "code": "rejected"})
    );
    let r = publish(&s, "guarded", json!({"crash": true})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["code"], "trigger_error");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("Division by zero"),
        "{:?}",
        r.body
    );

    let key = s.key("admin").await;
    let mut ws = connect(&s, &key).await;
    join(&mut ws, "guarded").await;
    send(&mut ws, json!({"action": "message", "options": {"channel": "guarded", "ref": "r1"}, "payload": {"bad": true}})).await;
    let err = expect_frame(&mut ws, |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "rejected");
    assert_eq!(err["options"]["ref"], "r1");
    assert!(err["payload"]["message"]
        .as_str()
        .unwrap()
        .contains("No bad words here."));
    send(&mut ws, json!({"action": "message", "options": {"channel": "guarded", "ref": "r2"}, "payload": {"crash": true}})).await;
    let err = expect_frame(&mut ws, |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "trigger_error");

    let history = s
        .admin("GET", "/api/v1/channels/guarded/history", None)
        .await;
    assert_eq!(
        history.body["objects"],
        json!([]),
        "nothing refused was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_triggers_can_refuse_and_leave_triggers_run_on_disconnect() {
    let s = Server::start(&[]).await;
    channel(&s, "vip").await;
    channel(&s, "lobby").await;
    channel(&s, "departures").await;
    s.trigger(json!({"name": "door", "channel": "vip", "actions": {"message": false, "join": true}, "script": "false"}))
        .await;
    let leave = s
        .trigger(json!({"name": "bye", "channel": "lobby", "actions": {"message": false, "leave": true}, "script": r#"
            kv_set("last_left", client.socketId);
            publish("departures", #{ left: client.socketId, channel: channel, action: action });
        "#}))
        .await;

    let key = s.key("admin").await;
    let mut ws = connect(&s, &key).await;
    let refused = join(&mut ws, "vip").await;
    assert_eq!(refused["action"], "error", "{refused}");
    assert_eq!(refused["payload"]["code"], "rejected");

    let joined = join(&mut ws, "lobby").await;
    assert_eq!(joined["action"], "join");
    let socket_id = joined["payload"]["socketId"].as_str().unwrap().to_string();
    let mut watcher = connect(&s, &key).await;
    join(&mut watcher, "departures").await;
    ws.close(None).await.ok();
    drop(ws);

    let departed = expect_frame(&mut watcher, |f| {
        f["action"] == "message" && f["options"]["channel"] == "departures"
    })
    .await;
    assert_eq!(
        departed["payload"],
        json!({"left": socket_id, "channel": "lobby", "action": "leave"})
    );
    let id = leave["id"].as_i64().unwrap();
    assert_eq!(departed["options"]["author"], json!({"trigger": id}));

    // The kv write is durable: a dry run of a reader trigger sees it.
    let reader = s
        .trigger(json!({"name": "reader", "channel": "lobby", "active": false, "script": "kv_get(\"last_left\")"}))
        .await;
    let r = s
        .admin(
            "POST",
            &format!("/api/v1/triggers/{}/test", reader["id"]),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.body["output"], json!(socket_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_run_in_id_order_and_publish_effects_reach_other_channels() {
    let s = Server::start(&[]).await;
    channel(&s, "orders").await;
    channel(&s, "audit").await;
    let first = s
        .trigger(json!({"name": "one", "channel": "orders", "script": "payload.steps = [\"one\"]; payload"}))
        .await;
    s.trigger(json!({"name": "two", "channel": "*", "script": r#"
        if channel == "orders" {
            payload.steps.push("two");
            publish("audit", #{ seen: payload.steps });
            event("audit", #{ kind: "order" });
        }
        payload
    "#}))
        .await;

    let key = s.key("admin").await;
    let mut watcher = connect(&s, &key).await;
    join(&mut watcher, "audit").await;

    let r = publish(&s, "orders", json!({"n": 1})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["payload"], json!({"n": 1, "steps": ["one", "two"]}));

    let copied = expect_frame(&mut watcher, |f| f["action"] == "message").await;
    assert_eq!(copied["payload"], json!({"seen": ["one", "two"]}));
    let event = expect_frame(&mut watcher, |f| f["action"] == "event").await;
    assert_eq!(event["payload"], json!({"kind": "order"}));

    // Server-side publishes do not run triggers again (the `*` trigger would otherwise
    // see "audit" messages; it ignores them, and the history shows the copy untouched).
    let audit = s
        .admin("GET", "/api/v1/channels/audit/history?ordering=asc", None)
        .await;
    assert_eq!(
        audit.body["objects"][0]["payload"],
        json!({"seen": ["one", "two"]})
    );
    assert!(first["id"].as_i64().unwrap() > 0);
}
