//! Reliability suite (issue 7): crash safety under mixed load, slow WebSocket consumers,
//! slow HTTP clients (slowloris), connection churn and the WAL's size under sustained
//! publishing. Every test is bounded (well under
//! a minute on two cores), runs on loopback only, and stops its own load.

mod common;
mod hardening_support;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use hardening_support::*;

/// Lifts the soft open-file limit to the hard one (a default soft limit of 1024 is too
/// low for a thousand sockets, on the client side and in the server it spawns).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on this process with a valid, initialized struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn integrity_check(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

type Acked = Arc<Mutex<Vec<(i64, String)>>>;

/// REST publisher: records every fully received 201 until the server goes away.
async fn rest_publisher(url: String, key: String, name: String, acked: Acked) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for i in 0.. {
        let tag = format!("{name}-{i}");
        let Ok(resp) = http
            .post(&url)
            .header("X-API-KEY", &key)
            .json(&json!({"payload": {"tag": tag}}))
            .send()
            .await
        else {
            return;
        };
        if resp.status().as_u16() != 201 {
            return;
        }
        let Ok(body) = resp.json::<Value>().await else {
            return;
        };
        let id = body["id"].as_i64().expect("id in the 201");
        acked.lock().unwrap().push((id, tag));
    }
}

/// WebSocket publisher: `message` frames with a `ref`, each acknowledged after commit.
async fn ws_publisher(url: String, name: String, acked: Acked) {
    let Ok(mut ws) = ws_try_connect(&url).await else {
        return;
    };
    for i in 0.. {
        let tag = format!("{name}-{i}");
        let frame = json!({"action": "message", "options": {"channel": "crash", "ref": tag},
                           "payload": {"tag": tag}});
        if ws.send(WsMessage::text(frame.to_string())).await.is_err() {
            return;
        }
        let Some(ack) = ws_recv_action(&mut ws, "ack", Duration::from_secs(5)).await else {
            return;
        };
        assert_eq!(ack["options"]["ref"], tag.as_str());
        let id = ack["options"]["id"].as_i64().expect("id in the ack");
        acked.lock().unwrap().push((id, tag));
    }
}

/// 20 × `kill -9` during mixed REST + WebSocket publishing, a restart after each: no
/// acknowledged message lost, no duplicate or reused id, and the database passes
/// `PRAGMA integrity_check` every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kill_9_under_mixed_load_lose_nothing_acknowledged() {
    let mut s = Server::start_with(&["--publish-rate", "100000"], &[]);
    let admin = s.admin_token();
    let key = s.create_key(&admin, "backend", "admin").key;
    s.create_channel(&admin, json!({"name": "crash"}));
    let acked: Acked = Arc::default();
    for round in 0..20 {
        let before = acked.lock().unwrap().len();
        let mut tasks = Vec::new();
        for p in 0..3 {
            tasks.push(tokio::spawn(rest_publisher(
                s.url("/api/v1/channels/crash/publish"),
                key.clone(),
                format!("r{round}-rest{p}"),
                acked.clone(),
            )));
        }
        for p in 0..2 {
            tasks.push(tokio::spawn(ws_publisher(
                s.ws_url(&format!("/ws?api_key={key}")),
                format!("r{round}-ws{p}"),
                acked.clone(),
            )));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while acked.lock().unwrap().len() < before + 60 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: too slow"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::task::block_in_place(|| s.kill9());
        for t in tasks {
            t.await.expect("publisher");
        }
        let check = integrity_check(&s.db_path());
        assert_eq!(check, "ok", "round {round}");
        tokio::task::block_in_place(|| s.start_again());
    }
    let acked = acked.lock().unwrap().clone();
    let history = tokio::task::block_in_place(|| s.full_history(&key, "crash"));
    let ids: Vec<i64> = history.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids strictly increase");
    let stored: HashMap<i64, String> = history
        .iter()
        .map(|m| {
            let tag = m["payload"]["tag"].as_str().unwrap_or_default().to_string();
            (m["id"].as_i64().unwrap(), tag)
        })
        .collect();
    let mut tags = HashSet::new();
    for tag in stored.values() {
        assert!(tags.insert(tag.clone()), "{tag} stored twice");
    }
    for (id, tag) in &acked {
        assert_eq!(
            stored.get(id),
            Some(tag),
            "acknowledged {tag} (id {id}) lost or its id reused"
        );
    }
    eprintln!(
        "{} acknowledged, {} stored over 20 crashes",
        acked.len(),
        stored.len()
    );
}

/// A raw WebSocket client with a tiny receive buffer that never reads: the server's
/// writes to it block almost at once, as with a phone on a dead network.
fn stalled_ws(addr: std::net::SocketAddr, path: &str) -> std::net::TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: a fresh socket fd, configured and connected before it is wrapped (and
    // then owned) by the TcpStream; every pointer passed is to a live local.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let small: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &small as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let std::net::SocketAddr::V4(v4) = addr else {
            panic!("IPv4 expected")
        };
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            &sin as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect");
        std::net::TcpStream::from_raw_fd(fd)
    };
    upgrade_on(stream, addr, path)
}

fn upgrade_on(
    mut stream: std::net::TcpStream,
    addr: std::net::SocketAddr,
    path: &str,
) -> std::net::TcpStream {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "handshake");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    stream
}

/// 100 sockets that stop reading while 1,000 others receive: the fast ones get every
/// message in order and stay connected, the slow ones are closed with 1013, and the
/// server's memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumers_are_closed_1013_without_slowing_the_others() {
    raise_fd_limit();
    const FAST: usize = 1000;
    const SLOW: usize = 100;
    const MESSAGES: usize = 100;
    let s = Server::start_with(
        // The byte bound is what cuts the slow ones off (the bulk stream fills it); the
        // fast readers' whole stream fits in either bound, so even a reader starved of
        // CPU on a loaded machine is never mistaken for a slow consumer.
        &["--ws-queue-messages", "1024", "--ws-queue-bytes", "1048576"],
        &[],
    );
    let admin = s.admin_token();
    let key = s.create_key(&admin, "backend", "publish").key;
    s.create_channel(
        &admin,
        json!({"name": "wide", "other_permissions": "subscribe"}),
    );
    // Only the slow sockets also follow `bulk`, which carries enough bytes to fill the
    // kernel's socket buffers (several MB on loopback) without making the fast readers
    // pay for it.
    s.create_channel(
        &admin,
        json!({"name": "bulk", "other_permissions": "subscribe", "history": {"persist": false}}),
    );
    let pid = s.pid().unwrap();
    let base = s.url("");
    let rss_before = rss_kib(pid);
    let t0 = Instant::now();

    // Fast readers join and then count what they receive.
    let received = Arc::new(AtomicUsize::new(0));
    let mut fast = Vec::new();
    for _ in 0..FAST {
        let mut ws = ws_connect(&s.ws_url("/ws")).await;
        ws_join(&mut ws, "wide", json!({}), json!({})).await;
        let received = received.clone();
        fast.push(tokio::spawn(async move {
            let mut next = 1usize;
            while next <= MESSAGES {
                match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
                    Ok(Some(Ok(WsMessage::Text(t)))) => {
                        let v: Value = serde_json::from_str(t.as_str()).unwrap();
                        if v["action"] == "message" {
                            assert_eq!(v["payload"]["n"], next, "in order, none lost");
                            next += 1;
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    other => panic!("fast reader lost its socket after {next}: {other:?}"),
                }
            }
            ws
        }));
    }
    eprintln!("{FAST} fast readers joined after {:?}", t0.elapsed());
    // Slow ones join on raw sockets and then never read.
    let slow: Vec<std::net::TcpStream> = tokio::task::block_in_place(|| {
        (0..SLOW)
            .map(|_| {
                let mut ws = stalled_ws(s.addr, "/ws");
                for channel in ["wide", "bulk"] {
                    let join =
                        format!(r#"{{"action":"join","options":{{"channel":"{channel}"}}}}"#);
                    ws.write_all(&client_frame(true, 1, join.as_bytes()))
                        .unwrap();
                }
                ws
            })
            .collect()
    });
    let joined = tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(10), || {
            metric(&base, "rtbox_subscriptions") as usize == FAST + 2 * SLOW
        })
    });
    assert!(joined, "every socket joined");

    // The fast readers' stream, paced, while a burst on `bulk` stalls the slow ones.
    // Connections idle past the server's keep-alive are not reused (a request racing
    // the server's close would fail).
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (wide_url, bulk_url) = (
        s.url("/api/v1/channels/wide/publish"),
        s.url("/api/v1/channels/bulk/publish"),
    );
    let paced = {
        let (http, key) = (http.clone(), key.clone());
        tokio::spawn(async move {
            let pad = "y".repeat(200);
            for n in 1..=MESSAGES {
                let r = http
                    .post(&wide_url)
                    .header("X-API-KEY", &key)
                    .json(&json!({"payload": {"n": n, "pad": pad}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // As soon as every slow socket was cut off, they read again to see how they were
    // closed (a blocked write gets a short grace to finish so the close frame follows).
    let drain = {
        let base = base.clone();
        std::thread::spawn(move || {
            let cut = wait_until(Duration::from_secs(30), || {
                metric(&base, "rtbox_slow_consumers_closed_total") as usize >= SLOW
            });
            let readers: Vec<_> = slow
                .into_iter()
                .map(|mut ws| {
                    std::thread::spawn(move || read_close_code(&mut ws, Duration::from_secs(10)))
                })
                .collect();
            let codes: Vec<Option<u16>> = readers.into_iter().map(|r| r.join().unwrap()).collect();
            (cut, codes)
        })
    };
    let big = "z".repeat(60_000);
    for _ in 0..100 {
        let r = http
            .post(&bulk_url)
            .header("X-API-KEY", &key)
            .json(&json!({"payload": big}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}; server log:\n{}", s.stderr_text()));
        assert_eq!(r.status(), 201);
    }
    paced.await.expect("paced publisher");
    eprintln!("published after {:?}", t0.elapsed());
    let (all_cut, codes) = tokio::task::block_in_place(|| drain.join().unwrap());
    assert!(all_cut, "every stalled socket overflowed its queue");
    // A cut-off socket that reads again within the grace a blocked write gets sees its
    // 1013; one that stays stalled past it is dropped (its half-written frame leaves no
    // room for a close frame). The drain above starts once the last one was cut, so the
    // earliest may have passed the grace on a loaded machine.
    let clean = codes.iter().filter(|c| **c == Some(1013)).count();
    assert!(
        codes.iter().all(|c| matches!(c, None | Some(1013))),
        "no other close code: {codes:?}"
    );
    assert!(
        clean * 10 >= SLOW * 9,
        "slow consumers closed with 1013: {codes:?}"
    );

    let mut still_open = Vec::new();
    for t in fast {
        still_open.push(t.await.expect("fast reader"));
    }
    assert_eq!(received.load(Ordering::Relaxed), FAST * MESSAGES);
    let rss_after = rss_kib(pid);
    let growth = rss_after.saturating_sub(rss_before);
    eprintln!("RSS {rss_before} -> {rss_after} KiB with {FAST} live sockets");
    assert!(
        growth < 64 * 1024,
        "memory bounded: grew {growth} KiB for {FAST} sockets"
    );
    let open = tokio::task::block_in_place(|| metric(&base, "rtbox_connections"));
    assert_eq!(open as usize, FAST);
}

/// Slowloris: hundreds of clients dribbling request headers neither starve other
/// requests nor keep their sockets past the request timeout.
#[test]
fn slowloris_clients_do_not_starve_other_requests() {
    raise_fd_limit();
    let s = Server::start();
    let pid = s.pid().unwrap();
    // Baseline once the server has opened what it opens lazily after start (its first
    // request, background services), so only client connections are compared.
    s.get("/healthz").call().expect(200);
    std::thread::sleep(Duration::from_millis(1500));
    let sockets_before = socket_count(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let cut_off = Arc::new(AtomicUsize::new(0));
    let dribblers: Vec<_> = (0..300)
        .map(|i| {
            let (addr, stop, cut_off) = (s.addr, stop.clone(), cut_off.clone());
            std::thread::spawn(move || {
                let Ok(mut c) = std::net::TcpStream::connect(addr) else {
                    return;
                };
                let head = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ");
                let mut bytes = head.into_bytes().into_iter().chain(std::iter::repeat(b'a'));
                while !stop.load(Ordering::Relaxed) {
                    let b = bytes.next().unwrap_or(b'a');
                    if c.write_all(&[b]).is_err() {
                        cut_off.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Meanwhile ordinary requests are served, each well inside the client timeout.
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    for i in 0..40 {
        let r = http.get(s.url("/healthz")).send();
        assert!(
            matches!(&r, Ok(r) if r.status() == 200),
            "request {i} starved: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The dribblers are cut off by the request-head timeout.
    let all_cut = wait_until(Duration::from_secs(15), || {
        cut_off.load(Ordering::Relaxed) >= 300
    });
    stop.store(true, Ordering::Relaxed);
    for d in dribblers {
        let _ = d.join();
    }
    assert!(
        all_cut,
        "only {} of 300 slow clients were cut off",
        cut_off.load(Ordering::Relaxed)
    );
    drop(http);
    let released = wait_until(Duration::from_secs(5), || {
        socket_count(pid) <= sockets_before
    });
    assert!(
        released,
        "server sockets {sockets_before} -> {} after the slow clients were cut off",
        socket_count(pid)
    );
}

/// 10,000 connect/join/disconnect cycles leave the server's RSS and open file
/// descriptors back near where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_of_10k_sessions_returns_to_baseline() {
    raise_fd_limit();
    let s = Server::start();
    let admin = s.admin_token();
    s.create_channel(
        &admin,
        json!({"name": "churn/*", "other_permissions": "subscribe", "presence": true}),
    );
    let pid = s.pid().unwrap();
    let base = s.url("");
    let cycle = |n: usize, workers: usize| {
        let url = s.ws_url("/ws");
        async move {
            let tasks: Vec<_> = (0..workers)
                .map(|w| {
                    let url = url.clone();
                    tokio::spawn(async move {
                        for i in 0..n / workers {
                            let mut ws = ws_connect(&url).await;
                            let channel = format!("churn/{}", (w * 7 + i) % 50);
                            ws_join(&mut ws, &channel, json!({}), json!({"presence": true})).await;
                            if i % 2 == 0 {
                                let _ = ws.close(None).await;
                            } // else: dropped without a close frame
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("churn worker");
            }
        }
    };
    // Warm up (allocator arenas, thread pools), then measure the baseline.
    cycle(1000, 8).await;
    let settle = |base: &str| {
        wait_until(Duration::from_secs(15), || {
            metric(base, "rtbox_connections") == 0.0 && metric(base, "rtbox_subscriptions") == 0.0
        })
    };
    assert!(tokio::task::block_in_place(|| settle(&base)));
    let (rss0, fds0) = (rss_kib(pid), fd_count(pid));
    let started = Instant::now();
    cycle(10_000, 8).await;
    assert!(tokio::task::block_in_place(|| settle(&base)));
    let (rss1, fds1) = (rss_kib(pid), fd_count(pid));
    eprintln!(
        "10k cycles in {:?}: RSS {rss0} -> {rss1} KiB, fds {fds0} -> {fds1}",
        started.elapsed()
    );
    assert!(fds1 <= fds0 + 2, "fds {fds0} -> {fds1}");
    assert!(rss1 <= rss0 + 8 * 1024, "RSS {rss0} -> {rss1} KiB");
}

/// Sustained publishing keeps the WAL bounded. A background checkpoint never catches up
/// with a writer that keeps appending, so without the writer's own backstop the WAL
/// never starts over and grows for as long as the load lasts (2 GB in 22 s in a release
/// build); with it the file stays near 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_publishing_keeps_the_wal_bounded() {
    const LIMIT: u64 = 64 * 1024 * 1024;
    // Past the limit by one batch at most (a few 60 KB messages), then cut back.
    const ALLOWED: u64 = LIMIT + 16 * 1024 * 1024;
    const WRITTEN: u64 = 3 * LIMIT;
    let s = Server::start_with(&["--rest-publish-rate-per-key", "1000000"], &[]);
    let admin = s.admin_token();
    let key = s.create_key(&admin, "backend", "admin").key;
    s.create_channel(
        &admin,
        json!({"name": "bulk", "history": {"max_messages": 100}}),
    );
    let wal = std::path::PathBuf::from(format!("{}-wal", s.db_path().display()));
    let payload = "x".repeat(60_000);
    let sent = Arc::new(AtomicUsize::new(0));
    let publishers: Vec<_> = (0..8)
        .map(|_| {
            let (url, key, payload, sent) = (
                s.url("/api/v1/channels/bulk/publish"),
                key.clone(),
                payload.clone(),
                sent.clone(),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                while (sent.load(Ordering::Relaxed) as u64) < WRITTEN {
                    let resp = http
                        .post(&url)
                        .header("X-API-KEY", &key)
                        .json(&json!({ "payload": payload }))
                        .send()
                        .await
                        .expect("publish");
                    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text().await);
                    sent.fetch_add(payload.len(), Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut largest = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while publishers.iter().any(|p| !p.is_finished()) {
        assert!(Instant::now() < deadline, "publishing took too long");
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for p in publishers {
        p.await.expect("publisher");
    }
    assert!(
        largest <= ALLOWED,
        "the WAL reached {} MiB while {} MiB were published (allowed {} MiB)",
        largest >> 20,
        sent.load(Ordering::Relaxed) >> 20,
        ALLOWED >> 20
    );
}
