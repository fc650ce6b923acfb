//! Livechat load: N visitors on `/ws` each writing every 10 s, M agents answering every
//! visitor message, and K visitors with a 5 s time-on-site trigger. Reports p50/p99
//! visitor→agent and agent→visitor delivery, the trigger's firing delay, and the
//! server's RSS and CPU. Stops by itself after `--seconds`.
//!
//! ```text
//! rtbox serve --bind 127.0.0.1:8090 --max-subscriptions 400 &
//! rtbox admin create bench@example.com --password-stdin <<< 'correct horse battery'
//! cargo run --example livechat_load -- --url http://127.0.0.1:8090 --pid $(pgrep -n rtbox)
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone)]
struct Opts {
    url: String,
    email: String,
    password: String,
    visitors: usize,
    agents: usize,
    trigger_visitors: usize,
    seconds: u64,
    pid: Option<u32>,
}

fn opts() -> Opts {
    let mut o = Opts {
        url: "http://127.0.0.1:8090".into(),
        email: "bench@example.com".into(),
        password: "correct horse battery".into(),
        visitors: 2000,
        agents: 20,
        trigger_visitors: 200,
        seconds: 60,
        pid: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--url" => o.url = v,
            "--email" => o.email = v,
            "--password" => o.password = v,
            "--visitors" => o.visitors = v.parse().unwrap_or(o.visitors),
            "--agents" => o.agents = v.parse().unwrap_or(o.agents),
            "--trigger-visitors" => o.trigger_visitors = v.parse().unwrap_or(o.trigger_visitors),
            "--seconds" => o.seconds = v.parse().unwrap_or(o.seconds),
            "--pid" => o.pid = v.parse().ok(),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Default)]
struct Stats {
    visitor_to_agent: Vec<u64>,
    agent_to_visitor: Vec<u64>,
    trigger_delay: Vec<i64>,
    errors: u64,
}

type Shared = Arc<Mutex<Stats>>;

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> Value {
    let mut rb = http.post(url).json(&body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    match rb.send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

fn ws_url(base: &str, query: &str) -> String {
    format!("{}/ws?{query}", base.replacen("http", "ws", 1))
}

async fn agent_task(o: Opts, token: String, id: String, stats: Shared, stop: Instant) {
    let Ok((mut ws, _)) =
        tokio_tungstenite::connect_async(ws_url(&o.url, &format!("token={token}"))).await
    else {
        stats.lock().unwrap().errors += 1;
        return;
    };
    let join = json!({"action": "join", "options": {"channel": format!("livechat-agent/{id}"), "last_id": 0}});
    let _ = ws.send(Message::text(join.to_string())).await;
    while Instant::now() < stop {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(1), ws.next()).await
        else {
            continue;
        };
        let Message::Text(text) = msg else { continue };
        let Ok(f) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        if f["action"] == "event" && f["payload"]["type"] == "room-assigned" {
            let rid = f["payload"]["room"]["_id"].as_str().unwrap_or_default();
            let join = json!({"action": "join", "options": {"channel": format!("livechat/{rid}")}});
            let _ = ws.send(Message::text(join.to_string())).await;
        } else if f["action"] == "message" && f["payload"]["sender"] == "visitor" {
            let msg = f["payload"]["msg"].as_str().unwrap_or_default();
            if let Some(sent) = msg.strip_prefix("t=").and_then(|t| t.parse::<u64>().ok()) {
                stats
                    .lock()
                    .unwrap()
                    .visitor_to_agent
                    .push(now_ms().saturating_sub(sent));
                let rid = f["payload"]["rid"].clone();
                let reply = json!({"action": "livechat_message", "payload": {"rid": rid, "msg": format!("r={}", now_ms())}});
                let _ = ws.send(Message::text(reply.to_string())).await;
            }
        } else if f["action"] == "error" {
            stats.lock().unwrap().errors += 1;
        }
    }
}

async fn visitor_task(o: Opts, i: usize, http: reqwest::Client, stats: Shared, stop: Instant) {
    let token = format!("bench-visitor-{i:06}-{}", std::process::id());
    // Registering with a name is the visit's first event: time on site counts from here.
    let registered_at = now_ms();
    post(
        &http,
        &format!("{}/api/v1/livechat/visitor", o.url),
        None,
        json!({"visitor": {"token": token, "name": format!("Visitor {i}")}}),
    )
    .await;
    let room = match http
        .get(format!("{}/api/v1/livechat/room?token={token}", o.url))
        .send()
        .await
    {
        Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let Some(rid) = room["room"]["_id"].as_str().map(str::to_string) else {
        stats.lock().unwrap().errors += 1;
        return;
    };
    let Ok((mut ws, _)) =
        tokio_tungstenite::connect_async(ws_url(&o.url, &format!("visitor_token={token}"))).await
    else {
        stats.lock().unwrap().errors += 1;
        return;
    };
    let join = json!({"action": "join", "options": {"channel": format!("livechat/{rid}")}});
    let _ = ws.send(Message::text(join.to_string())).await;
    let mut visit_sent = None;
    if i < o.trigger_visitors {
        let ev = json!({"action": "visitor_event", "payload": {"event": "visit", "data": {"href": "https://bench.example/promo", "title": "Promo"}}});
        visit_sent = Some(registered_at);
        let _ = ws.send(Message::text(ev.to_string())).await;
    }
    let offset = Duration::from_millis((i as u64 * 7919) % 10_000);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + offset,
        Duration::from_secs(10),
    );
    while Instant::now() < stop {
        tokio::select! {
            _ = tick.tick() => {
                let m = json!({"action": "livechat_message", "payload": {"rid": rid, "msg": format!("t={}", now_ms())}});
                if ws.send(Message::text(m.to_string())).await.is_err() { break; }
            }
            next = tokio::time::timeout(Duration::from_secs(1), ws.next()) => {
                let Ok(Some(Ok(Message::Text(text)))) = next else { continue };
                let Ok(f) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                if f["action"] == "message" && f["payload"]["sender"] == "agent" {
                    let msg = f["payload"]["msg"].as_str().unwrap_or_default();
                    if let Some(sent) = msg.strip_prefix("r=").and_then(|t| t.parse::<u64>().ok()) {
                        stats.lock().unwrap().agent_to_visitor.push(now_ms().saturating_sub(sent));
                    }
                } else if f["action"] == "message" && f["payload"]["sender"] == "trigger" {
                    if let Some(sent) = visit_sent.take() {
                        stats.lock().unwrap().trigger_delay.push(now_ms() as i64 - (sent as i64 + 5000));
                    }
                } else if f["action"] == "error" {
                    stats.lock().unwrap().errors += 1;
                }
            }
        }
    }
}

fn pct<T: Copy + Ord>(v: &mut [T], p: f64) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    Some(v[idx])
}

fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn proc_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() {
    let o = opts();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let login = post(
        &http,
        &format!("{}/api/v1/auth/login", o.url),
        None,
        json!({"email": o.email, "password": o.password}),
    )
    .await;
    let admin = login["token"]
        .as_str()
        .expect("admin login (create the admin first)")
        .to_string();
    for (id, value) in [
        ("Livechat_rate_limit_ip_per_minute", json!(1_000_000)),
        ("Livechat_rate_limit_token_per_minute", json!(10_000)),
        ("Livechat_rate_limit_user_per_minute", json!(1_000_000)),
    ] {
        post(
            &http,
            &format!("{}/api/v1/settings/{id}", o.url),
            Some(&admin),
            json!({"value": value}),
        )
        .await;
    }
    post(&http, &format!("{}/api/v1/livechat/triggers", o.url), Some(&admin), json!({
        "name": "bench-promo", "description": "5 s on the promo page", "enabled": true, "runOnce": true,
        "conditions": [{"name": "time-on-site", "value": 5}, {"name": "page-url", "value": "/promo"}],
        "actions": [{"name": "send-message", "params": {"sender": "custom", "name": "Bot", "msg": "promo"}}]})).await;
    let stats: Shared = Arc::default();
    let stop = Instant::now() + Duration::from_secs(o.seconds);
    let mut tasks = Vec::new();
    for a in 0..o.agents {
        let email = format!("bench-agent-{a}@example.com");
        post(&http, &format!("{}/api/v1/users", o.url), Some(&admin), json!({"email": email, "password": o.password, "name": format!("Agent {a}"), "roles": ["agent"]})).await;
        let l = post(
            &http,
            &format!("{}/api/v1/auth/login", o.url),
            None,
            json!({"email": email, "password": o.password}),
        )
        .await;
        let token = l["token"].as_str().expect("agent login").to_string();
        let id = l["user"]["id"].as_i64().expect("agent id").to_string();
        post(
            &http,
            &format!("{}/api/v1/livechat/agent.status", o.url),
            Some(&token),
            json!({"status": "online"}),
        )
        .await;
        tasks.push(tokio::spawn(agent_task(
            o.clone(),
            token,
            id,
            stats.clone(),
            stop,
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0 = o.pid.and_then(proc_cpu_ticks);
    let t0 = Instant::now();
    for i in 0..o.visitors {
        tasks.push(tokio::spawn(visitor_task(
            o.clone(),
            i,
            http.clone(),
            stats.clone(),
            stop,
        )));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = o.pid.and_then(proc_cpu_ticks);
    let mut s = stats.lock().unwrap();
    let errors = s.errors;
    let (n1, n2, n3) = (
        s.visitor_to_agent.len(),
        s.agent_to_visitor.len(),
        s.trigger_delay.len(),
    );
    println!(
        "visitors {} agents {} trigger visitors {} run {:.0} s",
        o.visitors, o.agents, o.trigger_visitors, elapsed
    );
    println!(
        "visitor→agent  n={n1} p50={:?} ms p99={:?} ms",
        pct(&mut s.visitor_to_agent, 0.5),
        pct(&mut s.visitor_to_agent, 0.99)
    );
    println!(
        "agent→visitor  n={n2} p50={:?} ms p99={:?} ms",
        pct(&mut s.agent_to_visitor, 0.5),
        pct(&mut s.agent_to_visitor, 0.99)
    );
    println!(
        "trigger delay  n={n3} p50={:?} ms p99={:?} ms (after the 5 s)",
        pct(&mut s.trigger_delay, 0.5),
        pct(&mut s.trigger_delay, 0.99)
    );
    println!("errors {errors}");
    if let Some(pid) = o.pid {
        let ticks = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .map(|_| 100.0)
            .unwrap_or(100.0);
        if let (Some(a), Some(b)) = (cpu0, cpu1) {
            println!(
                "server CPU {:.0}% of one core (avg)",
                (b - a) as f64 / ticks / elapsed * 100.0
            );
        }
        println!("server RSS {:?} KB", proc_rss_kb(pid));
    }
}
