//! Table-driven Rocket.Chat error bodies for every livechat endpoint: malformed JSON,
//! missing fields, wrong types, unknown ids, wrong role, no login, rate limits.

mod common;
mod livechat_support;

use common::*;
use livechat_support::*;

#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    BadSession,
    Plain,
    Agent,
    Admin,
}

struct Case {
    method: &'static str,
    path: String,
    who: Who,
    body: Option<String>,
    status: u16,
    error: &'static str,
}

fn case(
    method: &'static str,
    path: impl Into<String>,
    who: Who,
    body: Option<&str>,
    status: u16,
    error: &'static str,
) -> Case {
    Case {
        method,
        path: path.into(),
        who,
        body: body.map(str::to_string),
        status,
        error,
    }
}

#[tokio::test]
async fn every_endpoint_answers_rocket_chat_error_bodies() {
    let lc = Lc::start().await;
    let agent = lc.online_agent("erin").await;
    let plain = lc.user("paul", &[]).await;
    lc.visitor("errors-token-01", Some("Vic")).await;
    let rid = lc.room_id("errors-token-01").await;
    let t = "errors-token-01";
    use Who::*;
    let cases = vec![
        // ---- visitor endpoints
        case(
            "POST",
            "/api/v1/livechat/visitor",
            Nobody,
            Some("{"),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor",
            Nobody,
            Some("{}"),
            400,
            "must have required property 'visitor' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor",
            Nobody,
            Some(r#"{"visitor":"x"}"#),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor",
            Nobody,
            Some(r#"{"visitor":{"token":"short"}}"#),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor",
            Nobody,
            Some(r#"{"visitor":{"token":"valid-token-77","email":"nope"}}"#),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor",
            Nobody,
            Some(r#"{"visitor":{"token":"valid-token-77","name":[1]}}"#),
            400,
            "name must be string [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor",
            Nobody,
            Some(r#"{"visitor":{"token":"valid-token-77","wings":2}}"#),
            400,
            "must NOT have additional properties [invalid-params]",
        ),
        case(
            "GET",
            "/api/v1/livechat/visitor/unknown-token-x",
            Nobody,
            None,
            400,
            "invalid-token",
        ),
        case(
            "DELETE",
            "/api/v1/livechat/visitor/unknown-token-x",
            Nobody,
            None,
            400,
            "invalid-token",
        ),
        case(
            "GET",
            "/api/v1/livechat/room",
            Nobody,
            None,
            400,
            "must have required property 'token' [invalid-params]",
        ),
        case(
            "GET",
            "/api/v1/livechat/room?token=unknown-token-x",
            Nobody,
            None,
            400,
            "invalid-token",
        ),
        case(
            "GET",
            format!("/api/v1/livechat/room?token={t}&rid=nosuchroom"),
            Nobody,
            None,
            400,
            "invalid-room",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some("[]"),
            400,
            "must be object [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some(""),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some(&format!(r#"{{"token":"{t}","rid":"{rid}"}}"#)),
            400,
            "must have required property 'msg' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some(&format!(r#"{{"token":"{t}","rid":"{rid}","msg":true}}"#)),
            400,
            "msg must be string [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some(&format!(r#"{{"token":"{t}","rid":"{rid}","msg":"  "}}"#)),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some(&format!(
                r#"{{"token":"{t}","rid":"nosuchroom","msg":"x"}}"#
            )),
            400,
            "invalid-room",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some(&format!(
                r#"{{"token":"unknown-token-x","rid":"{rid}","msg":"x"}}"#
            )),
            400,
            "invalid-token",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some(&format!(
                r#"{{"token":"{t}","rid":"{rid}","msg":"x","extra":1}}"#
            )),
            400,
            "must NOT have additional properties [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/message",
            Nobody,
            Some(&format!(
                r#"{{"token":"{t}","rid":"{rid}","msg":"x","_id":"bad id!"}}"#
            )),
            400,
            "invalid-params",
        ),
        case(
            "GET",
            format!("/api/v1/livechat/messages.history/{rid}"),
            Nobody,
            None,
            400,
            "must have required property 'token' [invalid-params]",
        ),
        case(
            "GET",
            format!("/api/v1/livechat/messages.history/{rid}?token={t}&ls=yesterday"),
            Nobody,
            None,
            400,
            "invalid-params",
        ),
        case(
            "GET",
            format!("/api/v1/livechat/messages.history/{rid}?token={t}&limit=lots"),
            Nobody,
            None,
            400,
            "invalid-params",
        ),
        case(
            "GET",
            format!("/api/v1/livechat/messages.history/nosuchroom?token={t}"),
            Nobody,
            None,
            400,
            "invalid-room",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor.event",
            Nobody,
            Some(&format!(r#"{{"token":"{t}"}}"#)),
            400,
            "must have required property 'event' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor.event",
            Nobody,
            Some(&format!(r#"{{"token":"{t}","event":"visit","data":"x"}}"#)),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/visitor.event",
            Nobody,
            Some(&format!(
                r#"{{"token":"{t}","event":"visit","data":{{"href":"not a url"}}}}"#
            )),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/page.visited",
            Nobody,
            Some(&format!(r#"{{"token":"{t}"}}"#)),
            400,
            "must have required property 'pageInfo' [invalid-params]",
        ),
        case(
            "GET",
            "/api/v1/livechat/agent.next/unknown-token-x",
            Nobody,
            None,
            400,
            "invalid-token",
        ),
        case(
            "GET",
            format!("/api/v1/livechat/agent.info/nosuchroom/{t}"),
            Nobody,
            None,
            400,
            "invalid-room",
        ),
        case(
            "POST",
            "/api/v1/livechat/room.close",
            Nobody,
            Some(&format!(r#"{{"token":"{t}"}}"#)),
            400,
            "must have required property 'rid' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/room.close",
            Nobody,
            Some(&format!(r#"{{"token":"{t}","rid":"nosuchroom"}}"#)),
            400,
            "invalid-room",
        ),
        case(
            "POST",
            "/api/v1/livechat/offline.message",
            Nobody,
            Some("{}"),
            400,
            "must have required property 'name' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/offline.message",
            Nobody,
            Some(r#"{"name":"A","email":"bad","message":"hi"}"#),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/offline.message",
            Nobody,
            Some(r#"{"name":"A","email":"a@example.com","message":""}"#),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/transcript",
            Nobody,
            Some(&format!(
                r#"{{"token":"{t}","rid":"{rid}","email":"v@example.com"}}"#
            )),
            400,
            "error-smtp-not-configured",
        ),
        case(
            "POST",
            "/api/v1/livechat/transcript",
            Nobody,
            Some(&format!(
                r#"{{"token":"{t}","rid":"{rid}","email":"nope"}}"#
            )),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/triggers/nosuchtrigger/external-service/call",
            Nobody,
            Some(&format!(r#"{{"token":"{t}"}}"#)),
            400,
            "error-invalid-trigger",
        ),
        case(
            "POST",
            "/api/v1/livechat/triggers/nosuchtrigger/external-service/call",
            Nobody,
            Some(r#"{}"#),
            400,
            "must have required property 'token' [invalid-params]",
        ),
        // ---- agent endpoints: login, role, validation, unknown ids
        case(
            "GET",
            "/api/v1/livechat/rooms",
            Nobody,
            None,
            401,
            "You must be logged in to do this.",
        ),
        case(
            "GET",
            "/api/v1/livechat/rooms",
            BadSession,
            None,
            401,
            "You must be logged in to do this.",
        ),
        case(
            "GET",
            "/api/v1/livechat/rooms",
            Plain,
            None,
            403,
            "error-unauthorized",
        ),
        case(
            "GET",
            "/api/v1/livechat/rooms?open=maybe",
            Agent,
            None,
            400,
            "invalid-params",
        ),
        case(
            "GET",
            "/api/v1/livechat/rooms?count=many",
            Agent,
            None,
            400,
            "invalid-params",
        ),
        case(
            "GET",
            "/api/v1/livechat/rooms?createdAt=notjson",
            Agent,
            None,
            400,
            "invalid-params",
        ),
        case(
            "GET",
            "/api/v1/livechat/room.info",
            Agent,
            None,
            400,
            "invalid-params",
        ),
        case(
            "GET",
            "/api/v1/livechat/room.info?rid=nosuchroom",
            Agent,
            None,
            400,
            "error-invalid-room",
        ),
        case(
            "GET",
            "/api/v1/livechat/inquiries.list",
            Plain,
            None,
            403,
            "error-unauthorized",
        ),
        case(
            "GET",
            "/api/v1/livechat/inquiries.list",
            Nobody,
            None,
            401,
            "You must be logged in to do this.",
        ),
        case(
            "GET",
            "/api/v1/livechat/inquiries.list?status=lost",
            Agent,
            None,
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/inquiries.take",
            Agent,
            Some("{"),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/inquiries.take",
            Agent,
            Some("{}"),
            400,
            "must have required property 'inquiryId' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/inquiries.take",
            Agent,
            Some(r#"{"inquiryId":"nope"}"#),
            400,
            "error-invalid-inquiry",
        ),
        case(
            "GET",
            "/api/v1/livechat/inquiries.getOne",
            Agent,
            None,
            400,
            "must have required property 'roomId' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/chat.sendMessage",
            Nobody,
            Some("{}"),
            401,
            "You must be logged in to do this.",
        ),
        case(
            "POST",
            "/api/v1/chat.sendMessage",
            Agent,
            Some(r#"{"message":"hi"}"#),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/chat.sendMessage",
            Agent,
            Some(r#"{"message":{"rid":"nosuchroom","msg":"x"}}"#),
            400,
            "error-invalid-room",
        ),
        case(
            "POST",
            "/api/v1/livechat/agent.message",
            Plain,
            Some(&format!(r#"{{"rid":"{rid}","msg":"x"}}"#)),
            403,
            "error-unauthorized",
        ),
        case(
            "POST",
            "/api/v1/livechat/room.closeByUser",
            Agent,
            Some(r#"{"rid":"nosuchroom"}"#),
            400,
            "error-invalid-room",
        ),
        case(
            "POST",
            "/api/v1/livechat/room.closeByUser",
            Agent,
            Some(r#"{"comment":"x"}"#),
            400,
            "must have required property 'rid' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/room.forward",
            Agent,
            Some(&format!(r#"{{"roomId":"{rid}"}}"#)),
            400,
            "must have required property 'userId' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/agent.status",
            Plain,
            Some(r#"{"status":"online"}"#),
            403,
            "error-unauthorized",
        ),
        case(
            "POST",
            "/api/v1/livechat/agent.status",
            Agent,
            Some(r#"{"status":7}"#),
            400,
            "invalid-params",
        ),
        case(
            "GET",
            "/api/v1/livechat/visitors.info?visitorId=nope",
            Agent,
            None,
            400,
            "error-invalid-visitor",
        ),
        case(
            "GET",
            "/api/v1/livechat/visitors.pagesVisited/nosuchroom",
            Agent,
            None,
            400,
            "error-invalid-room",
        ),
        case(
            "GET",
            "/api/v1/livechat/offline.messages?handled=perhaps",
            Agent,
            None,
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/offline.messages/nope/handled",
            Agent,
            None,
            400,
            "error-invalid-message",
        ),
        case(
            "GET",
            "/api/v1/livechat/users/agent",
            Agent,
            None,
            403,
            "error-unauthorized",
        ),
        case(
            "GET",
            "/api/v1/livechat/users/agent",
            Nobody,
            None,
            401,
            "You must be logged in to do this.",
        ),
        case(
            "GET",
            "/api/v1/livechat/users/robot",
            Admin,
            None,
            400,
            "error-invalid-type",
        ),
        case(
            "POST",
            "/api/v1/livechat/users/agent",
            Admin,
            Some("{}"),
            400,
            "must have required property 'username' [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/users/agent",
            Admin,
            Some(r#"{"username":"ghost@example.com"}"#),
            400,
            "error-invalid-user",
        ),
        case(
            "DELETE",
            "/api/v1/livechat/users/agent/99999",
            Admin,
            None,
            400,
            "error-invalid-user",
        ),
        case(
            "GET",
            "/api/v1/livechat/appearance",
            Agent,
            None,
            403,
            "error-unauthorized",
        ),
        case(
            "POST",
            "/api/v1/livechat/appearance",
            Admin,
            Some(r#"{"_id":"Livechat_title","value":"x"}"#),
            400,
            "must be array [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/appearance",
            Admin,
            Some(r#"[{"_id":"Nope","value":1}]"#),
            400,
            "must be equal to one of the allowed values [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/appearance",
            Admin,
            Some(r#"[{"_id":"Livechat_display_offline_form","value":"maybe"}]"#),
            400,
            "must be boolean [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/livechat/appearance",
            Admin,
            Some(r#"[{"_id":"Livechat_title"}]"#),
            400,
            "must have required property 'value' [invalid-params]",
        ),
        case(
            "GET",
            "/api/v1/settings/Not_A_Setting",
            Admin,
            None,
            400,
            "error-setting-not-found",
        ),
        case(
            "POST",
            "/api/v1/settings/Livechat_message_character_limit",
            Admin,
            Some(r#"{"value":"abc"}"#),
            400,
            "must be integer [invalid-params]",
        ),
        case(
            "POST",
            "/api/v1/settings/Livechat_Routing_Method",
            Agent,
            Some(r#"{"value":"Manual_Selection"}"#),
            403,
            "error-unauthorized",
        ),
        case(
            "POST",
            "/api/v1/settings/Livechat_Routing_Method",
            Admin,
            Some("{}"),
            400,
            "must have required property 'value' [invalid-params]",
        ),
        case(
            "GET",
            "/api/v1/livechat/triggers",
            Plain,
            None,
            403,
            "error-unauthorized",
        ),
        case(
            "DELETE",
            "/api/v1/livechat/triggers/nosuchtrigger",
            Admin,
            None,
            400,
            "error-invalid-trigger",
        ),
        case(
            "POST",
            "/api/v1/livechat/triggers",
            Admin,
            Some("{not json"),
            400,
            "invalid-params",
        ),
        case(
            "POST",
            "/api/v1/livechat/triggers/external-service/test",
            Admin,
            Some(r#"{"webhookUrl":"ftp://x","timeout":10,"fallbackMessage":"f"}"#),
            400,
            "invalid-params",
        ),
        case(
            "GET",
            "/api/v1/livechat/no-such-endpoint",
            Nobody,
            None,
            404,
            "Not found",
        ),
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let token = match c.who {
            Nobody => None,
            BadSession => Some("rts_not-a-real-session"),
            Plain => Some(plain.token.as_str()),
            Agent => Some(agent.token.as_str()),
            Admin => Some(lc.admin.as_str()),
        };
        let r = match &c.body {
            Some(b) => lc.raw(c.method, &c.path, token, b).await,
            None => lc.call(c.method, &c.path, token, None).await,
        };
        let error = r.json["error"].as_str().unwrap_or_default();
        let matches = r.status == c.status
            && r.json["success"] == false
            && (error == c.error
                || error.ends_with(&format!("[{}]", c.error))
                || r.json["errorType"] == c.error);
        if !matches {
            failures.push(format!(
                "{} {} as {:?}: expected {} {:?}, got {} {}",
                c.method, c.path, c.who, c.status, c.error, r.status, r.text
            ));
        }
        if c.status == 401 {
            assert_eq!(
                r.json,
                json!({"success": false, "status": "error", "message": "You must be logged in to do this.", "error": "You must be logged in to do this."}),
                "{} {}",
                c.method,
                c.path
            );
        }
        if r.json["errorType"] == "invalid-params" {
            assert!(error.ends_with(" [invalid-params]"), "{}", r.text);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Nothing was stored by the refused requests.
    let history = lc.history(t, &rid).await;
    assert!(
        history.iter().all(|m| m["t"].is_string()),
        "only system messages: {history:?}"
    );
}

#[tokio::test]
async fn agents_are_rate_limited_with_rocket_chat_bodies() {
    let lc = Lc::start().await;
    let agent = lc.online_agent("rita").await;
    lc.setting("Livechat_rate_limit_user_per_minute", json!(2))
        .await;
    lc.get("/api/v1/livechat/inquiries.list", Some(&agent.token))
        .await
        .expect(200);
    lc.get("/api/v1/livechat/inquiries.list", Some(&agent.token))
        .await
        .expect(200);
    let r = lc
        .get("/api/v1/livechat/inquiries.list", Some(&agent.token))
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.json["error"]
        .as_str()
        .unwrap()
        .ends_with("[error-too-many-requests]"));
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("2"));
    // The check comes after login and before validation (Rocket.Chat's order).
    let r = lc
        .raw(
            "POST",
            "/api/v1/livechat/triggers",
            Some(&agent.token),
            "{bad",
        )
        .await;
    assert_eq!(r.status, 429);
    let r = lc
        .raw("POST", "/api/v1/livechat/triggers", None, "{bad")
        .await;
    assert_eq!(r.status, 401);
}
