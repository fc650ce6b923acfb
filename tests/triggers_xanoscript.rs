//! XanoScript trigger definitions against the real binary: the seed's metadata-API call,
//! the native API with `text/x-xanoscript`, XanoScript/Rhai pairs giving the same
//! outcome, positioned errors, and the limits shared with Rhai.

mod common;
mod triggers_support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use triggers_support::{Resp, Server};

const SEED: &str = include_str!("data/xano_seed_trigger.xs");
const META: &str = "/api:meta/workspace/1/realtime/channel/trigger";

/// A request whose body is XanoScript (`auth`: bearer credential, `None`: anonymous).
async fn xs(s: &Server, method: &str, path: &str, auth: Option<&str>, body: &str) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s
        .http
        .request(method, format!("{}{path}", s.base))
        .header("content-type", "text/x-xanoscript")
        .body(body.to_string());
    if let Some(a) = auth {
        req = req.bearer_auth(a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn xs_admin(s: &Server, method: &str, path: &str, body: &str) -> Resp {
    let token = s.token.clone();
    xs(s, method, path, Some(&token), body).await
}

fn definition(name: &str, channel: &str, actions: &str, stack: &str, response: &str) -> String {
    format!(
        "realtime_trigger {name} {{\n  channel = \"{channel}\"\n  stack {{\n{stack}\n  }}\n  response = {response}\n  actions = {actions}\n}}\n"
    )
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_request_creates_a_trigger_with_the_seed_shape() {
    let s = Server::start(&[]).await;
    let r = xs_admin(
        &s,
        "POST",
        &format!("{META}?include_xanoscript=true&branch=v1"),
        SEED,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        keys(&r.body),
        [
            "actions",
            "branch",
            "created_at",
            "description",
            "guid",
            "id",
            "name",
            "tag",
            "updated_at",
            "xanoscript"
        ]
    );
    assert_eq!(r.body["name"], "foo");
    assert_eq!(r.body["branch"], "v1");
    assert_eq!(r.body["tag"], json!([]));
    assert_eq!(r.body["actions"], json!({"message": true, "join": true}));
    assert_eq!(
        r.body["xanoscript"],
        json!({"status": "ok", "value": SEED, "message": ""})
    );
    let stamp = r.body["created_at"].as_str().unwrap();
    assert!(
        regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0000$")
            .unwrap()
            .is_match(stamp),
        "{stamp}"
    );
    assert!(r.body["guid"].as_str().is_some_and(|g| !g.is_empty()));
    let id = r.body["id"].as_i64().unwrap();

    // The same trigger on the native API: language, channel and the source unchanged.
    let native = s
        .admin("GET", &format!("/api/v1/triggers/{id}"), None)
        .await;
    assert_eq!(native.body["language"], "xanoscript");
    assert_eq!(native.body["channel"], "my_channel");
    assert_eq!(native.body["script"], SEED);

    // It runs: the seed's stack only sets a variable, so messages pass unchanged.
    let ch = s
        .admin(
            "POST",
            "/api/v1/channels",
            Some(json!({"name": "my_channel"})),
        )
        .await;
    assert_eq!(ch.status, 201, "{:?}", ch.body);
    let p = s
        .admin(
            "POST",
            "/api/v1/channels/my_channel/publish",
            Some(json!({"payload": {"a": 1}})),
        )
        .await;
    assert_eq!(p.status, 201, "{:?}", p.body);
    assert_eq!(p.body["payload"], json!({"a": 1}));
    let mut runs = Value::Null;
    for _ in 0..100 {
        runs = s
            .admin("GET", &format!("/api/v1/triggers/{id}/runs"), None)
            .await
            .body;
        if !runs["objects"][0].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(runs["objects"][0]["outcome"], "ok", "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_api_list_get_put_delete() {
    let s = Server::start(&[]).await;
    let a = xs_admin(&s, "POST", META, SEED).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(
        a.body.get("xanoscript").is_none(),
        "only with include_xanoscript"
    );
    let other = SEED
        .replace("realtime_trigger foo", "realtime_trigger bar")
        .replace("my_channel", "other");
    let b = xs_admin(&s, "POST", &format!("{META}?branch=dev"), &other).await;
    assert_eq!(b.body["branch"], "dev");
    let id = a.body["id"].as_i64().unwrap();

    let list = s
        .admin("GET", &format!("{META}?include_xanoscript=true"), None)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["itemsTotal"], 2);
    assert_eq!(list.body["curPage"], 1);
    assert_eq!(list.body["items"][0]["xanoscript"]["value"], SEED);
    let dev = s.admin("GET", &format!("{META}?branch=dev"), None).await;
    assert_eq!(dev.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(dev.body["items"][0]["name"], "bar");
    let paged = s
        .admin("GET", &format!("{META}?per_page=1&page=2"), None)
        .await;
    assert_eq!(paged.body["items"][0]["name"], "bar");
    assert_eq!(paged.body["prevPage"], 1);
    assert_eq!(paged.body["nextPage"], Value::Null);

    let one = s
        .admin("GET", &format!("{META}/{id}?include_xanoscript=true"), None)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["xanoscript"]["value"], SEED);

    // Xano's documented update body: the same definition, now on joins only.
    let update = SEED.replace("{connection: true}", "{join: true}");
    let put = xs_admin(
        &s,
        "PUT",
        &format!("{META}/{id}?include_xanoscript=true"),
        &update,
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(put.body["actions"], json!({"message": false, "join": true}));
    assert_eq!(put.body["xanoscript"]["value"], update);

    let del = s.admin("DELETE", &format!("{META}/{id}"), None).await;
    assert_eq!(del.status, 200);
    let gone = s.admin("GET", &format!("{META}/{id}"), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["code"], "ERROR_CODE_NOT_FOUND");
    let gone = s.admin("DELETE", &format!("{META}/{id}"), None).await;
    assert_eq!(gone.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_api_refuses_bad_input_and_callers() {
    let s = Server::start(&[]).await;
    let anon = xs(&s, "POST", META, None, SEED).await;
    assert_eq!(anon.status, 401);
    assert_eq!(anon.body["code"], "ERROR_CODE_UNAUTHORIZED");
    let publisher = s.key("publish").await;
    let denied = xs(&s, "POST", META, Some(&publisher), SEED).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["code"], "ERROR_CODE_ACCESS_DENIED");
    let anon_list = s.call("GET", META, None, None).await;
    assert_eq!(anon_list.status, 401);

    let broken = SEED.replace("value = 123", "value = 123 +");
    let r = xs_admin(&s, "POST", META, &broken).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "ERROR_CODE_INPUT_ERROR");
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.contains("line 30, column 5: expected a value"), "{msg}");

    let json_body = s.admin("POST", META, Some(json!({"name": "x"}))).await;
    assert_eq!(json_body.status, 400);
    assert!(json_body.body["message"]
        .as_str()
        .unwrap()
        .contains("text/x-xanoscript"));

    let huge = format!("{SEED}//{}", "x".repeat(70 * 1024));
    let r = xs_admin(&s, "POST", META, &huge).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("larger than 64 KiB"),
        "{:?}",
        r.body
    );
    let r = xs_admin(&s, "POST", META, &"x".repeat(4 << 20)).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["code"], "ERROR_CODE_BAD_REQUEST", "{:?}", r.body);

    let r = xs_admin(&s, "PUT", &format!("{META}/999"), SEED).await;
    assert_eq!(r.status, 404);
    let r = s
        .admin(
            "GET",
            "/api:meta/workspace/abc/realtime/channel/trigger",
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .admin("GET", &format!("{META}?include_xanoscript=maybe"), None)
        .await;
    assert_eq!(r.status, 400);
    let none = s.admin("GET", META, None).await;
    assert_eq!(none.body["itemsTotal"], 0, "nothing bad was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_api_takes_xanoscript_and_returns_the_source_unchanged() {
    let s = Server::start(&[]).await;
    let src = definition(
        "shout",
        "Shout",
        "{message: true}",
        "    var $t { value = $input.payload.text|to_upper }",
        "{text: $t}",
    );
    let r = xs_admin(&s, "POST", "/api/v1/triggers", &src).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["language"], "xanoscript");
    assert_eq!(r.body["name"], "shout");
    assert_eq!(r.body["channel"], "shout");
    assert_eq!(r.body["script"], src);
    let id = r.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/triggers/{id}");

    s.admin("POST", "/api/v1/channels", Some(json!({"name": "shout"})))
        .await;
    let p = s
        .admin(
            "POST",
            "/api/v1/channels/shout/publish",
            Some(json!({"payload": {"text": "hi"}})),
        )
        .await;
    assert_eq!(p.body["payload"], json!({"text": "HI"}));

    // PATCH with a new source changes behaviour; GET gives that source back verbatim.
    let src2 = src.replace("to_upper", "to_lower");
    let r = xs_admin(&s, "PATCH", &path, &src2).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(s.admin("GET", &path, None).await.body["script"], src2);
    let p = s
        .admin(
            "POST",
            "/api/v1/channels/shout/publish",
            Some(json!({"payload": {"text": "HI"}})),
        )
        .await;
    assert_eq!(p.body["payload"], json!({"text": "hi"}));

    // JSON PATCH: `active` and `script` are fine, fields the source sets are refused.
    let r = s
        .admin("PATCH", &path, Some(json!({"name": "renamed"})))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["name"]
        .as_str()
        .unwrap()
        .contains("XanoScript source"));
    let r = s
        .admin("PATCH", &path, Some(json!({"active": false})))
        .await;
    assert_eq!(r.body["active"], false);
    let r = s
        .admin("PATCH", &path, Some(json!({"script": src, "active": true})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["script"], src);
    // And the language can change with a new script.
    let r = s
        .admin(
            "PATCH",
            &path,
            Some(json!({"language": "rhai", "script": "payload"})),
        )
        .await;
    assert_eq!(r.body["language"], "rhai");
    let r = s
        .admin("PATCH", &path, Some(json!({"language": "xanoscript"})))
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .admin(
            "POST",
            "/api/v1/triggers",
            Some(json!({"language": "xanoscript", "script": src2, "active": false})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        (r.body["name"].as_str(), r.body["active"].as_bool()),
        (Some("shout"), Some(false))
    );
    let r = s
        .admin(
            "POST",
            "/api/v1/triggers",
            Some(json!({"language": "cobol", "script": "x"})),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_api_errors_name_line_column_and_construct() {
    let s = Server::start(&[]).await;
    let cases = [
        (
            definition(
                "t",
                "c",
                "{message: true}",
                "    var $a { value = 1 }\n    util.sleep { value = 1 }",
                "$a",
            ),
            "line 5, column 5: statement `util.sleep` is not supported",
        ),
        (
            definition(
                "t",
                "c",
                "{message: true}",
                "    var $a { value = \"x\"|md5 }",
                "$a",
            ),
            "line 4, column 26: filter `md5` is not supported",
        ),
        (
            definition(
                "t",
                "c",
                "{message: true}",
                "    var $a { value = [1, 2 }",
                "$a",
            ),
            "line 4, column 28: expected `,` or `]`, found `}`",
        ),
        (
            "realtime_trigger t {\n  channel = \"c\"\n  actions = {message: true, shout: true}\n}"
                .to_string(),
            "line 3, column 29: unknown action `shout`",
        ),
        (
            "realtime_trigger t {\n  actions = {message: true}\n}".to_string(),
            "needs `channel = \\\"…\\\"`",
        ),
        (
            definition("t", "bad channel!", "{message: true}", "", "1"),
            "is not a channel name",
        ),
    ];
    for (src, want) in cases {
        let r = xs_admin(&s, "POST", "/api/v1/triggers", &src).await;
        assert_eq!(r.status, 400, "{src}");
        let msg = r.body["script"].as_str().unwrap_or_default().to_string();
        assert!(
            msg.contains(want.trim_matches('"')) || msg.contains(&want.replace("\\\"", "\"")),
            "{msg}\nwant: {want}"
        );
    }
    let r = s
        .http
        .post(format!("{}/api/v1/triggers", s.base))
        .bearer_auth(&s.token)
        .header("content-type", "text/x-xanoscript")
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let anon = xs(&s, "POST", "/api/v1/triggers", None, SEED).await;
    assert_eq!(anon.status, 401);
    let list = s.admin("GET", "/api/v1/triggers", None).await;
    assert_eq!(
        list.body["objects"],
        json!([]),
        "nothing invalid was stored"
    );
}

/// One behaviour written both ways.
struct Pair {
    what: &'static str,
    actions: &'static str,
    stack: &'static str,
    response: &'static str,
    rhai: &'static str,
    input: Value,
}

fn pairs() -> Vec<Pair> {
    vec![
        Pair {
            what: "rewrite",
            actions: "{message: true}",
            stack: "    var $words { value = $input.payload.text|trim|split:\" \" }\n    var $n { value = $words|count }",
            response: "{text: $input.payload.text|trim|to_upper, words: $n, from: $input.client.socketId}",
            rhai: "let t = payload.text; t.trim(); #{ text: t.to_upper(), words: t.split(\" \").len(), from: client.socketId }",
            input: json!({"action": "message", "payload": {"text": "  hello big world "}, "client": {"socketId": "s9"}}),
        },
        Pair {
            what: "precondition reject",
            actions: "{message: true}",
            stack: "    precondition (`($input.payload.text|strlen) <= 5`) {\n      error = \"Too long\"\n    }",
            response: "$input.payload",
            rhai: "if payload.text.len() > 5 { reject(\"Too long\") } payload",
            input: json!({"action": "message", "payload": {"text": "toolongtext"}}),
        },
        Pair {
            what: "precondition pass",
            actions: "{message: true}",
            stack: "    precondition (`($input.payload.text|strlen) <= 5`) {\n      error = \"Too long\"\n    }",
            response: "$input.payload",
            rhai: "if payload.text.len() > 5 { reject(\"Too long\") } payload",
            input: json!({"action": "message", "payload": {"text": "ok"}}),
        },
        Pair {
            what: "join refusal",
            actions: "{join: true}",
            stack: "    var $ok { value = $input.client.permissions.dbo_id == 7 }",
            response: "$ok",
            rhai: "client.permissions.dbo_id == 7",
            input: json!({"action": "join", "client": {"permissions": {"dbo_id": 8}}}),
        },
        Pair {
            what: "join allowed",
            actions: "{join: true}",
            stack: "    var $ok { value = $input.client.permissions.dbo_id == 7 }",
            response: "$ok",
            rhai: "client.permissions.dbo_id == 7",
            input: json!({"action": "join", "client": {"permissions": {"dbo_id": 7}}}),
        },
        Pair {
            what: "api.realtime_event effect",
            actions: "{message: true}",
            stack: "    api.realtime_event {\n      channel = \"audit\"\n      data = {saw: $input.payload, on: $input.channel}\n    }",
            response: "$input.payload",
            rhai: "event(\"audit\", #{ saw: payload, on: channel }); payload",
            input: json!({"action": "message", "channel": "room", "payload": [1, 2]}),
        },
        Pair {
            what: "db.* state",
            actions: "{message: true}",
            stack: "    db.get seen { field_value = $input.channel } as $row\n    var $n { value = ($row|get:\"n\":0) + 1 }\n    db.set seen { field_value = $input.channel data = {n: $n} }\n    db.del seen { field_value = \"old\" }",
            response: "{n: $n}",
            rhai: "let row = kv_get(\"seen/\" + channel); let n = (if row == () { 0 } else { row.n }) + 1; kv_set(\"seen/\" + channel, #{ n: n }); kv_set(\"seen/old\", ()); #{ n: n }",
            input: json!({"action": "message", "channel": "room", "payload": {}}),
        },
    ]
}

fn comparable(report: &Value) -> Value {
    let mut r = report.clone();
    let obj = r.as_object_mut().unwrap();
    obj.remove("duration_ms");
    if let Some(Value::Array(effects)) = obj.get_mut("effects") {
        for e in effects {
            e.as_object_mut().unwrap().remove("trigger_id");
        }
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xanoscript_and_rhai_pairs_give_the_same_outcome() {
    let s = Server::start(&[]).await;
    for (i, p) in pairs().into_iter().enumerate() {
        let channel = format!("pair{i}");
        let src = definition("x", &channel, p.actions, p.stack, p.response);
        let x = xs_admin(&s, "POST", "/api/v1/triggers", &src).await;
        assert_eq!(x.status, 201, "{}: {:?}", p.what, x.body);
        let actions = if p.actions.contains("join") {
            json!({"message": false, "join": true})
        } else {
            json!({"message": true})
        };
        let r = s
            .trigger(json!({"name": "r", "channel": channel, "actions": actions, "script": p.rhai}))
            .await;
        let run = |id: &Value| {
            let path = format!("/api/v1/triggers/{id}/test");
            let input = p.input.clone();
            let s = &s;
            async move { s.admin("POST", &path, Some(input)).await }
        };
        let (xr, rr) = (run(&x.body["id"]).await, run(&r["id"]).await);
        assert_eq!(xr.status, 200, "{}: {:?}", p.what, xr.body);
        assert_ne!(xr.body["outcome"], "error", "{}: {:?}", p.what, xr.body);
        assert_eq!(comparable(&xr.body), comparable(&rr.body), "{}", p.what);
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("timed out waiting for a frame")
            .expect("socket closed")
            .expect("ws error");
        if let WsMessage::Text(text) = next {
            let v: Value = serde_json::from_str(&text).unwrap();
            if want(&v) {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_xanoscript_join_trigger_refuses_a_websocket_join() {
    let s = Server::start(&[]).await;
    s.admin("POST", "/api/v1/channels", Some(json!({"name": "vip"})))
        .await;
    let src = definition(
        "door",
        "vip",
        "{join: true}",
        "    debug.log { value = $input.action }",
        "false",
    );
    assert_eq!(
        xs_admin(&s, "POST", "/api/v1/triggers", &src).await.status,
        201
    );
    let key = s.key("admin").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(s.ws_url(&format!("api_key={key}")))
        .await
        .unwrap();
    ws.send(WsMessage::Text(
        json!({"action": "join", "options": {"channel": "vip"}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let f = next_frame(&mut ws, |f| f["action"] == "error" || f["action"] == "join").await;
    assert_eq!(f["action"], "error", "{f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_while_is_a_trigger_error_while_other_channels_keep_publishing() {
    let s = Server::start(&[]).await;
    for name in ["spin", "calm"] {
        s.admin("POST", "/api/v1/channels", Some(json!({"name": name})))
            .await;
    }
    let src = definition("spin", "spin", "{message: true}", "    var $i { value = 0 }\n    while (`true`) {\n      each {\n        var.update $i { value = $i + 1 }\n      }\n    }", "$i");
    let t = xs_admin(&s, "POST", "/api/v1/triggers", &src).await;
    assert_eq!(t.status, 201, "{:?}", t.body);
    let spin = {
        let http = s.http.clone();
        let (url, token) = (
            format!("{}/api/v1/channels/spin/publish", s.base),
            s.token.clone(),
        );
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"payload": 1}))
                .send()
                .await
                .unwrap()
        })
    };
    // While the runaway script spins, another channel answers promptly.
    for n in 0..5 {
        let started = std::time::Instant::now();
        let r = s
            .admin(
                "POST",
                "/api/v1/channels/calm/publish",
                Some(json!({"payload": n})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let resp = spin.await.unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "trigger_error");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("limit exceeded"), "{detail}");
    let id = t.body["id"].as_i64().unwrap();
    // The run log is written in the background.
    let mut outcome = Value::Null;
    for _ in 0..100 {
        let runs = s
            .admin("GET", &format!("/api/v1/triggers/{id}/runs"), None)
            .await;
        outcome = runs.body["objects"][0]["outcome"].clone();
        if !outcome.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outcome, "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_request_to_loopback_is_denied_by_default() {
    let s = Server::start(&[]).await;
    let target = format!("{}/api/v1/ops/health", s.base);
    let src = definition(
        "call",
        "calls",
        "{message: true}",
        &format!(
            "    api.request {{\n      url = \"{target}\"\n      method = \"GET\"\n    }} as $r"
        ),
        "$r.response.status",
    );
    let t = xs_admin(&s, "POST", "/api/v1/triggers", &src).await;
    assert_eq!(t.status, 201, "{:?}", t.body);
    let id = t.body["id"].as_i64().unwrap();
    let r = s
        .admin(
            "POST",
            &format!("/api/v1/triggers/{id}/test"),
            Some(json!({"payload": 1, "allow_http": true})),
        )
        .await;
    assert_eq!(r.body["outcome"], "error");
    let err = r.body["error"].as_str().unwrap();
    assert!(err.contains("outbound request denied"), "{err}");
    assert!(err.contains("(line 4)"), "{err}");
    s.admin("POST", "/api/v1/channels", Some(json!({"name": "calls"})))
        .await;
    let p = s
        .admin(
            "POST",
            "/api/v1/channels/calls/publish",
            Some(json!({"payload": 1})),
        )
        .await;
    assert_eq!(p.status, 422);
    assert_eq!(p.body["code"], "trigger_error");
}
