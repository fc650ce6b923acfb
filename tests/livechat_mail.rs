//! Offline messages and transcripts: stored and listed for agents; mailed through the
//! configured SMTP server (a small SMTP sink on a loopback port here); a clear error
//! when SMTP is not configured or unreachable.

mod common;
mod livechat_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use livechat_support::*;

/// Every mail the sink got: (recipients, data).
type Mailbox = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// Accepts SMTP sessions and keeps every message.
fn smtp_sink() -> (u16, Mailbox) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let store = mails.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let store = store.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 sink ESMTP\r\n");
                let (mut rcpt, mut data, mut in_data) = (Vec::new(), String::new(), false);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            store
                                .lock()
                                .unwrap()
                                .push((std::mem::take(&mut rcpt), std::mem::take(&mut data)));
                            let _ = stream.write_all(b"250 queued\r\n");
                        } else {
                            data.push_str(&line);
                        }
                        continue;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = stream.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = stream.write_all(reply);
                }
            });
        }
    });
    (port, mails)
}

async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn offline_messages_and_transcripts_by_mail() {
    let lc = Lc::start().await;
    let agent = lc.agent("olive").await;
    // No SMTP yet: stored and visible to agents, not mailed; transcripts refused clearly.
    let r = lc
        .post(
            "/api/v1/livechat/offline.message",
            None,
            json!({"name": "Nia", "email": "nia@example.com", "message": "Call me back please"}),
        )
        .await
        .expect(200);
    assert_eq!(
        r["message"],
        "Thanks! We got your message and will answer by email."
    );
    let list = lc
        .get("/api/v1/livechat/offline.messages", Some(&agent.token))
        .await
        .expect(200);
    assert_eq!(list["total"], 1);
    let first = list["messages"][0].clone();
    assert_eq!(first["message"], "Call me back please");
    assert_eq!(first["mailed"], false);
    assert_eq!(first["handled"], false);
    let r = lc.get("/api/v1/livechat/offline.messages", None).await;
    assert_eq!(r.status, 401);
    lc.visitor("mail-token-0001", Some("Tom")).await;
    let rid = lc.room_id("mail-token-0001").await;
    lc.say("mail-token-0001", &rid, "What are your opening hours?")
        .await
        .expect(200);
    let r = lc
        .post(
            "/api/v1/livechat/transcript",
            None,
            json!({"token": "mail-token-0001", "rid": rid, "email": "tom@example.com"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json,
        json!({"success": false, "error": "SMTP is not configured [error-smtp-not-configured]", "errorType": "error-smtp-not-configured"})
    );

    // With SMTP.
    let (port, mails) = smtp_sink();
    lc.setting("SMTP_Host", json!("127.0.0.1")).await;
    lc.setting("SMTP_Port", json!(port)).await;
    lc.setting("SMTP_Password", json!("hunter2")).await;
    lc.setting("From_Email", json!("support@shop.example"))
        .await;
    lc.setting("Livechat_offline_email", json!("team@shop.example"))
        .await;
    let pw = lc
        .get("/api/v1/settings/SMTP_Password", Some(&lc.admin))
        .await
        .expect(200);
    assert_eq!(pw["value"], "", "passwords are write-only");
    lc.post("/api/v1/livechat/offline.message", None, json!({"name": "Ola", "email": "ola@example.com", "message": "Do you ship to Porto?", "host": "https://shop.example/contact"}))
        .await
        .expect(200);
    let (to, data) = wait_for("offline mail", || {
        mails
            .lock()
            .unwrap()
            .iter()
            .find(|(to, _)| to.iter().any(|t| t == "team@shop.example"))
            .cloned()
    })
    .await;
    assert_eq!(to, ["team@shop.example"]);
    assert!(data.contains("Do you ship to Porto?"), "{data}");
    assert!(data.contains("Reply-To: ola@example.com"), "{data}");
    for _ in 0..50 {
        let list = lc
            .get("/api/v1/livechat/offline.messages", Some(&agent.token))
            .await
            .expect(200);
        if list["messages"][0]["mailed"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let list = lc
        .get("/api/v1/livechat/offline.messages", Some(&agent.token))
        .await
        .expect(200);
    assert_eq!(list["messages"][0]["email"], "ola@example.com");
    assert_eq!(list["messages"][0]["mailed"], true);
    // Agents mark them handled.
    let id = first["_id"].as_str().unwrap();
    let r = lc
        .post(
            &format!("/api/v1/livechat/offline.messages/{id}/handled"),
            Some(&agent.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(r["message"]["handled"], true);
    assert_eq!(r["message"]["handledBy"], agent.id.as_str());
    let open = lc
        .get(
            "/api/v1/livechat/offline.messages?handled=false",
            Some(&agent.token),
        )
        .await
        .expect(200);
    assert_eq!(open["total"], 1);

    // Transcript to the visitor.
    let r = lc
        .post(
            "/api/v1/livechat/transcript",
            None,
            json!({"token": "mail-token-0001", "rid": rid, "email": "tom@example.com"}),
        )
        .await
        .expect(200);
    assert_eq!(r["message"], "Livechat transcript sent");
    let (_, data) = wait_for("transcript", || {
        mails
            .lock()
            .unwrap()
            .iter()
            .find(|(to, _)| to.iter().any(|t| t == "tom@example.com"))
            .cloned()
    })
    .await;
    assert!(data.contains("What are your opening hours?"), "{data}");
    assert!(data.contains("Tom"), "{data}");

    // SMTP unreachable: a clear error, not a hang.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    lc.setting("SMTP_Port", json!(dead)).await;
    let r = lc
        .post(
            "/api/v1/livechat/transcript",
            None,
            json!({"token": "mail-token-0001", "rid": rid, "email": "tom@example.com"}),
        )
        .await;
    assert_rc_error(&r, 400, "error-email-send-failed");
}
