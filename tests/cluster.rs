//! Scale-out (SPEC §9): one primary and two edges as real processes sharing channels
//! through a real `redis-server` (started per test on a free loopback port). Messages are
//! committed once on the primary and reach every subscriber on every node once, with the
//! primary's ids; presence and private messages cross nodes; failures of an edge, of
//! Redis and of the primary behave as the spec says.

mod common;
mod livechat_support;
use common::*;
use livechat_support::{call_at, is_message, join, next_where};

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);
const SECRET: &str = "test-cluster-secret-0123456789";

// ---- a real redis-server -------------------------------------------------------------

struct Redis {
    port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Redis {
    fn start() -> Redis {
        let mut r = Redis {
            port: free_port(),
            child: None,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + T;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops Redis (everything in it is lost: no persistence) and starts it again on
    /// the same port.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- the cluster ---------------------------------------------------------------------

struct Cluster {
    redis: Redis,
    primary: Server,
    a: Server,
    b: Server,
    admin: String,
    key: String,
}

fn primary_args(redis: &Redis) -> Vec<String> {
    [
        "--cluster",
        &redis.url(),
        "--role",
        "primary",
        "--cluster-secret",
        SECRET,
        "--node-id",
        "primary",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn edge(redis: &Redis, primary: &Server, id: &str) -> Server {
    let primary_url = primary.url("");
    Server::builder()
        .args(&[
            "--cluster",
            &redis.url(),
            "--role",
            "edge",
            "--primary-url",
            &primary_url,
            "--cluster-secret",
            SECRET,
            "--node-id",
            id,
        ])
        .start()
}

impl Cluster {
    /// Redis, a primary with an admin and an admin key, `channels` created, then two
    /// edges (which take the primary's definitions at start).
    fn start(channels: &[Value]) -> Cluster {
        Cluster::start_with(channels, |_, _| {})
    }

    fn start_with(channels: &[Value], setup: impl FnOnce(&Server, &str)) -> Cluster {
        let redis = Redis::start();
        let args = primary_args(&redis);
        let primary = Server::builder()
            .args(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .start();
        let admin = primary.admin_token();
        let key = primary.create_key(&admin, "backend", "admin").key;
        for c in channels {
            primary.create_channel(&admin, c.clone());
        }
        setup(&primary, &admin);
        let a = edge(&redis, &primary, "edge-a");
        let b = edge(&redis, &primary, "edge-b");
        Cluster {
            redis,
            primary,
            a,
            b,
            admin,
            key,
        }
    }

    fn jwt(&self, sub: &str, info: Value) -> String {
        self.primary
            .mint_client_token(&self.key, json!({"sub": sub, "info": info}))
    }
}

async fn rest_publish(node: &Server, key: &str, channel: &str, payload: Value) -> Resp {
    node.async_http()
        .post(node.url(&format!("/api/v1/channels/{channel}/publish")))
        .header("X-API-KEY", key)
        .json(&json!({ "payload": payload }))
        .call()
        .await
}

/// Every `message` frame arriving within `window`.
async fn messages_within(ws: &mut Ws, window: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + window;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws_recv_json(ws, left).await {
            Some(f) if f["action"] == "message" => out.push(f),
            Some(_) => {}
            None => return out,
        }
    }
}

/// `message` frames until `n` have arrived (or `timeout`).
async fn collect_messages(ws: &mut Ws, n: usize, timeout: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws_recv_json(ws, left).await {
            Some(f) if f["action"] == "message" => out.push(f),
            Some(_) => {}
            None => break,
        }
    }
    out
}

fn ids(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .map(|f| f["options"]["id"].as_i64().expect("message id"))
        .collect()
}

async fn ws_as(node: &Server, key: &str) -> Ws {
    ws_connect(&node.ws_url(&format!("/ws?api_key={key}"))).await
}

fn history_ids(c: &Cluster, channel: &str) -> Vec<i64> {
    c.primary
        .full_history(&c.key, channel)
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

async fn presence_of(node: &Server, key: &str, channel: &str) -> Vec<String> {
    let r = node
        .async_http()
        .get(node.url(&format!("/api/v1/channels/{channel}/presence")))
        .header("X-API-KEY", key)
        .call()
        .await;
    assert_eq!(r.status, 200, "presence: {}", r.text);
    let list = r.json["objects"]
        .as_array()
        .or_else(|| r.json.as_array())
        .cloned()
        .unwrap_or_default();
    let mut subs: Vec<String> = list
        .iter()
        .map(|c| c["extras"]["name"].as_str().unwrap_or("?").to_string())
        .collect();
    subs.sort();
    subs
}

// ---- tests ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_publish_on_one_edge_reaches_a_subscriber_on_another_once_with_the_primarys_id() {
    let c = Cluster::start(&[json!({"name": "news"})]);
    let mut on_b = ws_as(&c.b, &c.key).await;
    ws_join(&mut on_b, "news", json!({}), json!({})).await;
    let mut on_primary = ws_as(&c.primary, &c.key).await;
    ws_join(&mut on_primary, "news", json!({}), json!({})).await;

    let sent = rest_publish(&c.a, &c.key, "news", json!({"n": 1}))
        .await
        .expect(201);
    let id = sent["id"].as_i64().expect("id");
    assert_eq!(
        history_ids(&c, "news"),
        vec![id],
        "committed on the primary"
    );

    let got = messages_within(&mut on_b, Duration::from_millis(1500)).await;
    assert_eq!(ids(&got), vec![id], "exactly once on edge B: {got:?}");
    assert_eq!(got[0]["payload"], json!({"n": 1}));
    assert_eq!(got[0]["options"]["channel"], "news");
    let got = messages_within(&mut on_primary, Duration::from_millis(500)).await;
    assert_eq!(ids(&got), vec![id], "exactly once on the primary");

    // The edge's REST API is the primary's: history through edge A and B agrees.
    let via_b = c.b.full_history(&c.key, "news");
    assert_eq!(via_b.len(), 1);
    assert_eq!(via_b[0]["id"], id);
    // The primary checks payloads for edges: one that would not read back is a 400 in
    // the same shape as on a single node, and nothing is stored.
    let r =
        c.a.async_http()
            .post(c.a.url("/api/v1/channels/news/publish"))
            .header("X-API-KEY", &c.key)
            .header("content-type", "application/json")
            .body(r#"{"payload": "\udc00"}"#)
            .call()
            .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["payload"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Invalid JSON"),
        "{}",
        r.text
    );
    assert_eq!(c.primary.full_history(&c.key, "news").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_publish_on_an_edge_is_acked_after_the_primary_committed_it() {
    let c = Cluster::start(&[json!({"name": "chat"})]);
    let mut on_b = ws_as(&c.b, &c.key).await;
    ws_join(&mut on_b, "chat", json!({}), json!({})).await;
    let mut on_a = ws_as(&c.a, &c.key).await;
    ws_join(&mut on_a, "chat", json!({}), json!({})).await;

    let mut acked = Vec::new();
    let mut own = Vec::new();
    for n in 0..5 {
        ws_send_json(
            &mut on_a,
            &json!({"action": "message", "options": {"channel": "chat", "ref": n}, "payload": {"n": n}}),
        )
        .await;
        let ack = loop {
            let f = ws_recv_json(&mut on_a, T).await.expect("an ack");
            match f["action"].as_str() {
                Some("ack") => break f,
                Some("message") => own.push(f),
                _ => {}
            }
        };
        assert_eq!(ack["options"]["ref"], n);
        let id = ack["options"]["id"].as_i64().expect("ack carries the id");
        // Acked means committed: the primary's history has it right now.
        assert_eq!(history_ids(&c, "chat").last(), Some(&id));
        acked.push(id);
    }
    let got = collect_messages(&mut on_b, 5, T).await;
    assert_eq!(ids(&got), acked, "edge B sees each once, in id order");
    let extra = messages_within(&mut on_b, Duration::from_millis(500)).await;
    assert!(extra.is_empty(), "no duplicates: {extra:?}");
    // The sender's own socket (on edge A) also gets each message once.
    let left = 5 - own.len();
    own.extend(collect_messages(&mut on_a, left, T).await);
    assert_eq!(ids(&own), acked);

    // Refusals come back from the primary with their codes.
    ws_send_json(
        &mut on_a,
        &json!({"action": "message", "options": {"channel": "nope", "ref": "x"}, "payload": 1}),
    )
    .await;
    let err = ws_recv_action(&mut on_a, "error", T).await.expect("error");
    assert_eq!(err["payload"]["code"], "not_found", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_last_id_on_another_node_has_no_gap_and_no_duplicate() {
    let c = Cluster::start(&[json!({"name": "feed"})]);
    let mut on_a = ws_as(&c.a, &c.key).await;
    ws_join(&mut on_a, "feed", json!({}), json!({})).await;
    let mut published = Vec::new();
    for n in 0..5 {
        let m = rest_publish(&c.primary, &c.key, "feed", json!({"n": n}))
            .await
            .expect(201);
        published.push(m["id"].as_i64().unwrap());
    }
    let seen = ids(&collect_messages(&mut on_a, 5, T).await);
    assert_eq!(seen, published);
    drop(on_a);

    // Missed while away.
    for n in 5..10 {
        let m = rest_publish(&c.a, &c.key, "feed", json!({"n": n}))
            .await
            .expect(201);
        published.push(m["id"].as_i64().unwrap());
    }
    let mut on_b = ws_as(&c.b, &c.key).await;
    ws_join(
        &mut on_b,
        "feed",
        json!({"last_id": seen.last().unwrap()}),
        json!({}),
    )
    .await;
    // Live while replaying.
    let live = rest_publish(&c.primary, &c.key, "feed", json!({"n": 10}))
        .await
        .expect(201);
    published.push(live["id"].as_i64().unwrap());
    let got = collect_messages(&mut on_b, 6, T).await;
    assert_eq!(ids(&got), published[5..].to_vec());
    let extra = messages_within(&mut on_b, Duration::from_millis(500)).await;
    assert!(extra.is_empty(), "no duplicate: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_lists_clients_of_both_edges_and_drops_a_killed_edges_clients() {
    let mut c = Cluster::start(&[
        json!({"name": "room", "presence": true, "group_permissions": "publish"}),
    ]);
    let alice = c.jwt("alice", json!({"name": "alice"}));
    let bob = c.jwt("bob", json!({"name": "bob"}));
    let mut on_a = ws_connect(&c.a.ws_url(&format!("/ws?token={alice}"))).await;
    ws_join(&mut on_a, "room", json!({}), json!({})).await;
    let mut on_b = ws_connect(&c.b.ws_url(&format!("/ws?token={bob}"))).await;
    ws_join(&mut on_b, "room", json!({}), json!({"presence": true})).await;
    let full = ws_recv_action(&mut on_b, "presence_full", T)
        .await
        .expect("presence_full");
    let mut names: Vec<String> = full["payload"]["presence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["extras"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["alice", "bob"], "{full}");
    // Alice (on edge A) is told that bob (on edge B) joined.
    let update = ws_recv_action(&mut on_a, "presence_update", T)
        .await
        .expect("presence_update across nodes");
    assert_eq!(update["payload"]["action"], "join");
    assert_eq!(update["payload"]["presence"]["extras"]["name"], "bob");

    for node in [&c.primary, &c.a, &c.b] {
        assert_eq!(presence_of(node, &c.key, "room").await, ["alice", "bob"]);
    }

    // Edge A dies without a word: alice leaves presence within the node TTL.
    c.a.kill9();
    // (Alice's own join update may reach bob late: it crossed Redis while he joined.)
    let leave = loop {
        let u = ws_recv_action(&mut on_b, "presence_update", Duration::from_secs(15))
            .await
            .expect("a leave for alice after edge A died");
        if u["payload"]["action"] == "leave" {
            break u;
        }
    };
    assert_eq!(leave["payload"]["presence"]["extras"]["name"], "alice");
    assert_eq!(presence_of(&c.primary, &c.key, "room").await, ["bob"]);
    assert_eq!(presence_of(&c.b, &c.key, "room").await, ["bob"]);
    // Seconds of healthy Redis: the subscriber link was never re-established (its
    // keepalive pings are answered).
    let m = c.b.async_http().get(c.b.url("/metrics")).call().await;
    let reconnects = m
        .text
        .lines()
        .find(|l| l.starts_with("rtbox_cluster_redis_reconnects_total"))
        .map(|l| l.split_whitespace().last().unwrap_or("0").to_string());
    assert!(
        matches!(reconnects.as_deref(), None | Some("0")),
        "{reconnects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_message_crosses_nodes() {
    let c = Cluster::start(&[json!({
        "name": "dm", "private_messaging": true, "group_permissions": "publish"
    })]);
    let alice = c.jwt("alice", json!({"name": "alice"}));
    let bob = c.jwt("bob", json!({"name": "bob"}));
    let mut on_a = ws_connect(&c.a.ws_url(&format!("/ws?token={alice}"))).await;
    ws_join(&mut on_a, "dm", json!({}), json!({})).await;
    let mut on_b = ws_connect(&c.b.ws_url(&format!("/ws?token={bob}"))).await;
    let joined = ws_join(&mut on_b, "dm", json!({}), json!({})).await;
    let bob_socket = joined["payload"]["socketId"].as_str().unwrap().to_string();
    // Bob's membership reaches Redis through the node's ordered writer.
    tokio::time::sleep(Duration::from_millis(300)).await;

    ws_send_json(
        &mut on_a,
        &json!({"action": "message", "options": {"channel": "dm", "socketId": bob_socket, "ref": 1}, "payload": {"psst": true}}),
    )
    .await;
    let ack = ws_recv_action(&mut on_a, "ack", T).await.expect("ack");
    assert_eq!(ack["options"]["ref"], 1);
    let got = ws_recv_action(&mut on_b, "message", T)
        .await
        .expect("the private message on edge B");
    assert_eq!(got["payload"], json!({"psst": true}));
    assert_eq!(got["client"]["extras"]["name"], "alice", "{got}");

    ws_send_json(
        &mut on_a,
        &json!({"action": "message", "options": {"channel": "dm", "socketId": "nobody", "ref": 2}, "payload": 1}),
    )
    .await;
    let err = ws_recv_action(&mut on_a, "error", T).await.expect("error");
    assert_eq!(err["payload"]["code"], "not_found");
    // Private messages are not stored.
    assert!(history_ids(&c, "dm").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_runs_once_per_message_on_the_primary() {
    let c = Cluster::start_with(&[json!({"name": "counted"})], |primary, admin| {
        // Blocking HTTP, off the test's async runtime.
        std::thread::scope(|s| {
            s.spawn(|| {
                let r = primary
                    .post("/api/v1/triggers")
                    .bearer_auth(admin)
                    .json(&json!({
                        "name": "counter", "channel": "counted", "actions": {"message": true},
                        "script": "kv_set(\"seen\", (kv_get(\"seen\") ?? 0) + 1); #{ n: payload.n, seen: kv_get(\"seen\") }"
                    }))
                    .call();
                assert_eq!(r.status, 201, "{}", r.text);
            })
            .join()
            .expect("trigger created");
        });
    });
    let mut on_b = ws_as(&c.b, &c.key).await;
    ws_join(&mut on_b, "counted", json!({}), json!({})).await;
    let mut on_a = ws_as(&c.a, &c.key).await;
    ws_join(&mut on_a, "counted", json!({}), json!({})).await;

    // Through both edges' REST APIs and a WebSocket publish.
    rest_publish(&c.a, &c.key, "counted", json!({"n": 1}))
        .await
        .expect(201);
    rest_publish(&c.b, &c.key, "counted", json!({"n": 2}))
        .await
        .expect(201);
    ws_send_json(
        &mut on_a,
        &json!({"action": "message", "options": {"channel": "counted", "ref": 3}, "payload": {"n": 3}}),
    )
    .await;
    for ws in [&mut on_a, &mut on_b] {
        let got = collect_messages(ws, 3, T).await;
        let seen: Vec<Value> = got.iter().map(|f| f["payload"]["seen"].clone()).collect();
        assert_eq!(seen, [json!(1), json!(2), json!(3)], "{got:?}");
        let extra = messages_within(ws, Duration::from_millis(300)).await;
        assert!(extra.is_empty(), "{extra:?}");
    }
    let stored: Vec<Value> = c
        .primary
        .full_history(&c.key, "counted")
        .iter()
        .map(|m| m["payload"]["seen"].clone())
        .collect();
    assert_eq!(stored, [json!(1), json!(2), json!(3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_killed_with_kill9_loses_nothing_acked_and_its_clients_resume_elsewhere() {
    let mut c = Cluster::start(&[json!({"name": "orders"})]);
    let mut on_a = ws_as(&c.a, &c.key).await;
    ws_join(&mut on_a, "orders", json!({}), json!({})).await;
    // Pipeline publishes, then kill the edge while acks are in flight.
    for n in 0..40 {
        ws_send_json(
            &mut on_a,
            &json!({"action": "message", "options": {"channel": "orders", "ref": n}, "payload": {"n": n}}),
        )
        .await;
    }
    let mut acked = Vec::new();
    while acked.len() < 10 {
        let f = ws_recv_json(&mut on_a, T)
            .await
            .expect("frames before the kill");
        if f["action"] == "ack" {
            acked.push(f["options"]["id"].as_i64().unwrap());
        }
    }
    c.a.kill9();
    while let Some(f) = ws_recv_json(&mut on_a, Duration::from_millis(500)).await {
        if f["action"] == "ack" {
            acked.push(f["options"]["id"].as_i64().unwrap());
        }
    }
    let stored = history_ids(&c, "orders");
    for id in &acked {
        assert!(
            stored.contains(id),
            "acked {id} is in the primary's history"
        );
    }
    // The client reconnects to edge B and resumes after the last message it saw.
    let last_seen = acked[4];
    let mut on_b = ws_as(&c.b, &c.key).await;
    ws_join(
        &mut on_b,
        "orders",
        json!({"last_id": last_seen}),
        json!({}),
    )
    .await;
    let expected: Vec<i64> = stored.iter().copied().filter(|i| *i > last_seen).collect();
    let got = collect_messages(&mut on_b, expected.len(), T).await;
    assert_eq!(ids(&got), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_restart_nodes_reconnect_and_subscribers_catch_up_from_history() {
    let mut c = Cluster::start(&[json!({"name": "ticks", "presence": true})]);
    let mut on_b = ws_as(&c.b, &c.key).await;
    ws_join(&mut on_b, "ticks", json!({}), json!({})).await;
    let first = rest_publish(&c.primary, &c.key, "ticks", json!({"n": 0}))
        .await
        .expect(201);
    assert_eq!(
        ids(&collect_messages(&mut on_b, 1, T).await),
        vec![first["id"].as_i64().unwrap()]
    );

    c.redis.stop();
    // The primary keeps committing while Redis is away.
    let mut missed = Vec::new();
    for n in 1..4 {
        let m = rest_publish(&c.primary, &c.key, "ticks", json!({"n": n}))
            .await
            .expect(201);
        missed.push(m["id"].as_i64().unwrap());
    }
    // A publish through an edge still works: it goes to the primary over HTTP.
    let via_a = rest_publish(&c.a, &c.key, "ticks", json!({"n": 4}))
        .await
        .expect(201);
    missed.push(via_a["id"].as_i64().unwrap());
    c.redis.restart();

    let got = collect_messages(&mut on_b, missed.len(), Duration::from_secs(15)).await;
    assert_eq!(ids(&got), missed, "caught up, in order");
    let extra = messages_within(&mut on_b, Duration::from_millis(800)).await;
    assert!(
        extra.is_empty(),
        "no duplicate after the catch-up: {extra:?}"
    );
    // Live delivery is back.
    let live = rest_publish(&c.a, &c.key, "ticks", json!({"n": 5}))
        .await
        .expect(201);
    let got = collect_messages(&mut on_b, 1, T).await;
    assert_eq!(ids(&got), vec![live["id"].as_i64().unwrap()]);
    // Presence was written again into the new Redis.
    let mut present = Vec::new();
    for _ in 0..50 {
        present = presence_of(&c.primary, &c.key, "ticks").await;
        if present.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(present.len(), 1, "{present:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_primary_is_down_edges_keep_sockets_answer_503_and_recover() {
    let mut c = Cluster::start(&[json!({"name": "ops"})]);
    let mut on_b = ws_as(&c.b, &c.key).await;
    ws_join(&mut on_b, "ops", json!({}), json!({})).await;
    let mut on_a = ws_as(&c.a, &c.key).await;
    ws_join(&mut on_a, "ops", json!({}), json!({})).await;

    c.primary.kill9();
    let r = rest_publish(&c.a, &c.key, "ops", json!({"n": 1})).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.detail().contains("primary"), "{}", r.text);
    ws_send_json(
        &mut on_a,
        &json!({"action": "message", "options": {"channel": "ops", "ref": 1}, "payload": 1}),
    )
    .await;
    let err = ws_recv_action(&mut on_a, "error", T)
        .await
        .expect("an error frame, not a disconnect");
    assert_eq!(err["options"]["ref"], 1);
    // The socket is still open.
    ws_send_json(&mut on_a, &json!({"action": "ping"})).await;
    assert!(ws_recv_action(&mut on_a, "pong", T).await.is_some());
    // Credentials an edge cannot check now are not called wrong: 1013 (try again), not
    // 1008 (which clients do not retry).
    let mut visitor = ws_connect(&c.a.ws_url("/ws?visitor_token=any-visitor-token")).await;
    assert_eq!(ws_close_code(&mut visitor, T).await, Some(1013));
    let mut session = ws_connect(&c.a.ws_url(&format!("/ws?token={}", c.admin))).await;
    assert_eq!(ws_close_code(&mut session, T).await, Some(1013));

    c.primary.start_again();
    let mut recovered = None;
    for _ in 0..50 {
        let r = rest_publish(&c.a, &c.key, "ops", json!({"n": 2})).await;
        if r.status == 201 {
            recovered = Some(r.json);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = recovered.expect("publishes work again once the primary is back");
    let got = collect_messages(&mut on_b, 1, Duration::from_secs(10)).await;
    assert_eq!(ids(&got), vec![m["id"].as_i64().unwrap()]);
    ws_send_json(
        &mut on_a,
        &json!({"action": "message", "options": {"channel": "ops", "ref": 2}, "payload": 2}),
    )
    .await;
    let ack = ws_recv_action(&mut on_a, "ack", T).await.expect("ack");
    assert_eq!(ack["options"]["ref"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_to_node_calls_need_the_cluster_secret() {
    let c = Cluster::start(&[]);
    let http = c.primary.async_http();
    let url = c.primary.url("/cluster/v1/definitions");
    let r = http.get(&url).call().await;
    assert_eq!(r.status, 403);
    let r = http
        .get(&url)
        .header("x-rtbox-cluster-secret", "wrong-secret-wrong-secret")
        .call()
        .await;
    assert_eq!(r.status, 403);
    let r = http
        .get(&url)
        .header("x-rtbox-cluster-secret", SECRET)
        .call()
        .await;
    assert_eq!(r.status, 200);
    // The livechat calls too; with the secret, bad input gets a clear 4xx and unknown
    // tokens and rooms are answered as such.
    let lc = |path: &str| c.primary.url(&format!("/cluster/v1/livechat/{path}"));
    for path in ["visitor", "frame", "room", "inbox"] {
        let r = http.post(lc(path)).json(&json!({})).call().await;
        assert_eq!(r.status, 403, "{path} without the secret");
        let r = http
            .post(lc(path))
            .header("x-rtbox-cluster-secret", SECRET)
            .header("content-type", "application/json")
            .body("{not json")
            .call()
            .await;
        assert_eq!(r.status, 400, "{path} with a malformed body: {}", r.text);
    }
    let with_secret = |path: &str, body: Value| {
        http.post(lc(path))
            .header("x-rtbox-cluster-secret", SECRET)
            .json(&body)
    };
    let r = with_secret("visitor", json!({"token": "nobody-has-this-token"}))
        .call()
        .await
        .expect(200);
    assert_eq!(r, json!({"visitor": null, "error": "invalid-token"}));
    let r = with_secret("room", json!({"rid": "no-such-room"}))
        .call()
        .await
        .expect(200);
    assert!(r["visitor_id"].is_null(), "{r}");
    let r = with_secret(
        "frame",
        json!({"actor": {"kind": "anonymous", "socket_id": "s1"}, "action": "teleport"}),
    )
    .call()
    .await
    .expect(200);
    assert_eq!(r["outcome"], "unknown");
    let r = with_secret("frame", json!({"actor": {"kind": "anonymous", "socket_id": "s1"}, "action": "livechat_message", "payload": {"rid": "x", "msg": "hi"}}))
        .call()
        .await
        .expect(200);
    assert_eq!(r["outcome"], "error");
    assert_eq!(r["code"], "unauthorized");
    let r = with_secret("inbox", json!({"agents": {}})).call().await;
    assert_eq!(r.status, 422, "an inbox report names its node: {}", r.text);
    // The secret is no credential on the public API.
    let r = http
        .post(c.primary.url("/api/v1/channels"))
        .header("x-rtbox-cluster-secret", SECRET)
        .json(&json!({"name": "sneaky"}))
        .call()
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // A client's own credentials pass through an edge unchanged.
    let r =
        c.a.async_http()
            .post(c.a.url("/api/v1/channels"))
            .bearer_auth(&c.admin)
            .json(&json!({"name": "via-edge"}))
            .call()
            .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r =
        c.a.async_http()
            .get(c.a.url("/api/v1/channels/via-edge"))
            .header("X-API-KEY", "rtbox_wrong")
            .call()
            .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.detail(), "No such API Key.");
    // The edge does not expose the node-to-node API itself.
    let r =
        c.a.async_http()
            .get(c.a.url("/cluster/v1/definitions"))
            .call()
            .await;
    assert_eq!(r.status, 404);
    // An edge with another secret is refused at start, with a message saying why.
    let refused = Server::builder()
        .args(&[
            "--cluster",
            &c.redis.url(),
            "--role",
            "edge",
            "--primary-url",
            &c.primary.url(""),
            "--cluster-secret",
            "some-other-secret-entirely",
        ])
        .try_start();
    match refused {
        Ok(_) => panic!("an edge with the wrong secret must not start"),
        Err(e) => assert!(e.contains("cluster-secret"), "{e}"),
    }
    // Per-node metrics with the cluster gauges.
    let m = c.b.async_http().get(c.b.url("/metrics")).call().await;
    assert!(m.text.contains("rtbox_cluster_nodes"), "{}", m.text);
    assert!(m.text.contains("rtbox_cluster_redis_up"), "{}", m.text);
}

#[test]
fn without_cluster_there_is_no_node_api_and_cluster_settings_are_validated() {
    let s = Server::start();
    let r = s.get("/cluster/v1/definitions").call();
    assert_eq!(r.status, 404);
    drop(s);

    let dir = tempfile::TempDir::new().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--cluster",
                "redis://127.0.0.1:1",
                "--cluster-secret",
                SECRET,
            ],
            "role",
        ),
        (
            &[
                "--cluster",
                "redis://127.0.0.1:1",
                "--role",
                "edge",
                "--cluster-secret",
                SECRET,
            ],
            "primary_url",
        ),
        (
            &["--cluster", "redis://127.0.0.1:1", "--role", "primary"],
            "cluster_secret",
        ),
        (&["--role", "primary"], "--cluster"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["serve", "--bind", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let out = run_cli(dir.path(), &all, "");
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = stderr_of(&out);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_feeds_and_dashboard_sessions_work_through_an_edge() {
    let c = Cluster::start(&[
        json!({"name": "lp"}),
        json!({"name": "staff", "other_permissions": "none", "group_permissions": "none"}),
    ]);
    // A long-poll on edge A is answered by a publish on edge B.
    let (a_url, key) = (
        c.a.url("/api/v1/channels/lp/poll?last_id=0&timeout=10"),
        c.key.clone(),
    );
    let http = c.a.async_http();
    let poll = tokio::spawn(async move { http.get(a_url).header("X-API-KEY", key).call().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = rest_publish(&c.b, &c.key, "lp", json!({"n": 1}))
        .await
        .expect(201);
    let polled = poll.await.expect("poll task");
    assert_eq!(polled.status, 200, "{}", polled.text);
    assert_eq!(polled.json["id"], sent["id"]);
    assert_eq!(polled.header("x-last-id"), Some(sent["id"].to_string()));

    // The Syncano WebSocket feed on edge B replays and then pushes.
    let mut feed = ws_connect(&c.b.ws_url(&format!(
        "/v1.1/instances/demo/channels/lp/poll/?transport=websocket&last_id=0&api_key={}",
        c.key
    )))
    .await;
    let first = ws_recv_json(&mut feed, T).await.expect("replayed");
    assert_eq!(first["id"], sent["id"]);
    let next = rest_publish(&c.a, &c.key, "lp", json!({"n": 2}))
        .await
        .expect(201);
    let pushed = ws_recv_json(&mut feed, T).await.expect("pushed");
    assert_eq!(pushed["id"], next["id"]);
    assert_eq!(pushed["payload"], json!({"n": 2}));

    // A dashboard session (held by the primary) opens a WebSocket on an edge.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = c.a.ws_url("/ws").into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", c.admin).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    ws_join(&mut ws, "staff", json!({}), json!({})).await;
    let mut anon = ws_connect(&c.a.ws_url("/ws")).await;
    ws_send_json(
        &mut anon,
        &json!({"action": "join", "options": {"channel": "staff"}}),
    )
    .await;
    let err = ws_recv_action(&mut anon, "error", T)
        .await
        .expect("refused");
    assert_eq!(err["payload"]["code"], "unauthorized", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_that_stops_gracefully_leaves_presence_at_once() {
    let mut c = Cluster::start(&[
        json!({"name": "lobby", "presence": true, "group_permissions": "subscribe"}),
    ]);
    let alice = c.jwt("alice", json!({"name": "alice"}));
    let bob = c.jwt("bob", json!({"name": "bob"}));
    let mut on_a = ws_connect(&c.a.ws_url(&format!("/ws?token={alice}"))).await;
    ws_join(&mut on_a, "lobby", json!({}), json!({})).await;
    let mut on_b = ws_connect(&c.b.ws_url(&format!("/ws?token={bob}"))).await;
    ws_join(&mut on_b, "lobby", json!({}), json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        presence_of(&c.primary, &c.key, "lobby").await,
        ["alice", "bob"]
    );

    let status = c.a.terminate();
    assert!(status.success(), "{status}");
    assert_eq!(ws_close_code(&mut on_a, T).await, Some(1012));
    // Well before the node TTL (5 s).
    assert_eq!(presence_of(&c.primary, &c.key, "lobby").await, ["bob"]);
    // (Alice's join update may reach bob late: it crossed Redis while he joined.)
    loop {
        let u = ws_recv_action(&mut on_b, "presence_update", T)
            .await
            .expect("leave");
        if u["payload"]["action"] == "leave" {
            assert_eq!(u["payload"]["presence"]["extras"]["name"], "alice");
            break;
        }
    }
}

// ---- livechat sockets on edges ---------------------------------------------------------

async fn call_on(
    node: &Server,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> Resp {
    call_at(&node.async_http(), node, method, path, auth, body).await
}

/// An agent created on the primary, logged in (`(token, id)`), online.
async fn online_agent(c: &Cluster, name: &str) -> (String, i64) {
    let email = format!("{name}@example.com");
    let user = c
        .primary
        .create_user(&c.admin, &email, PASSWORD, &["agent"]);
    let token = c.primary.login(&email, PASSWORD);
    call_on(
        &c.b,
        "POST",
        "/api/v1/livechat/agent.status",
        Some(&token),
        Some(json!({"status": "online"})),
    )
    .await
    .expect(200);
    (token, user["id"].as_i64().expect("user id"))
}

async fn agent_status(c: &Cluster, token: &str) -> String {
    call_on(
        &c.primary,
        "GET",
        "/api/v1/livechat/agent.status",
        Some(token),
        None,
    )
    .await
    .expect(200)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn wait_status(c: &Cluster, token: &str, want: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if agent_status(c, token).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A visitor registered through `node`, with its open room's id.
async fn visitor_with_room(node: &Server, token: &str) -> String {
    call_on(
        node,
        "POST",
        "/api/v1/livechat/visitor",
        None,
        Some(json!({"visitor": {"token": token, "name": "Ana"}})),
    )
    .await
    .expect(200);
    call_on(
        node,
        "GET",
        &format!("/api/v1/livechat/room?token={token}"),
        None,
        None,
    )
    .await
    .expect(200)["room"]["_id"]
        .as_str()
        .expect("rid")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_and_agents_chat_with_their_sockets_on_different_edges() {
    let c = Cluster::start(&[]);
    let (agent, agent_id) = online_agent(&c, "edgy").await;
    // The agent's inbox is on edge B, the visitor's socket on edge A.
    let mut inbox = ws_connect(&c.b.ws_url(&format!("/ws?token={agent}"))).await;
    join(&mut inbox, &format!("livechat-agent/{agent_id}")).await;
    let rid = visitor_with_room(&c.a, "edge-visitor-token-1").await;
    let room = format!("livechat/{rid}");
    let mut visitor = ws_connect(&c.a.ws_url("/ws?visitor_token=edge-visitor-token-1")).await;
    join(&mut visitor, &room).await;
    next_where(&mut inbox, "the chat assigned to the agent", |f| {
        f["payload"]["type"] == "room-assigned"
    })
    .await;
    let mut inbox = ws_connect(&c.b.ws_url(&format!("/ws?token={agent}"))).await;
    join(&mut inbox, &room).await;

    // Visitor → agent, over the visitor's socket: acked after the primary stored it.
    ws_send_json(&mut visitor, &json!({"action": "livechat_message", "options": {"ref": "v1"}, "payload": {"rid": rid, "msg": "hello from edge A"}})).await;
    let ack = next_where(&mut visitor, "ack of the visitor's message", |f| {
        f["action"] == "ack"
    })
    .await;
    assert_eq!(ack["options"]["ref"], "v1");
    let got = next_where(
        &mut inbox,
        "visitor message at the agent",
        is_message(&rid, "visitor"),
    )
    .await;
    assert_eq!(got["payload"]["msg"], "hello from edge A");
    assert_eq!(got["options"]["id"], ack["payload"]["message"]["seq"]);

    // Agent → visitor through edge B's REST API.
    call_on(
        &c.b,
        "POST",
        "/api/v1/chat.sendMessage",
        Some(&agent),
        Some(json!({"message": {"rid": rid, "msg": "hi from edge B"}})),
    )
    .await
    .expect(200);
    let got = next_where(
        &mut visitor,
        "agent message at the visitor",
        is_message(&rid, "agent"),
    )
    .await;
    assert_eq!(got["payload"]["msg"], "hi from edge B");

    // Typing crosses nodes too (never stored).
    ws_send_json(
        &mut visitor,
        &json!({"action": "typing", "options": {"channel": room}, "payload": {"typing": true}}),
    )
    .await;
    let t = next_where(&mut inbox, "visitor typing at the agent", |f| {
        f["action"] == "typing"
    })
    .await;
    assert_eq!(t["payload"]["sender"], "visitor");

    // Visitor events are evaluated on the primary.
    ws_send_json(&mut visitor, &json!({"action": "visitor_event", "options": {"ref": 3}, "payload": {"event": "navigate", "data": {"href": "https://shop.example/pricing", "title": "Pricing"}}})).await;
    let ack = next_where(&mut visitor, "event ack", |f| f["action"] == "ack").await;
    assert_eq!(ack["options"]["ref"], 3);
    assert_eq!(ack["payload"]["fired"], json!([]));
    ws_send_json(
        &mut visitor,
        &json!({"action": "visitor_event", "options": {"ref": 4}, "payload": {"event": "bogus"}}),
    )
    .await;
    let err = next_where(&mut visitor, "event error", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["code"], "bad_request", "{err}");

    // Membership is the primary's: another visitor cannot join this room on an edge,
    // a wrong token is refused for good (1008), and an agent who never served the
    // room cannot read it.
    visitor_with_room(&c.b, "edge-visitor-token-2").await;
    let mut other = ws_connect(&c.b.ws_url("/ws?visitor_token=edge-visitor-token-2")).await;
    ws_send_json(
        &mut other,
        &json!({"action": "join", "options": {"channel": room}}),
    )
    .await;
    let err = next_where(&mut other, "foreign room refused", |f| {
        f["action"] == "error"
    })
    .await;
    assert_eq!(err["payload"]["code"], "forbidden", "{err}");
    let mut wrong = ws_connect(&c.a.ws_url("/ws?visitor_token=no-such-visitor-token")).await;
    let err = next_where(&mut wrong, "bad token", |f| f["action"] == "error").await;
    assert_eq!(err["payload"]["message"], "invalid-token");
    assert_eq!(ws_close_code(&mut wrong, T).await, Some(1008));
    let email = "bystander@example.com";
    c.primary.create_user(&c.admin, email, PASSWORD, &["agent"]);
    let bystander = c.primary.login(email, PASSWORD);
    let mut nosy = ws_connect(&c.a.ws_url(&format!("/ws?token={bystander}"))).await;
    ws_send_json(
        &mut nosy,
        &json!({"action": "join", "options": {"channel": room}}),
    )
    .await;
    let err = next_where(&mut nosy, "unserved room refused", |f| {
        f["action"] == "error"
    })
    .await;
    assert_eq!(err["payload"]["code"], "forbidden", "{err}");

    // A room created after the edge first looked is found on the next join.
    let rid2 = visitor_with_room(&c.primary, "edge-visitor-token-3").await;
    let mut late = ws_connect(&c.a.ws_url("/ws?visitor_token=edge-visitor-token-3")).await;
    join(&mut late, &format!("livechat/{rid2}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_inbox_was_on_an_edge_goes_offline_when_it_closes_or_the_edge_dies() {
    let mut c = Cluster::start(&[]);
    call_on(
        &c.primary,
        "POST",
        "/api/v1/settings/Livechat_agent_offline_after_disconnect_seconds",
        Some(&c.admin),
        Some(json!({"value": 1})),
    )
    .await
    .expect(200);
    let (agent, agent_id) = online_agent(&c, "roamer").await;
    let feed = format!("livechat-agent/{agent_id}");

    // Closed normally on edge A: offline after the grace.
    let mut inbox = ws_connect(&c.a.ws_url(&format!("/ws?token={agent}"))).await;
    join(&mut inbox, &feed).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(agent_status(&c, &agent).await, "online");
    drop(inbox);
    assert!(
        wait_status(&c, &agent, "offline", Duration::from_secs(10)).await,
        "offline after the inbox on the edge closed"
    );

    // Open on edge B, which is then killed: the primary stops hearing from it and
    // closes its inboxes (report TTL 10 s, then the 1 s grace).
    call_on(
        &c.primary,
        "POST",
        "/api/v1/livechat/agent.status",
        Some(&agent),
        Some(json!({"status": "online"})),
    )
    .await
    .expect(200);
    let mut inbox = ws_connect(&c.b.ws_url(&format!("/ws?token={agent}"))).await;
    join(&mut inbox, &feed).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        agent_status(&c, &agent).await,
        "online",
        "the inbox on B keeps the agent online"
    );
    c.b.kill9();
    assert!(
        wait_status(&c, &agent, "offline", Duration::from_secs(25)).await,
        "offline once edge B was gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_per_node_with_the_cluster_gauges() {
    let c = Cluster::start(&[json!({"name": "s"})]);
    let mut on_a = Vec::new();
    for _ in 0..3 {
        let mut ws = ws_as(&c.a, &c.key).await;
        ws_join(&mut ws, "s", json!({}), json!({})).await;
        on_a.push(ws);
    }
    let mut on_b = ws_as(&c.b, &c.key).await;
    ws_join(&mut on_b, "s", json!({}), json!({})).await;
    let stats = |node: &Server| {
        let node_url = node.url("/api/v1/stats?feed=0");
        let (http, admin) = (node.async_http(), c.admin.clone());
        async move {
            http.get(node_url)
                .bearer_auth(admin)
                .call()
                .await
                .expect(200)
        }
    };
    // Heartbeats make every node see all three within a couple of seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let a = loop {
        let a = stats(&c.a).await;
        if a["cluster"]["nodes_seen"] == 3 || Instant::now() > deadline {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(a["connections"], 3, "{a}");
    assert_eq!(a["subscriptions"], 3, "{a}");
    assert_eq!(a["cluster"]["node"], "edge-a");
    assert_eq!(a["cluster"]["role"], "edge");
    assert_eq!(a["cluster"]["nodes_seen"], 3, "{a}");
    assert_eq!(a["cluster"]["redis_up"], true);
    assert_eq!(a["cluster"]["primary_up"], true);
    // What only the primary knows comes from it.
    assert!(a["database_size_bytes"].as_u64().unwrap() > 0, "{a}");
    assert_eq!(a["livechat_enabled"], true);
    let b = stats(&c.b).await;
    assert_eq!(b["connections"], 1, "{b}");
    assert_eq!(b["cluster"]["node"], "edge-b");
    let p = stats(&c.primary).await;
    assert_eq!(p["connections"], 0, "{p}");
    assert_eq!(p["cluster"]["role"], "primary");
    assert_eq!(p["cluster"]["redis_up"], true);
    // A message published on A is counted out where it is delivered.
    rest_publish(&c.a, &c.key, "s", json!({"n": 1}))
        .await
        .expect(201);
    assert_eq!(collect_messages(&mut on_b, 1, T).await.len(), 1);
    for ws in &mut on_a {
        assert_eq!(collect_messages(ws, 1, T).await.len(), 1);
    }
    let (a, b) = (stats(&c.a).await, stats(&c.b).await);
    assert_eq!(a["messages_out_total"], 3, "{a}");
    assert_eq!(b["messages_out_total"], 1, "{b}");
    assert!(a["cluster"]["redis_lag_seconds"].as_f64().is_some(), "{a}");
    // The primary checks who asks.
    let r = c.a.async_http().get(c.a.url("/api/v1/stats")).call().await;
    assert_eq!(r.status, 401, "{}", r.text);
    let agent = c.primary.user_token("agent");
    let r =
        c.a.async_http()
            .get(c.a.url("/api/v1/stats"))
            .bearer_auth(agent)
            .call()
            .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Without a cluster, `cluster` is null.
    let single = Server::start();
    let admin = single.admin_token();
    let v = single
        .async_http()
        .get(single.url("/api/v1/stats"))
        .bearer_auth(admin)
        .call()
        .await
        .expect(200);
    assert!(v["cluster"].is_null(), "{v}");
}
