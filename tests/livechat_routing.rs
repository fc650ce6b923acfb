//! Routing and agent access: fewest open chats, manual take, an agent going offline,
//! transfer, realtime queue and assignment feeds, who may read which room.

mod common;
mod livechat_support;

use std::time::Duration;

use common::*;
use livechat_support::*;

#[tokio::test]
async fn auto_selection_picks_the_online_agent_with_fewest_open_chats() {
    let lc = Lc::start().await;
    let ann = lc.online_agent("ann").await;
    let ben = lc.online_agent("ben").await;
    let offline = lc.agent("zed").await; // never online: never routed to
    let mut ann_ws = lc.staff_ws(&ann).await;
    join(&mut ann_ws, &format!("livechat-agent/{}", ann.id)).await;
    join(&mut ann_ws, "livechat-queue").await;

    let served_by = |room: &Value| room["servedBy"]["_id"].as_str().unwrap_or("").to_string();
    lc.visitor("route-token-001", None).await;
    let r1 = lc.room("route-token-001").await;
    assert_eq!(served_by(&r1), ann.id, "tie: lowest id");
    let queued = next_where(
        &mut ann_ws,
        "inquiry queued",
        is_event("livechat-queue", "inquiry-queued"),
    )
    .await;
    assert_eq!(queued["payload"]["inquiry"]["rid"], r1["_id"]);
    next_where(
        &mut ann_ws,
        "inquiry taken",
        is_event("livechat-queue", "inquiry-taken"),
    )
    .await;
    let assigned = next_where(
        &mut ann_ws,
        "assigned",
        is_event(&format!("livechat-agent/{}", ann.id), "room-assigned"),
    )
    .await;
    assert_eq!(assigned["payload"]["room"]["_id"], r1["_id"]);

    lc.visitor("route-token-002", None).await;
    assert_eq!(
        served_by(&lc.room("route-token-002").await),
        ben.id,
        "ann has one, ben none"
    );
    lc.visitor("route-token-003", None).await;
    assert_eq!(
        served_by(&lc.room("route-token-003").await),
        ann.id,
        "1 each: lowest id"
    );
    // Ann closes one of her two chats: she has fewer again.
    let rid1 = r1["_id"].as_str().unwrap();
    lc.post(
        "/api/v1/livechat/room.closeByUser",
        Some(&ann.token),
        json!({"rid": rid1, "comment": "solved"}),
    )
    .await
    .expect(200);
    let closed = lc.room_info(rid1).await;
    assert_eq!(closed["closingMessage"]["msg"], "solved");
    assert_eq!(closed["closer"], "user");
    lc.visitor("route-token-004", None).await;
    let r4 = lc.room("route-token-004").await;
    assert_eq!(served_by(&r4), ann.id);
    assert_ne!(served_by(&r4), offline.id);
    // Nobody online: the chat waits in the queue, and goes to the first agent to come online.
    lc.status(&ann, "away").await;
    lc.status(&ben, "offline").await;
    lc.visitor("route-token-005", None).await;
    let r5 = lc.room("route-token-005").await;
    assert_eq!(r5["status"], "queued");
    let q = lc
        .get("/api/v1/livechat/inquiries.list", Some(&ann.token))
        .await
        .expect(200);
    assert!(
        q["inquiries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["rid"] == r5["_id"]),
        "{q}"
    );
    let next = lc
        .get("/api/v1/livechat/agent.next/route-token-005", None)
        .await
        .expect(200);
    assert_eq!(next["agent"], Value::Null);
    lc.status(&offline, "online").await;
    let info = lc.room_info(r5["_id"].as_str().unwrap()).await;
    assert_eq!(info["status"], "open");
    assert_eq!(served_by(&info), offline.id);
}

#[tokio::test]
async fn manual_selection_waits_for_an_agent_to_take() {
    let lc = Lc::start().await;
    lc.setting("Livechat_Routing_Method", json!("Manual_Selection"))
        .await;
    let got = lc
        .get("/api/v1/settings/Livechat_Routing_Method", Some(&lc.admin))
        .await
        .expect(200);
    assert_eq!(got["value"], "Manual_Selection");
    assert_eq!(got["_id"], "Livechat_Routing_Method");
    let r = lc
        .post(
            "/api/v1/settings/Livechat_Routing_Method",
            Some(&lc.admin),
            json!({"value": "Round_Robin"}),
        )
        .await;
    assert_rc_error(&r, 400, "invalid-params");
    let ann = lc.online_agent("ann").await;
    let ben = lc.online_agent("ben").await;
    let mut ben_ws = lc.staff_ws(&ben).await;
    join(&mut ben_ws, "livechat-queue").await;
    lc.visitor("manual-token-01", Some("Mo")).await;
    let room = lc.room("manual-token-01").await;
    let rid = room["_id"].as_str().unwrap().to_string();
    assert_eq!(room["status"], "queued");
    lc.say("manual-token-01", &rid, "anyone?").await.expect(200);
    let queued = next_where(
        &mut ben_ws,
        "queued",
        is_event("livechat-queue", "inquiry-queued"),
    )
    .await;
    let inquiry_id = queued["payload"]["inquiry"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = lc
        .get("/api/v1/livechat/inquiries.list", Some(&ann.token))
        .await
        .expect(200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["inquiries"][0]["message"], "anyone?");
    assert_eq!(list["inquiries"][0]["status"], "queued");
    let one = lc
        .get(
            &format!("/api/v1/livechat/inquiries.getOne?roomId={rid}"),
            Some(&ann.token),
        )
        .await
        .expect(200);
    assert_eq!(one["inquiry"]["_id"], inquiry_id.as_str());
    // Ben takes it.
    let taken = lc
        .post(
            "/api/v1/livechat/inquiries.take",
            Some(&ben.token),
            json!({"inquiryId": inquiry_id}),
        )
        .await
        .expect(200);
    assert_eq!(taken["inquiry"]["status"], "taken");
    let taken_event = next_where(
        &mut ben_ws,
        "taken",
        is_event("livechat-queue", "inquiry-taken"),
    )
    .await;
    assert_eq!(taken_event["payload"]["agent"]["_id"], ben.id.as_str());
    let info = lc.room_info(&rid).await;
    assert_eq!(info["servedBy"]["_id"], ben.id.as_str());
    let r = lc
        .post(
            "/api/v1/livechat/inquiries.take",
            Some(&ann.token),
            json!({"inquiryId": inquiry_id}),
        )
        .await;
    assert_rc_error(&r, 400, "error-inquiry-taken");
    let r = lc
        .post(
            "/api/v1/livechat/inquiries.take",
            Some(&ann.token),
            json!({"inquiryId": "nope"}),
        )
        .await;
    assert_rc_error(&r, 400, "error-invalid-inquiry");
    // An agent may not take for somebody else; a manager may.
    lc.visitor("manual-token-02", None).await;
    let rid2 = lc.room_id("manual-token-02").await;
    let inq2 = lc
        .get(
            &format!("/api/v1/livechat/inquiries.getOne?roomId={rid2}"),
            Some(&ann.token),
        )
        .await
        .expect(200)["inquiry"]["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = lc
        .post(
            "/api/v1/livechat/inquiries.take",
            Some(&ann.token),
            json!({"inquiryId": inq2, "userId": ben.id}),
        )
        .await;
    assert_eq!(r.status, 403);
    lc.post(
        "/api/v1/livechat/inquiries.take",
        Some(&lc.admin),
        json!({"inquiryId": inq2, "userId": ann.id}),
    )
    .await
    .expect(200);
    assert_eq!(
        lc.room_info(&rid2).await["servedBy"]["_id"],
        ann.id.as_str()
    );
}

#[tokio::test]
async fn an_agent_going_offline_puts_unanswered_chats_back() {
    let lc = Lc::start().await;
    let ann = lc.online_agent("ann").await;
    lc.visitor("off-token-0001", None).await;
    lc.visitor("off-token-0002", None).await;
    let answered = lc.room_id("off-token-0001").await;
    let unanswered = lc.room_id("off-token-0002").await;
    lc.reply(&ann, &answered, "hello!").await.expect(200);
    let ben = lc.online_agent("ben").await;
    let mut ann_ws = lc.staff_ws(&ann).await;
    join(&mut ann_ws, &format!("livechat-agent/{}", ann.id)).await;
    lc.status(&ann, "offline").await;
    let gone = next_where(
        &mut ann_ws,
        "unassigned",
        is_event(&format!("livechat-agent/{}", ann.id), "room-unassigned"),
    )
    .await;
    assert_eq!(gone["payload"]["room"]["_id"], unanswered.as_str());
    assert_eq!(gone["payload"]["reason"], "offline");
    assert_eq!(
        lc.room_info(&unanswered).await["servedBy"]["_id"],
        ben.id.as_str(),
        "re-routed to ben"
    );
    assert_eq!(
        lc.room_info(&answered).await["servedBy"]["_id"],
        ann.id.as_str(),
        "answered chat stays"
    );
    let s = lc
        .get("/api/v1/livechat/agent.status", Some(&ann.token))
        .await
        .expect(200);
    assert_eq!(s["status"], "offline");
    let r = lc
        .post(
            "/api/v1/livechat/agent.status",
            Some(&ann.token),
            json!({"status": "sleeping"}),
        )
        .await;
    assert_rc_error(&r, 400, "invalid-params");
}

#[tokio::test]
async fn transfer_moves_the_chat_and_its_access() {
    let lc = Lc::start().await;
    let ann = lc.online_agent("ann").await;
    let ben = lc.agent("ben").await;
    lc.visitor("xfer-token-0001", Some("Tia")).await;
    let rid = lc.room_id("xfer-token-0001").await;
    let mut ben_ws = lc.staff_ws(&ben).await;
    join(&mut ben_ws, &format!("livechat-agent/{}", ben.id)).await;
    let mut ann_ws = lc.staff_ws(&ann).await;
    join(&mut ann_ws, &format!("livechat-agent/{}", ann.id)).await;
    let mut v_ws = lc.visitor_ws("xfer-token-0001").await;
    join(&mut v_ws, &format!("livechat/{rid}")).await;
    let r = lc
        .post(
            "/api/v1/livechat/room.forward",
            Some(&ben.token),
            json!({"roomId": rid, "userId": ben.id}),
        )
        .await;
    assert_eq!(r.status, 403, "ben does not serve it");
    let r = lc
        .post(
            "/api/v1/livechat/room.forward",
            Some(&ann.token),
            json!({"roomId": rid, "userId": "999"}),
        )
        .await;
    assert_rc_error(&r, 400, "error-invalid-agent");
    lc.post(
        "/api/v1/livechat/room.forward",
        Some(&ann.token),
        json!({"roomId": rid, "userId": ben.id, "comment": "billing question"}),
    )
    .await
    .expect(200);
    next_where(
        &mut ben_ws,
        "assigned to ben",
        is_event(&format!("livechat-agent/{}", ben.id), "room-assigned"),
    )
    .await;
    let away = next_where(
        &mut ann_ws,
        "unassigned from ann",
        is_event(&format!("livechat-agent/{}", ann.id), "room-unassigned"),
    )
    .await;
    assert_eq!(away["payload"]["reason"], "transfer");
    let sys = next_where(&mut v_ws, "transfer message", |f| {
        f["payload"]["t"] == "livechat_transfer_history"
    })
    .await;
    assert!(sys["payload"]["msg"]
        .as_str()
        .unwrap()
        .contains("transferred"));
    assert_eq!(lc.room_info(&rid).await["servedBy"]["_id"], ben.id.as_str());
    lc.reply(&ben, &rid, "I can help with billing")
        .await
        .expect(200);
    let r = lc.reply(&ann, &rid, "me too").await;
    assert_rc_error(&r, 403, "unauthorized");
}

#[tokio::test]
async fn agents_read_only_their_rooms_and_managers_all() {
    let lc = Lc::start().await;
    let ann = lc.online_agent("ann").await;
    let cid = lc.agent("cid").await; // not serving anything
    let mia = lc.user("mia", &["manager"]).await;
    let plain = lc.user("pat", &[]).await;
    lc.visitor("access-token-01", None).await;
    let rid = lc.room_id("access-token-01").await;
    lc.say("access-token-01", &rid, "private words")
        .await
        .expect(200);

    // REST.
    let r = lc
        .get(
            &format!("/api/v1/livechat/room.info?rid={rid}"),
            Some(&cid.token),
        )
        .await;
    assert_rc_error(&r, 403, "unauthorized");
    lc.get(
        &format!("/api/v1/livechat/room.info?rid={rid}"),
        Some(&ann.token),
    )
    .await
    .expect(200);
    lc.get(
        &format!("/api/v1/livechat/room.info?rid={rid}"),
        Some(&mia.token),
    )
    .await
    .expect(200);
    let r = lc
        .get(
            &format!("/api/v1/livechat/room.info?rid={rid}"),
            Some(&plain.token),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json["error"],
        "User does not have the permissions required for this action [error-unauthorized]"
    );
    let r = lc
        .get(
            &format!("/api/v1/channels/livechat/{rid}/history"),
            Some(&cid.token),
        )
        .await;
    assert_eq!(
        r.status, 403,
        "channel history follows the same membership: {}",
        r.text
    );
    let r = lc
        .get(
            &format!("/api/v1/channels/livechat/{rid}/history"),
            Some(&mia.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mine = lc
        .get("/api/v1/livechat/rooms", Some(&cid.token))
        .await
        .expect(200);
    assert_eq!(mine["total"], 0);
    let all = lc
        .get("/api/v1/livechat/rooms", Some(&mia.token))
        .await
        .expect(200);
    assert_eq!(all["total"], 1);
    let ctx = lc
        .get(
            &format!("/api/v1/livechat/room.context?rid={rid}"),
            Some(&cid.token),
        )
        .await;
    assert_eq!(ctx.status, 403);

    // WebSocket.
    let mut cid_ws = lc.staff_ws(&cid).await;
    ws_send_json(
        &mut cid_ws,
        &json!({"action": "join", "options": {"channel": format!("livechat/{rid}")}}),
    )
    .await;
    let err = next_where(&mut cid_ws, "cid refused", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "forbidden");
    ws_send_json(
        &mut cid_ws,
        &json!({"action": "join", "options": {"channel": format!("livechat-agent/{}", ann.id)}}),
    )
    .await;
    let err = next_where(&mut cid_ws, "feed refused", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "forbidden");
    ws_send_json(
        &mut cid_ws,
        &json!({"action": "join", "options": {"channel": "livechat-rooms"}}),
    )
    .await;
    let err = next_where(&mut cid_ws, "rooms feed refused", |f| {
        f["action"] == "error"
    })
    .await;
    assert_eq!(err["payload"]["code"], "forbidden");
    join(&mut cid_ws, "livechat-queue").await;
    let mut mia_ws = lc.staff_ws(&mia).await;
    ws_join(
        &mut mia_ws,
        &format!("livechat/{rid}"),
        json!({"last_id": 0}),
        json!({}),
    )
    .await;
    let replayed = next_where(
        &mut mia_ws,
        "manager reads the room",
        is_message(&rid, "visitor"),
    )
    .await;
    assert_eq!(replayed["payload"]["msg"], "private words");
    join(&mut mia_ws, "livechat-rooms").await;
    join(&mut mia_ws, &format!("livechat-agent/{}", ann.id)).await;
    // A bad session on /ws closes with 1008.
    let mut bad = ws_connect(&lc.s.ws_url("/ws?token=rts_not-a-session")).await;
    assert_eq!(ws_close_code(&mut bad, WAIT).await, Some(1008));
    none_where(&mut cid_ws, Duration::from_millis(200), |f| {
        f["action"] == "message"
    })
    .await;
}

#[tokio::test]
async fn an_agent_whose_inbox_disconnects_goes_offline_after_the_grace() {
    let lc = Lc::start().await;
    lc.setting("Livechat_agent_offline_after_disconnect_seconds", json!(1))
        .await;
    let ann = lc.online_agent("ann").await;
    let ben = lc.online_agent("ben").await; // never connects: stays online
    let mut first = lc.staff_ws(&ann).await;
    join(&mut first, &format!("livechat-agent/{}", ann.id)).await;
    let mut second = lc.staff_ws(&ann).await;
    join(&mut second, &format!("livechat-agent/{}", ann.id)).await;
    lc.visitor("grace-token-001", None).await;
    let rid = lc.room_id("grace-token-001").await;
    assert_eq!(lc.room_info(&rid).await["servedBy"]["_id"], ann.id.as_str());
    // One tab closes: another is still open, nothing changes.
    drop(first);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        lc.get("/api/v1/livechat/agent.status", Some(&ann.token))
            .await
            .expect(200)["status"],
        "online"
    );
    // The last one closes: after the grace Ann is offline and her unanswered chat moves to Ben.
    drop(second);
    let mut offline = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if lc
            .get("/api/v1/livechat/agent.status", Some(&ann.token))
            .await
            .expect(200)["status"]
            == "offline"
        {
            offline = true;
            break;
        }
    }
    assert!(offline, "ann went offline");
    // Her chat is re-routed right after the status change; give it a moment.
    let mut served_by = Value::Null;
    for _ in 0..50 {
        served_by = lc.room_info(&rid).await["servedBy"]["_id"].clone();
        if served_by == ben.id.as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served_by, ben.id.as_str(), "the chat moved to Ben");
    assert_eq!(
        lc.get("/api/v1/livechat/agent.status", Some(&ben.token))
            .await
            .expect(200)["status"],
        "online"
    );
}
