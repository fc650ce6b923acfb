//! Regression tests for the channel-core hardening (issue 7): bounded WebSocket reads,
//! close handshakes, the Syncano feed on the guarded socket loop, channel names with dot
//! segments, REST publish rate limits, `HEAD /admin/` and how the stage threads are scheduled.

mod common;
mod hardening_support;

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use hardening_support::*;

/// Defect 1: a frame header declaring 4 GiB is refused with 1009 as soon as the header
/// is in, and streaming its "payload" does not grow the server's memory.
#[test]
fn a_four_gib_frame_header_closes_1009_without_buffering() {
    let s = Server::start();
    let pid = s.pid().expect("server pid");
    let mut ws = raw_ws(s.addr, "/ws");
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_kib(pid);
    ws.write_all(&frame_header(true, 2, 4 << 30)).unwrap();
    // Stream bytes for up to 8 s (or until the server hangs up) while watching the RSS.
    let mut writer = ws.try_clone().unwrap();
    let streamer = std::thread::spawn(move || {
        let chunk = vec![0x5Au8; 64 * 1024];
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut sent = 0u64;
        while Instant::now() < deadline && sent < (512 << 20) {
            match writer.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(_) => break,
            }
        }
        sent
    });
    let code = read_close_code(&mut ws, Duration::from_secs(10));
    let mut peak = before;
    while !streamer.is_finished() {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = streamer.join().unwrap();
    peak = peak.max(rss_kib(pid));
    assert_eq!(code, Some(1009), "closed with 1009 (message too big)");
    let growth = peak.saturating_sub(before);
    eprintln!("streamed {sent} bytes after the header; peak RSS growth {growth} KiB");
    assert!(
        growth < 4 * 1024,
        "RSS grew by {growth} KiB while {sent} bytes were streamed"
    );
    // The server is fine afterwards.
    s.get("/healthz").call().expect(200);
}

/// Defect 1, fragments: the continuation that would take a message past the frame limit
/// is refused at its header, and the limit is the configured one.
#[test]
fn fragments_past_the_frame_limit_close_1009() {
    let s = Server::start_with(&["--max-frame-bytes", "4096"], &[]);
    let mut ws = raw_ws(s.addr, "/ws");
    ws.write_all(&client_frame(false, 1, &[b' '; 3000]))
        .unwrap();
    ws.write_all(&frame_header(false, 0, 3000)).unwrap();
    assert_eq!(read_close_code(&mut ws, Duration::from_secs(5)), Some(1009));
    // A message within the limit in many fragments is fine.
    let mut ok = raw_ws(s.addr, "/ws");
    let text = br#"{"action":"ping"}"#;
    for (i, byte) in text.iter().enumerate() {
        let opcode = if i == 0 { 1 } else { 0 };
        ok.write_all(&client_frame(i == text.len() - 1, opcode, &[*byte]))
            .unwrap();
    }
    ok.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let reply = read_frame(&mut ok).expect("a reply");
    assert!(String::from_utf8_lossy(&reply.payload).contains("pong"));
}

fn forged_none_token() -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = b64.encode(format!(r#"{{"sub":"mallory","exp":{exp}}}"#));
    format!("{header}.{claims}.")
}

/// Defect 2: a socket refused for a forged token is closed with 1008 every time, even
/// when the client's frames are still unread by the server at that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_token_always_closes_1008_never_1006() {
    let s = Server::start();
    let url = s.ws_url(&format!("/ws?token={}", forged_none_token()));
    for round in 0..20 {
        let mut ws = ws_connect(&url).await;
        for _ in 0..20 {
            use futures_util::SinkExt;
            let frame = json!({"action": "join", "options": {"channel": "x"}}).to_string();
            if ws.send(WsMessage::text(frame)).await.is_err() {
                break;
            }
        }
        let code = ws_close_code(&mut ws, Duration::from_secs(10)).await;
        assert_eq!(code, Some(1008), "round {round}");
    }
}

/// Defect 2, garbage: a client that keeps sending malformed frames gets a clean 1008.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_closes_with_a_clean_1008() {
    let s = Server::start();
    let mut ws = ws_connect(&s.ws_url("/ws")).await;
    for _ in 0..30 {
        use futures_util::SinkExt;
        if ws.send(WsMessage::text("not json")).await.is_err() {
            break;
        }
    }
    assert_eq!(
        ws_close_code(&mut ws, Duration::from_secs(10)).await,
        Some(1008)
    );
}

/// Defect 4: a Syncano WebSocket feed whose peer stops reading (but keeps the socket
/// alive with pings) is closed and its task and socket released.
#[test]
fn a_feed_peer_that_stops_reading_is_dropped() {
    let s = Server::start_with(
        &[
            "--ws-queue-messages",
            "16",
            "--ws-ping-seconds",
            "1",
            "--max-payload-bytes",
            "65536",
        ],
        &[],
    );
    let admin = s.admin_token();
    s.create_channel(
        &admin,
        json!({"name": "feed", "other_permissions": "subscribe"}),
    );
    let key = s.create_key(&admin, "backend", "publish").key;
    let pid = s.pid().unwrap();
    let mut stalled = raw_ws(
        s.addr,
        "/v1.1/instances/demo/channels/feed/poll/?transport=websocket",
    );
    let base = s.url("");
    assert!(wait_until(Duration::from_secs(5), || metric(
        &base,
        "rtbox_connections"
    ) == 1.0));
    let sockets_before = socket_count(pid);
    // Keep the connection "alive" (pings reset the dead-peer timer) but never read.
    let mut pinger = stalled.try_clone().unwrap();
    let keepalive = std::thread::spawn(move || {
        for _ in 0..60 {
            if pinger.write_all(&client_frame(true, 9, b"hi")).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let payload = "x".repeat(60_000);
    let http = reqwest::blocking::Client::new();
    let mut published = 0;
    let closed = wait_until(Duration::from_secs(25), || {
        for _ in 0..20 {
            let r = http
                .post(s.url("/api/v1/channels/feed/publish"))
                .header("X-API-KEY", &key)
                .json(&json!({"payload": payload}))
                .send();
            if matches!(r, Ok(r) if r.status() == 201) {
                published += 1;
            }
        }
        metric(&base, "rtbox_connections") == 0.0
    });
    assert!(
        closed,
        "the stalled feed was not dropped after {published} messages"
    );
    assert!(
        socket_count(pid) < sockets_before,
        "its socket was released"
    );
    drop(stalled.flush());
    let _ = keepalive.join();
}

/// Defect 4: a feed peer that goes silent (no pongs, nothing sent) is dropped by the
/// heartbeat like an envelope session.
#[test]
fn a_silent_feed_peer_is_dropped_by_the_heartbeat() {
    let s = Server::start_with(&["--ws-ping-seconds", "1"], &[]);
    let admin = s.admin_token();
    s.create_channel(
        &admin,
        json!({"name": "quiet", "other_permissions": "subscribe"}),
    );
    let _silent = raw_ws(s.addr, "/api/v1/channels/quiet/poll?transport=websocket");
    let base = s.url("");
    assert!(wait_until(Duration::from_secs(3), || metric(
        &base,
        "rtbox_connections"
    ) == 1.0));
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            &base,
            "rtbox_connections"
        ) == 0.0),
        "a silent feed must not live forever"
    );
}

/// Defect 6: channel names with `.` or `..` segments are refused (SPEC §3), so no name's
/// `links` resolve to another path.
#[test]
fn channel_names_with_dot_segments_are_refused() {
    let s = Server::start();
    let admin = s.admin_token();
    for name in ["../../etc/passwd", "..", ".", "a/./b", "a/..", "chat/../*"] {
        let r = s
            .post("/api/v1/channels")
            .bearer_auth(&admin)
            .json(&json!({ "name": name }))
            .call();
        assert_eq!(r.status, 400, "{name}: {:?}", r.json);
        assert!(r.json["name"].as_str().is_some(), "{name}: {:?}", r.json);
    }
    let ok = s.create_channel(&admin, json!({"name": "v1.2/..x/a.b"}));
    assert_eq!(ok["links"]["self"], "/api/v1/channels/v1.2/..x/a.b/");
    // Triggers take the same rule for their channel.
    let r = s
        .post("/api/v1/triggers")
        .bearer_auth(&admin)
        .json(&json!({"name": "t", "channel": "../x", "script": "true"}))
        .call();
    assert_eq!(r.status, 400, "{:?}", r.json);
    assert!(r.json["channel"].is_string(), "{:?}", r.json);
}

/// Defect 7: REST publishes are limited per client IP (callers without an API key) and
/// per API key, answered with 429 and `Retry-After` in the Syncano shape on both route
/// families.
#[test]
fn rest_publish_is_rate_limited_per_ip_and_per_key() {
    let s = Server::start_with(
        &[
            "--rest-publish-rate-per-ip",
            "5",
            "--rest-publish-rate-per-key",
            "10",
        ],
        &[],
    );
    let admin = s.admin_token();
    s.create_channel(
        &admin,
        json!({"name": "open", "other_permissions": "publish"}),
    );
    let anonymous = |path: &str| s.post(path).json(&json!({"payload": {"n": 1}})).call();
    let mut statuses = Vec::new();
    for _ in 0..14 {
        statuses.push(anonymous("/api/v1/channels/open/publish").status);
    }
    assert!(statuses[..10].iter().all(|s| *s == 201), "{statuses:?}");
    assert_eq!(statuses[13], 429, "{statuses:?}");
    let r = anonymous("/v1.1/instances/demo/channels/open/publish/");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(r.detail().contains("throttled"), "{:?}", r.json);

    // An API key has its own budget, whatever its IP has used.
    let key = s.create_key(&admin, "backend", "publish").key;
    let mut keyed = Vec::new();
    for _ in 0..24 {
        keyed.push(
            s.publish_with_key(&key, "open", json!({"payload": 1}))
                .status,
        );
    }
    assert!(keyed[..20].iter().all(|s| *s == 201), "{keyed:?}");
    assert_eq!(keyed[23], 429, "{keyed:?}");
    // Nothing refused was stored.
    let stored = s.full_history(&key, "open").len();
    let accepted = statuses.iter().chain(&keyed).filter(|s| **s == 201).count();
    assert_eq!(stored, accepted);
}

/// Defect 8: `HEAD /admin/` answers like `GET` (200, no body).
#[test]
fn head_admin_answers_200() {
    let s = Server::start();
    let head = s.request(reqwest::Method::HEAD, "/admin/").send().unwrap();
    assert_eq!(head.status(), 200);
    let get = s.get("/admin/").send().unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(
        head.headers().get("content-type"),
        get.headers().get("content-type")
    );
}

/// Defect 1, HTTP side: a request body over the limit is refused with 413 whether its
/// length is declared (4 GiB) or streamed chunk by chunk, without buffering it.
#[test]
fn oversized_http_bodies_are_refused_without_buffering() {
    use std::io::Read;
    let s = Server::start();
    let admin = s.admin_token();
    s.create_channel(
        &admin,
        json!({"name": "open", "other_permissions": "publish"}),
    );
    let pid = s.pid().unwrap();
    let before = rss_kib(pid);
    let status_of = |stream: &mut std::net::TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).ok()?;
        String::from_utf8_lossy(&head[9..12]).parse::<u16>().ok()
    };

    let mut declared = std::net::TcpStream::connect(s.addr).unwrap();
    declared
        .write_all(
            b"POST /api/v1/channels/open/publish HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 4294967296\r\n\r\n{\"payload\":\"",
        )
        .unwrap();
    assert_eq!(status_of(&mut declared), Some(413));

    let mut chunked = std::net::TcpStream::connect(s.addr).unwrap();
    chunked
        .write_all(
            b"POST /api/v1/channels/open/publish HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
    let mut writer = chunked.try_clone().unwrap();
    let streamer = std::thread::spawn(move || {
        let mut chunk = b"10000\r\n".to_vec();
        chunk.extend(std::iter::repeat_n(b' ', 0x10000));
        chunk.extend_from_slice(b"\r\n");
        let mut sent = 0usize;
        while sent < (64 << 20) {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            sent += 0x10000;
        }
        sent
    });
    assert_eq!(status_of(&mut chunked), Some(413));
    drop(chunked);
    let sent = streamer.join().unwrap();
    let growth = rss_kib(pid).saturating_sub(before);
    eprintln!("streamed {sent} body bytes; RSS growth {growth} KiB");
    assert!(growth < 8 * 1024, "RSS grew {growth} KiB");
    assert_eq!(
        s.full_history(&s.create_key(&admin, "k", "admin").key, "open")
            .len(),
        0
    );
}

/// Scheduling of one of the server's threads, from `/proc/PID/task/TID/stat`: (policy,
/// nice). The thread is found by its name.
#[cfg(target_os = "linux")]
fn thread_scheduling(pid: u32, name: &str) -> Option<(u32, i32)> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the `(comm)` one start at field 3 (state); nice is 19, policy 41.
        let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        return Some((rest.get(38)?.parse().ok()?, rest.get(16)?.parse().ok()?));
    }
    None
}

/// Defect 5, scheduling: the writer and the fan-out stage run SCHED_BATCH, so a job or
/// a committed message they are handed never preempts the HTTP worker that queued it
/// (as a normal thread the fan-out stage preempted the worker once per publish); WAL
/// checkpoints run at nice 10.
#[cfg(target_os = "linux")]
#[test]
fn stage_threads_never_preempt_the_http_worker() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let s = Server::start();
    let pid = s.pid().expect("server pid");
    let mut found = None;
    wait_until(Duration::from_secs(5), || {
        found = ["rtbox-writer", "rtbox-fanout", "rtbox-checkpoin"]
            .iter()
            .map(|name| thread_scheduling(pid, name))
            .collect::<Option<Vec<_>>>();
        found.is_some()
    });
    let found = found.expect("the writer, fan-out and checkpoint threads are running");
    assert_eq!(found[0].0, SCHED_BATCH, "writer");
    assert_eq!(found[1].0, SCHED_BATCH, "fan-out stage");
    assert_eq!(found[2], (SCHED_OTHER, 10), "checkpointer");
}
