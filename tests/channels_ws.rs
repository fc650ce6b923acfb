//! WebSocket clients (SPEC §4, the Xano envelope `{action, options, payload}`): they
//! authenticate, join (and resume with `last_id` while publishers are busy), send and
//! receive, message each other privately, see presence, and are told clearly — by
//! `error` frames and close codes — when they do something wrong or fall behind.

mod common;
use common::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// A server with an admin session and an admin API key.
struct Fixture {
    s: Server,
    admin: String,
    key: String,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(Server::start())
    }

    fn with(s: Server) -> Fixture {
        let admin = s.admin_token();
        let key = s.create_key(&admin, "backend", "admin").key;
        Fixture { s, admin, key }
    }

    fn channel(&self, body: Value) -> Value {
        self.s.create_channel(&self.admin, body)
    }

    fn jwt(&self, claims: Value) -> String {
        self.s.mint_client_token(&self.key, claims)
    }

    async fn publish(&self, channel: &str, payload: Value) -> Value {
        publish(
            &self.s.async_http(),
            &self.s.url("/"),
            &self.key,
            channel,
            payload,
        )
        .await
    }
}

/// REST publish with an API key (async); panics unless 201; returns the message.
async fn publish(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    channel: &str,
    payload: Value,
) -> Value {
    http.post(format!("{base}api/v1/channels/{channel}/publish"))
        .header("X-API-KEY", key)
        .json(&json!({ "payload": payload }))
        .call()
        .await
        .expect(201)
}

async fn send(ws: &mut Ws, action: &str, options: Value, payload: Value) {
    ws_send_json(
        ws,
        &json!({"action": action, "options": options, "payload": payload}),
    )
    .await;
}

async fn next(ws: &mut Ws) -> Value {
    ws_recv_json(ws, T).await.expect("a frame within 5 s")
}

/// The next `error` frame → (code, whole frame).
async fn next_error(ws: &mut Ws) -> (String, Value) {
    let f = ws_recv_action(ws, "error", T)
        .await
        .expect("an error frame");
    (
        f["payload"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        f,
    )
}

// ---- authentication ----------------------------------------------------------------------

#[tokio::test]
async fn clients_authenticate_by_token_api_key_protocol_or_not_at_all() {
    let f = Fixture::new();
    f.channel(json!({"name": "members", "group_permissions": "subscribe", "presence": true}));
    f.channel(json!({"name": "public", "other_permissions": "subscribe"}));
    f.channel(json!({"name": "staff", "group_permissions": "none"}));
    let jwt = f.jwt(json!({"sub": "u42", "info": {"name": "Geralt"}}));

    // ?token=JWT: a member (group_permissions) that presence shows with its info.
    let mut by_token = ws_connect(&f.s.ws_url(&format!("/ws?token={jwt}"))).await;
    let joined = ws_join(
        &mut by_token,
        "members",
        json!({}),
        json!({"presence": true}),
    )
    .await;
    let socket = joined["payload"]["socketId"]
        .as_str()
        .expect("socketId")
        .to_string();
    assert_eq!(
        joined,
        json!({"action": "join", "options": {"channel": "members"}, "payload": {"socketId": socket}})
    );
    let full = ws_recv_action(&mut by_token, "presence_full", T)
        .await
        .expect("presence_full");
    assert_eq!(
        full["payload"]["presence"],
        json!([{"socketId": socket, "extras": {"name": "Geralt"},
                "permissions": {"dbo_id": null, "row_id": "u42"}}])
    );
    send(
        &mut by_token,
        "join",
        json!({"channel": "staff"}),
        json!({}),
    )
    .await;
    assert_eq!(next_error(&mut by_token).await.0, "forbidden");

    // Sec-WebSocket-Protocol: JWT (the Xano SDK) — the server echoes the protocol back.
    let (mut by_protocol, echoed) =
        ws_connect_with_protocol(&f.s.ws_url("/rt/any-canonical-hash"), &jwt).await;
    assert_eq!(echoed.as_deref(), Some(jwt.as_str()));
    ws_join(&mut by_protocol, "members", json!({}), json!({})).await;
    send(
        &mut by_protocol,
        "join",
        json!({"channel": "staff"}),
        json!({}),
    )
    .await;
    assert_eq!(next_error(&mut by_protocol).await.0, "forbidden");

    // ?api_key=: a backend may join anything.
    let mut by_key = ws_connect(&f.s.ws_url(&format!("/ws?api_key={}", f.key))).await;
    ws_join(&mut by_key, "staff", json!({}), json!({})).await;

    // Anonymous: other_permissions.
    let mut anon = ws_connect(&f.s.ws_url("/ws")).await;
    ws_join(&mut anon, "public", json!({}), json!({})).await;
    send(&mut anon, "join", json!({"channel": "members"}), json!({})).await;
    let (code, frame) = next_error(&mut anon).await;
    assert_eq!(code, "unauthorized", "{frame}");
    assert_eq!(frame["options"]["channel"], "members");

    // An anonymous socket may authenticate later with an `auth` frame.
    send(&mut anon, "auth", json!({}), json!({"token": jwt})).await;
    assert_eq!(next(&mut anon).await["action"], "ack");
    ws_join(&mut anon, "members", json!({}), json!({})).await;
}

#[tokio::test]
async fn bad_credentials_get_an_unauthorized_frame_then_close_1008() {
    let f = Fixture::new();
    let jwt = f.jwt(json!({"sub": "u1"}));
    let tampered = format!("{}x", &jwt[..jwt.len() - 1]);
    for path in [
        "/ws?token=not-a-jwt".to_string(),
        format!("/ws?token={tampered}"),
        "/ws?api_key=rtbox_k_unknown".to_string(),
        "/rt/abc?api_key=nope".to_string(),
    ] {
        let mut ws = ws_connect(&f.s.ws_url(&path)).await;
        let frame = next(&mut ws).await;
        assert_eq!(frame["action"], "error", "{path}: {frame}");
        assert_eq!(frame["payload"]["code"], "unauthorized", "{path}: {frame}");
        assert_eq!(ws_close_code(&mut ws, T).await, Some(1008), "{path}");
    }
    let (mut ws, echoed) =
        ws_connect_with_protocol(&f.s.ws_url("/rt/x"), "garbage.token.here").await;
    assert_eq!(echoed.as_deref(), Some("garbage.token.here"));
    assert_eq!(next_error(&mut ws).await.0, "unauthorized");
    assert_eq!(ws_close_code(&mut ws, T).await, Some(1008));

    // A bad token in a later `auth` frame closes too.
    let mut ws = ws_connect(&f.s.ws_url("/ws")).await;
    send(&mut ws, "auth", json!({"token": "nope"}), Value::Null).await;
    assert_eq!(next_error(&mut ws).await.0, "unauthorized");
    assert_eq!(ws_close_code(&mut ws, T).await, Some(1008));
}

// ---- join, replay, leave -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_with_last_id_replays_then_goes_live_without_gap_or_duplicate() {
    let f = Fixture::new();
    f.channel(json!({"name": "ticker"}));
    for i in 1..=20 {
        f.publish("ticker", json!(i)).await;
    }

    // Publishers keep going while the subscriber joins and replays.
    const PUBLISHERS: usize = 4;
    const EACH: usize = 60;
    let done = Arc::new(AtomicUsize::new(0));
    let base = f.s.url("/");
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let (http, base, key, done) = (f.s.async_http(), base.clone(), f.key.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                publish(&http, &base, &key, "ticker", json!({"p": p, "i": i})).await;
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let mut ws = ws_connect(&f.s.ws_url(&format!("/ws?api_key={}", f.key))).await;
    while done.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    ws_join(&mut ws, "ticker", json!({"last_id": 5}), json!({})).await;
    let at_join = done.load(Ordering::SeqCst);
    assert!(
        at_join < PUBLISHERS * EACH,
        "publishers finished before the join was confirmed"
    );
    for t in tasks {
        t.await.expect("publisher");
    }
    let last = (20 + PUBLISHERS * EACH) as i64;
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        let frame = ws_recv_json(&mut ws, T)
            .await
            .unwrap_or_else(|| panic!("stalled after {} messages: {got:?}", got.len()));
        assert_eq!(frame["action"], "message", "{frame}");
        assert_eq!(frame["options"]["channel"], "ticker");
        got.push(frame["options"]["id"].as_i64().expect("id"));
    }
    assert_eq!(got, (6..=last).collect::<Vec<_>>(), "gap or duplicate");
    // Nothing more arrives: ping answers next.
    send(&mut ws, "ping", json!({}), Value::Null).await;
    assert_eq!(
        next(&mut ws).await,
        json!({"action": "pong", "options": {}, "payload": null})
    );
}

#[tokio::test]
async fn leave_stops_delivery_and_join_is_idempotent() {
    let f = Fixture::new();
    f.channel(json!({"name": "a"}));
    f.channel(json!({"name": "b"}));
    let mut ws = ws_connect(&f.s.ws_url(&format!("/ws?api_key={}", f.key))).await;
    ws_join(&mut ws, "a", json!({}), json!({})).await;
    ws_join(&mut ws, "A", json!({}), json!({})).await; // the same subscription
    ws_join(&mut ws, "b", json!({}), json!({})).await;

    let m = f.publish("a", json!("one")).await;
    let frame = next(&mut ws).await;
    assert_eq!(
        frame,
        json!({"action": "message",
               "options": {"channel": "a", "room": null, "id": 1, "created_at": m["created_at"],
                           "author": m["author"]},
               "payload": "one"}),
        "delivered once, in the envelope"
    );

    send(&mut ws, "leave", json!({"channel": "a"}), Value::Null).await;
    assert_eq!(
        next(&mut ws).await,
        json!({"action": "leave", "options": {"channel": "a"}, "payload": null})
    );
    f.publish("a", json!("two")).await;
    f.publish("b", json!("marker")).await;
    let frame = next(&mut ws).await;
    assert_eq!(
        (
            frame["options"]["channel"].clone(),
            frame["payload"].clone()
        ),
        (json!("b"), json!("marker"))
    );

    send(&mut ws, "leave", json!({"channel": "a"}), Value::Null).await;
    assert_eq!(next_error(&mut ws).await.0, "bad_request");
}

// ---- sending -----------------------------------------------------------------------------

#[tokio::test]
async fn messages_are_acked_and_delivered_with_the_sender() {
    let f = Fixture::new();
    f.channel(json!({"name": "chat", "group_permissions": "publish"}));
    f.channel(
        json!({"name": "read-only", "group_permissions": "publish", "custom_publish": false}),
    );
    let jwt = f.jwt(json!({"sub": "alice", "info": {"name": "Alice"}}));
    let mut alice = ws_connect(&f.s.ws_url(&format!("/rt/canon?token={jwt}"))).await;
    let mut bob =
        ws_connect(&f.s.ws_url(&format!("/ws?token={}", f.jwt(json!({"sub": "bob"}))))).await;
    let alice_id =
        ws_join(&mut alice, "chat", json!({}), json!({})).await["payload"]["socketId"].clone();
    ws_join(&mut bob, "chat", json!({}), json!({})).await;

    send(
        &mut alice,
        "message",
        json!({"channel": "chat", "ref": "r-1"}),
        json!({"text": "hi"}),
    )
    .await;
    let ack = ws_recv_action(&mut alice, "ack", T).await.expect("ack");
    assert_eq!(
        ack,
        json!({"action": "ack", "options": {"channel": "chat", "ref": "r-1", "id": 1, "persisted": true},
               "payload": null})
    );
    let got = next(&mut bob).await;
    assert_eq!(got["action"], "message");
    assert_eq!(got["options"]["id"], 1);
    assert_eq!(got["options"]["author"], json!({"user": "alice"}));
    assert_eq!(got["payload"], json!({"text": "hi"}));
    assert_eq!(
        got["client"],
        json!({"socketId": alice_id, "extras": {"name": "Alice"},
               "permissions": {"dbo_id": null, "row_id": "alice"}})
    );
    // Durable before the ack: it is in history.
    let h =
        f.s.async_http()
            .get(f.s.url("/api/v1/channels/chat/history/1"))
            .header("X-API-KEY", &f.key)
            .call()
            .await
            .expect(200);
    assert_eq!(h["payload"], json!({"text": "hi"}));

    // custom_publish=false refuses client messages.
    send(
        &mut alice,
        "message",
        json!({"channel": "read-only", "ref": 2}),
        json!(1),
    )
    .await;
    let (code, frame) = next_error(&mut alice).await;
    assert_eq!(code, "forbidden");
    assert_eq!(
        frame["payload"]["message"],
        "Custom publish not allowed on this channel."
    );
    assert_eq!(frame["options"], json!({"channel": "read-only", "ref": 2}));
}

#[tokio::test]
async fn private_messages_reach_one_socket_only_where_enabled() {
    let f = Fixture::new();
    f.channel(json!({"name": "dm", "group_permissions": "publish", "private_messaging": true}));
    f.channel(json!({"name": "open", "group_permissions": "publish"}));
    let url = |sub: &str| {
        f.s.ws_url(&format!("/ws?token={}", f.jwt(json!({"sub": sub}))))
    };
    let (mut a, mut b, mut c) = (
        ws_connect(&url("a")).await,
        ws_connect(&url("b")).await,
        ws_connect(&url("c")).await,
    );
    let a_id = ws_join(&mut a, "dm", json!({}), json!({})).await["payload"]["socketId"].clone();
    let b_id = ws_join(&mut b, "dm", json!({}), json!({})).await["payload"]["socketId"].clone();
    ws_join(&mut c, "dm", json!({}), json!({})).await;

    send(
        &mut a,
        "message",
        json!({"channel": "dm", "socketId": b_id, "ref": "p1"}),
        json!("psst"),
    )
    .await;
    let ack = ws_recv_action(&mut a, "ack", T).await.expect("ack");
    assert_eq!(ack["options"]["ref"], "p1");
    assert_eq!(
        ack["options"]["id"],
        Value::Null,
        "private messages are not stored"
    );
    let got = next(&mut b).await;
    assert_eq!(got["action"], "message");
    assert_eq!(got["payload"], "psst");
    assert_eq!(got["client"]["socketId"], a_id);
    // c got nothing: its next frame is a later public message.
    f.publish("dm", json!("public")).await;
    assert_eq!(next(&mut c).await["payload"], "public");
    assert_eq!(next(&mut b).await["payload"], "public");
    let h =
        f.s.async_http()
            .get(f.s.url("/api/v1/channels/dm/history"))
            .header("X-API-KEY", &f.key)
            .call()
            .await
            .expect(200);
    assert_eq!(h["objects"].as_array().unwrap().len(), 1);

    // Unknown socket: not_found. Channel without private messaging: forbidden.
    send(
        &mut a,
        "message",
        json!({"channel": "dm", "socketId": "nobody"}),
        json!(1),
    )
    .await;
    assert_eq!(next_error(&mut a).await.0, "not_found");
    ws_join(&mut a, "open", json!({}), json!({})).await;
    ws_join(&mut b, "open", json!({}), json!({})).await;
    send(
        &mut a,
        "message",
        json!({"channel": "open", "socketId": b_id}),
        json!(1),
    )
    .await;
    let (code, frame) = next_error(&mut a).await;
    assert_eq!(code, "forbidden");
    assert_eq!(
        frame["payload"]["message"],
        "Private messaging is not enabled on this channel."
    );
}

#[tokio::test]
async fn history_action_returns_stored_messages() {
    let f = Fixture::new();
    f.channel(json!({"name": "log", "other_permissions": "subscribe"}));
    for i in 1..=8 {
        f.publish("log", json!(i)).await;
    }
    let mut ws = ws_connect(&f.s.ws_url("/ws")).await;
    send(
        &mut ws,
        "history",
        json!({"channel": "log", "ref": "h"}),
        Value::Null,
    )
    .await;
    let h = next(&mut ws).await;
    assert_eq!(h["action"], "history");
    assert_eq!(h["options"], json!({"channel": "log", "ref": "h"}));
    let history = h["payload"]["history"].as_array().expect("history list");
    let ids: Vec<i64> = history.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, (1..=8).collect::<Vec<_>>());
    assert_eq!(history[0]["payload"], 1);
    assert_eq!(history[0]["metadata"], json!({"type": "message"}));

    send(
        &mut ws,
        "history",
        json!({"channel": "log", "last_id": 3, "limit": 2}),
        Value::Null,
    )
    .await;
    let ids: Vec<Value> = next(&mut ws).await["payload"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!(4), json!(5)]);
    send(
        &mut ws,
        "history",
        json!({"channel": "log", "limit": 3}),
        Value::Null,
    )
    .await;
    let ids: Vec<Value> = next(&mut ws).await["payload"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!(6), json!(7), json!(8)],
        "the latest, oldest first"
    );

    // join with payload.history sends the recent history after the join.
    ws_join(&mut ws, "log", json!({}), json!({"history": true})).await;
    let h = ws_recv_action(&mut ws, "history", T)
        .await
        .expect("history after join");
    assert_eq!(h["payload"]["history"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn presence_channels_tell_who_joins_and_leaves() {
    let f = Fixture::new();
    f.channel(json!({"name": "lobby", "presence": true, "other_permissions": "subscribe"}));
    let mut a = ws_connect(&f.s.ws_url("/ws")).await;
    let mut b = ws_connect(&f.s.ws_url("/ws")).await;
    let a_id = ws_join(&mut a, "lobby", json!({}), json!({"presence": true})).await["payload"]
        ["socketId"]
        .clone();
    let full = next(&mut a).await;
    assert_eq!(full["action"], "presence_full");
    assert_eq!(full["options"], json!({"channel": "lobby"}));
    let client = |id: &Value| json!({"socketId": id, "extras": {}, "permissions": {"dbo_id": null, "row_id": null}});
    assert_eq!(full["payload"]["presence"], json!([client(&a_id)]));

    let b_id = ws_join(&mut b, "lobby", json!({}), json!({"presence": true})).await["payload"]
        ["socketId"]
        .clone();
    let full = next(&mut b).await;
    assert_eq!(
        full["payload"]["presence"],
        json!([client(&a_id), client(&b_id)])
    );
    let update = next(&mut a).await;
    assert_eq!(
        update,
        json!({"action": "presence_update", "options": {"channel": "lobby"},
               "payload": {"action": "join", "presence": client(&b_id)}})
    );

    // Leaving (or just disconnecting) tells the others.
    drop(b);
    let update = ws_recv_action(&mut a, "presence_update", T)
        .await
        .expect("leave update");
    assert_eq!(
        update["payload"],
        json!({"action": "leave", "presence": client(&b_id)})
    );
}

// ---- errors ------------------------------------------------------------------------------

#[tokio::test]
async fn bad_frames_get_error_frames_and_persistent_garbage_disconnects() {
    let f = Fixture::with(Server::start_with(
        &["--max-payload-bytes", "1024", "--publish-rate", "1"],
        &[],
    ));
    f.channel(json!({"name": "c", "other_permissions": "publish"}));
    f.channel(json!({"name": "rooms", "type": "separate_rooms", "other_permissions": "publish"}));
    let mut ws = ws_connect(&f.s.ws_url("/ws")).await;

    use futures_util::SinkExt;
    ws.send(WsMessage::text("{not json")).await.unwrap();
    let (code, frame) = next_error(&mut ws).await;
    assert_eq!(code, "bad_request");
    assert!(
        frame["payload"]["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed frame"),
        "{frame}"
    );
    ws.send(WsMessage::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(next_error(&mut ws).await.0, "bad_request");

    send(&mut ws, "dance", json!({"ref": 1}), Value::Null).await;
    let (code, frame) = next_error(&mut ws).await;
    assert_eq!(code, "bad_request");
    assert_eq!(frame["options"], json!({"ref": 1}));
    assert!(frame["payload"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown action \"dance\""));

    for action in ["join", "leave", "message", "history"] {
        send(&mut ws, action, json!({}), Value::Null).await;
        let (code, frame) = next_error(&mut ws).await;
        assert_eq!(code, "bad_request", "{action}");
        assert_eq!(
            frame["payload"]["message"], "options.channel is required",
            "{action}"
        );
    }
    for action in ["join", "message", "history"] {
        send(&mut ws, action, json!({"channel": "nope"}), Value::Null).await;
        let (code, frame) = next_error(&mut ws).await;
        assert_eq!(code, "not_found", "{action}");
        assert_eq!(frame["payload"]["message"], "Not found.", "{action}");
    }
    send(&mut ws, "join", json!({"channel": "rooms"}), Value::Null).await;
    let (code, frame) = next_error(&mut ws).await;
    assert_eq!(code, "bad_request");
    assert_eq!(
        frame["payload"]["message"],
        "This field is required for channels with separate rooms."
    );
    send(
        &mut ws,
        "join",
        json!({"channel": "c", "room": "r"}),
        Value::Null,
    )
    .await;
    assert_eq!(next_error(&mut ws).await.0, "bad_request");
    send(&mut ws, "join", json!({"channel": 5}), Value::Null).await;
    assert_eq!(next_error(&mut ws).await.0, "bad_request");

    // Payload over --max-payload-bytes.
    send(
        &mut ws,
        "message",
        json!({"channel": "c", "ref": "big"}),
        json!("x".repeat(1100)),
    )
    .await;
    let (code, frame) = next_error(&mut ws).await;
    assert_eq!(code, "too_large");
    assert_eq!(frame["options"]["ref"], "big");

    // --publish-rate 1 (burst 2), per connection: the third quick message is refused.
    let mut chatty = ws_connect(&f.s.ws_url("/ws")).await;
    let mut replies = Vec::new();
    for i in 0..3 {
        send(
            &mut chatty,
            "message",
            json!({"channel": "c", "ref": i}),
            json!(i),
        )
        .await;
        let reply = next(&mut chatty).await;
        replies.push(match reply["action"].as_str() {
            Some("error") => reply["payload"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            other => other.unwrap_or_default().to_string(),
        });
    }
    assert_eq!(replies, ["ack", "ack", "rate_limited"]);

    // The connection survived all of that; ten malformed frames in a row end it.
    send(&mut ws, "ping", json!({}), Value::Null).await;
    assert_eq!(
        ws_recv_action(&mut ws, "pong", T).await.expect("pong")["action"],
        "pong"
    );
    for _ in 0..10 {
        let _ = ws.send(WsMessage::text("garbage")).await;
    }
    assert_eq!(ws_close_code(&mut ws, T).await, Some(1008));
}

#[tokio::test]
async fn a_frame_over_the_limit_is_refused_and_closes_the_socket() {
    let f = Fixture::with(Server::start_with(&["--max-frame-bytes", "2048"], &[]));
    f.channel(json!({"name": "c", "other_permissions": "publish"}));
    let mut ws = ws_connect(&f.s.ws_url("/ws")).await;
    send(
        &mut ws,
        "message",
        json!({"channel": "c"}),
        json!("x".repeat(1500)),
    )
    .await;
    assert_eq!(
        ws_recv_action(&mut ws, "ack", T).await.expect("ack")["action"],
        "ack"
    );
    send(
        &mut ws,
        "message",
        json!({"channel": "c"}),
        json!("x".repeat(4000)),
    )
    .await;
    assert_eq!(next_error(&mut ws).await.0, "too_large");
    let code = ws_close_code(&mut ws, T).await;
    assert_eq!(code, Some(1009), "message too big");
}

// ---- flow control and shutdown -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_closed_with_1013_and_never_slows_the_others() {
    let f = Fixture::with(Server::start_with(&["--ws-queue-messages", "8"], &[]));
    f.channel(json!({"name": "firehose"}));
    let url = f.s.ws_url(&format!("/ws?api_key={}", f.key));
    let mut slow = ws_connect(&url).await;
    let mut fast = ws_connect(&url).await;
    ws_join(&mut slow, "firehose", json!({}), json!({})).await;
    ws_join(&mut fast, "firehose", json!({}), json!({})).await;

    // The fast reader reads everything concurrently; `slow` is not read at all.
    const N: i64 = 450;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let seen = received.clone();
    let reader = tokio::spawn(async move {
        let mut last = 0;
        while last < N {
            let frame = ws_recv_json(&mut fast, Duration::from_secs(20))
                .await
                .expect("fast subscriber stalled");
            let id = frame["options"]["id"].as_i64().expect("message id");
            assert_eq!(id, last + 1, "fast subscriber missed a message");
            last = id;
            seen.store(last, std::sync::atomic::Ordering::Relaxed);
        }
        last
    });
    // Big messages fill the slow socket's kernel buffers, then its 8-frame queue. The
    // publisher stays at most 4 messages ahead of the fast reader, so a reader that keeps
    // up never has 8 frames waiting, however the test's own tasks are scheduled.
    let chunk = json!("x".repeat(30_000));
    let http = f.s.async_http();
    for n in 1..=N {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while n - received.load(std::sync::atomic::Ordering::Relaxed) > 4 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "fast reader stopped at {}",
                n - 5
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        publish(&http, &f.s.url("/"), &f.key, "firehose", chunk.clone()).await;
    }
    assert_eq!(reader.await.expect("reader"), N);
    assert_eq!(
        ws_close_code(&mut slow, Duration::from_secs(20)).await,
        Some(1013)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_with_1012_and_exits_cleanly() {
    let mut f = Fixture::new();
    f.channel(json!({"name": "c"}));
    let mut ws = ws_connect(&f.s.ws_url(&format!("/ws?api_key={}", f.key))).await;
    ws_join(&mut ws, "c", json!({}), json!({})).await;
    let closed = tokio::spawn(async move { ws_close_code(&mut ws, Duration::from_secs(10)).await });
    let status = tokio::task::block_in_place(|| f.s.terminate());
    assert!(status.success(), "exit status {status}");
    assert_eq!(closed.await.unwrap(), Some(1012));
}
