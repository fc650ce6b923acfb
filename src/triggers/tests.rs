//! Behaviour of the trigger engine through the service the channels pipeline uses:
//! chaining, reject paths, every limit, host functions (with a local HTTP server), the
//! run log and isolation of runaway scripts.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::config::ServeOptions;
use crate::store::triggers::{self as st, Actions, TriggerFields};

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    svc: Arc<TriggerService>,
}

fn fixture(tune: impl FnOnce(&mut ServeOptions)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ServeOptions::default();
    tune(&mut opts);
    let settings = opts.resolve(dir.path().to_path_buf()).unwrap();
    let db = Db::open(&settings.db_path, settings.sync).unwrap();
    let svc = Arc::new(TriggerService::new(db.clone(), &settings));
    Fixture { _dir: dir, db, svc }
}

const MSG: Actions = Actions {
    message: true,
    join: false,
    leave: false,
};
const JOIN: Actions = Actions {
    message: false,
    join: true,
    leave: false,
};
const LEAVE: Actions = Actions {
    message: false,
    join: false,
    leave: true,
};

impl Fixture {
    async fn add(&self, channel: &str, actions: Actions, script: &str) -> i64 {
        let f = TriggerFields {
            name: format!("t-{channel}"),
            description: String::new(),
            channel: channel.into(),
            active: true,
            tag: vec![],
            actions,
            script: script.into(),
        };
        let guid = uuid::Uuid::new_v4().to_string();
        let rec = self
            .db
            .write(move |c| st::insert(c, &guid, &f))
            .await
            .unwrap();
        self.svc.reload().await.unwrap();
        rec.id
    }

    async fn runs(&self, id: i64, want: usize) -> Vec<st::RunRecord> {
        // The log is written in the background; give it a moment.
        for _ in 0..100 {
            let runs = self
                .db
                .read(move |c| st::list_runs(c, id, 100))
                .await
                .unwrap();
            if runs.len() >= want {
                return runs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("run log of trigger {id} never reached {want} entries");
    }
}

fn input(action: TriggerAction, channel: &str, payload: Value) -> TriggerInput {
    TriggerInput {
        action,
        channel: channel.into(),
        room: None,
        payload,
        client: ClientContext {
            socket_id: "s1".into(),
            extras: json!({"name": "ann"}),
            permissions: json!({"dbo_id": 7, "row_id": "u1"}),
            authenticated: true,
        },
    }
}

fn msg(channel: &str, payload: Value) -> TriggerInput {
    input(TriggerAction::Message, channel, payload)
}

fn failed(outcome: TriggerOutcome) -> String {
    match outcome {
        TriggerOutcome::Failed { error } => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn passed(outcome: TriggerOutcome) -> (Value, Vec<Effect>) {
    match outcome {
        TriggerOutcome::Pass { payload, effects } => (payload, effects),
        other => panic!("expected pass, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_without_triggers_pay_nothing_and_pass_through() {
    let fx = fixture(|_| {});
    assert!(!fx.svc.has_active("chat", TriggerAction::Message));
    let (payload, effects) = passed(fx.svc.run(msg("chat", json!({"a": 1}))).await);
    assert_eq!(payload, json!({"a": 1}));
    assert!(effects.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_runs_in_id_order_each_getting_the_previous_output() {
    let fx = fixture(|_| {});
    fx.add("chat/*", MSG, "payload.n += 1; payload").await;
    fx.add("*", MSG, "#{ wrapped: payload, by: client.socketId }")
        .await;
    fx.add("chat/42", MSG, "let unused = 1;").await; // no value: unchanged
    fx.add("chat/42", JOIN, "reject(\"not for messages\")")
        .await;
    assert!(fx.svc.has_active("chat/42", TriggerAction::Message));
    assert!(!fx.svc.has_active("other", TriggerAction::Join));
    let (payload, _) = passed(fx.svc.run(msg("chat/42", json!({"n": 1}))).await);
    assert_eq!(payload, json!({"wrapped": {"n": 2}, "by": "s1"}));
    // Only the `*` trigger covers another channel.
    let (payload, _) = passed(fx.svc.run(msg("news", json!(5))).await);
    assert_eq!(payload, json!({"wrapped": 5, "by": "s1"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_sees_the_frame_fields() {
    let fx = fixture(|_| {});
    fx.add(
        "room-chan",
        MSG,
        r#"#{ action: action, command: command, channel: channel, room: room,
              options: options, client: client }"#,
    )
    .await;
    let mut i = msg("room-chan", json!(null));
    i.room = Some("r1".into());
    let (payload, _) = passed(fx.svc.run(i).await);
    assert_eq!(
        payload,
        json!({
            "action": "message", "command": "message", "channel": "room-chan", "room": "r1",
            "options": {"authenticated": true, "channel": "room-chan"},
            "client": {"socketId": "s1", "extras": {"name": "ann"},
                       "permissions": {"dbo_id": 7, "row_id": "u1"}, "authenticated": true}
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_stops_the_chain_and_cannot_be_caught() {
    let fx = fixture(|_| {});
    let first = fx
        .add(
            "chat",
            MSG,
            r#"publish("audit", payload); try { reject("no shouting") } catch { }; payload"#,
        )
        .await;
    let second = fx.add("chat", MSG, "log(\"never\"); 1").await;
    match fx.svc.run(msg("chat", json!("HEY"))).await {
        TriggerOutcome::Rejected { reason, effects } => {
            assert_eq!(reason, "no shouting");
            assert_eq!(effects.len(), 1, "effects before the rejection are kept");
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    let runs = fx.runs(first, 1).await;
    assert_eq!(runs[0].outcome, "rejected");
    assert_eq!(runs[0].error.as_deref(), Some("no shouting"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let later = fx
        .db
        .read(move |c| st::list_runs(c, second, 10))
        .await
        .unwrap();
    assert!(later.is_empty(), "the chain stops at a rejection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_false_refuses_and_leave_cannot_refuse() {
    let fx = fixture(|_| {});
    fx.add("lobby", JOIN, "client.authenticated").await;
    let mut anon = input(TriggerAction::Join, "lobby", Value::Null);
    anon.client.authenticated = false;
    match fx.svc.run(anon).await {
        TriggerOutcome::Rejected { reason, .. } => assert_eq!(reason, "Join refused by trigger."),
        other => panic!("expected a refused join, got {other:?}"),
    }
    let (payload, _) = passed(
        fx.svc
            .run(input(
                TriggerAction::Join,
                "lobby",
                json!({"history": true}),
            ))
            .await,
    );
    assert_eq!(
        payload,
        json!({"history": true}),
        "true keeps the join as it was"
    );

    fx.add("lobby", LEAVE, "reject(\"stay\")").await;
    fx.add(
        "lobby",
        LEAVE,
        "kv_set(\"left:\" + client.socketId, now()); publish(\"roster\", #{gone: client.socketId})",
    )
    .await;
    let (_, effects) = passed(
        fx.svc
            .run(input(TriggerAction::Leave, "lobby", Value::Null))
            .await,
    );
    assert_eq!(effects.len(), 1, "later leave triggers still run");
    let stored = fx.db.read(|c| st::kv_get(c, "left:s1")).await.unwrap();
    assert!(stored.is_some_and(|v| v.is_i64()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_event_log_and_now() {
    let fx = fixture(|_| {});
    let id = fx
        .add(
            "chat",
            MSG,
            r#"
            publish("Feed", payload);
            publish("rooms", "R1", #{ x: 1 });
            event("alerts", #{ level: "info" });
            log("hello"); log(#{ a: 1 }); log(1.5); print("printed");
            let t = now();
            if t < 1600000000000 { throw "clock" }
            ()
            "#,
        )
        .await;
    let (payload, effects) = passed(fx.svc.run(msg("chat", json!({"m": 1}))).await);
    assert_eq!(payload, json!({"m": 1}));
    assert_eq!(
        effects,
        vec![
            Effect::Publish {
                trigger_id: id,
                channel: "feed".into(),
                room: None,
                payload: json!({"m": 1})
            },
            Effect::Publish {
                trigger_id: id,
                channel: "rooms".into(),
                room: Some("r1".into()),
                payload: json!({"x": 1})
            },
            Effect::Event {
                trigger_id: id,
                channel: "alerts".into(),
                data: json!({"level": "info"})
            },
        ]
    );
    let runs = fx.runs(id, 1).await;
    assert_eq!(runs[0].outcome, "ok");
    assert_eq!(runs[0].action, "message");
    assert_eq!(runs[0].channel, "chat");
    assert_eq!(runs[0].logs, vec!["hello", r#"{"a":1}"#, "1.5", "printed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_is_durable_and_test_runs_use_an_overlay() {
    let fx = fixture(|_| {});
    let id = fx
        .add(
            "count",
            MSG,
            r#"let n = kv_get("n") ?? 0; kv_set("n", n + 1); kv_get("n")"#,
        )
        .await;
    for want in 1..=3 {
        let (payload, _) = passed(fx.svc.run(msg("count", Value::Null)).await);
        assert_eq!(payload, json!(want));
    }
    let rec = fx.db.read(move |c| st::get(c, id)).await.unwrap();
    let report = fx
        .svc
        .test_run(&rec, msg("count", Value::Null), false)
        .await;
    assert_eq!(report.outcome, "ok");
    assert_eq!(
        report.output,
        json!(4),
        "the overlay is visible within the run"
    );
    assert_eq!(report.kv_writes, vec![("n".to_string(), Some(json!(4)))]);
    let stored = fx.db.read(|c| st::kv_get(c, "n")).await.unwrap();
    assert_eq!(stored, Some(json!(3)), "a test run writes nothing");
    // A failing run keeps none of its writes.
    fx.add("count", MSG, "throw \"boom\"").await;
    let err = failed(fx.svc.run(msg("count", Value::Null)).await);
    assert!(err.contains("boom"), "{err}");
    let stored = fx.db.read(|c| st::kv_get(c, "n")).await.unwrap();
    assert_eq!(stored, Some(json!(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_errors_name_line_and_column() {
    let fx = fixture(|_| {});
    let err = fx
        .svc
        .compile("let x = 1;\nlet y = ;\n")
        .expect_err("must not compile");
    assert_eq!((err.line, err.column), (2, 9), "{err}");
    assert!(err
        .to_string()
        .starts_with("Syntax error at line 2, column 9"));
    // Expression depth is a compile-time limit.
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let err = fx.svc.compile(&deep).expect_err("too deep");
    assert!(err.message.to_lowercase().contains("complex"), "{err}");
    // No file access through modules, no eval.
    assert!(fx.svc.compile("eval(\"1\")").is_err());
    let id = fx.add("io", MSG, "import \"/etc/passwd\" as p; 1").await;
    let err = failed(fx.svc.run(msg("io", Value::Null)).await);
    assert!(err.starts_with(&format!("Trigger {id} failed")), "{err}");
}

async fn limit_error(script: &str, tune: impl FnOnce(&mut ServeOptions)) -> String {
    let fx = fixture(tune);
    let id = fx.add("lim", MSG, script).await;
    let started = Instant::now();
    let err = failed(fx.svc.run(msg("lim", Value::Null)).await);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "limits stop runs quickly"
    );
    let runs = fx.runs(id, 1).await;
    assert_eq!(runs[0].outcome, "error");
    assert!(
        err.contains(runs[0].error.as_deref().unwrap_or("?")),
        "{err}"
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_fails_the_run_with_a_reason() {
    let err = limit_error("loop {}", |o| o.trigger_max_operations = Some(10_000)).await;
    assert!(
        err.contains("operation limit exceeded (10000 operations)"),
        "{err}"
    );

    let err = limit_error("let i = 0; loop { i += 1; }", |o| {
        o.trigger_max_operations = Some(u64::MAX / 2);
        o.trigger_timeout_ms = Some(150);
    })
    .await;
    assert!(err.contains("wall time limit exceeded (150 ms)"), "{err}");

    let err = limit_error("fn f(x) { f(x + 1) } f(0)", |_| {}).await;
    assert!(err.contains("call depth limit exceeded"), "{err}");

    let err = limit_error(r#"let s = "xxxxxxxx"; loop { s += s; }"#, |_| {}).await;
    assert!(err.contains("size limit exceeded"), "{err}");

    let err = limit_error("let a = []; loop { a.push(1); }", |_| {}).await;
    assert!(err.contains("size limit exceeded"), "{err}");

    // Map growth through index assignment escapes Rhai's size checks; the per-run
    // memory limit catches it.
    let err = limit_error(
        r#"let s = "x"; s.pad(900000, "y"); let m = #{}; let i = 0; loop { m[`k${i}`] = s + i; i += 1; }"#,
        |_| {},
    )
    .await;
    assert!(
        err.contains("memory limit exceeded (64 MiB per run)"),
        "{err}"
    );

    // A runaway allocation through a built-in is caught as well.
    let err = limit_error(r#"let s = "x"; s.pad(100000000, "y"); s"#, |_| {}).await;
    assert!(err.contains("size limit exceeded"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_does_not_stall_other_channels() {
    let fx = fixture(|o| {
        o.trigger_max_operations = Some(u64::MAX / 2);
        o.trigger_timeout_ms = Some(1500);
    });
    fx.add("stuck", MSG, "loop {}").await;
    fx.add("fine", MSG, "payload + 1").await;
    let svc = fx.svc.clone();
    let stuck = tokio::spawn(async move {
        let started = Instant::now();
        let outcome = svc.run(msg("stuck", Value::Null)).await;
        (outcome, started.elapsed())
    });
    let svc = fx.svc.clone();
    let stuck2 = tokio::spawn(async move { svc.run(msg("stuck", Value::Null)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    for i in 0..20 {
        let (payload, _) = passed(fx.svc.run(msg("fine", json!(i))).await);
        assert_eq!(payload, json!(i + 1));
    }
    let fine = started.elapsed();
    assert!(
        fine < Duration::from_millis(500),
        "normal runs took {fine:?}"
    );
    let (outcome, took) = stuck.await.unwrap();
    assert!(failed(outcome).contains("wall time"));
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(failed(stuck2.await.unwrap()).contains("wall time"));
}

/// A tiny HTTP/1.1 server on 127.0.0.1: `/json` echoes method and body as JSON,
/// `/text` answers plain text, `/slow/MS` waits before answering.
fn http_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..pos]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        while buf.len() < pos + 4 + len {
                            let n = stream.read(&mut chunk).unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, String::from_utf8_lossy(&buf[pos + 4..]).to_string());
                    }
                };
                let mut parts = head.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let token = head
                    .lines()
                    .find_map(|l| l.strip_prefix("x-token: "))
                    .unwrap_or("")
                    .to_string();
                let (ctype, out) = if let Some(ms) = path.strip_prefix("/slow/") {
                    std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
                    ("text/plain", "late".to_string())
                } else if path == "/text" {
                    ("text/plain", "plain words".to_string())
                } else {
                    (
                        "application/json",
                        json!({"method": method, "body": body, "token": token}).to_string(),
                    )
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nx-served-by: test\r\nconnection: close\r\n\r\n{out}",
                    out.len()
                );
                let _ = stream.write_all(resp.as_bytes());
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_calls_a_local_server_when_private_outbound_is_allowed() {
    let base = http_server();
    let fx = fixture(|o| o.allow_private_outbound = Some(true));
    fx.add(
        "h",
        MSG,
        &format!(
            r#"
            let r = http("POST", "{base}/json", #{{ q: payload }}, #{{ timeout: 5, headers: #{{ "x-token": "abc" }} }});
            let t = http("GET", "{base}/text");
            #{{ status: r.status, echoed: r.body, text: t.body, served: t.headers["x-served-by"] }}
            "#
        ),
    )
    .await;
    let (payload, _) = passed(fx.svc.run(msg("h", json!(3))).await);
    assert_eq!(payload["status"], json!(200));
    assert_eq!(payload["echoed"]["method"], json!("POST"));
    assert_eq!(payload["echoed"]["body"], json!(r#"{"q":3}"#));
    assert_eq!(payload["echoed"]["token"], json!("abc"));
    assert_eq!(payload["text"], json!("plain words"));
    assert_eq!(payload["served"], json!("test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_timeout_fails_and_http_time_does_not_count_as_wall_time() {
    let base = http_server();
    let fx = fixture(|o| {
        o.allow_private_outbound = Some(true);
        o.trigger_timeout_ms = Some(200);
    });
    fx.add(
        "slow",
        MSG,
        &format!(r#"http("GET", "{base}/slow/3000", (), #{{ timeout: 0.3 }})"#),
    )
    .await;
    let started = Instant::now();
    let err = failed(fx.svc.run(msg("slow", Value::Null)).await);
    assert!(err.contains("timed out after 300 ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));

    fx.add(
        "waits",
        MSG,
        &format!(r#"let r = http("GET", "{base}/slow/400"); r.body"#),
    )
    .await;
    let (payload, _) = passed(fx.svc.run(msg("waits", Value::Null)).await);
    assert_eq!(
        payload,
        json!("late"),
        "400 ms of HTTP fit in a 200 ms script budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_private_addresses_is_denied_by_default() {
    let base = http_server();
    let port = base.rsplit(':').next().unwrap().to_string();
    let fx = fixture(|_| {});
    fx.add("deny", MSG, &format!(r#"http("GET", "{base}/json")"#))
        .await;
    let err = failed(fx.svc.run(msg("deny", Value::Null)).await);
    assert!(err.contains("denied"), "{err}");
    // A name resolving to loopback is refused by its resolved address.
    fx.add(
        "deny-name",
        MSG,
        &format!(r#"http("GET", "http://localhost:{port}/json")"#),
    )
    .await;
    let err = failed(fx.svc.run(msg("deny-name", Value::Null)).await);
    assert!(err.contains("denied"), "{err}");
    // Redirect-free and scheme-checked.
    fx.add("scheme", MSG, r#"http("GET", "file:///etc/passwd")"#)
        .await;
    let err = failed(fx.svc.run(msg("scheme", Value::Null)).await);
    assert!(err.contains("only http and https"), "{err}");

    // Naming the host and port in the allow list lets it through.
    let allowed = fixture(|o| o.outbound_allow = Some(vec![format!("127.0.0.1:{port}")]));
    allowed
        .add("ok", MSG, &format!(r#"http("GET", "{base}/text").body"#))
        .await;
    let (payload, _) = passed(allowed.svc.run(msg("ok", Value::Null)).await);
    assert_eq!(payload, json!("plain words"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_runs_do_not_call_http_unless_asked() {
    let base = http_server();
    let fx = fixture(|o| o.allow_private_outbound = Some(true));
    let id = fx
        .add("t", MSG, &format!(r#"http("GET", "{base}/text").body"#))
        .await;
    let rec = fx.db.read(move |c| st::get(c, id)).await.unwrap();
    let report = fx.svc.test_run(&rec, msg("t", Value::Null), false).await;
    assert_eq!(report.outcome, "error");
    assert!(report.error.unwrap_or_default().contains("allow_http"));
    let report = fx.svc.test_run(&rec, msg("t", Value::Null), true).await;
    assert_eq!(report.output, json!("plain words"));
}

/// Per-run overhead of a trivial pass-through trigger (printed with `--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trivial_trigger_overhead() {
    let fx = fixture(|_| {});
    fx.add("bench", MSG, "payload").await;
    let n = 2000;
    let payload = json!({"text": "hello", "n": 1});
    for _ in 0..100 {
        fx.svc.run(msg("bench", payload.clone())).await;
    }
    let started = Instant::now();
    for _ in 0..n {
        passed(fx.svc.run(msg("bench", payload.clone())).await);
    }
    let per_run = started.elapsed() / n;
    println!("trivial trigger: {per_run:?} per run (sequential, incl. spawn_blocking)");
    assert!(per_run < Duration::from_millis(5));
}
