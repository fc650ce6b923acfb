//! A visitor chats with an agent: REST (Rocket.Chat shapes) and `/ws` (visitor token,
//! room channel, typing both ways), room membership, erasing a visitor, limits.

mod common;
mod livechat_support;

use std::time::Duration;

use common::*;
use livechat_support::*;

#[tokio::test]
async fn visitor_and_agent_chat_in_real_time() {
    let lc = Lc::start().await;
    let agent = lc.online_agent("bob").await;
    let v = lc.visitor("visitor-token-1", Some("Ana")).await;
    assert_eq!(v["token"], "visitor-token-1");
    assert_eq!(v["name"], "Ana");
    let room = lc.room("visitor-token-1").await;
    let rid = room["_id"].as_str().unwrap().to_string();
    assert_eq!(room["t"], "l");
    assert_eq!(room["status"], "open", "routed to the online agent: {room}");
    assert_eq!(room["servedBy"]["_id"], agent.id.as_str());
    assert_eq!(room["v"]["token"], "visitor-token-1");
    // The same call returns the same open room.
    let again = lc
        .get("/api/v1/livechat/room?token=visitor-token-1", None)
        .await
        .expect(200);
    assert_eq!(again["room"]["_id"], rid.as_str());
    assert_eq!(again["newRoom"], false);

    let mut vws = lc.visitor_ws("visitor-token-1").await;
    join(&mut vws, &format!("livechat/{rid}")).await;
    let mut aws = lc.staff_ws(&agent).await;
    join(&mut aws, &format!("livechat/{rid}")).await;

    // Visitor → agent.
    let sent = lc
        .say("visitor-token-1", &rid, "Hi, I need help")
        .await
        .expect(200);
    assert_eq!(sent["message"]["msg"], "Hi, I need help");
    assert_eq!(sent["message"]["sender"], "visitor");
    assert!(
        sent["message"].get("token").is_none(),
        "no token in messages"
    );
    let got = next_where(
        &mut aws,
        "visitor message at the agent",
        is_message(&rid, "visitor"),
    )
    .await;
    assert_eq!(got["payload"]["msg"], "Hi, I need help");
    assert_eq!(got["payload"]["u"]["name"], "Ana");

    // Agent → visitor.
    lc.reply(&agent, &rid, "Sure, how can I help?")
        .await
        .expect(200);
    let got = next_where(
        &mut vws,
        "agent message at the visitor",
        is_message(&rid, "agent"),
    )
    .await;
    assert_eq!(got["payload"]["msg"], "Sure, how can I help?");
    assert_eq!(got["payload"]["u"]["_id"], agent.id.as_str());

    // Typing both ways, not stored.
    ws_send_json(
        &mut vws,
        &json!({"action": "typing", "options": {"channel": format!("livechat/{rid}")}, "payload": {"typing": true}}),
    )
    .await;
    let t = next_where(&mut aws, "visitor typing", |f| f["action"] == "typing").await;
    assert_eq!(t["payload"]["typing"], true);
    assert_eq!(t["payload"]["sender"], "visitor");
    ws_send_json(
        &mut aws,
        &json!({"action": "typing", "options": {"channel": format!("livechat/{rid}")}, "payload": {"typing": false}}),
    )
    .await;
    let t = next_where(&mut vws, "agent typing", |f| f["action"] == "typing").await;
    assert_eq!(t["payload"]["typing"], false);
    assert_eq!(t["payload"]["sender"], "agent");

    // Raw frames cannot bypass the livechat API.
    ws_send_json(
        &mut vws,
        &json!({"action": "message", "options": {"channel": format!("livechat/{rid}")}, "payload": {"msg": "raw"}}),
    )
    .await;
    let err = next_where(&mut vws, "raw message refused", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "forbidden");

    // History: newest first, with seq (the channel id), and replay on /ws with last_id.
    let history = lc.history("visitor-token-1", &rid).await;
    let texts: Vec<&str> = history
        .iter()
        .filter(|m| m["t"].is_null())
        .map(|m| m["msg"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Sure, how can I help?", "Hi, I need help"]);
    let mut replay = lc.visitor_ws("visitor-token-1").await;
    ws_join(
        &mut replay,
        &format!("livechat/{rid}"),
        json!({"last_id": 0}),
        json!({}),
    )
    .await;
    let first = next_where(&mut replay, "replayed message", is_message(&rid, "visitor")).await;
    assert_eq!(first["payload"]["msg"], "Hi, I need help");

    // The visitor closes: a system message, the room is closed, writing is refused.
    let closed = lc
        .post(
            "/api/v1/livechat/room.close",
            None,
            json!({"rid": rid, "token": "visitor-token-1"}),
        )
        .await
        .expect(200);
    assert_eq!(closed["rid"], rid.as_str());
    assert_eq!(closed["comment"], "Closed by visitor");
    let close_msg = next_where(&mut vws, "close message", |f| {
        f["payload"]["t"] == "livechat-close"
    })
    .await;
    assert_eq!(close_msg["payload"]["sender"], "system");
    let r = lc.say("visitor-token-1", &rid, "still there?").await;
    assert_rc_error(&r, 400, "room-closed");
    let r = lc
        .post(
            "/api/v1/livechat/room.close",
            None,
            json!({"rid": rid, "token": "visitor-token-1"}),
        )
        .await;
    assert_rc_error(&r, 400, "room-closed");
    assert_eq!(lc.room_info(&rid).await["status"], "closed");
    // A new conversation opens a new room.
    let next = lc.room("visitor-token-1").await;
    assert_ne!(next["_id"], rid.as_str());
}

#[tokio::test]
async fn visitors_join_only_their_own_rooms() {
    let lc = Lc::start().await;
    lc.visitor("visitor-aaaa-1", Some("A")).await;
    lc.visitor("visitor-bbbb-2", Some("B")).await;
    let rid_a = lc.room_id("visitor-aaaa-1").await;
    let v_a = lc.visitor("visitor-aaaa-1", None).await;
    let mut b = lc.visitor_ws("visitor-bbbb-2").await;
    ws_send_json(
        &mut b,
        &json!({"action": "join", "options": {"channel": format!("livechat/{rid_a}")}}),
    )
    .await;
    let err = next_where(&mut b, "join refused", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "forbidden");
    ws_send_json(&mut b, &json!({"action": "join", "options": {"channel": format!("livechat-visitor/{}", v_a["_id"].as_str().unwrap())}})).await;
    let err = next_where(&mut b, "feed refused", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "forbidden");
    ws_send_json(
        &mut b,
        &json!({"action": "join", "options": {"channel": "livechat-queue"}}),
    )
    .await;
    let err = next_where(&mut b, "queue refused", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "forbidden");
    // Anonymous sockets are told to authenticate.
    let mut anon = ws_connect(&lc.s.ws_url("/ws")).await;
    ws_send_json(
        &mut anon,
        &json!({"action": "join", "options": {"channel": format!("livechat/{rid_a}")}}),
    )
    .await;
    let err = next_where(&mut anon, "anonymous refused", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "unauthorized");
    // ...and can authenticate with an auth frame.
    ws_send_json(
        &mut anon,
        &json!({"action": "auth", "payload": {"visitor_token": "visitor-aaaa-1"}}),
    )
    .await;
    next_where(&mut anon, "auth ack", |f| f["action"] == "ack").await;
    join(&mut anon, &format!("livechat/{rid_a}")).await;
    // A token nobody registered closes the socket with 1008.
    let mut bad = ws_connect(&lc.s.ws_url("/ws?visitor_token=never-registered-1")).await;
    let err = next_where(&mut bad, "bad token", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["message"], "invalid-token");
    assert_eq!(ws_close_code(&mut bad, WAIT).await, Some(1008));
    // REST: another visitor's room is invalid-room.
    let r = lc.say("visitor-bbbb-2", &rid_a, "hello").await;
    assert_rc_error(&r, 400, "invalid-room");
    let r = lc
        .get(
            &format!("/api/v1/livechat/messages.history/{rid_a}?token=visitor-bbbb-2"),
            None,
        )
        .await;
    assert_rc_error(&r, 400, "invalid-room");
}

#[tokio::test]
async fn deleting_a_visitor_erases_its_data() {
    let lc = Lc::start().await;
    lc.visitor("erase-me-token", Some("Eve")).await;
    let rid = lc.room_id("erase-me-token").await;
    lc.say("erase-me-token", &rid, "secret").await.expect(200);
    lc.event(
        "erase-me-token",
        "visit",
        json!({"href": "https://shop.example/a"}),
    )
    .await
    .expect(200);
    let before = lc
        .get(
            &format!("/api/v1/channels/livechat/{rid}/history"),
            Some(&lc.admin),
        )
        .await
        .expect(200);
    assert!(!before["objects"].as_array().unwrap().is_empty());
    let r = lc
        .call(
            "DELETE",
            "/api/v1/livechat/visitor/erase-me-token",
            None,
            None,
        )
        .await
        .expect(200);
    assert!(r["visitor"]["_id"].is_string());
    let r = lc
        .get("/api/v1/livechat/visitor/erase-me-token", None)
        .await;
    assert_rc_error(&r, 400, "invalid-token");
    let after = lc
        .get(
            &format!("/api/v1/channels/livechat/{rid}/history"),
            Some(&lc.admin),
        )
        .await
        .expect(200);
    assert_eq!(after["objects"], json!([]), "room history erased");
    let r = lc
        .get(
            &format!("/api/v1/livechat/room.info?rid={rid}"),
            Some(&lc.admin),
        )
        .await;
    assert_rc_error(&r, 400, "error-invalid-room");
}

#[tokio::test]
async fn message_limit_and_rate_limits() {
    let lc = Lc::start().await;
    lc.visitor("limits-token-1", None).await;
    let rid = lc.room_id("limits-token-1").await;
    lc.setting("Livechat_message_character_limit", json!(10))
        .await;
    let r = lc.say("limits-token-1", &rid, "01234567890").await;
    assert_rc_error(&r, 400, "message-length-exceeds-character-limit");
    assert!(
        lc.history("limits-token-1", &rid).await.is_empty(),
        "nothing stored"
    );
    lc.say("limits-token-1", &rid, "0123456789")
        .await
        .expect(200);
    let config = lc.get("/api/v1/livechat/config", None).await.expect(200);
    assert_eq!(config["config"]["settings"]["limitTextLength"], 10);
    lc.setting("Livechat_enable_message_character_limit", json!(false))
        .await;
    lc.say("limits-token-1", &rid, &"x".repeat(500))
        .await
        .expect(200);

    // Per token: the 4th request within the minute is refused with Rocket.Chat's 429.
    lc.setting("Livechat_rate_limit_token_per_minute", json!(3))
        .await;
    for i in 0..3 {
        let r = lc
            .get("/api/v1/livechat/visitor/limits-token-1", None)
            .await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some((2 - i).to_string()));
    }
    let r = lc
        .get("/api/v1/livechat/visitor/limits-token-1", None)
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.json["success"], false);
    let error = r.json["error"].as_str().unwrap();
    assert!(
        error.starts_with("Error, too many requests. Please slow down. You must wait "),
        "{error}"
    );
    assert!(error.ends_with("[error-too-many-requests]"), "{error}");
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(
        r.header("x-ratelimit-reset")
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    assert!(r.header("retry-after").is_some());
    // Refused requests store nothing.
    let r = lc.say("limits-token-1", &rid, "over the limit").await;
    assert_eq!(r.status, 429);
    // Another token is not limited by this one; the IP limit still applies to both.
    lc.visitor("limits-token-2", None).await;
    lc.setting("Livechat_rate_limit_ip_per_minute", json!(2))
        .await;
    lc.get("/api/v1/livechat/visitor/limits-token-2", None)
        .await
        .expect(200);
    lc.get("/api/v1/livechat/visitor/limits-token-2", None)
        .await
        .expect(200);
    let r = lc
        .get("/api/v1/livechat/visitor/limits-token-2", None)
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    lc.setting("Livechat_rate_limit_ip_per_minute", json!(1000))
        .await;
    lc.setting("Livechat_rate_limit_token_per_minute", json!(1000))
        .await;
    let texts: Vec<String> = lc
        .history("limits-token-1", &rid)
        .await
        .iter()
        .map(|m| m["msg"].as_str().unwrap().to_string())
        .collect();
    assert!(!texts.iter().any(|t| t == "over the limit"), "{texts:?}");
}

#[tokio::test]
async fn visitor_events_over_rest_and_ws() {
    let lc = Lc::start().await;
    lc.visitor("events-token-1", None).await;
    lc.event("events-token-1", "visit", json!({"href": "https://shop.example/", "title": "Home", "referrer": "https://search.example/"}))
        .await
        .expect(200);
    let r = lc.event("events-token-1", "teleport", json!({})).await;
    assert_rc_error(&r, 400, "invalid-params");
    let r = lc
        .event("events-token-1", "visit", json!({"title": "no href"}))
        .await;
    assert_rc_error(&r, 400, "invalid-params");
    let r = lc
        .event(
            "unknown-token-9",
            "visit",
            json!({"href": "https://shop.example/"}),
        )
        .await;
    assert_rc_error(&r, 400, "invalid-token");
    let mut ws = lc.visitor_ws("events-token-1").await;
    ws_send_json(&mut ws, &json!({"action": "visitor_event", "options": {"ref": 7}, "payload": {"event": "navigate", "data": {"href": "https://shop.example/pricing", "title": "Pricing"}}})).await;
    let ack = next_where(&mut ws, "event ack", |f| f["action"] == "ack").await;
    assert_eq!(ack["options"]["ref"], 7);
    assert_eq!(ack["payload"]["fired"], json!([]));
    ws_send_json(
        &mut ws,
        &json!({"action": "visitor_event", "options": {"ref": 8}, "payload": {"event": "bogus"}}),
    )
    .await;
    let err = next_where(&mut ws, "event error", |f| f["action"] == "error").await;
    assert_eq!(err["options"]["ref"], 8);
    assert_eq!(err["payload"]["code"], "bad_request");
    assert!(err["payload"]["message"]
        .as_str()
        .unwrap()
        .ends_with("[invalid-params]"));
    // An agent sees the pages with their times.
    let rid = lc.room_id("events-token-1").await;
    let ctx = lc
        .get(
            &format!("/api/v1/livechat/room.context?rid={rid}"),
            Some(&lc.admin),
        )
        .await
        .expect(200);
    let pages = ctx["visit"]["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2, "{ctx}");
    assert_eq!(pages[0]["href"], "https://shop.example/");
    assert_eq!(pages[1]["title"], "Pricing");
    assert_eq!(ctx["visit"]["referrer"], "https://search.example/");
    assert!(ctx["visit"]["timeOnSite"].as_i64().unwrap() >= 0);
    // A non-visitor socket cannot send visitor events.
    let mut anon = ws_connect(&lc.s.ws_url("/ws")).await;
    ws_send_json(
        &mut anon,
        &json!({"action": "visitor_event", "payload": {"event": "chat-opened"}}),
    )
    .await;
    let err = next_where(&mut anon, "anon event", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "unauthorized");
    // page.visited (Rocket.Chat) is a navigate.
    let r = lc
        .post(
            "/api/v1/livechat/page.visited",
            None,
            json!({"token": "events-token-1", "rid": rid, "pageInfo": {"title": "Docs", "change": "url", "location": {"href": "https://shop.example/docs"}}}),
        )
        .await
        .expect(200);
    assert_eq!(
        r["page"]["navigation"]["page"]["location"]["href"],
        "https://shop.example/docs"
    );
    let _ = Duration::from_secs(0);
}

#[tokio::test]
async fn config_reflects_appearance_and_online_agents() {
    let lc = Lc::start().await;
    let config = lc
        .get("/api/v1/livechat/config?token=not-registered-yet", None)
        .await
        .expect(200);
    assert_eq!(config["config"]["online"], false);
    assert!(config["config"].get("guest").is_none());
    assert_eq!(config["config"]["theme"]["position"], "right");
    lc.post(
        "/api/v1/livechat/appearance",
        Some(&lc.admin),
        json!([{"_id": "Livechat_title", "value": "Talk to us"}, {"_id": "Livechat_widget_position", "value": "left"}, {"_id": "Livechat_title_color", "value": "#112233"}]),
    )
    .await
    .expect(200);
    let agent = lc.online_agent("olga").await;
    lc.visitor("config-token-1", Some("Cid")).await;
    let rid = lc.room_id("config-token-1").await;
    let c = lc
        .get("/api/v1/livechat/config?token=config-token-1", None)
        .await
        .expect(200)["config"]
        .clone();
    assert_eq!(c["online"], true);
    assert_eq!(c["theme"]["title"], "Talk to us");
    assert_eq!(c["theme"]["position"], "left");
    assert_eq!(c["theme"]["color"], "#112233");
    assert_eq!(c["guest"]["name"], "Cid");
    assert_eq!(c["room"]["_id"], rid.as_str());
    assert_eq!(c["agent"]["_id"], agent.id.as_str());
    assert_eq!(c["settings"]["registrationForm"], true);
    lc.status(&agent, "away").await;
    let c = lc.get("/api/v1/livechat/config", None).await.expect(200);
    assert_eq!(c["config"]["online"], false, "away agents are not online");
    // CORS for the widget.
    let r = lc.get("/api/v1/livechat/config", None).await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let r = lc
        .call("OPTIONS", "/api/v1/livechat/message", None, None)
        .await;
    assert_eq!(r.status, 204);
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
}

#[tokio::test]
async fn messages_over_the_socket_and_idempotent_ids() {
    let lc = Lc::start().await;
    let agent = lc.online_agent("sam").await;
    lc.visitor("socket-token-01", Some("Ivy")).await;
    let rid = lc.room_id("socket-token-01").await;
    let mut vws = lc.visitor_ws("socket-token-01").await;
    join(&mut vws, &format!("livechat/{rid}")).await;
    let mut aws = lc.staff_ws(&agent).await;
    join(&mut aws, &format!("livechat/{rid}")).await;
    ws_send_json(&mut vws, &json!({"action": "livechat_message", "options": {"ref": "m1"}, "payload": {"rid": rid, "msg": "over the socket", "_id": "client-id-1"}})).await;
    let ack = next_where(&mut vws, "ack", |f| f["action"] == "ack").await;
    assert_eq!(ack["options"]["ref"], "m1");
    assert_eq!(ack["payload"]["message"]["_id"], "client-id-1");
    let seq = ack["payload"]["message"]["seq"].clone();
    let got = next_where(&mut aws, "at the agent", is_message(&rid, "visitor")).await;
    assert_eq!(got["payload"]["msg"], "over the socket");
    // A retried send with the same _id is answered with the stored message, not stored again.
    let again = lc
        .post("/api/v1/livechat/message", None, json!({"token": "socket-token-01", "rid": rid, "msg": "over the socket", "_id": "client-id-1"}))
        .await
        .expect(200);
    assert_eq!(again["message"]["seq"], seq);
    let visitor_texts = lc
        .history("socket-token-01", &rid)
        .await
        .iter()
        .filter(|m| m["sender"] == "visitor")
        .count();
    assert_eq!(visitor_texts, 1);
    ws_send_json(&mut aws, &json!({"action": "livechat_message", "payload": {"rid": rid, "msg": "agent over the socket"}})).await;
    next_where(&mut aws, "agent ack", |f| f["action"] == "ack").await;
    let got = next_where(&mut vws, "at the visitor", is_message(&rid, "agent")).await;
    assert_eq!(got["payload"]["msg"], "agent over the socket");
    // Bad frames get error frames.
    ws_send_json(
        &mut vws,
        &json!({"action": "livechat_message", "payload": {"rid": rid}}),
    )
    .await;
    let err = next_where(&mut vws, "missing msg", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "bad_request");
    assert_eq!(
        err["payload"]["message"],
        "must have required property 'msg' [invalid-params]"
    );
    ws_send_json(
        &mut vws,
        &json!({"action": "livechat_message", "payload": {"rid": "someoneelse", "msg": "x"}}),
    )
    .await;
    let err = next_where(&mut vws, "invalid room", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["message"], "invalid-room");
    let mut anon = ws_connect(&lc.s.ws_url("/ws")).await;
    ws_send_json(
        &mut anon,
        &json!({"action": "livechat_message", "payload": {"rid": rid, "msg": "x"}}),
    )
    .await;
    let err = next_where(&mut anon, "anonymous", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "unauthorized");
}

#[tokio::test]
async fn history_pages_backwards_like_rocket_chat() {
    let lc = Lc::start().await;
    lc.visitor("pages-token-001", None).await;
    let rid = lc.room_id("pages-token-001").await;
    for i in 0..5 {
        lc.say("pages-token-001", &rid, &format!("m{i}"))
            .await
            .expect(200);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = lc.history("pages-token-001", &rid).await;
    let texts = |v: &Value| -> Vec<String> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["msg"].as_str().unwrap().to_string())
            .collect()
    };
    let m2_ts = all.iter().find(|m| m["msg"] == "m2").unwrap()["ts"]
        .as_str()
        .unwrap()
        .to_string();
    let older = lc
        .get(&format!("/api/v1/livechat/messages.history/{rid}?token=pages-token-001&end={m2_ts}&ls={m2_ts}"), None)
        .await
        .expect(200);
    assert_eq!(texts(&older), ["m1", "m0"]);
    let newer = lc
        .get(
            &format!("/api/v1/livechat/messages.history/{rid}?token=pages-token-001&after={m2_ts}"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(texts(&newer), ["m4", "m3"]);
    let page = lc
        .get(
            &format!(
                "/api/v1/livechat/messages.history/{rid}?token=pages-token-001&offset=1&count=2"
            ),
            None,
        )
        .await
        .expect(200);
    assert_eq!(texts(&page), ["m3", "m2"]);
    let limited = lc
        .get(
            &format!("/api/v1/livechat/messages.history/{rid}?token=pages-token-001&limit=1"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(texts(&limited), ["m4"]);
}
